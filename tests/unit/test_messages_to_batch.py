"""Consumed messages → the envelope batch, with and without the assignment's one topic and
partition given."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from confluent_kafka import Message

from engine.runtime.sink_runner import messages_to_batch
from engine.spi.record import BINARY_SCHEMA


def msg(topic: str, partition: int, offset: int, ts: int, value: bytes | None, **kw: object) -> Message:
    return Message(topic=topic, partition=partition, offset=offset, timestamp=(1, ts), value=value, **kw)


def rows(batch: pa.RecordBatch) -> list[dict[str, object]]:
    assert batch.schema.equals(BINARY_SCHEMA)
    return batch.to_pylist()


def test_one_partition_given_or_read_is_the_same_batch() -> None:
    msgs = [msg("orders", 2, 40 + i, 1_700_000_000_000 + i, b"v%d" % i, key=b"k") for i in range(3)]
    read = messages_to_batch(msgs)
    assert messages_to_batch(msgs, "orders", 2).equals(read)
    assert messages_to_batch(msgs, "orders").equals(read)
    assert rows(read) == [
        {
            "topic": "orders",
            "partition": 2,
            "offset": 40 + i,
            "timestamp": dt.datetime(2023, 11, 14, 22, 13, 20, i * 1000),
            "key": b"k",
            "value": b"v%d" % i,
            "headers": None,
        }
        for i in range(3)
    ]


def test_several_partitions_and_topics_are_read_from_each_message() -> None:
    msgs = [
        msg("a", 0, 5, 1000, b"x", headers=[("h", b"1")]),
        msg("b", 3, 9, 2000, None),
        msg("a", 1, 0, 3000, b"z"),
    ]
    got = rows(messages_to_batch(msgs))
    assert [(r["topic"], r["partition"], r["offset"]) for r in got] == [("a", 0, 5), ("b", 3, 9), ("a", 1, 0)]
    assert [r["timestamp"] for r in got] == [dt.datetime(1970, 1, 1, 0, 0, s) for s in (1, 2, 3)]
    assert [r["value"] for r in got] == [b"x", None, b"z"]
    assert [r["headers"] for r in got] == [[{"key": "h", "value": b"1"}], None, None]
    # one topic over several partitions: the topic is given, the partitions still read
    same = [msg("a", p, p * 10, 1000, b"v") for p in (0, 1, 0)]
    assert [r["partition"] for r in rows(messages_to_batch(same, "a"))] == [0, 1, 0]


@pytest.mark.parametrize(("topic", "partition"), [(None, None), ("t", None), ("t", 0)])
def test_an_empty_batch_has_the_envelope_schema(topic: str | None, partition: int | None) -> None:
    batch = messages_to_batch([], topic, partition)
    assert batch.num_rows == 0
    assert batch.schema.equals(BINARY_SCHEMA)
