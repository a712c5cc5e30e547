"""TimestampRouter: topic from the topic and the record timestamp (Kafka's ``TimestampRouter``).

``topic.format`` has ``${topic}`` and ``${timestamp}`` placeholders; the timestamp is
formatted with the SimpleDateFormat pattern ``timestamp.format`` in UTC (see
:mod:`engine.transforms._date_format`). A record without a timestamp fails with
``Timestamp missing on record``.

A batch holds few (topic, day) pairs: the timestamps are cut to the pattern's finest unit
(a day for ``yyyyMMdd``), each distinct pair is formatted once and the names are spread back
with one ``take``. When there are many distinct pairs (a pattern with milliseconds), the
names are joined by Arrow kernels instead. A bad ``timestamp.format`` is a config error
here; Kafka only fails on the first record.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi.config import ConfigDef, Importance, Type
from engine.spi.errors import ConfigError, DataError
from engine.spi.transform import Transformation
from engine.transforms._common import instant_millis, replace_column
from engine.transforms._date_format import DateFormat, DateFormatError
from engine.transforms._distinct import dictionary_of

TOPIC_FORMAT = "topic.format"
TIMESTAMP_FORMAT = "timestamp.format"
_TOPIC = "${topic}"
_TIMESTAMP = "${timestamp}"
_FEW = 1024
"""Up to this many distinct (topic, time) pairs (or an eighth of the batch) are named one by one."""


class TimestampRouter(Transformation):
    """``org.apache.kafka.connect.transforms.TimestampRouter``."""

    aliases = ("org.apache.kafka.connect.transforms.TimestampRouter",)

    def __init__(self) -> None:
        self._pieces: list[str] = []
        self._format = DateFormat("yyyyMMdd")

    @classmethod
    def config_def(cls) -> ConfigDef:
        return (
            ConfigDef()
            .define(
                TOPIC_FORMAT,
                Type.STRING,
                "${topic}-${timestamp}",
                None,
                Importance.HIGH,
                "Format string which can contain <code>${topic}</code> and <code>${timestamp}</code> as "
                "placeholders for the topic and timestamp, respectively.",
            )
            .define(
                TIMESTAMP_FORMAT,
                Type.STRING,
                "yyyyMMdd",
                None,
                Importance.HIGH,
                "Format string for the timestamp that is compatible with "
                "<code>java.text.SimpleDateFormat</code>.",
            )
        )

    def configure(self, configs: Mapping[str, str]) -> None:
        values = self.config_def().parse(configs)
        pattern = str(values[TIMESTAMP_FORMAT])
        try:
            self._format = DateFormat(pattern)
        except DateFormatError as err:
            raise ConfigError(
                f"Invalid value {pattern} for configuration {TIMESTAMP_FORMAT}: {err}", key=TIMESTAMP_FORMAT
            ) from None
        self._pieces = _pieces(str(values[TOPIC_FORMAT]))

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        n = batch.num_rows
        if n == 0:
            return batch
        stamps = batch.column(record.TIMESTAMP)
        topics = batch.column(record.TOPIC)
        _require(batch, stamps, "Timestamp missing on record")
        _require(batch, topics, "Topic missing on record")
        millis = np.asarray(instant_millis(stamps).to_numpy(zero_copy_only=False), np.int64)
        unit = self._format.granularity_ms
        moments, moment_idx = dictionary_of(pa.array(np.floor_divide(millis, unit)))
        names, name_idx = dictionary_of(topics)
        combos = np.asarray(name_idx.cast(pa.int64()), np.int64) * len(moments) + np.asarray(
            moment_idx, np.int64
        )
        distinct, combo_idx = dictionary_of(pa.array(combos))
        stamp_text = self._format.format(pc.multiply(moments, unit))
        if len(distinct) <= max(_FEW, n // 8):
            topic_list, stamp_list = names.to_pylist(), stamp_text.to_pylist()
            routed = [
                self._name(topic_list[c // len(moments)], stamp_list[c % len(moments)])
                for c in distinct.to_pylist()
            ]
            out = pa.array(routed, pa.string()).take(combo_idx)
        else:
            out = self._joined(topics, stamp_text.take(moment_idx))
        field = batch.schema.field(record.TOPIC)
        return replace_column(batch, record.TOPIC, field.with_type(pa.string()), out)

    def _name(self, topic: str, stamp: str) -> str:
        return "".join(topic if p == _TOPIC else stamp if p == _TIMESTAMP else p for p in self._pieces)

    def _joined(self, topics: pa.Array, stamps: pa.Array) -> pa.Array:
        if pa.types.is_dictionary(topics.type):
            topics = topics.dictionary_decode()
        parts: list[pa.Array | str] = [
            topics if p == _TOPIC else stamps if p == _TIMESTAMP else p for p in self._pieces
        ]
        if not any(isinstance(p, pa.Array) for p in parts):
            return pa.array(["".join(str(p) for p in parts)] * len(topics), pa.string())
        if len(parts) == 1:
            only = parts[0]
            assert isinstance(only, pa.Array)
            return only.cast(pa.string())
        return pc.binary_join_element_wise(*parts, "")


def _pieces(topic_format: str) -> list[str]:
    """The format as literals and placeholders, substituted as Kafka does: ``${topic}`` first."""
    pieces: list[str] = []
    for i, segment in enumerate(topic_format.split(_TOPIC)):
        if i:
            pieces.append(_TOPIC)
        for j, part in enumerate(segment.split(_TIMESTAMP)):
            if j:
                pieces.append(_TIMESTAMP)
            if part:
                pieces.append(part)
    return pieces


def _require(batch: pa.RecordBatch, column: pa.Array, message: str) -> None:
    if column.null_count == 0:
        return
    bad = np.flatnonzero(np.asarray(column.is_null().to_numpy(zero_copy_only=False), bool))
    first = int(bad[0])
    where = ", ".join(
        f"{name}={batch.column(name)[first].as_py()}"
        for name in (record.TOPIC, record.PARTITION, record.OFFSET)
    )
    raise DataError(f"{message}: {where}", rows=bad.tolist())
