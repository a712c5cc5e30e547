"""FileStreamSink: each record's value becomes a line of a file (or stdout), a batch at a time.

Strings are written as they are, null as ``null`` (as Java's ``println`` does); bytes
raw; numbers and booleans as text; structs, lists and maps as JSON (where Kafka would
write Java's ``toString``).
"""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Mapping
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi.config import ConfigDef, Importance, Type
from engine.spi.connector import SinkConnector, SinkTask, Task
from engine.spi.errors import ConnectError
from engine.spi.record import TopicPartition

log = logging.getLogger(__name__)

FILE = "file"


def _config_def() -> ConfigDef:
    return ConfigDef().define(
        FILE,
        Type.STRING,
        None,
        importance=Importance.HIGH,
        documentation="Destination filename. If not specified, the standard output will be used",
    )


class FileStreamSinkConnector(SinkConnector):
    aliases = ("org.apache.kafka.connect.file.FileStreamSinkConnector",)

    @classmethod
    def config_def(cls) -> ConfigDef:
        return _config_def()

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return FileStreamSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max_tasks)]

    def stop(self) -> None:
        pass

    def alter_offsets(self, config: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        return True  # nothing is tracked outside the framework


def _ndjson(values: pa.Array) -> bytes | None:
    """Structs without nulls as NDJSON text, one line per row, in one native call (arro3's
    arrow-json writer escapes line breaks inside strings); None for other values."""
    if not (pa.types.is_struct(values.type) and values.null_count == 0 and len(values)):
        return None
    from arro3.io import write_ndjson

    table = pa.Table.from_batches([pa.RecordBatch.from_struct_array(values)])
    out = io.BytesIO()
    write_ndjson(table, out)
    return out.getvalue()


def _json_lines(values: pa.Array) -> pa.Array:
    """Nested values as one JSON text per row (nulls as ``null``)."""
    return pa.array([json.dumps(v, default=str, ensure_ascii=False) for v in values.to_pylist()], pa.string())


def to_lines(values: pa.Array) -> bytes:
    """One line per value, each ended by ``\\n``, in one buffer."""
    t = values.type
    if pa.types.is_dictionary(t):
        values = values.dictionary_decode()
        t = values.type
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        values = values.cast(pa.string())
    elif pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        values = values.cast(pa.binary())
    elif pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_map(t) or pa.types.is_large_list(t):
        text = _ndjson(values)
        if text is not None:
            return text
        values = _json_lines(values)
    elif not (pa.types.is_string(t) or pa.types.is_binary(t)):
        values = values.cast(pa.string())
    if values.null_count:
        values = pc.fill_null(
            values, pa.scalar("null" if pa.types.is_string(values.type) else b"null", values.type)
        )
    n = len(values)
    if n == 0:
        return b""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset : values.offset + n + 1]
    data_buf = values.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    content = data[offsets[0] : offsets[-1]]
    return np.insert(content, offsets[1:] - offsets[0], 10).tobytes()


class FileStreamSinkTask(SinkTask):
    """Each batch's lines go to the file in one unbuffered write, so they are there for
    readers as soon as ``put`` returns (Kafka Connect's task writes each line through to the
    file, too); ``flush`` has nothing left to write. (Through a buffered writer, the last few
    kilobytes of a connector's stream would wait in the buffer until the next offset flush,
    up to ``offset.flush.interval.ms``.) Standard output is flushed after each batch."""

    def start(self, props: Mapping[str, str]) -> None:
        cfg = _config_def().parse(props)
        self.filename: str | None = cfg[FILE] or None
        if self.filename is None:
            self.out: IO[bytes] = sys.stdout.buffer
        else:
            try:
                self.out = open(self.filename, "ab", buffering=0)  # noqa: SIM115 - kept open while the task runs
            except OSError as e:
                raise ConnectError(
                    f"Couldn't find or create file '{self.filename}' for FileStreamSinkTask: {e.strerror}"
                ) from e

    def put(self, batch: pa.RecordBatch) -> None:
        text = memoryview(to_lines(batch.column("value")))
        while text:  # a raw file's write may take less than all (say, interrupted by a signal)
            text = text[self.out.write(text) :]
        if self.filename is None:
            self.out.flush()

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        self.out.flush()

    def stop(self) -> None:
        out = getattr(self, "out", None)
        if out is not None and self.filename is not None and not out.closed:
            out.flush()
            out.close()
