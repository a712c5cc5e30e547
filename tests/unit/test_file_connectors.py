"""FileStreamSource / FileStreamSink: line splitting, offsets, output bytes, configs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.file.lines import split_lines
from connectors.file.sink import FileStreamSinkConnector, FileStreamSinkTask, to_lines
from connectors.file.source import FileStreamSourceConnector, FileStreamSourceTask
from engine.spi.connector import OffsetStorageReader, SourceTaskContext
from engine.spi.errors import ConfigError, ConnectError
from engine.spi.record import SourceOffset, SourcePartition, TopicPartition, make_batch


def java_lines(data: bytes, final: bool) -> tuple[list[str], int]:
    """The reference: Kafka's line rule (\\n, \\r, \\r\\n) written as a plain loop."""
    out, start, i, used = [], 0, 0, 0
    while i < len(data):
        c = data[i]
        if c in (10, 13):
            if c == 13 and i + 1 == len(data) and not final:
                break
            out.append(data[start:i].decode("utf-8", "replace"))
            i += 2 if c == 13 and i + 1 < len(data) and data[i + 1] == 10 else 1
            start = used = i
            continue
        i += 1
    return out, used


@pytest.mark.parametrize(
    ("data", "lines", "used"),
    [
        (b"a\nb\r\nc\rd", ["a", "b", "c"], 7),
        (b"a\r", [], 0),
        (b"\n\n", ["", ""], 2),
        (b"x\r\r\ny\n", ["x", "", "y"], 6),
        ("é\n😀\n".encode(), ["é", "😀"], 8),
        (b"no newline", [], 0),
        (b"", [], 0),
    ],
)
def test_split_lines(data: bytes, lines: list[str], used: int) -> None:
    arr, ends = split_lines(data)
    assert arr.to_pylist() == lines
    assert (int(ends[-1]) if len(ends) else 0) == used


@given(
    st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\r", b"\r\n", "ü".encode(), b" "]), max_size=40),
    st.booleans(),
)
def test_split_lines_matches_the_reference(parts: list[bytes], final: bool) -> None:
    data = b"".join(parts)
    arr, ends = split_lines(data, final)
    lines, used = java_lines(data, final)
    assert arr.to_pylist() == lines
    assert (int(ends[-1]) if len(ends) else 0) == used


def test_split_lines_invalid_utf8_is_replaced() -> None:
    arr, _ = split_lines(b"ok\n\xff\xfe\n")
    assert arr.to_pylist() == ["ok", "\ufffd\ufffd"]


class _Reader(OffsetStorageReader):
    def __init__(self, offsets: Mapping[str, Any]) -> None:
        self.offsets_ = offsets

    def offset(self, partition: SourcePartition) -> SourceOffset | None:
        return self.offsets_.get(partition["filename"])


class _Ctx(SourceTaskContext):
    def __init__(self, reader: OffsetStorageReader) -> None:
        self.reader = reader

    def configs(self) -> Mapping[str, str]:
        return {}

    @property
    def offset_storage_reader(self) -> OffsetStorageReader:
        return self.reader


def _source(
    path: Path, batch_size: int = 2000, offsets: Mapping[str, Any] | None = None
) -> FileStreamSourceTask:
    task = FileStreamSourceTask()
    task.initialize(_Ctx(_Reader(offsets or {})))
    task.start({"file": str(path), "topic": "t", "batch.size": str(batch_size)})
    return task


def test_source_reads_batches_with_offsets(tmp_path: Path) -> None:
    f = tmp_path / "in.txt"
    f.write_bytes(b"one\ntwo\r\nthree\n")
    task = _source(f, batch_size=2)
    b1 = task.poll()
    assert b1 is not None
    assert b1.records.column("value").to_pylist() == ["one", "two"]
    assert b1.records.column("topic").to_pylist() == ["t", "t"]
    assert list(b1.offsets) == [({"filename": str(f)}, {"position": 9})]
    # no timestamp, as Kafka Connect's task sets none: the producer stamps each record
    assert b1.records.column("timestamp").null_count == 2
    b2 = task.poll()
    assert b2 is not None
    assert b2.records.column("value").to_pylist() == ["three"]
    assert list(b2.offsets) == [({"filename": str(f)}, {"position": 15})]
    field = b2.records.schema.field("value")
    assert field.type == pa.string()
    assert not field.nullable  # Connect's required STRING schema
    task.stop()
    assert task.poll() is None


