"""Where newly assigned partitions start (``start_positions``): committed offsets kept with
their leader epochs, the others at the end auto.offset.reset names; otherwise librdkafka's."""

from __future__ import annotations

from types import SimpleNamespace

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, OFFSET_INVALID, KafkaError
from confluent_kafka import TopicPartition as T

from engine.runtime.sink_runner import start_positions


def _fetched() -> list[T]:
    return [
        T("t", 0, 42, leader_epoch=3),
        T("t", 1, OFFSET_INVALID),
        T("u", 0, 0, leader_epoch=0),
        T("u", 1, 7),  # committed without a leader epoch
    ]


def _as_tuples(tps: list[T] | None) -> list[tuple[str, int, int, int | None]] | None:
    return None if tps is None else [(t.topic, t.partition, t.offset, t.leader_epoch) for t in tps]


def test_committed_offsets_stay_and_the_others_start_where_the_policy_says() -> None:
    for policy, logical in [
        ("earliest", OFFSET_BEGINNING),
        ("smallest", OFFSET_BEGINNING),
        ("beginning", OFFSET_BEGINNING),
        ("latest", OFFSET_END),
        ("LARGEST", OFFSET_END),
        ("end", OFFSET_END),
    ]:
        assert _as_tuples(start_positions(_fetched(), policy)) == [
            ("t", 0, 42, 3),
            ("t", 1, logical, None),
            ("u", 0, 0, 0),
            ("u", 1, 7, None),
        ], policy


def test_a_policy_that_is_no_position_or_an_unread_offset_is_left_to_librdkafka() -> None:
    assert start_positions(_fetched(), "error") is None
    assert start_positions(_fetched(), "none") is None
    # a partition whose offset the coordinator could not give (TopicPartition.error is
    # read-only: a stand-in with the same attributes)
    unread = SimpleNamespace(
        topic="t",
        partition=2,
        offset=OFFSET_INVALID,
        leader_epoch=None,
        error=KafkaError(KafkaError.UNSTABLE_OFFSET_COMMIT),
    )
    assert start_positions([*_fetched(), unread], "earliest") is None  # type: ignore[list-item]
    assert start_positions([], "earliest") == []
