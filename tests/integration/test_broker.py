"""The project's own Kafka broker: the session fixture, the CLI, and its errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from engine.broker import cli
from engine.broker.launcher import KafkaBroker, new_cluster_id, server_properties
from engine.broker.maven import INSTALL_HINT, missing_tools
from engine.spi.errors import ConnectError
from engine.testing.pytest_kafka import TopicFactory
from perf._util import warm_group_coordinator

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.kafka
def test_produce_and_consume_through_the_session_broker(
    kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic(partitions=3)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    sent = {f"k{i}".encode(): f"v{i}".encode() for i in range(300)}
    for key, value in sent.items():
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0

    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"{topic}-group",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": "false",
        }
    )
    got: dict[bytes, bytes] = {}
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 30
        while len(got) < len(sent) and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=1.0):
                assert msg.error() is None, msg.error()
                got[msg.key()] = msg.value()
    finally:
        consumer.close()
    assert got == sent


@pytest.mark.kafka
def test_new_topic_is_ready_with_its_partitions(kafka_bootstrap: str, new_topic: TopicFactory) -> None:
    topic = new_topic(partitions=4, config={"cleanup.policy": "compact"})
    md = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(topic=topic, timeout=10)
    assert topic.startswith("test_new_topic_is_ready")
    assert sorted(md.topics[topic].partitions) == [0, 1, 2, 3]


@pytest.mark.kafka
@pytest.mark.slow
def test_cli_start_status_stop_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not missing_tools(), f"needs {' and '.join(missing_tools())} (see .ci/run)"
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    state_dir = tmp_path / "state"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    args = ["--state-dir", str(state_dir)]
    # `start` in its own process proves the broker outlives the command.
    started = subprocess.run(
        [sys.executable, "-m", "engine.broker.cli", "start", "--heap-mb", "384", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    bootstrap = started.stdout.strip()
    state = json.loads((state_dir / "broker.json").read_text())
    try:
        assert bootstrap == state["bootstrap_servers"]
        assert bootstrap.startswith("127.0.0.1:")
        admin = AdminClient({"bootstrap.servers": bootstrap})
        md = admin.list_topics(timeout=10)
        assert 1 in md.brokers
        # a fresh broker has no offsets topic until a group asks for its coordinator; the
        # benchmarks have it made before their timers start
        assert "__consumer_offsets" not in md.topics
        warm_group_coordinator(bootstrap)
        offsets = admin.list_topics(topic="__consumer_offsets", timeout=10).topics["__consumer_offsets"]
        assert offsets.error is None
        assert len(offsets.partitions) == int(
            server_properties(9092, 9093, tmp_path)["offsets.topic.num.partitions"]
        )
        assert all(p.leader == 1 for p in offsets.partitions.values())

        assert cli.main(["status", *args]) == 0
        assert bootstrap in capsys.readouterr().out
        assert cli.main(["start", *args]) == 0  # already running: the same broker
        assert capsys.readouterr().out.strip() == bootstrap
    finally:
        assert cli.main(["stop", *args]) == 0
    assert not (state_dir / "broker.json").exists()
    assert not Path(state["work_dir"]).exists()
    capsys.readouterr()
    assert cli.main(["status", *args]) == cli.EXIT_NOT_RUNNING
    assert "not running" in capsys.readouterr().out


def test_missing_java_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a directory without java or mvn
    with pytest.raises(ConnectError, match="java") as err:
        KafkaBroker(cache=tmp_path / "cache").start()
    assert INSTALL_HINT in str(err.value)


def test_cli_reports_missing_java(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    assert cli.main(["start", "--state-dir", str(tmp_path / "state")]) == cli.EXIT_ERROR
    assert "apt-get install -y openjdk-17-jre-headless maven" in capsys.readouterr().err


def test_status_without_a_broker_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "--state-dir", str(tmp_path)]) == cli.EXIT_NOT_RUNNING
    assert cli.main(["stop", "--state-dir", str(tmp_path)]) == 0


def test_server_properties_listen_on_loopback_only(tmp_path: Path) -> None:
    props = server_properties(19092, 19093, tmp_path)
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert "controller.quorum.voters" not in props  # --standalone wants a dynamic quorum


def test_cluster_id_is_22_chars_of_base64url() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(c) == 22 and not c.startswith("-") for c in ids)
