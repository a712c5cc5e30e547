"""Kafka Connect's built-in transformations, vectorized over Arrow record batches."""
