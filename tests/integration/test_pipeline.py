"""pipeline.processes=2: a task split over two pinned processes joined by the ring (a sink's
conversion and put, a source's produce)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from engine.testing.pytest_kafka import TopicFactory
from tests.integration.rest_client import rest_worker, wait_until
from tests.integration.standalone_proc import count_lines, processes_named

pytestmark = [pytest.mark.kafka, pytest.mark.processes]


def _produce(bootstrap: str, topic: str, lines: list[str]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20})
    for line in lines:
        p.produce(topic, line.encode())
    assert p.flush(60) == 0


def _create_piped_sink(client: Any, name: str, topic: str, out: Path, **extra: str) -> None:
    """A FileStreamSink of ``topic`` into ``out`` with pipeline.processes=2 (and ``extra``)."""
    config = {"connector.class": "FileStreamSink", "file": str(out), "topics": topic}
    client.create(name, {**config, "pipeline.processes": "2", **extra})


def test_pipelined_sink_keeps_order_and_commits_after_put(
    tmp_path: Path, kafka_bootstrap: str, new_topic
) -> None:  # type: ignore[no-untyped-def]
    topic = new_topic(1)
    n = 60_000
    _produce(kafka_bootstrap, topic, [f"line {i:06d}" for i in range(n)])
    gen = rest_worker(tmp_path, kafka_bootstrap, **{"worker.processes": 1})
    proc, client = next(gen)
    try:
        _create_piped_sink(client, "piped", topic, tmp_path / "out.txt")
        wait_until(lambda: count_lines(tmp_path / "out.txt") == n, 90, "every record through both stages")
        worker, stages = _stage_processes(proc)
        assert len(stages) == 1
        assert stages[0].cpu_affinity() != worker.cpu_affinity() or len(psutil.Process().cpu_affinity()) == 1
        wait_until(
            lambda: (
                client.ok("GET", "/connectors/piped/offsets")["offsets"]
                == [
                    {"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": n}}
                ]
            ),
            30,
            "the committed offset after put",
        )
        assert client.states("piped") == ("RUNNING", ["RUNNING"])
        assert client.put("/connectors/piped/stop").status == 204
        wait_until(lambda: not any(s.is_running() for s in stages), 15, "the stage process to exit")
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
    assert (tmp_path / "out.txt").read_text() == "".join(f"line {i:06d}\n" for i in range(n))


def test_pipelined_sink_slices_a_batch_larger_than_the_ring_can_take(
    tmp_path: Path, kafka_bootstrap: str, new_topic
) -> None:  # type: ignore[no-untyped-def]
    """A consumer prefetch of 16 MiB makes batches of ~16 MB, too large for one slot of the
    16 MiB ring: the first stage sends each as pieces, and every record arrives once, in order."""
    topic = new_topic(1)
    n, pad = 2_000, "x" * 20_000
    _produce(kafka_bootstrap, topic, [f"{i:06d} {pad}" for i in range(n)])
    gen = rest_worker(tmp_path, kafka_bootstrap, **{"worker.processes": 1})
    proc, client = next(gen)
    try:
        _create_piped_sink(
            client,
            "big",
            topic,
            tmp_path / "out.txt",
            **{
                "consumer.override.queued.max.messages.kbytes": "16384",
                "consumer.override.fetch.max.bytes": str(32 << 20),
                "consumer.override.max.partition.fetch.bytes": str(32 << 20),
            },
        )
        wait_until(lambda: count_lines(tmp_path / "out.txt") == n, 90, "every record through both stages")
        assert client.states("big") == ("RUNNING", ["RUNNING"])
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
    assert (tmp_path / "out.txt").read_text() == "".join(f"{i:06d} {pad}\n" for i in range(n))


def test_pipeline_processes_is_validated(tmp_path: Path, kafka_bootstrap: str) -> None:
    gen = rest_worker(tmp_path, kafka_bootstrap)
    proc, client = next(gen)
    try:
        r = client.post(
            "/connectors",
            {
                "name": "bad-pipe",
                "config": {"connector.class": "FileStreamSink", "topics": "t", "pipeline.processes": "3"},
            },
        )
        assert r.status == 400
        assert (
            "Invalid value 3 for configuration pipeline.processes: Value must be no more than 2" in r.error[1]
        )
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()


def _topic_values(
    bootstrap: str, topic: str, n: int, timeout: float = 60, until: bytes | None = None
) -> list[bytes]:
    """The first ``n`` values of partition 0 of ``topic`` (fewer if they do not come in time),
    or those up to the first ``until``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-check"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < n and time.monotonic() < deadline:
            for m in consumer.consume(10_000, 0.5):
                assert m.error() is None, m.error()
                got.append(m.value())
            if until is not None and until in got[-10_000:]:
                break
    finally:
        consumer.close()
    return got


def _stage_processes(proc: Any) -> tuple[psutil.Process, list[psutil.Process]]:
    [worker] = processes_named(proc.proc.pid, "as-worker-")
    return worker, processes_named(proc.proc.pid, "as-stage")


