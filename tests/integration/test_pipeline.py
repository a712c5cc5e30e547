"""pipeline.processes=2: a sink task's put() in a second pinned process, fed through the ring."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from confluent_kafka import Producer

from tests.integration.rest_client import rest_worker, wait_until
from tests.integration.standalone_proc import count_lines

pytestmark = [pytest.mark.kafka, pytest.mark.processes]


def test_pipelined_sink_keeps_order_and_commits_after_put(
    tmp_path: Path, kafka_bootstrap: str, new_topic
) -> None:  # type: ignore[no-untyped-def]
    topic = new_topic(1)
    n = 60_000
    p = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "linger.ms": 20})
    for i in range(n):
        p.produce(topic, f"line {i:06d}".encode())
    assert p.flush(60) == 0
    gen = rest_worker(tmp_path, kafka_bootstrap, **{"worker.processes": 1})
    proc, client = next(gen)
    try:
        client.create(
            "piped",
            {
                "connector.class": "FileStreamSink",
                "file": str(tmp_path / "out.txt"),
                "topics": topic,
                "pipeline.processes": "2",
            },
        )
        wait_until(lambda: count_lines(tmp_path / "out.txt") == n, 90, "every record through both stages")
        [worker] = [
            c for c in psutil.Process(proc.proc.pid).children() if "spawn_main" in " ".join(c.cmdline())
        ]
        stages = [c for c in worker.children() if "spawn_main" in " ".join(c.cmdline())]
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
