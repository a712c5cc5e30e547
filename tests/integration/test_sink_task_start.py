"""A sink task whose start() fails: the task is FAILED with the error's trace, stop() is
called (as Kafka Connect does) but never open() or put(), and its consumer (subscribed
before start(), so the group join overlaps the task's start) leaves the group instead of
holding partitions."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from engine.testing.plugins import plugin_dir as make_plugin_dir
from tests.integration.rest_client import rest_worker, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.processes]

PLUGIN = textwrap.dedent(
    """
    from engine.spi.connector import SinkConnector, SinkTask

    class BrokenStartSink(SinkConnector):
        def start(self, props): self.props = dict(props)
        def task_class(self): return BrokenStartTask
        def task_configs(self, n): return [dict(self.props)]
        def stop(self): pass

    class BrokenStartTask(SinkTask):
        def start(self, props):
            self.marks = props["marks"]
            raise ValueError("the sink's database is unreachable")
        def open(self, partitions):
            with open(self.marks, "a") as f:
                f.write("open\\n")
        def put(self, batch):
            with open(self.marks, "a") as f:
                f.write("put\\n")
        def stop(self):
            with open(self.marks, "a") as f:
                f.write("stop\\n")
    """
)


def _members(bootstrap: str, group: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    description = admin.describe_consumer_groups([group])[group].result(30)
    return len(description.members)


def test_a_failed_start_fails_the_task_and_leaves_the_group(  # type: ignore[no-untyped-def]
    tmp_path: Path, kafka_bootstrap: str, new_topic
) -> None:
    topic = new_topic(1)
    p = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(10):
        p.produce(topic, f"v{i}".encode())
    assert p.flush(30) == 0
    plugins = make_plugin_dir(
        tmp_path / "plugins",
        "broken",
        PLUGIN,
        {"arrowsmith.connectors": {"BrokenStartSink": "broken:BrokenStartSink"}},
    )
    marks = tmp_path / "marks.txt"
    gen = rest_worker(tmp_path, kafka_bootstrap, **{"plugin.path": plugins})
    proc, client = next(gen)
    try:
        client.create("broken", {"connector.class": "BrokenStartSink", "topics": topic, "marks": str(marks)})
        wait_until(lambda: client.states("broken")[1] == ["FAILED"], 60, "the task to fail")
        trace = client.ok("GET", "/connectors/broken/tasks/0/status")["trace"]
        assert "ValueError: the sink's database is unreachable" in trace
        wait_until(lambda: _members(kafka_bootstrap, "connect-broken") == 0, 30, "the consumer to leave")
        assert marks.read_text() == "stop\n"  # stopped (as Kafka Connect does), never opened nor put
        assert client.states("broken")[0] == "RUNNING"
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
