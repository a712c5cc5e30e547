"""The supervisor: pinned worker processes, a SIGKILLed worker replaced with no record lost,
failed tasks with their traces, restarts, pause/resume, and /metrics against real records."""

from __future__ import annotations

import re
import signal
import textwrap
import time
import uuid
from pathlib import Path

import psutil
import pytest

from engine.testing.plugins import plugin_dir as make_plugin_dir
from tests.integration.rest_client import RestClient, enc, rest_worker, wait_until
from tests.integration.standalone_proc import count_lines, processes_named

pytestmark = [pytest.mark.kafka, pytest.mark.processes]


def file_pipeline(client: RestClient, work: Path, topic: str, name: str) -> None:
    client.create(
        f"{name}-src",
        {
            "connector.class": "FileStreamSource",
            "file": str(work / "in.txt"),
            "topic": topic,
            "batch.size": "2000",
        },
    )
    client.create(
        f"{name}-sink", {"connector.class": "FileStreamSink", "file": str(work / "out.txt"), "topics": topic}
    )


def test_workers_are_pinned_and_a_killed_worker_is_replaced_without_loss(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    lines = [f"record {i:07d}" for i in range(300_000)]
    (tmp_path / "in.txt").write_text("".join(line + "\n" for line in lines[:150_000]))
    gen = rest_worker(tmp_path, kafka_bootstrap, **{"worker.processes": 2})
    proc, client = next(gen)
    try:
        workers = processes_named(proc.proc.pid, "as-worker-")
        assert all(len(c.cpu_affinity()) == 1 for c in workers)
        assert len(workers) == 2
        assert sorted(c.cpu_affinity()[0] for c in workers) == sorted(
            psutil.Process().cpu_affinity()[i % len(psutil.Process().cpu_affinity())] for i in range(2)
        )
        # a topic of its own: on a long-lived broker (KAFKA_BOOTSTRAP_SERVERS) the sink group's
        # offsets from an earlier run would otherwise start it on that run's unconsumed tail
        file_pipeline(client, tmp_path, f"crash-topic-{uuid.uuid4().hex[:8]}", "crash")
        wait_until(lambda: count_lines(tmp_path / "out.txt") >= 150_000, 60, "the first half")
        victim = workers[0]
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        with open(tmp_path / "in.txt", "a") as f:
            f.write("".join(line + "\n" for line in lines[150_000:]))
        wait_until(lambda: count_lines(tmp_path / "out.txt") >= 300_000, 90, "every record after the crash")
        wait_until(
            lambda: "arrowsmith_worker_restarts_total{worker=" in client.get("/metrics").body.decode(),
            10,
            "metrics",
        )
        metrics = client.get("/metrics").body.decode()
        assert re.search(r'arrowsmith_worker_restarts_total\{worker="\d"\} 1\.0', metrics)
        replaced = [c for c in processes_named(proc.proc.pid, "as-worker-") if c.pid != victim.pid]
        assert len(replaced) >= 2
        assert client.states("crash-src") == ("RUNNING", ["RUNNING"])
        assert client.states("crash-sink") == ("RUNNING", ["RUNNING"])
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
    got = (tmp_path / "out.txt").read_text().splitlines()
    assert set(got) == set(lines)  # nothing lost
    first = {}
    for i, line in enumerate(got):
        first.setdefault(line, i)
    assert sorted(first, key=first.__getitem__) == lines  # order kept (replays only repeat a suffix)
    assert "died with exit code -9; restarting it" in proc.log()


FLAKY = textwrap.dedent(
    """
    import os
    import pyarrow as pa
    from engine.spi.connector import SourceConnector, SourceTask
    from engine.spi.record import SourceBatch, make_batch

    class FlakySource(SourceConnector):
        def start(self, props): self.props = dict(props)
        def task_class(self): return FlakyTask
        def task_configs(self, max_tasks): return [dict(self.props)]
        def stop(self): pass

    class FlakyTask(SourceTask):
        def start(self, props):
            self.marker = props["marker"]; self.topic = props["topic"]; self.sent = False
        def poll(self):
            if os.path.exists(self.marker):
                raise RuntimeError("flaky task failed: marker " + self.marker + " exists")
            if self.sent:
                import time; time.sleep(0.1); return None
            self.sent = True
            return SourceBatch(make_batch(topic=self.topic, value=pa.array(["x"], pa.string())))
        def stop(self): pass
    """
)


def plugin_dir(tmp_path: Path) -> Path:
    return make_plugin_dir(
        tmp_path / "plugins", "flaky", FLAKY, {"arrowsmith.connectors": {"FlakySource": "flaky:FlakySource"}}
    )


def test_failed_task_has_its_trace_and_restarts(tmp_path: Path, kafka_bootstrap: str) -> None:
    marker = tmp_path / "fail-now"
    marker.touch()
    gen = rest_worker(tmp_path, kafka_bootstrap, **{"plugin.path": plugin_dir(tmp_path)})
    proc, client = next(gen)
    try:
        client.create("flaky", {"connector.class": "FlakySource", "marker": str(marker), "topic": "flaky-t"})
        wait_until(lambda: client.states("flaky")[1] == ["FAILED"], 30, "the task to fail")
        task = client.ok("GET", "/connectors/flaky/tasks/0/status")
        assert task["state"] == "FAILED"
        assert "RuntimeError: flaky task failed: marker" in task["trace"]
        assert "Traceback (most recent call last)" in task["trace"]
        assert client.status("flaky")["connector"]["state"] == "RUNNING"
        marker.unlink()
        r = client.post("/connectors/flaky/restart?includeTasks=true&onlyFailed=true")
        assert r.status == 202
        assert r.json()["tasks"][0]["state"] == "RESTARTING"
        assert r.json()["connector"]["state"] == "RUNNING"  # only failed instances restart
        client.wait_states("flaky", "RUNNING", ["RUNNING"])
        assert "trace" not in client.ok("GET", "/connectors/flaky/tasks/0/status")
        marker.touch()
        wait_until(lambda: client.states("flaky")[1] == ["FAILED"], 30, "the task to fail again")
        marker.unlink()
        assert client.post("/connectors/flaky/tasks/0/restart").status == 204
        client.wait_states("flaky", "RUNNING", ["RUNNING"])
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()


def test_pause_resume_stop_take_effect_within_a_second(tmp_path: Path, kafka_bootstrap: str) -> None:
    (tmp_path / "in.txt").write_text("a\nb\n")
    gen = rest_worker(tmp_path, kafka_bootstrap)
    proc, client = next(gen)
    try:
        file_pipeline(client, tmp_path, "pause-topic", "p")
        wait_until(lambda: count_lines(tmp_path / "out.txt") == 2, 60, "the first lines")
        for name in ("p-src", "p-sink"):
            assert client.put(f"/connectors/{enc(name)}/pause").status == 202
        t0 = time.monotonic()
        client.wait_states("p-src", "PAUSED", ["PAUSED"], timeout=5)
        client.wait_states("p-sink", "PAUSED", ["PAUSED"], timeout=5)
        assert time.monotonic() - t0 < 1.5
        with open(tmp_path / "in.txt", "a") as f:
            f.write("c\n")
        time.sleep(2.0)
        assert count_lines(tmp_path / "out.txt") == 2  # paused: nothing moves
        for name in ("p-src", "p-sink"):
            assert client.put(f"/connectors/{enc(name)}/resume").status == 202
        t0 = time.monotonic()
        client.wait_states("p-src", "RUNNING", ["RUNNING"], timeout=5)
        client.wait_states("p-sink", "RUNNING", ["RUNNING"], timeout=5)
        assert time.monotonic() - t0 < 1.5
        wait_until(lambda: count_lines(tmp_path / "out.txt") == 3, 30, "the line written while paused")
        assert client.put("/connectors/p-src/stop").status == 204
        status = client.status("p-src")
        assert status["connector"]["state"] == "STOPPED"
        assert status["tasks"] == []
        assert client.ok("GET", "/connectors/p-src/tasks") == []
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
    assert (tmp_path / "out.txt").read_text() == "a\nb\nc\n"


def _metric(text: str, name: str, **labels: str) -> float:
    sel = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    m = re.search(rf"^{re.escape(name)}\{{{re.escape(sel)}\}} (\S+)$", text, re.M)
    assert m, f"{name}{{{sel}}} not in /metrics"
    return float(m.group(1))


def test_metrics_count_the_records_sent(tmp_path: Path, kafka_bootstrap: str) -> None:
    n = 50_000
    (tmp_path / "in.txt").write_text("".join(f"m{i}\n" for i in range(n)))
    gen = rest_worker(tmp_path, kafka_bootstrap)
    proc, client = next(gen)
    try:
        file_pipeline(client, tmp_path, "metrics-topic", "m")
        wait_until(lambda: count_lines(tmp_path / "out.txt") == n, 60, "every record")

        def scraped() -> str | None:
            text = client.get("/metrics").body.decode()
            done = 'arrowsmith_sink_record_send_total{connector="m-sink",task="0"} 50000.0' in text
            return text if done else None

        text = wait_until(scraped, 10, "the sink counters")
        assert _metric(text, "arrowsmith_source_record_poll_total", connector="m-src", task="0") == n
        assert _metric(text, "arrowsmith_source_record_write_total", connector="m-src", task="0") == n
        assert _metric(text, "arrowsmith_sink_record_read_total", connector="m-sink", task="0") == n
        assert _metric(text, "arrowsmith_batch_size_records_sum", connector="m-src", task="0") == n
        assert _metric(text, "arrowsmith_task_status", connector="m-sink", task="0", state="RUNNING") == 1
        assert (
            _metric(
                text,
                "arrowsmith_consumer_lag_records",
                connector="m-sink",
                task="0",
                topic="metrics-topic",
                partition="0",
            )
            == 0
        )
        assert _metric(text, "arrowsmith_worker_rss_bytes", worker="0") > 10_000_000
        assert "# TYPE arrowsmith_put_batch_seconds histogram" in text
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()


def _worker_children(pid: int) -> list[psutil.Process]:
    return processes_named(pid, "as-worker-")


def test_a_task_that_keeps_crashing_its_worker_is_failed(tmp_path: Path, kafka_bootstrap: str) -> None:
    (tmp_path / "in.txt").write_text("x\n")
    gen = rest_worker(tmp_path, kafka_bootstrap)
    proc, client = next(gen)
    try:
        client.create(
            "crashy",
            {
                "connector.class": "FileStreamSource",
                "file": str(tmp_path / "in.txt"),
                "topic": "crashy-topic",
            },
        )
        client.wait_states("crashy", "RUNNING", ["RUNNING"])
        for n in range(4):
            wait_until(lambda n=n: proc.log().count("Restarting task crashy-0") == n, 30, f"relaunch {n}")
            [worker] = wait_until(lambda: _worker_children(proc.proc.pid) or None, 30, "a worker process")
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            wait_until(
                lambda w=worker: w.pid not in [c.pid for c in _worker_children(proc.proc.pid)],
                10,
                "its reaping",
            )
        wait_until(lambda: client.states("crashy")[1] == ["FAILED"], 30, "the task to be FAILED")
        trace = client.ok("GET", "/connectors/crashy/tasks/0/status")["trace"]
        assert "The worker process running task crashy-0 died 4 times within 300s" in trace
        wait_until(lambda: len(_worker_children(proc.proc.pid)) == 1, 30, "a replacement worker")
        assert client.post("/connectors/crashy/tasks/0/restart").status == 204
        client.wait_states("crashy", "RUNNING", ["RUNNING"])
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()


def test_log_levels_change_live_in_the_worker_processes(tmp_path: Path, kafka_bootstrap: str) -> None:
    (tmp_path / "in.txt").write_text("one\n")
    gen = rest_worker(tmp_path, kafka_bootstrap)
    proc, client = next(gen)
    try:
        client.create(
            "loud",
            {"connector.class": "FileStreamSource", "file": str(tmp_path / "in.txt"), "topic": "loud-topic"},
        )
        client.wait_states("loud", "RUNNING", ["RUNNING"])
        time.sleep(1.5)
        assert "Read 1 lines" not in proc.log()  # DEBUG is off
        affected = client.ok("PUT", "/admin/loggers/connectors.file", {"level": "DEBUG"})
        assert "connectors.file" in affected
        assert client.ok("GET", "/admin/loggers/connectors.file")["level"] == "DEBUG"
        with open(tmp_path / "in.txt", "a") as f:
            f.write("two\nthree\n")
        wait_until(lambda: "Read 2 lines from" in proc.log(), 20, "a DEBUG line from the worker process")
        line = next(ln for ln in proc.log().splitlines() if "Read 2 lines from" in ln)
        assert " DEBUG [loud|task-0] Read 2 lines from " in line
        worker_pid = int(line.rsplit("pid=", 1)[1])
        assert worker_pid != proc.proc.pid  # logged by the worker process, tagged by the runtime
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
