"""A sink's RetriableError: the same batch is delivered again after a back-off; with
errors.retry.timeout the task fails once that time is spent. A source's RetriableError from
poll(): the poll is retried (as Kafka Connect does) and the task keeps running."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from engine.testing.plugins import plugin_dir as make_plugin_dir
from tests.integration.rest_client import rest_worker, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.processes]

PLUGIN = textwrap.dedent(
    """
    import pyarrow as pa
    from engine.spi.connector import SinkConnector, SinkTask, SourceConnector, SourceTask
    from engine.spi.errors import RetriableError
    from engine.spi.record import SourceBatch, make_batch

    class ShakySink(SinkConnector):
        def start(self, props): self.props = dict(props)
        def task_class(self): return ShakyTask
        def task_configs(self, n): return [dict(self.props)]
        def stop(self): pass

    class ShakySource(SourceConnector):
        def start(self, props): self.props = dict(props)
        def task_class(self): return ShakySourceTask
        def task_configs(self, n): return [dict(self.props)]
        def stop(self): pass

    class ShakySourceTask(SourceTask):
        def start(self, props):
            self.topic = props["topic"]; self.failures = int(props["failures"]); self.calls = 0
            self.done = False
        def poll(self):
            self.calls += 1
            if self.calls <= self.failures:
                raise RetriableError(f"source not ready ({self.calls})")
            if self.done:
                return None
            self.done = True
            values = pa.array([f"s{i}" for i in range(20)])
            return SourceBatch(make_batch(topic=self.topic, value=values), [({"p": 0}, {"n": 20})])
        def stop(self): pass

    class ShakyTask(SinkTask):
        def start(self, props):
            self.out = props["file"]; self.failures = int(props["failures"]); self.calls = 0
        def put(self, batch):
            self.calls += 1
            if self.calls <= self.failures:
                raise RetriableError(f"not yet ({self.calls})")
            with open(self.out, "a") as f:
                f.writelines(f"{v.decode()}\\n" for v in batch.column("value").to_pylist())
        def stop(self): pass
    """
)


def plugins(tmp_path: Path) -> Path:
    return make_plugin_dir(
        tmp_path / "plugins",
        "shaky",
        PLUGIN,
        {"arrowsmith.connectors": {"ShakySink": "shaky:ShakySink", "ShakySource": "shaky:ShakySource"}},
    )


def test_retriable_put_is_redelivered_then_bounded(tmp_path: Path, kafka_bootstrap: str, new_topic) -> None:  # type: ignore[no-untyped-def]
    topic = new_topic(1)
    p = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for i in range(50):
        p.produce(topic, f"v{i}".encode())
    assert p.flush(30) == 0
    gen = rest_worker(
        tmp_path,
        kafka_bootstrap,
        **{
            "plugin.path": plugins(tmp_path),
            "value.converter": "org.apache.kafka.connect.converters.ByteArrayConverter",
        },
    )
    proc, client = next(gen)
    try:
        client.create(
            "shaky",
            {
                "connector.class": "ShakySink",
                "topics": topic,
                "file": str(tmp_path / "out.txt"),
                "failures": "3",
                "errors.retry.delay.max.ms": "200",
            },
        )
        wait_until(
            lambda: (tmp_path / "out.txt").exists() and (tmp_path / "out.txt").read_text().count("\n") == 50,
            60,
            "the batch after 3 retries",
        )
        assert (tmp_path / "out.txt").read_text() == "".join(f"v{i}\n" for i in range(50))
        assert proc.log().count("put() asked to retry (not yet") == 3
        client.create(
            "bounded",
            {
                "connector.class": "ShakySink",
                "topics": topic,
                "file": str(tmp_path / "never.txt"),
                "failures": "1000",
                "errors.retry.timeout": "1500",
                "errors.retry.delay.max.ms": "200",
            },
        )
        wait_until(lambda: client.states("bounded")[1] == ["FAILED"], 60, "the bounded task to fail")
        trace = client.ok("GET", "/connectors/bounded/tasks/0/status")["trace"]
        assert "RetriableError: not yet" in trace
        assert not (tmp_path / "never.txt").exists()
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()


def test_retriable_poll_is_retried(tmp_path: Path, kafka_bootstrap: str, new_topic) -> None:  # type: ignore[no-untyped-def]
    topic = new_topic(1)
    gen = rest_worker(
        tmp_path,
        kafka_bootstrap,
        **{
            "plugin.path": plugins(tmp_path),
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        },
    )
    proc, client = next(gen)
    try:
        client.create(
            "shaky-src",
            {
                "connector.class": "ShakySource",
                "topic": topic,
                "failures": "3",
                "errors.retry.delay.max.ms": "200",
            },
        )
        c = Consumer(
            {"bootstrap.servers": kafka_bootstrap, "group.id": f"r-{topic}", "auto.offset.reset": "earliest"}
        )
        c.subscribe([topic])
        got: list[bytes] = []
        try:
            wait_until(
                lambda: (
                    got.extend(m.value() for m in c.consume(50, 0.5) if m.error() is None) or len(got) >= 20
                ),
                60,
                "the records after 3 failed polls",
            )
        finally:
            c.close()
        assert got == [f"s{i}".encode() for i in range(20)]
        assert client.states("shaky-src") == ("RUNNING", ["RUNNING"])
        assert proc.log().count("Failed to poll records from the task (source not ready") == 3
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
