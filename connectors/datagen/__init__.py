"""Datagen: synthetic records for demos and benchmarks, generated vectorized (Confluent's keys)."""
