"""Shared fixtures: the real Kafka broker (engine.testing.pytest_kafka) and helpers."""

from __future__ import annotations

pytest_plugins = ["engine.testing.pytest_kafka", "engine.testing.pytest_postgres"]


def pytest_sessionstart(session: object) -> None:
    """Compile arrowsmith's modules once: every worker and stage process the tests start
    would otherwise compile them again where bytecode caching is off (perf._util)."""
    from perf._util import ensure_bytecode

    ensure_bytecode()
