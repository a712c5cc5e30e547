"""Debezium's change event envelope for PostgreSQL, built a whole column at a time.

Key: a struct of the primary-key columns (``<prefix>.<schema>.<table>.Key``). Value::

    <prefix>.<schema>.<table>.Envelope (version 1)
      before       <prefix>.<schema>.<table>.Value, optional
      after        <prefix>.<schema>.<table>.Value, optional
      source       io.debezium.connector.postgresql.Source
      op           string: c, u, d, r, t
      ts_ms        int64, optional: when the connector processed the event
      transaction  event.block, optional (always null: no transaction metadata)

The source block has Debezium's fields in Debezium's order: version, connector, name,
ts_ms, snapshot (``io.debezium.data.Enum``: true, last, false, incremental), db,
sequence, schema, table, txId, lsn, xmin.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.postgres_cdc.types import ColumnType
from engine.spi import schema as cs
from engine.spi.record import SourceBatch, SourceOffset, SourcePartition, make_batch

SOURCE_NAME = "io.debezium.connector.postgresql.Source"
ENUM_NAME = "io.debezium.data.Enum"
SNAPSHOT_ALLOWED = "true,last,false,incremental"
CONNECTOR = "postgresql"
_TOPIC_UNSAFE = re.compile(r"[^a-zA-Z0-9._\-]")

SOURCE_FIELDS = [
    cs.field("version", pa.string(), optional=False),
    cs.field("connector", pa.string(), optional=False),
    cs.field("name", pa.string(), optional=False),
    cs.field("ts_ms", pa.int64(), optional=False),
    cs.field(
        "snapshot",
        pa.string(),
        optional=True,
        schema_name=ENUM_NAME,
        version=1,
        parameters={"allowed": SNAPSHOT_ALLOWED},
        default="false",
        has_default=True,
    ),
    cs.field("db", pa.string(), optional=False),
    cs.field("sequence", pa.string(), optional=True),
    cs.field("schema", pa.string(), optional=False),
    cs.field("table", pa.string(), optional=False),
    cs.field("txId", pa.int64(), optional=True),
    cs.field("lsn", pa.int64(), optional=True),
    cs.field("xmin", pa.int64(), optional=True),
]
SOURCE_TYPE = pa.struct(SOURCE_FIELDS)
TRANSACTION_TYPE = pa.struct(
    [
        cs.field("id", pa.string(), optional=False),
        cs.field("total_order", pa.int64(), optional=False),
        cs.field("data_collection_order", pa.int64(), optional=False),
    ]
)


def topic_name(prefix: str, schema: str, table: str) -> str:
    """``<topic.prefix>.<schema>.<table>``, characters Kafka refuses replaced by ``_``."""
    return _TOPIC_UNSAFE.sub("_", f"{prefix}.{schema}.{table}")


@dataclass(frozen=True, slots=True)
class TableInfo:
    """One captured table: its columns (after column filters), key and schemas."""

    schema: str
    table: str
    columns: tuple[ColumnType, ...]
    column_positions: tuple[int, ...]
    """Position of each kept column in the table's full column list (as replicated)."""
    key: tuple[int, ...]
    """Indices into ``columns`` of the primary-key columns, in key order."""
    topic: str
    row_type: pa.StructType
    key_field: pa.Field | None
    value_field: pa.Field
    tombstone_field: pa.Field

    @classmethod
    def build(
        cls,
        prefix: str,
        schema: str,
        table: str,
        columns: Sequence[ColumnType],
        positions: Sequence[int],
        key: Sequence[int],
    ) -> TableInfo:
        base = f"{prefix}.{schema}.{table}"
        row_type = pa.struct([c.field for c in columns])
        row = cs.field("before", row_type, optional=True, schema_name=f"{base}.Value")
        value_type = pa.struct(
            [
                row,
                row.with_name("after"),
                cs.field("source", SOURCE_TYPE, optional=False, schema_name=SOURCE_NAME),
                cs.field("op", pa.string(), optional=False),
                cs.field("ts_ms", pa.int64(), optional=True),
                cs.field(
                    "transaction", TRANSACTION_TYPE, optional=True, schema_name="event.block", version=1
                ),
            ]
        )
        value_field = cs.field("value", value_type, optional=False, schema_name=f"{base}.Envelope", version=1)
        key_field = None
        if key:
            key_type = pa.struct([columns[i].field.with_nullable(False) for i in key])
            key_field = cs.field("key", key_type, optional=False, schema_name=f"{base}.Key")
        return cls(
            schema,
            table,
            tuple(columns),
            tuple(positions),
            tuple(key),
            topic_name(prefix, schema, table),
            row_type,
            key_field,
            value_field,
            value_field.with_nullable(True),
        )


@dataclass(frozen=True, slots=True)
class SourceContext:
    version: str
    server: str
    db: str


