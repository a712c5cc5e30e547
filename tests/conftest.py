"""Shared fixtures: the real Kafka broker (engine.testing.pytest_kafka) and helpers."""

from __future__ import annotations

pytest_plugins = ["engine.testing.pytest_kafka", "engine.testing.pytest_postgres"]