def test_source_resumes_from_stored_position(tmp_path: Path) -> None:
    f = tmp_path / "in.txt"
    f.write_bytes(b"one\ntwo\nthree\n")
    task = _source(f, offsets={str(f): {"position": 4}})
    b = task.poll()
    assert b is not None
    assert b.records.column("value").to_pylist() == ["two", "three"]
    assert list(b.offsets) == [({"filename": str(f)}, {"position": 14})]
    task.stop()
    assert task.poll() is None  # closes the file


def test_source_waits_for_missing_file_and_partial_lines(tmp_path: Path) -> None:
    f = tmp_path / "later.txt"
    task = _source(f)
    assert task.poll() is None  # no file yet
    f.write_bytes(b"partial")
    assert task.poll() is None  # no complete line
    with open(f, "ab") as out:
        out.write(b" line\n")
    b = task.poll()
    assert b is not None
    assert b.records.column("value").to_pylist() == ["partial line"]
    task.stop()
    assert task.poll() is None


def test_source_connector_config_errors() -> None:
    with pytest.raises(ConfigError, match='Missing required configuration "topic"'):
        FileStreamSourceConnector().start({"file": "x"})
    with pytest.raises(ConfigError, match=r"batch\.size"):
        FileStreamSourceConnector().start({"file": "x", "topic": "t", "batch.size": "zero"})
    assert FileStreamSourceConnector().alter_offsets({"file": "f"}, {"p": {"position": 3}}) is True
    with pytest.raises(ConnectError):
        FileStreamSourceConnector().alter_offsets({"file": "f"}, {"p": {"position": -1}})


def test_sink_writes_lines(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    task = FileStreamSinkTask()
    task.start({"file": str(out)})
    task.put(make_batch(topic="t", value=pa.array(["a", None, "ü"], pa.string())))
    task.put(make_batch(topic="t", value=pa.array(["x"], pa.string()).slice(0, 1)))
    task.flush({TopicPartition("t", 0): 4})
    task.stop()
    assert out.read_bytes() == "a\nnull\nü\nx\n".encode()


def test_sink_lines_are_in_the_file_when_put_returns(tmp_path: Path) -> None:
    """A small last batch is not held in a buffer until the next offset flush."""
    out = tmp_path / "out.txt"
    task = FileStreamSinkTask()
    task.start({"file": str(out)})
    try:
        task.put(make_batch(topic="t", value=pa.array(["first", "second"], pa.string())))
        assert out.read_bytes() == b"first\nsecond\n"
        task.put(make_batch(topic="t", value=pa.array(["third"], pa.string())))
        assert out.read_bytes() == b"first\nsecond\nthird\n"
    finally:
        task.stop()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pa.array([1, 2, None], pa.int64()), b"1\n2\nnull\n"),
        (pa.array([True, False]), b"true\nfalse\n"),
        (pa.array([b"raw", b""], pa.binary()), b"raw\n\n"),
        (pa.array([{"a": 1, "b": "x"}]), b'{"a":1,"b":"x"}\n'),
        (pa.array(["a", "b", "c"]).slice(1, 2), b"b\nc\n"),
        (pa.array([], pa.string()), b""),
    ],
)
def test_to_lines(values: pa.Array, expected: bytes) -> None:
    assert to_lines(values) == expected


def test_sink_connector_task_configs() -> None:
    c = FileStreamSinkConnector()
    c.start({"file": "f", "topics": "t"})
    assert c.task_configs(3) == [{"file": "f", "topics": "t"}] * 3


def test_to_lines_of_structs_is_one_line_per_record() -> None:
    rows = [{"s": "skipped", "n": 0}, {"s": "a\u2028b\nc", "n": 1}, {"s": "\x85", "n": 2}]
    out = to_lines(pa.array(rows).slice(1))  # JSON escapes \n; U+2028 and U+0085 stay as they are
    assert out.split(b"\n") == ['{"s":"a\u2028b\\nc","n":1}'.encode(), '{"s":"\x85","n":2}'.encode(), b""]
