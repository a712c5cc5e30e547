"""Where a sink task's consumer starts: a new group at the end ``auto.offset.reset`` names
(given to librdkafka up front, see ``engine.runtime.sink_runner.start_positions``), a group
with committed offsets where it committed."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.integration.rest_client import rest_worker, wait_until
from tests.integration.standalone_proc import count_lines

pytestmark = [pytest.mark.kafka, pytest.mark.processes]


def _produce(bootstrap: str, topic: str, values: list[str]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i, v in enumerate(values):
        p.produce(topic, v.encode(), partition=i % 2)
    assert p.flush(30) == 0


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_a_sink_starts_where_auto_offset_reset_says_and_resumes_where_it_committed(
    tmp_path: Path, kafka_bootstrap: str, new_topic
) -> None:  # type: ignore[no-untyped-def]
    topic = new_topic(2)
    old = [f"old-{i}" for i in range(10)]
    _produce(kafka_bootstrap, topic, old)
    gen = rest_worker(tmp_path, kafka_bootstrap, **{"worker.processes": 1, "offset.flush.interval.ms": 500})
    proc, client = next(gen)
    first, latest, coop = tmp_path / "first.txt", tmp_path / "latest.txt", tmp_path / "coop.txt"
    try:
        client.create(
            "from-start", {"connector.class": "FileStreamSink", "file": str(first), "topics": topic}
        )
        client.create(
            "from-end",
            {
                "connector.class": "FileStreamSink",
                "file": str(latest),
                "topics": topic,
                "consumer.override.auto.offset.reset": "latest",
            },
        )
        client.create(  # a cooperative group: the start is given with incremental_assign
            "cooperative",
            {
                "connector.class": "FileStreamSink",
                "file": str(coop),
                "topics": topic,
                "consumer.override.partition.assignment.strategy": "cooperative-sticky",
            },
        )
        wait_until(lambda: count_lines(first) == 10, 60, "the records produced before the start")
        wait_until(
            lambda: "[from-end|task-0] Assigned partitions" in proc.log(), 60, "the latest sink's assignment"
        )
        new = [f"new-{i}" for i in range(6)]
        _produce(kafka_bootstrap, topic, new)
        wait_until(lambda: count_lines(first) == 16 and count_lines(latest) == 6, 60, "the new records")
        assert sorted(_lines(first)) == sorted(old + new)
        assert sorted(_lines(latest)) == sorted(new)  # nothing from before its start
        wait_until(lambda: count_lines(coop) == 16, 60, "the cooperative sink's records")
        assert sorted(_lines(coop)) == sorted(old + new)
        assert client.states("cooperative") == ("RUNNING", ["RUNNING"])

        # stopped, it commits; resumed, it starts at what it committed (nothing twice)
        assert client.put("/connectors/from-start/stop").status == 204
        wait_until(lambda: client.states("from-start")[0] == "STOPPED", 30, "the stop")
        more = [f"more-{i}" for i in range(4)]
        _produce(kafka_bootstrap, topic, more)
        assert client.put("/connectors/from-start/resume").status == 202
        wait_until(lambda: count_lines(first) == 20, 60, "the records produced while it was stopped")
        assert sorted(_lines(first)) == sorted(old + new + more)
        assert client.states("from-start") == ("RUNNING", ["RUNNING"])
        wait_until(lambda: count_lines(latest) == 10, 60, "the latest sink's copy of them")
        assert sorted(_lines(latest)) == sorted(new + more)
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
