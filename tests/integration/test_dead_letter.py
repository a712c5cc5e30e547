"""errors.tolerance=all with a dead-letter queue: bad records in the middle of a batch go to
the DLQ with exact headers and payloads; the good ones arrive complete and in order."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KTP

from tests.integration.rest_client import rest_worker, wait_until
from tests.integration.standalone_proc import count_lines

pytestmark = [pytest.mark.kafka, pytest.mark.processes]


def read_all(bootstrap: str, topic: str, n: int) -> list[object]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "dlq-reader", "enable.auto.commit": False})
    c.assign([KTP(topic, 0, 0)])
    got: list[object] = []
    try:
        wait_until(
            lambda: got.extend(m for m in c.consume(100, 0.5) if m.error() is None) or len(got) >= n,
            60,
            f"{n} records in {topic}",
        )
    finally:
        c.close()
    return got


@pytest.mark.parametrize("pipeline", ["1", "2"], ids=["one-process", "pipelined"])
def test_sink_dead_letter_queue(tmp_path: Path, kafka_bootstrap: str, new_topic, pipeline: str) -> None:  # type: ignore[no-untyped-def]
    """With pipeline.processes=2 the second stage converts, so the DLQ and the error log
    work there, and its counters reach the worker's /metrics."""
    topic = new_topic(1)
    dlq = f"{topic}-dlq"
    p = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    good = [{"n": i} for i in range(1000)]
    values: list[bytes] = []
    for i, rec in enumerate(good):
        values.append(json.dumps(rec).encode())
        if i in (10, 500, 501):
            values.append(b"{not json " + str(i).encode())
    for v in values:
        p.produce(topic, v, key=b"k", headers=[("h", b"1")])
    assert p.flush(30) == 0
    gen = rest_worker(
        tmp_path,
        kafka_bootstrap,
        **{
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
        },
    )
    proc, client = next(gen)
    try:
        client.create(
            "dlq-sink",
            {
                "connector.class": "FileStreamSink",
                "file": str(tmp_path / "out.txt"),
                "topics": topic,
                "errors.tolerance": "all",
                "errors.deadletterqueue.topic.name": dlq,
                "errors.deadletterqueue.topic.replication.factor": "1",
                "errors.deadletterqueue.context.headers.enable": "true",
                "errors.log.enable": "true",
                "errors.log.include.messages": "true",
                "pipeline.processes": pipeline,
            },
        )
        wait_until(lambda: count_lines(tmp_path / "out.txt") == 1000, 60, "the good records")
        dead = read_all(kafka_bootstrap, dlq, 3)
        assert client.states("dlq-sink") == ("RUNNING", ["RUNNING"])
        wait_until(
            lambda: (
                client.ok("GET", "/connectors/dlq-sink/offsets")["offsets"][0]["offset"]["kafka_offset"]
                == len(values)
            ),
            30,
            "offsets committed past the bad records",
        )

        def dead_lettered() -> str | None:
            text = client.get("/metrics").body.decode()
            return (
                text
                if 'arrowsmith_records_dead_lettered_total{connector="dlq-sink",task="0"} 3.0' in text
                else None
            )

        metrics = wait_until(dead_lettered, 10, "the DLQ counters")
        assert 'arrowsmith_records_skipped_total{connector="dlq-sink",task="0"} 3.0' in metrics
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert [json.loads(line) for line in lines] == good  # complete and in order
    assert [m.value() for m in dead] == [b"{not json 10", b"{not json 500", b"{not json 501"]
    assert [m.key() for m in dead] == [b"k"] * 3
    bad_offsets = [11, 502, 504]  # where the bad records sat in the topic
    for m, offset in zip(dead, bad_offsets, strict=True):
        headers = dict(m.headers())
        assert headers["h"] == b"1"  # the original headers come first
        assert headers["__connect.errors.topic"] == topic.encode()
        assert headers["__connect.errors.partition"] == b"0"
        assert headers["__connect.errors.offset"] == str(offset).encode()
        assert headers["__connect.errors.connector.name"] == b"dlq-sink"
        assert headers["__connect.errors.task.id"] == b"0"
        assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
        assert headers["__connect.errors.class.name"] == b"engine.converters.json_converter.JsonConverter"
        assert headers["__connect.errors.exception.class.name"] == b"engine.spi.errors.DataError"
        assert b"Traceback" in headers["__connect.errors.exception.stacktrace"]
    log = proc.log()
    assert "Error encountered in task dlq-sink-0. Executing stage 'VALUE_CONVERTER' with class " in log
    assert f"where consumed record is {{topic='{topic}', partition=0, offset=502" in log


def test_source_dead_letter_queue(tmp_path: Path, kafka_bootstrap: str) -> None:
    """Beyond Kafka Connect: a source record that fails a transform goes to the DLQ; the
    others are produced in order."""
    tag = uuid.uuid4().hex[:8]  # a broker named by KAFKA_BOOTSTRAP_SERVERS keeps old runs' topics
    topic, dlq = f"src-dlq-out-{tag}", f"src-dlq-dead-{tag}"
    lines = ["1", "2", "x", "3", "y", "4"]
    (tmp_path / "in.txt").write_text("".join(f"{v}\n" for v in lines))
    gen = rest_worker(tmp_path, kafka_bootstrap)
    proc, client = next(gen)
    try:
        client.create(
            "src-dlq",
            {
                "connector.class": "FileStreamSource",
                "file": str(tmp_path / "in.txt"),
                "topic": topic,
                "transforms": "num",
                "transforms.num.type": "Sql",
                "transforms.num.query": "SELECT * REPLACE (CAST(CAST(value AS INTEGER) AS VARCHAR) AS value) "
                "FROM batch",
                "errors.tolerance": "all",
                "errors.deadletterqueue.topic.name": dlq,
                "errors.deadletterqueue.topic.replication.factor": "1",
                "errors.deadletterqueue.context.headers.enable": "true",
            },
        )
        produced = read_all(kafka_bootstrap, topic, 4)
        dead = read_all(kafka_bootstrap, dlq, 2)
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
    assert [m.value() for m in produced] == [b"1", b"2", b"3", b"4"]
    assert [m.value() for m in dead] == [b'"x"', b'"y"']  # the source records, as JSON text
    for m in dead:
        headers = dict(m.headers())
        assert headers["__connect.errors.stage"] == b"TRANSFORMATION"
        assert headers["__connect.errors.connector.name"] == b"src-dlq"
        assert headers["__connect.errors.topic"] == topic.encode()
        assert headers["__connect.errors.class.name"] == b"engine.transforms.sql.Sql"