def source_block(
    ctx: SourceContext,
    info: TableInfo,
    n: int,
    *,
    ts_ms: pa.Array,
    snapshot: pa.Array,
    sequence: pa.Array,
    tx_id: pa.Array,
    lsn: pa.Array,
) -> pa.StructArray:
    def const(v: str) -> pa.Array:
        return pa.repeat(pa.scalar(v, pa.string()), n)

    arrays = [
        const(ctx.version),
        const(CONNECTOR),
        const(ctx.server),
        ts_ms,
        snapshot,
        const(ctx.db),
        sequence,
        const(info.schema),
        const(info.table),
        tx_id,
        lsn,
        pa.nulls(n, pa.int64()),
    ]
    return pa.StructArray.from_arrays(arrays, fields=SOURCE_FIELDS)


def sequence_text(last_commit: pa.Array, lsn: pa.Array) -> pa.Array:
    """Debezium's ``["<last commit lsn>","<lsn>"]`` (``null`` for an unknown commit)."""
    first = pc.fill_null(pc.binary_join_element_wise('"', last_commit.cast(pa.string()), '"', ""), "null")
    return pc.binary_join_element_wise("[", first, ',"', lsn.cast(pa.string()), '"]', "")


def row_struct(info: TableInfo, values: Sequence[pa.Array], present: np.ndarray | None) -> pa.StructArray:
    n = len(values[0]) if values else (len(present) if present is not None else 0)
    mask = None if present is None or present.all() else pa.array(~present)
    return (
        pa.StructArray.from_arrays(list(values), fields=list(info.row_type), mask=mask)
        if values
        else (pa.StructArray.from_arrays([], fields=[]) if n == 0 else pa.array([{}] * n, info.row_type))
    )


def envelope(
    info: TableInfo,
    op: pa.Array,
    before: pa.Array,
    after: pa.Array,
    source: pa.Array,
    ts_ms: int,
) -> pa.StructArray:
    n = len(op)
    return pa.StructArray.from_arrays(
        [
            before,
            after,
            source,
            op,
            pa.repeat(pa.scalar(ts_ms, pa.int64()), n),
            pa.nulls(n, TRANSACTION_TYPE),
        ],
        fields=list(info.value_field.type),
    )


def key_struct(info: TableInfo, columns: Sequence[pa.Array]) -> pa.StructArray | None:
    """The key of each row from its key columns (already chosen from after or before)."""
    if info.key_field is None:
        return None
    return pa.StructArray.from_arrays(list(columns), fields=list(info.key_field.type))


def event_batch(
    info: TableInfo,
    key: pa.Array | None,
    value: pa.Array,
    offsets: Sequence[tuple[SourcePartition, SourceOffset]] = (),
) -> SourceBatch:
    n = len(value)
    if key is None or info.key_field is None:
        key_field = cs.field("key", pa.struct([]), optional=True)
        key = pa.nulls(n, key_field.type)
    else:
        key_field = info.key_field
    return SourceBatch(
        make_batch(topic=info.topic, key=key, value=value, key_field=key_field, value_field=info.value_field),
        offsets,
    )


def tombstone_batch(
    info: TableInfo, key: pa.Array, offsets: Sequence[tuple[SourcePartition, SourceOffset]] = ()
) -> SourceBatch:
    """Null values with the given keys (sent after deletes)."""
    n = len(key)
    assert info.key_field is not None
    return SourceBatch(
        make_batch(
            topic=info.topic,
            key=key,
            value=pa.nulls(n, info.tombstone_field.type),
            key_field=info.key_field,
            value_field=info.tombstone_field,
        ),
        offsets,
    )


HEARTBEAT_KEY_NAME = "io.debezium.connector.common.ServerNameKey"
HEARTBEAT_VALUE_NAME = "io.debezium.connector.common.Heartbeat"
_HEARTBEAT_KEY = cs.field(
    "key",
    pa.struct([cs.field("serverName", pa.string(), optional=False)]),
    optional=False,
    schema_name=HEARTBEAT_KEY_NAME,
)
_HEARTBEAT_VALUE = cs.field(
    "value",
    pa.struct([cs.field("ts_ms", pa.int64(), optional=False)]),
    optional=False,
    schema_name=HEARTBEAT_VALUE_NAME,
)


def heartbeat_batch(
    topic: str, server: str, ts_ms: int, offsets: Sequence[tuple[SourcePartition, SourceOffset]]
) -> SourceBatch:
    """Debezium's heartbeat record: key ``{serverName}``, value ``{ts_ms}``, with the offset reached."""
    key = pa.StructArray.from_arrays([pa.array([server])], fields=list(_HEARTBEAT_KEY.type))
    value = pa.StructArray.from_arrays([pa.array([ts_ms], pa.int64())], fields=list(_HEARTBEAT_VALUE.type))
    return SourceBatch(
        make_batch(topic=topic, key=key, value=value, key_field=_HEARTBEAT_KEY, value_field=_HEARTBEAT_VALUE),
        offsets,
    )
