"""The source task's bulk enqueue: order, timestamps, and a queue that fills up."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from engine.runtime.produce import _produce_values
from engine.testing.pytest_kafka import TopicFactory

N = 12_000
BASE_MS = 1_600_000_000_000


@pytest.mark.kafka
@pytest.mark.parametrize("keyed", [False, True], ids=["no-keys", "keys"])
@pytest.mark.parametrize("stamps", ["none", "one", "each"])
def test_records_arrive_in_order_with_their_timestamps_when_the_queue_fills(
    kafka_bootstrap: str, new_topic: TopicFactory, stamps: str, keyed: bool
) -> None:
    topic = new_topic(partitions=1)
    failures: list[object] = []
    producer = Producer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "enable.idempotence": True,
            "linger.ms": 5,
            "queue.buffering.max.messages": 500,  # far fewer than a batch: BufferError many times
            "delivery.report.only.error": True,
            "on_delivery": lambda err, msg: failures.append(err),
        }
    )
    values = [b"v%d" % i for i in range(N)]
    keys: list[bytes | None] | None = (
        [None if i % 7 == 0 else b"k%d" % i for i in range(N)] if keyed else None
    )
    given: int | list[int] | None = {"none": None, "one": BASE_MS, "each": [BASE_MS + i for i in range(N)]}[
        stamps
    ]
    for start in range(0, N, 5_000):
        part = given[start : start + 5_000] if isinstance(given, list) else given
        _produce_values(
            producer,
            topic,
            values[start : start + 5_000],
            part,
            keys[start : start + 5_000] if keys else None,
        )
    assert producer.flush(30) == 0
    assert failures == []

    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"{topic}-check"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.monotonic() + 30
    while len(got) < N and time.monotonic() < deadline:
        got += consumer.consume(5_000, 1.0)
    consumer.close()
    assert [m.value() for m in got] == values
    assert [m.key() for m in got] == (keys if keys is not None else [None] * N)
    times = [m.timestamp()[1] for m in got]
    if stamps == "one":
        assert set(times) == {BASE_MS}
    elif stamps == "each":
        assert times == given
    else:
        assert abs(times[0] - time.time() * 1000) < 600_000
