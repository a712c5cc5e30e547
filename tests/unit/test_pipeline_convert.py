"""A pipelined sink's first stage converts the batches it can while the second stage is busy
(engine.runtime.pipeline): what crosses the ring, and that the second stage delivers the same
records either way, bad records included."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from connectors.file.sink import FileStreamSinkTask
from engine.runtime.messages import TaskSpec
from engine.runtime.metrics import HISTOGRAMS, Histogram, TaskMetrics
from engine.runtime.pipeline import (
    CONVERTED_VALUE,
    SKIP_AFTER_FAILURE,
    PipelinedSinkTask,
    pack_converted,
    unpack_converted,
)
from engine.runtime.sink_delivery import SinkDelivery
from engine.runtime.worker_process import registry_for
from engine.spi.record import BINARY_SCHEMA
from engine.transport import RingReader, RingWriter, create_ring

WORKER = {
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter.schemas.enable": "false",
}


def raw_batch(values: list[bytes], topic: str = "t", first_offset: int = 0) -> pa.RecordBatch:
    n = len(values)
    return pa.RecordBatch.from_arrays(
        [
            pa.array([topic] * n, pa.string()),
            pa.array([0] * n, pa.int32()),
            pa.array(range(first_offset, first_offset + n), pa.int64()),
            pa.array([1_700_000_000_000 + i for i in range(n)], pa.int64()).cast(pa.timestamp("ms")),
            pa.array([f"k{i}".encode() for i in range(n)], pa.binary()),
            pa.array(values, pa.binary()),
            pa.nulls(n, BINARY_SCHEMA.field("headers").type),
        ],
        schema=BINARY_SCHEMA,
    )


def spec(tmp_path: Path, **connector: str) -> TaskSpec:
    conf = {
        "connector.class": "FileStreamSink",
        "topics": "t",
        "file": str(tmp_path / "out.txt"),
        "pipeline.processes": "2",
        **connector,
    }
    return TaskSpec("piped", 0, conf, {**conf, "task.class": "FileStreamSinkTask"}, dict(WORKER))


@pytest.fixture
def ring() -> Iterator[tuple[RingWriter, RingReader]]:
    w, r = create_ring(1 << 22, name="test-pipeline")
    writer, reader = RingWriter(w), RingReader(r)
    yield writer, reader
    writer.close()
    reader.close()


def first_stage(s: TaskSpec, writer: RingWriter) -> PipelinedSinkTask:
    """The first stage's stand-in task without its child process: converter and ring only."""
    from engine.runtime.conversion import BatchConverter

    task = PipelinedSinkTask(s, TaskMetrics("piped", 0), registry_for(""))
    task.converter = BatchConverter(task.registry, s.worker_config, s.connector_config)
    task.writer = writer
    return task


def test_packed_batch_crosses_the_ring_and_unpacks_to_raw_and_converted(
    tmp_path: Path, ring: tuple[RingWriter, RingReader]
) -> None:
    writer, reader = ring
    task = first_stage(spec(tmp_path), writer)
    raw = raw_batch([b'{"id": 1, "name": "a"}', b'{"id": 2, "name": null}'])
    assert task.converter is not None
    converted = task.converter.deserialize(raw)
    writer.write(pack_converted(raw, converted))
    got = reader.read(0)
    assert got is not None and got.schema.names[-1] == CONVERTED_VALUE
    back_raw, back_converted = unpack_converted(got)
    assert back_raw.equals(raw) and back_raw.schema.equals(raw.schema, check_metadata=True)
    assert back_converted is not None
    assert back_converted.equals(converted[0])
    assert back_converted.schema.equals(converted[0].schema, check_metadata=True)
    assert back_converted.column("value").to_pylist() == [{"id": 1, "name": "a"}, {"id": 2, "name": None}]
    # a batch sent raw unpacks to itself
    assert unpack_converted(raw) == (raw, None)


def test_pack_sends_raw_when_the_conversion_is_not_one_batch_of_every_row(tmp_path: Path) -> None:
    raw = raw_batch([b'{"a": 1}', b'{"a": 2}'])
    one = raw_batch([b"x"])
    assert pack_converted(raw, []) is raw
    assert pack_converted(raw, [raw, raw]) is raw
    assert pack_converted(raw, [one]) is raw


