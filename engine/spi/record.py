"""The record envelope: every batch of records is a ``pyarrow.RecordBatch`` of these columns.

=========== ================================================ ===========================
column      Arrow type                                       meaning
=========== ================================================ ===========================
topic       string                                           Kafka topic
partition   int32, nullable                                  null on a source record =
                                                             let the producer partition
offset      int64, nullable                                  Kafka offset (sink side)
timestamp   timestamp[ms], nullable                          record timestamp
key         binary before conversion; any type after         record key
value       binary before conversion; any type after         value; null = tombstone
headers     list<struct<key: string, value: binary>>         record headers
=========== ================================================ ===========================

The ``key`` and ``value`` fields carry their Connect schemas as field metadata (see
:mod:`engine.spi.schema`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

TOPIC = "topic"
PARTITION = "partition"
OFFSET = "offset"
TIMESTAMP = "timestamp"
KEY = "key"
VALUE = "value"
HEADERS = "headers"
COLUMNS = (TOPIC, PARTITION, OFFSET, TIMESTAMP, KEY, VALUE, HEADERS)

HEADER_TYPE = pa.list_(
    pa.struct([pa.field("key", pa.string(), nullable=False), pa.field("value", pa.binary())])
)


def envelope_schema(key: pa.Field | None = None, value: pa.Field | None = None) -> pa.Schema:
    """The envelope schema with the given key/value fields (binary when omitted)."""
    return pa.schema(
        [
            pa.field(TOPIC, pa.string()),
            pa.field(PARTITION, pa.int32()),
            pa.field(OFFSET, pa.int64()),
            pa.field(TIMESTAMP, pa.timestamp("ms")),
            (key or pa.field(KEY, pa.binary())).with_name(KEY),
            (value or pa.field(VALUE, pa.binary())).with_name(VALUE),
            pa.field(HEADERS, HEADER_TYPE),
        ]
    )


BINARY_SCHEMA = envelope_schema()


def make_batch(
    *,
    topic: str | pa.Array | Sequence[str],
    value: pa.Array | Sequence[Any],
    key: pa.Array | Sequence[Any] | None = None,
    partition: pa.Array | Sequence[int | None] | None = None,
    offset: pa.Array | Sequence[int | None] | None = None,
    timestamp: pa.Array | Sequence[Any] | None = None,
    headers: pa.Array | Sequence[Any] | None = None,
    key_field: pa.Field | None = None,
    value_field: pa.Field | None = None,
) -> pa.RecordBatch:
    """Assemble an envelope batch from columns; omitted columns are all-null.

    ``topic`` may be one string for the whole batch. ``key_field``/``value_field`` give
    the Connect schemas; without them the key/value arrays keep their own Arrow types.
    """
    values = (
        value if isinstance(value, pa.Array) else pa.array(value, value_field.type if value_field else None)
    )
    n = len(values)

    def col(data: Any, typ: pa.DataType) -> pa.Array:
        if data is None:
            return pa.nulls(n, typ)
        if isinstance(data, pa.Array):
            return data if data.type == typ else data.cast(typ)
        return pa.array(data, typ)

    if isinstance(topic, str):
        topics = pa.repeat(pa.scalar(topic, pa.string()), n)  # not a list of n strings
    else:
        topics = col(topic, pa.string())
    if key is None:
        keys = pa.nulls(n, key_field.type if key_field else pa.binary())
    else:
        keys = key if isinstance(key, pa.Array) else pa.array(key, key_field.type if key_field else None)
    kf = (key_field or pa.field(KEY, keys.type)).with_name(KEY)
    vf = (value_field or pa.field(VALUE, values.type)).with_name(VALUE)
    schema = envelope_schema(kf, vf)
    return pa.RecordBatch.from_arrays(
        [
            topics,
            col(partition, pa.int32()),
            col(offset, pa.int64()),
            col(timestamp, pa.timestamp("ms")),
            keys,
            values,
            col(headers, HEADER_TYPE),
        ],
        schema=schema,
    )


def empty_batch(schema: pa.Schema = BINARY_SCHEMA) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


SourcePartition = Mapping[str, Any]
SourceOffset = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SourceBatch:
    """What a source task hands over: records and the source offsets they reach.

    ``offsets`` lists, for each source partition the batch advanced, the last source
    offset it reached, as ``(source_partition, source_offset)`` pairs of plain dicts
    (string keys, primitive values). They become committable only when every record of
    the batch has been acknowledged by Kafka. A batch may carry offsets and no records
    (the task skipped input that produced none).
    """

    records: pa.RecordBatch
    offsets: Sequence[tuple[SourcePartition, SourceOffset]] = field(default_factory=tuple)

    def __len__(self) -> int:
        return int(self.records.num_rows)


@dataclass(frozen=True, slots=True, order=True)
class TopicPartition:
    topic: str
    partition: int
