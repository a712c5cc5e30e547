"""A sink's RetriableError: the same batch is delivered again after a back-off; with
errors.retry.timeout the task fails once that time is spent."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from confluent_kafka import Producer

from engine.testing.plugins import plugin_dir as make_plugin_dir
from tests.integration.rest_client import rest_worker, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.processes]

PLUGIN = textwrap.dedent(
    """
    from engine.spi.connector import SinkConnector, SinkTask
    from engine.spi.errors import RetriableError

    class ShakySink(SinkConnector):
        def start(self, props): self.props = dict(props)
        def task_class(self): return ShakyTask
        def task_configs(self, n): return [dict(self.props)]
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
        tmp_path / "plugins", "shaky", PLUGIN, {"arrowsmith.connectors": {"ShakySink": "shaky:ShakySink"}}
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
