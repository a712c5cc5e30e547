"""FileStreamSource: lines of a file (or stdin) become string records, a batch at a time.

Keys as in Kafka: ``file`` (default: stdin), ``topic``, ``batch.size`` (most lines per
poll, 2000). The source partition is ``{"filename": <file>}`` and the offset
``{"position": <byte offset after the last line sent>}``, so offsets carry over from and
to Kafka Connect's own FileStreamSource.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import IO, Any

import pyarrow as pa

from connectors.file.lines import split_lines
from engine.spi import schema
from engine.spi.config import ConfigDef, Importance, NonEmptyString, Range, Type
from engine.spi.connector import ExactlyOnceSupport, SourceConnector, SourceTask, Task
from engine.spi.errors import ConnectError, DataError
from engine.spi.record import SourceBatch, make_batch

log = logging.getLogger(__name__)

FILE = "file"
TOPIC = "topic"
BATCH_SIZE = "batch.size"
FILENAME_FIELD = "filename"
POSITION_FIELD = "position"
VALUE_FIELD = schema.field("value", pa.string(), optional=False)
READ_CHUNK_MIN = 64 * 1024
READ_CHUNK_MAX = 16 * 1024 * 1024


def _config_def() -> ConfigDef:
    return (
        ConfigDef()
        .define(
            FILE,
            Type.STRING,
            None,
            importance=Importance.HIGH,
            documentation="Source filename. If not specified, the standard input will be used",
        )
        .define(
            TOPIC,
            Type.STRING,
            validator=NonEmptyString(),
            importance=Importance.HIGH,
            documentation="The topic to publish data to",
        )
        .define(
            BATCH_SIZE,
            Type.INT,
            2000,
            Range.at_least(1),
            Importance.LOW,
            "The maximum number of records the source task can read from the file each time it is polled",
        )
    )


class FileStreamSourceConnector(SourceConnector):
    aliases = ("org.apache.kafka.connect.file.FileStreamSourceConnector",)

    @classmethod
    def config_def(cls) -> ConfigDef:
        return _config_def()

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)
        _config_def().parse(props)

    def task_class(self) -> type[Task]:
        return FileStreamSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]  # one file, one task

    def stop(self) -> None:
        pass

    def exactly_once_support(self, props: Mapping[str, str]) -> ExactlyOnceSupport | None:
        return ExactlyOnceSupport.SUPPORTED if props.get(FILE) else ExactlyOnceSupport.UNSUPPORTED

    def alter_offsets(self, config: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        if not config.get(FILE):
            raise ConnectError(
                "Offsets cannot be modified if the 'file' configuration is unspecified, "
                "because stdin is used for input and offsets are not tracked."
            )
        for partition, offset in offsets.items():
            if offset is None:
                continue
            pos = dict(offset).get(POSITION_FIELD) if isinstance(offset, Mapping) else None
            if not isinstance(pos, int) or pos < 0:
                raise ConnectError(
                    f"The value for the '{POSITION_FIELD}' key in the offset is expected to be "
                    f"a non-negative integer, but was {pos!r} for partition {partition}"
                )
        return True


def _stdin() -> IO[bytes]:
    """The control plane's standard input (a worker process's own stdin is /dev/null)."""
    parent = f"/proc/{os.getppid()}/fd/0"
    return open(parent if os.path.exists(parent) else "/dev/stdin", "rb")


class FileStreamSourceTask(SourceTask):
    def start(self, props: Mapping[str, str]) -> None:
        cfg = _config_def().parse(props)
        self.filename: str | None = cfg[FILE] or None
        self.topic: str = cfg[TOPIC]
        self.batch_size: int = cfg[BATCH_SIZE]
        self.stream: IO[bytes] | None = None
        self.position = 0
        self.buffer = b""
        self.avg_line = 100.0
        self.stopped = threading.Event()

    def _open(self) -> bool:
        if self.filename is None:
            self.stream = _stdin()
            return True
        try:
            self.stream = open(self.filename, "rb")  # noqa: SIM115 - kept open across polls
        except FileNotFoundError:
            log.warning(
                "Couldn't find file %s for FileStreamSourceTask, sleeping to wait for it to be created",
                self.filename,
            )
            self.stopped.wait(1.0)
            return False
        except OSError as e:
            raise ConnectError(f"Couldn't open file {self.filename}: {e.strerror}") from e
        offset = self.context.offset_storage_reader.offset({FILENAME_FIELD: self.filename})
        if offset is not None:
            pos = offset.get(POSITION_FIELD)
            if not isinstance(pos, int):
                raise DataError(f"Offset position is the incorrect type: {type(pos).__name__}")
            log.debug("Found previous offset, trying to skip to file offset %d", pos)
            self.stream.seek(pos)
            self.position = pos
        return True

    def poll(self) -> SourceBatch | None:
        if self.stopped.is_set():
            self._close()
            return None
        if self.stream is None and not self._open():
            return None
        assert self.stream is not None
        want = int(min(READ_CHUNK_MAX, max(READ_CHUNK_MIN, self.batch_size * self.avg_line * 1.1)))
        if len(self.buffer) < want:
            chunk = self.stream.read(want - len(self.buffer))
            if chunk:
                self.buffer += chunk
        lines, ends = split_lines(self.buffer)
        if len(lines) == 0:
            self.stopped.wait(1.0)
            return None
        if len(lines) > self.batch_size:
            lines = lines.slice(0, self.batch_size)
            ends = ends[: self.batch_size]
        used = int(ends[-1])
        self.avg_line = 0.8 * self.avg_line + 0.2 * (used / len(lines))
        self.buffer = self.buffer[used:]
        self.position += used
        log.debug("Read %d lines from %s, up to byte %d", len(lines), self.filename or "stdin", self.position)
        batch = make_batch(topic=self.topic, value=lines, value_field=VALUE_FIELD)
        if self.filename is None:
            return SourceBatch(batch)
        return SourceBatch(batch, [({FILENAME_FIELD: self.filename}, {POSITION_FIELD: self.position})])

    def stop(self) -> None:
        # May run on another thread than poll(): only signal; poll() closes the file.
        self.stopped.set()

    def _close(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None and self.filename is not None:
            stream.close()
