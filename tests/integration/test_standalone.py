"""The standalone file pipeline against the real broker, as real processes."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest
from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as KTP

from tests.integration.standalone_proc import Standalone, count_lines, write_props

pytestmark = [pytest.mark.kafka, pytest.mark.processes]

WIDTH = 48  # every test line is exactly this many bytes with its newline


def make_lines(n: int) -> bytes:
    assert len('{"n": 0000000000, "msg": "hello arrowsmith"}') < WIDTH
    return b"".join(
        f'{{"n": {i:010d}, "msg": "hello arrowsmith"}}'.ljust(WIDTH - 1).encode() + b"\n" for i in range(n)
    )


def worker_props(work: Path, bootstrap: str, flush_ms: int = 1000) -> dict[str, object]:
    return {
        "bootstrap.servers": bootstrap,
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "offset.storage.file.filename": work / "connect.offsets",
        "offset.flush.interval.ms": flush_ms,
        "worker.processes": 2,
        "listeners": "http://127.0.0.1:0",
    }


def connectors(work: Path, topic: str) -> tuple[Path, Path]:
    src = write_props(
        work / "source.properties",
        {
            "name": f"src-{topic}",
            "connector.class": "FileStreamSource",
            "tasks.max": 1,
            "file": work / "in.txt",
            "topic": topic,
            "batch.size": 5000,
        },
    )
    sink = work / "sink.json"  # the REST create-body shape, as Kafka's standalone accepts
    sink.write_text(
        json.dumps(
            {
                "name": f"sink-{topic}",
                "config": {
                    "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                    "tasks.max": "1",
                    "file": str(work / "out.txt"),
                    "topics": topic,
                },
            }
        )
    )
    return src, sink


def stored_position(work: Path) -> int:
    try:
        doc = json.loads((work / "connect.offsets").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return 0
    values = list(doc["offsets"].values())
    assert len(values) <= 1
    return int(json.loads(values[0])["position"]) if values else 0


def test_quickstart_100k_lines_complete_and_in_order(tmp_path: Path, kafka_bootstrap: str) -> None:
    topic = f"qs-{uuid.uuid4().hex[:8]}"
    data = make_lines(100_000)
    (tmp_path / "in.txt").write_bytes(data)
    worker = write_props(tmp_path / "worker.properties", worker_props(tmp_path, kafka_bootstrap))
    src, sink = connectors(tmp_path, topic)
    proc = Standalone(tmp_path, worker, src, sink)
    try:
        proc.wait_for(lambda: count_lines(tmp_path / "out.txt") >= 100_000, 180, "100000 lines in the sink")
        assert proc.terminate() == 0
    finally:
        proc.stop()
    assert (tmp_path / "out.txt").read_bytes() == data
    assert stored_position(tmp_path) == len(data)
    assert "FAILED" not in proc.log()


def _committed(bootstrap: str, group: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        [tp] = c.committed([KTP(topic, 0)], timeout=10)
        return max(tp.offset, 0)
    finally:
        c.close()


def _high_watermark(bootstrap: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "hw-" + uuid.uuid4().hex})
    try:
        return int(c.get_watermark_offsets(KTP(topic, 0), timeout=10)[1])
    finally:
        c.close()


def test_sigkill_mid_stream_then_restart_loses_nothing(tmp_path: Path, kafka_bootstrap: str) -> None:
    n = 400_000
    topic = f"kill-{uuid.uuid4().hex[:8]}"
    data = make_lines(n)
    lines = data.splitlines(keepends=True)
    # The input grows while the pipeline runs (the source tails it), so the kill lands
    # mid-stream whatever the machine's speed.
    chunk = len(data) // 40
    (tmp_path / "in.txt").write_bytes(data[:chunk])
    appended = threading.Event()

    def grow() -> None:
        for start in range(chunk, len(data), chunk):
            time.sleep(0.25)
            with open(tmp_path / "in.txt", "ab") as f:
                f.write(data[start : start + chunk])
        appended.set()

    writer = threading.Thread(target=grow, daemon=True)
    writer.start()
    worker = write_props(
        tmp_path / "worker.properties", worker_props(tmp_path, kafka_bootstrap, flush_ms=300)
    )
    src, sink = connectors(tmp_path, topic)
    out = tmp_path / "out.txt"

    first = Standalone(tmp_path, worker, src, sink)
    try:
        first.wait_for(
            lambda: count_lines(out) > 0 and stored_position(tmp_path) > 0 and not appended.is_set(),
            120,
            "both connectors to be mid-stream",
        )
        workers = first.kill()
    finally:
        first.stop()
    # The worker processes notice the control plane is gone and exit.
    _gone, alive = psutil.wait_procs(workers, timeout=15)
    assert alive == []
    written_before = count_lines(out)
    source_resume = stored_position(tmp_path) // WIDTH
    sink_resume = _committed(kafka_bootstrap, f"connect-sink-{topic}", topic)
    assert 0 < written_before < n, "the kill must land mid-stream"
    assert 0 < source_resume < n
    assert sink_resume <= written_before

    writer.join(30)
    assert appended.is_set()
    second = Standalone(tmp_path, worker, src, sink)
    try:
        second.wait_for(lambda: stored_position(tmp_path) == len(data), 120, "the source to reach the end")
        hw = _high_watermark(kafka_bootstrap, topic)
        expected_total = written_before + hw - sink_resume
        second.wait_for(lambda: count_lines(out) >= expected_total, 120, "the sink to catch up")
        assert second.terminate() == 0
    finally:
        second.stop()

    got = out.read_bytes().splitlines(keepends=True)
    source_dups = hw - n  # records the source sent again after resuming from its stored offset
    assert source_dups >= 0
    # the topic is: lines[0:k] then lines[source_resume:] where k = source_resume + source_dups
    topic_lines = lines[: source_resume + source_dups] + lines[source_resume:]
    assert len(topic_lines) == hw
    # the sink wrote topic[0:written_before], then replayed from its committed offset
    assert got == topic_lines[:written_before] + topic_lines[sink_resume:]
    assert set(got) == set(lines)


def test_two_sink_tasks_share_partitions_without_loss(
    tmp_path: Path, kafka_bootstrap: str, new_topic
) -> None:  # type: ignore[no-untyped-def]
    """Two sink tasks in one group: partitions are split between them (open/close on
    assignment); every record arrives once, in order within its partition."""
    from confluent_kafka import Producer

    topic = new_topic(4)
    # idempotence: without it, retries on a fresh topic may reorder the test's own input
    p = Producer({"bootstrap.servers": kafka_bootstrap, "linger.ms": 5, "enable.idempotence": True})
    for i in range(40_000):
        p.produce(topic, f"{i % 4}:{i:08d}".encode(), partition=i % 4)
    assert p.flush(30) == 0
    props = worker_props(tmp_path, kafka_bootstrap)
    props["value.converter"] = props["key.converter"] = "org.apache.kafka.connect.storage.StringConverter"
    worker = write_props(tmp_path / "worker.properties", props)
    sink = write_props(
        tmp_path / "sink.properties",
        {
            "name": f"sink2-{topic}",
            "connector.class": "FileStreamSink",
            "tasks.max": 2,
            "file": tmp_path / "out.txt",
            "topics": topic,
        },
    )
    proc = Standalone(tmp_path, worker, sink)
    try:
        proc.wait_for(lambda: count_lines(tmp_path / "out.txt") >= 40_000, 120, "40000 records in the sink")
        proc.wait_for(
            lambda: all(f"|task-{t}] Assigned partitions" in proc.log() for t in (0, 1)),
            90,
            "both tasks to be assigned partitions",
        )
        assert proc.terminate() == 0
    finally:
        proc.stop()
    got = (tmp_path / "out.txt").read_text().splitlines()
    assert sorted(got) == sorted(f"{i % 4}:{i:08d}" for i in range(40_000))
    for part in range(4):
        mine = [line for line in got if line.startswith(f"{part}:")]
        assert mine == sorted(mine)
    assert _committed(kafka_bootstrap, f"connect-sink2-{topic}", topic) == 10_000


def test_quickstart_command(tmp_path: Path, kafka_bootstrap: str) -> None:
    """The README's first command, on the session's broker."""
    import os
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "controlplane", "quickstart", "--lines", "20000", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap},
    )
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert "Quickstart OK: 20000 lines went file -> Kafka -> file, complete and in order" in r.stdout
    assert (tmp_path / "test.sink.txt").read_bytes() == (tmp_path / "test.txt").read_bytes()
    for name in (
        "connect-standalone.properties",
        "connect-file-source.properties",
        "connect-file-sink.properties",
    ):
        assert (tmp_path / name).exists()
