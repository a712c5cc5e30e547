"""pytest plugin: one real Kafka broker for the test session.

Enable it with ``pytest_plugins = ["engine.testing.pytest_kafka"]`` in a ``conftest.py``
(or ``-p engine.testing.pytest_kafka``). Fixtures:

* ``kafka_bootstrap`` (session): bootstrap servers of a broker started for the session
  (:class:`engine.broker.KafkaBroker`), or ``KAFKA_BOOTSTRAP_SERVERS`` when set. Without
  a Java runtime or Maven the tests using it fail with the install hint (a skipped
  integration test must not pass for a green run).
* ``kafka_broker`` (session): that :class:`KafkaBroker`, or None with an external cluster.
* ``new_topic`` (function): a factory ``new_topic(partitions=1) -> str`` creating a
  unique topic and waiting until it has leaders; deleted after the test.

When a test that used the broker fails, its report gets a section with the tail of the
broker log.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Generator, Iterator, Mapping
from typing import Any, Protocol

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from engine.broker.launcher import KafkaBroker, bootstrap_from_env
from engine.spi.errors import ConnectError

REPORT_LOG_LINES = 60
TOPIC_TIMEOUT_S = 30.0
_BROKER = pytest.StashKey[KafkaBroker]()
_USES_BROKER = frozenset({"kafka_bootstrap", "kafka_broker", "new_topic"})


class TopicFactory(Protocol):
    def __call__(self, partitions: int = 1, *, config: Mapping[str, str] | None = None) -> str: ...


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "kafka: needs a real Kafka broker (started by the session fixture or KAFKA_BOOTSTRAP_SERVERS)",
    )


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest) -> Iterator[KafkaBroker | None]:
    """The session's broker, or None when ``KAFKA_BOOTSTRAP_SERVERS`` names a cluster."""
    if bootstrap_from_env() is not None:
        yield None
        return
    broker = KafkaBroker()
    broker.start()
    request.session.stash[_BROKER] = broker
    try:
        yield broker
    finally:
        del request.session.stash[_BROKER]
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker | None) -> str:
    """Bootstrap servers of the session's broker (or of ``KAFKA_BOOTSTRAP_SERVERS``)."""
    if kafka_broker is not None:
        return kafka_broker.bootstrap_servers
    env = bootstrap_from_env()
    assert env is not None
    return env


@pytest.fixture
def new_topic(kafka_bootstrap: str, request: pytest.FixtureRequest) -> Iterator[TopicFactory]:
    """A factory of unique, ready topics named after the test; they are deleted afterwards."""
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    prefix = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name).strip("-")[:60] or "topic"
    created: list[str] = []

    def make(partitions: int = 1, *, config: Mapping[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        # replication_factor=-1: the cluster's default.replication.factor.
        topic = NewTopic(name, num_partitions=partitions, replication_factor=-1, config=dict(config or {}))
        admin.create_topics([topic])[name].result(timeout=TOPIC_TIMEOUT_S)
        created.append(name)
        wait_for_topic(admin, name, partitions)
        return name

    yield make
    if created:
        for future in admin.delete_topics(created, operation_timeout=10).values():
            try:
                future.result(timeout=15)
            except Exception:  # best effort: the broker may already be gone
                pass


def wait_for_topic(
    admin: AdminClient, topic: str, partitions: int, timeout_s: float = TOPIC_TIMEOUT_S
) -> None:
    """Until the metadata shows ``topic`` with ``partitions`` partitions, each with a leader."""
    deadline = time.monotonic() + timeout_s
    while True:
        md = admin.list_topics(topic=topic, timeout=5.0)
        meta = md.topics.get(topic)
        if (
            meta is not None
            and meta.error is None
            and len(meta.partitions) == partitions
            and all(p.leader >= 0 for p in meta.partitions.values())
        ):
            return
        if time.monotonic() > deadline:
            raise ConnectError(f"topic {topic} not ready within {timeout_s:.0f} s")
        time.sleep(0.05)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Append the tail of the broker log to the report of a failed test that used it."""
    report = yield
    if report.failed and _USES_BROKER.intersection(getattr(item, "fixturenames", ())):
        broker = item.session.stash.get(_BROKER, None)
        if broker is not None:
            text = broker.log_tail(REPORT_LOG_LINES) or "(empty)"
            report.sections.append((f"Kafka broker log {broker.log_file} (last lines)", text))
    return report
