"""A sink task's errant record reporter (context.errant_record_reporter()): the rows it
reports go to the error handler (stage TASK_PUT) — the dead-letter queue with the consumed
bytes, even after a router renamed the topic — while the rest is written in order; with
errors.tolerance=none a report fails the task. In one process and in the pipelined second stage."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from confluent_kafka import Producer

from engine.testing.plugins import plugin_dir as make_plugin_dir
from tests.integration.rest_client import rest_worker, wait_until
from tests.integration.test_dead_letter import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.processes]

PLUGIN = textwrap.dedent(
    """
    import json
    from engine.spi.connector import SinkConnector, SinkTask
    from engine.spi.errors import DataError

    class PickySink(SinkConnector):
        def start(self, props): self.props = dict(props)
        def task_class(self): return PickyTask
        def task_configs(self, n): return [dict(self.props)]
        def stop(self): pass

    class PickyTask(SinkTask):
        def start(self, props):
            self.out = props["file"]
            self.reporter = self.context.errant_record_reporter()
        def put(self, batch):
            values = batch.column("value").to_pylist()
            topics = batch.column("topic").to_pylist()
            bad = [i for i, v in enumerate(values) if v["n"] % 100 == 7]
            if bad:
                self.reporter.report(batch, bad, DataError(f"n ends in 07: {values[bad[0]]['n']}"))
            with open(self.out, "a") as f:
                for i, v in enumerate(values):
                    if i not in bad:
                        f.write(json.dumps({"topic": topics[i], "n": v["n"]}) + "\\n")
        def stop(self): pass
    """
)


def run_picky(tmp_path: Path, kafka_bootstrap: str, topic: str, n: int, **extra: str):  # type: ignore[no-untyped-def]
    plugins = make_plugin_dir(
        tmp_path / "plugins", "picky", PLUGIN, {"arrowsmith.connectors": {"PickySink": "picky:PickySink"}}
    )
    p = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for i in range(n):
        p.produce(topic, json.dumps({"n": i}).encode(), key=f"k{i}".encode())
    assert p.flush(30) == 0
    gen = rest_worker(
        tmp_path,
        kafka_bootstrap,
        **{
            "plugin.path": plugins,
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
        },
    )
    proc, client = next(gen)
    client.create(
        "picky",
        {
            "connector.class": "PickySink",
            "topics": topic,
            "file": str(tmp_path / "out.txt"),
            "transforms": "route",
            "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "transforms.route.regex": "(.*)",
            "transforms.route.replacement": "$1-routed",
            **extra,
        },
    )
    return gen, proc, client


@pytest.mark.parametrize("pipeline", ["1", "2"], ids=["one-process", "pipelined"])
def test_reported_records_go_to_the_dlq_and_the_rest_is_written(
    tmp_path: Path, kafka_bootstrap: str, new_topic, pipeline: str
) -> None:  # type: ignore[no-untyped-def]
    topic = new_topic(1)
    dlq = f"{topic}-dlq"
    n = 1000
    gen, proc, client = run_picky(
        tmp_path,
        kafka_bootstrap,
        topic,
        n,
        **{
            "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": dlq,
            "errors.deadletterqueue.topic.replication.factor": "1",
            "errors.deadletterqueue.context.headers.enable": "true",
            "pipeline.processes": pipeline,
        },
    )
    try:
        out = tmp_path / "out.txt"
        wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == n - 10, 60, "the good rows")
        dead = read_all(kafka_bootstrap, dlq, 10)
        wait_until(
            lambda: (
                client.ok("GET", "/connectors/picky/offsets")["offsets"][0]["offset"]["kafka_offset"] == n
            ),
            30,
            "offsets committed past the reported records",
        )
        assert client.states("picky") == ("RUNNING", ["RUNNING"])
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == [{"topic": f"{topic}-routed", "n": i} for i in range(n) if i % 100 != 7]
    bad = [i for i in range(n) if i % 100 == 7]
    assert [m.value() for m in dead] == [json.dumps({"n": i}).encode() for i in bad]  # the consumed bytes
    assert [m.key() for m in dead] == [f"k{i}".encode() for i in bad]
    for m, i in zip(dead, bad, strict=True):
        headers = dict(m.headers())
        assert headers["__connect.errors.stage"] == b"TASK_PUT"
        assert headers["__connect.errors.class.name"] == b"picky.PickyTask"
        assert headers["__connect.errors.offset"] == str(i).encode()
        assert headers["__connect.errors.topic"] == topic.encode()  # as consumed, not as routed
        assert headers["__connect.errors.exception.message"].startswith(b"n ends in 07: ")


def test_a_report_with_tolerance_none_fails_the_task(tmp_path: Path, kafka_bootstrap: str, new_topic) -> None:  # type: ignore[no-untyped-def]
    topic = new_topic(1)
    gen, proc, client = run_picky(tmp_path, kafka_bootstrap, topic, 20)
    try:
        wait_until(lambda: client.states("picky")[1] == ["FAILED"], 30, "the task to fail")
        trace = client.ok("GET", "/connectors/picky/tasks/0/status")["trace"]
        expected = "Tolerance exceeded in error handler: stage TASK_PUT, class picky.PickyTask: n ends in 07"
        assert expected in trace
        assert f"topic='{topic}-routed', partition=0, offset=7" in trace
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
