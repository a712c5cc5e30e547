"""PostgreSQL: ``adbc-driver-postgresql`` (libpq; bulk ingest is ``COPY … FROM STDIN`` in binary).

COPY in binary needs each Arrow column in exactly the column's type (an int32 column into
a ``bigint`` column is a protocol error), so writes cast to the types :meth:`describe`
reads from ``pg_attribute``; a column of a type not listed here travels as text and is
cast in SQL (``"col"::jsonb``) on the way from the staging table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from connectors.jdbc.dialect import Column, Dialect, Failure, TableId, is_bytes, is_text, numeric_of
from engine.spi import schema

_DESCRIBE = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname, a.atttypmod, a.attnotnull,
       COALESCE(a.attnum = ANY(i.indkey), false)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
WHERE c.relname = $1 AND n.nspname = {schema} AND a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY a.attnum
"""
_LIST = """
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = ANY(string_to_array($1, ','))
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  AND n.nspname LIKE $2
ORDER BY 1, 2
"""
_RELKINDS = {"TABLE": "r,p", "VIEW": "v,m", "PARTITIONED TABLE": "p", "FOREIGN TABLE": "f"}

_BY_TYPNAME: dict[str, pa.DataType] = {
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "bool": pa.bool_(),
    "text": pa.string(),
    "varchar": pa.string(),
    "bpchar": pa.string(),
    "name": pa.string(),
    "bytea": pa.binary(),
    "date": pa.date32(),
    "time": pa.time64("us"),
    "timestamp": pa.timestamp("us"),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}
# retriable SQLSTATEs: connection exceptions (08, but 08P01 is our own protocol error),
# server shutting down / starting, too many connections, serialization failure, deadlock,
# lock not available
_RETRIABLE = frozenset(
    {"08000", "08001", "08003", "08004", "08006", "08007", "57P01", "57P02", "57P03", "53300"}
    | {"40001", "40P01", "55P03", "53100", "53200"}
)


def numeric_typmod(typmod: int) -> tuple[int, int] | None:
    """(precision, scale) of ``numeric(p,s)``, None for an unconstrained ``numeric``."""
    if typmod < 4:
        return None
    mod = typmod - 4
    return (mod >> 16) & 0xFFFF, mod & 0xFFFF


class PostgresDialect(Dialect):
    DDL_TYPES = (
        (lambda t: pa.types.is_int8(t) or pa.types.is_int16(t), "SMALLINT"),
        (pa.types.is_int32, "INT"),
        (pa.types.is_int64, "BIGINT"),
        (pa.types.is_float32, "REAL"),
        (pa.types.is_float64, "DOUBLE PRECISION"),
        (pa.types.is_boolean, "BOOLEAN"),
        (is_text, "TEXT"),
        (is_bytes, "BYTEA"),
        (pa.types.is_decimal, numeric_of),
        (pa.types.is_date, "DATE"),
        (pa.types.is_time, "TIME"),
        (pa.types.is_timestamp, lambda t: "TIMESTAMP" if t.tz is None else "TIMESTAMPTZ"),
    )
    name = "postgresql"

    def connect(self, uri: str) -> Any:
        import adbc_driver_postgresql.dbapi as pg

        return pg.connect(uri, autocommit=True)

    def setup_session(self, cur: Any) -> None:
        cur.execute("SET TIME ZONE 'UTC'")

    def param(self, i: int) -> str:
        return f"${i}"

    def list_tables(self, cur: Any, schema_pattern: str | None, table_types: Sequence[str]) -> list[TableId]:
        kinds = ",".join(_RELKINDS.get(t.upper(), "") for t in table_types) or "r,p"
        cur.execute(_LIST, parameters=(kinds, schema_pattern if schema_pattern is not None else "%"))
        return [TableId(s, n) for s, n in cur.fetchall()]

    def describe(self, cur: Any, t: TableId) -> list[Column] | None:
        if t.schema is None:
            cur.execute(_DESCRIBE.format(schema="current_schema()"), parameters=(t.name,))
        else:
            cur.execute(_DESCRIBE.format(schema="$2"), parameters=(t.name, t.schema))
        rows = cur.fetchall()
        if not rows:
            return None
        out = []
        for name, formatted, typname, typmod, notnull, pk in rows:
            arrow = _BY_TYPNAME.get(typname)
            if typname == "numeric":
                ps = numeric_typmod(int(typmod))
                arrow = pa.decimal128(*ps) if ps is not None and ps[0] <= 38 else None
            out.append(Column(name, formatted, not notnull, arrow, bool(pk)))
        return out

    def ingest_type(self, t: pa.DataType) -> pa.DataType:
        if pa.types.is_int8(t):
            return pa.int16()  # no 1-byte integer in PostgreSQL
        if pa.types.is_time(t):
            return pa.time64("us")
        if pa.types.is_timestamp(t):
            return pa.timestamp("us", tz=t.tz)
        if pa.types.is_large_string(t):
            return pa.string()
        if pa.types.is_large_binary(t):
            return pa.binary()
        return t

    def write_type(self, column: Column, incoming: pa.DataType) -> pa.DataType | None:
        """The Arrow type to ingest into this column; None: send text, cast in SQL."""
        if column.arrow is not None:
            return column.arrow
        if column.type_name == "numeric" and pa.types.is_decimal(incoming):
            return incoming  # unconstrained numeric takes any scale
        return None

    def to_connect(self, column: pa.Field, declared: str | None) -> tuple[pa.DataType, str | None]:
        meta = column.metadata or {}
        typname = meta.get(b"POSTGRESQL:type", b"").decode()
        t = column.type
        if typname == "numeric":
            ps = numeric_typmod(int(meta.get(b"POSTGRESQL:typmod", b"-1")))
            if ps is None or ps[0] > 38:
                return pa.float64(), "storage"
            return pa.decimal128(*ps), "storage"
        if isinstance(t, pa.ExtensionType):
            return pa.string(), "storage"
        if pa.types.is_time(t):
            return pa.time32("ms"), "truncate"
        if pa.types.is_timestamp(t):
            return pa.timestamp("ms"), "truncate"
        if pa.types.is_large_string(t):
            return pa.string(), None
        if pa.types.is_large_binary(t):
            return pa.binary(), None
        if pa.types.is_interval(t) or pa.types.is_duration(t):
            return pa.string(), "text"
        return schema.normalize_type(t), None

    def now_sql(self) -> str:
        return "SELECT LOCALTIMESTAMP"  # the session runs in UTC

    def classify(self, error: BaseException) -> Failure:
        state = getattr(error, "sqlstate", None)
        if state:
            if state in _RETRIABLE:
                return Failure.RETRIABLE
            if state[:2] in ("22", "23") or state in ("42804", "2200G"):
                return Failure.DATA
            return Failure.FATAL
        text = str(error)
        name = type(error).__name__
        if name == "OperationalError" or "connection" in text.lower() or "server closed" in text:
            return Failure.RETRIABLE
        return Failure.FATAL
