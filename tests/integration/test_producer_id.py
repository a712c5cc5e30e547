"""request_producer_id: an idempotent producer's id is asked for over the connection to the
broker the metadata names; it never raises, whatever the cluster does."""

from __future__ import annotations

import threading
import time

import pytest
from confluent_kafka import Consumer, Producer

from engine.broker.launcher import free_port
from engine.runtime.clients import PRODUCER_DEFAULTS, request_producer_id

pytestmark = [pytest.mark.kafka]


def test_records_produced_beside_the_request_arrive_once_in_order(kafka_bootstrap: str, new_topic) -> None:  # type: ignore[no-untyped-def]
    topic = new_topic(1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, **PRODUCER_DEFAULTS})
    asking = threading.Thread(target=request_producer_id, args=(producer,))
    asking.start()
    for i in range(100):  # at once, as a pipelined source's producing process does
        producer.produce(topic, f"r{i}".encode())
    asking.join(10)
    assert not asking.is_alive()
    assert producer.flush(30) == 0
    c = Consumer(
        {"bootstrap.servers": kafka_bootstrap, "group.id": f"pid-{topic}", "auto.offset.reset": "earliest"}
    )
    c.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < 100 and time.monotonic() < deadline:
        got.extend(m.value() for m in c.consume(100, 0.5) if m.error() is None)
    c.close()
    assert got == [f"r{i}".encode() for i in range(100)]


def test_an_unreachable_cluster_only_ends_the_request() -> None:
    producer = Producer({"bootstrap.servers": f"127.0.0.1:{free_port()}", **PRODUCER_DEFAULTS})
    started = time.monotonic()
    request_producer_id(producer, timeout=1.0)  # no exception: librdkafka keeps retrying
    assert time.monotonic() - started < 5
