"""The benchmarks' peer (perf.apache_connect): Apache Kafka Connect 4.3.1 on the JVM runs the
file connectors against the real broker, and these tests pin down what it writes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from engine.broker.launcher import free_port
from engine.broker.maven import missing_tools
from engine.testing.pytest_kafka import TopicFactory
from perf._util import write_props
from perf.apache_connect import ApacheConnectStandalone, fetch_apache_connect, java_worker_properties

N = 1000
WAIT_S = 60.0
JSON_CONVERTER = "org.apache.kafka.connect.json.JsonConverter"
FETCH_TIMEOUT_S = 600  # the first fetch of the jars runs in the setup of the first JVM test


@pytest.fixture(scope="module")
def connect_libs() -> Path:
    assert not missing_tools(), f"needs {' and '.join(missing_tools())} (see .ci/run)"
    return fetch_apache_connect()


def worker_properties(work: Path, bootstrap: str) -> Path:
    """One worker config for both engines, arrowsmith's own keys included, as the harness has it."""
    props = {
        "bootstrap.servers": bootstrap,
        "key.converter": JSON_CONVERTER,
        "value.converter": JSON_CONVERTER,
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "offset.storage.file.filename": work / "connect.offsets",
        "offset.flush.interval.ms": 1000,
        "listeners": f"http://127.0.0.1:{free_port()}",
        "worker.processes": 2,
        "task.restart.max.attempts": 0,
    }
    return write_props(work / "worker.properties", java_worker_properties(props))


def wait_until(proc: ApacheConnectStandalone, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not done():
        proc.check()
        assert not proc.task_failed(), f"a task failed:\n{proc.log()}"
        assert time.monotonic() < deadline, f"no {what} within {WAIT_S:.0f} s:\n{proc.log()}"
        time.sleep(0.1)


def assert_stops_cleanly(proc: ApacheConnectStandalone) -> None:
    clean, _ = proc.stop()
    log = proc.log(1_000_000)
    assert clean, f"exit code {proc.proc.returncode}:\n{log[-6000:]}"
    assert "] ERROR " not in log, log
    assert "worker.processes" not in log and "task.restart" not in log  # not given to the JVM


def test_java_worker_properties_keeps_only_what_kafka_knows() -> None:
    props = {
        "bootstrap.servers": "b:9092",
        "worker.processes": 4,
        "worker.batch.max.rows": 10,
        "worker.sync.timeout.ms": 3000,
        "worker.unsync.backoff.ms": 300000,
        "task.restart.max.attempts": 3,
        "task.restart.backoff.initial.ms": 1,
        "task.shutdown.graceful.timeout.ms": 5000,
    }
    assert java_worker_properties(props) == {
        "bootstrap.servers": "b:9092",
        "worker.sync.timeout.ms": 3000,
        "worker.unsync.backoff.ms": 300000,
        "task.shutdown.graceful.timeout.ms": 5000,
    }


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(FETCH_TIMEOUT_S)
@pytest.mark.usefixtures("connect_libs")
def test_file_source_writes_each_line_as_a_json_string(
    tmp_path: Path, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic()
    lines = [json.dumps({"id": i, "name": "x"}, separators=(",", ":")) for i in range(N)]
    (tmp_path / "in.txt").write_text("".join(f"{line}\n" for line in lines))
    source = write_props(
        tmp_path / "source.properties",
        {
            "name": f"source-{topic}",
            "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "tasks.max": 1,
            "file": tmp_path / "in.txt",
            "topic": topic,
        },
    )
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"{topic}-check"})
    proc = ApacheConnectStandalone(tmp_path, worker_properties(tmp_path, kafka_bootstrap), source)
    try:
        tp = TopicPartition(topic, 0)
        wait_until(
            proc, lambda: consumer.get_watermark_offsets(tp, 5.0, cached=False)[1] >= N, f"{N} records"
        )
        assert_stops_cleanly(proc)
        consumer.assign([TopicPartition(topic, 0, 0)])
        got: list[Message] = []
        while len(got) < N:
            batch = consumer.consume(N, 10.0)
            assert batch, f"{len(got)} of {N} records read back"
            got.extend(batch)
    finally:
        proc.stop()
        consumer.close()

    assert all(m.error() is None and m.key() is None for m in got)
    # FileStreamSource gives each line as a STRING: the converter writes a JSON string.
    assert [json.loads(m.value() or b"null") for m in got] == lines
    assert [m.value() for m in got] == [json.dumps(line).encode() for line in lines]  # "{\"id\":0,…}"


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(FETCH_TIMEOUT_S)
@pytest.mark.usefixtures("connect_libs")
def test_file_sink_writes_maps_as_java_map_to_string(
    tmp_path: Path, kafka_bootstrap: str, new_topic: TopicFactory
) -> None:
    topic = new_topic()
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(N):
        producer.produce(topic, json.dumps({"id": i, "name": "x"}).encode())
    assert producer.flush(30) == 0
    out = tmp_path / "out.txt"
    sink = write_props(
        tmp_path / "sink.properties",
        {
            "name": f"sink-{topic}",
            "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "tasks.max": 1,
            "topics": topic,
            "file": out,
            "transforms": "insert",
            "transforms.insert.type": "org.apache.kafka.connect.transforms.InsertField$Value",
            "transforms.insert.static.field": "src",
            "transforms.insert.static.value": "bench",
        },
    )
    proc = ApacheConnectStandalone(tmp_path, worker_properties(tmp_path, kafka_bootstrap), sink)
    try:
        wait_until(proc, lambda: out.exists() and out.read_bytes().count(b"\n") >= N, f"{N} lines")
        assert_stops_cleanly(proc)
    finally:
        proc.stop()

    # A schemaless JSON object is a java.util.Map; InsertField copies it into a HashMap and
    # FileStreamSink writes its toString(): HashMap order, not the JSON's.
    assert out.read_text().splitlines() == [f"{{name=x, src=bench, id={i}}}" for i in range(N)]
