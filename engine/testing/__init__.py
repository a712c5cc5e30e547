"""Test helpers for arrowsmith and for connector authors.

``engine.testing.pytest_kafka`` is a pytest plugin giving tests a real Kafka broker.
"""