def test_first_stage_converts_only_while_the_second_is_behind_and_never_a_bad_batch(
    tmp_path: Path, ring: tuple[RingWriter, RingReader]
) -> None:
    writer, reader = ring
    task = first_stage(spec(tmp_path), writer)
    good = raw_batch([b'{"id": 1}', b'{"id": 2}'])
    # nothing unread in the ring: the second stage is idle, so it converts
    assert writer.unread_batches == 0
    assert task._convert(good) is good
    writer.write(good)
    assert writer.unread_batches == 1
    # the second stage has a batch waiting: the first converts this one itself
    packed = task._convert(good)
    assert packed.schema.names[-1] == CONVERTED_VALUE and packed.num_rows == 2
    assert task.metrics.histograms["convert_batch_seconds"].count == 1
    # a batch with a malformed record goes raw: the second stage's error handler sees it
    bad = raw_batch([b'{"id": 3}', b"{not json", b'{"id": 5}'], first_offset=2)
    assert task._convert(bad) is bad
    assert task.metrics.histograms["convert_batch_seconds"].count == 1
    # and the next SKIP_AFTER_FAILURE batches are left to the second stage (no double parse)
    assert [task._convert(good) is good for _ in range(SKIP_AFTER_FAILURE)] == [True] * SKIP_AFTER_FAILURE
    assert task._convert(good).schema.names[-1] == CONVERTED_VALUE
    assert task.metrics.histograms["convert_batch_seconds"].count == 2
    first = reader.read(0)
    assert first is not None and unpack_converted(first)[1] is None
    assert writer.unread_batches == 0


def test_second_stage_writes_the_same_lines_and_reports_the_same_bad_records(
    tmp_path: Path, ring: tuple[RingWriter, RingReader]
) -> None:
    """Batches converted by the first stage and batches sent raw give the same file; a bad
    record is reported with its consumed bytes (what a dead-letter queue would send)."""
    writer, reader = ring
    s = spec(tmp_path, **{"errors.tolerance": "all"})
    task = first_stage(s, writer)
    batches = [
        raw_batch([b'{"id": %d, "v": "x%d"}' % (i, i) for i in range(k * 3, k * 3 + 3)], first_offset=k * 3)
        for k in range(4)
    ]
    batches[2] = raw_batch([b'{"id": 6}', b"oops", b'{"id": 8}'], first_offset=6)
    reported: list[tuple[str, bytes | None]] = []
    sink = FileStreamSinkTask()
    sink.initialize(None)  # type: ignore[arg-type]
    sink.start(s.task_config)
    metrics = TaskMetrics("piped", 0)
    delivery = SinkDelivery(s, registry_for(""), sink, metrics, threading.Event(), lambda: 0)

    def report(batch: pa.RecordBatch, rows: list[int], *_: object) -> None:
        for r in rows:
            where = f"{delivery._consumed_topic(batch, r)}@{batch.column('offset')[r]}"
            reported.append((where, delivery._original(batch, r)[1]))

    delivery.errors.reporters.append(report)
    writer.write(batches[0])  # one batch waiting: the first stage converts the ones after it
    sent = [task._convert(b) for b in batches[1:]]
    # converted, raw (a bad record), raw (left to the second stage after a failure)
    assert [unpack_converted(b)[1] is not None for b in sent] == [True, False, False]
    for b in sent:
        writer.write(b)
    for _ in range(len(batches)):
        got = reader.read(0)
        assert got is not None
        delivery.deliver(*unpack_converted(got))
        del got
    sink.flush({})
    sink.stop()
    delivery.close()
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert lines == [f'{{"id":{i},"v":"x{i}"}}' for i in (0, 1, 2, 3, 4, 5)] + [
        '{"id":6}',
        '{"id":8}',
        '{"id":9,"v":"x9"}',
        '{"id":10,"v":"x10"}',
        '{"id":11,"v":"x11"}',
    ]
    assert reported == [("t@7", b"oops")]
    assert metrics.counters["sink_record_send_total"] == 11


def test_histograms_merge() -> None:
    a, b = Histogram(HISTOGRAMS["convert_batch_seconds"]), Histogram(HISTOGRAMS["convert_batch_seconds"])
    a.observe(0.25)
    b.observe(0.25)
    b.observe(5.0)
    m = a.merged(b)
    assert (m.count, m.total) == (3, 5.5)
    assert m.counts == [x + y for x, y in zip(a.counts, b.counts, strict=True)] and sum(m.counts) == 3
    assert (a.count, b.count) == (1, 2)
    with pytest.raises(ValueError, match="different buckets"):
        a.merged(Histogram((1.0,)))