def test_pipelined_source_keeps_order_commits_acknowledged_offsets_and_resumes(
    tmp_path: Path, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    """pipeline.processes=2 on a source: poll/convert in the worker process, produce in a
    second pinned one; records arrive once, in order; the stored offset is the file position
    of the last acknowledged line; a stopped and resumed connector goes on from there."""
    topic = new_topic(1)
    source = tmp_path / "in.txt"
    first = [f"line {i:06d}" for i in range(50_000)]
    source.write_text("".join(f"{v}\n" for v in first))
    gen = rest_worker(tmp_path, kafka_bootstrap, **{"worker.processes": 1, "offset.flush.interval.ms": 500})
    proc, client = next(gen)
    config = {
        "connector.class": "FileStreamSource",
        "file": str(source),
        "topic": topic,
        "batch.size": "2000",
        "pipeline.processes": "2",
    }
    try:
        client.create("piped-src", config)
        got = _topic_values(kafka_bootstrap, topic, len(first))
        assert got == [v.encode() for v in first]  # the worker's StringConverter
        worker, stages = _stage_processes(proc)
        assert len(stages) == 1
        assert stages[0].cpu_affinity() != worker.cpu_affinity() or len(psutil.Process().cpu_affinity()) == 1
        size = source.stat().st_size
        wait_until(
            lambda: (
                client.ok("GET", "/connectors/piped-src/offsets")["offsets"]
                == [{"partition": {"filename": str(source)}, "offset": {"position": size}}]
            ),
            30,
            "the offset of the last acknowledged line",
        )
        assert client.put("/connectors/piped-src/stop").status == 204
        wait_until(lambda: not any(s.is_running() for s in stages), 15, "the producer process to exit")
        more = [f"more {i:06d}" for i in range(10_000)]
        with source.open("a") as f:
            f.write("".join(f"{v}\n" for v in more))
        assert client.put("/connectors/piped-src/resume").status == 202
        got = _topic_values(kafka_bootstrap, topic, len(first) + len(more) + 1, timeout=20)
        assert got == [v.encode() for v in first + more]  # nothing twice, nothing lost
        assert client.states("piped-src") == ("RUNNING", ["RUNNING"])
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()


def test_pipelined_source_fails_the_task_when_kafka_refuses_a_record(
    tmp_path: Path, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    """The producing process's failed delivery fails the task with the broker's error, and
    the offset of the refused record is never committed."""
    topic = new_topic(1, config={"max.message.bytes": "2000"})
    source = tmp_path / "in.txt"
    source.write_text("small 1\n" + "x" * 5_000 + "\nsmall 2\n")
    gen = rest_worker(tmp_path, kafka_bootstrap, **{"worker.processes": 1, "offset.flush.interval.ms": 500})
    proc, client = next(gen)
    try:
        client.create(
            "piped-big",
            {
                "connector.class": "FileStreamSource",
                "file": str(source),
                "topic": topic,
                "pipeline.processes": "2",
            },
        )
        client.wait_states("piped-big", "RUNNING", ["FAILED"], timeout=60)
        trace = client.status("piped-big")["tasks"][0]["trace"]
        assert "Unrecoverable exception from producer send callback" in trace
        assert "MSG_SIZE_TOO_LARGE" in trace or "too large" in trace.lower()
        assert client.ok("GET", "/connectors/piped-big/offsets")["offsets"] == []
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()


def test_pipelined_source_survives_its_producer_process_dying(
    tmp_path: Path, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    """SIGKILL of the producing process fails the task; restarted, it resumes from the last
    committed offset and every line reaches the topic (at least once, in order)."""
    topic = new_topic(1)
    source = tmp_path / "in.txt"
    lines = [f"row {i:07d}" for i in range(300_000)]
    source.write_text("".join(f"{v}\n" for v in lines))
    gen = rest_worker(tmp_path, kafka_bootstrap, **{"worker.processes": 1, "offset.flush.interval.ms": 200})
    proc, client = next(gen)
    try:
        client.create(
            "piped-kill",
            {
                "connector.class": "FileStreamSource",
                "file": str(source),
                "topic": topic,
                "batch.size": "500",
                "pipeline.processes": "2",
            },
        )
        stage = wait_until(lambda: (_stage_processes(proc)[1] or [None])[0], 30, "the producing process")
        stage.kill()
        client.wait_states("piped-kill", "RUNNING", ["FAILED"], timeout=60)
        trace = client.status("piped-kill")["tasks"][0]["trace"]
        assert "pipeline producer process ended (exit code -9)" in trace, trace
        assert client.post("/connectors/piped-kill/tasks/0/restart").status in (200, 202, 204)
        got = _topic_values(kafka_bootstrap, topic, len(lines) * 2, until=lines[-1].encode())
        client.wait_states("piped-kill", "RUNNING", ["RUNNING"], timeout=30)
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
    seen: dict[bytes, None] = dict.fromkeys(got)  # first occurrences, in order
    assert list(seen) == [v.encode() for v in lines]
    # a duplicate only repeats a record produced before the crash and not committed
    assert len(got) - len(seen) < len(lines)
