"""SQLite: ``adbc-driver-sqlite`` (bulk ingest is a prepared INSERT run over the Arrow batch).

SQLite is dynamically typed: a column's declared type gives it an affinity, not a
constraint, so a string written into an INTEGER column is stored as text (a STRICT table
refuses it). What SQLite has no storage class for travels as ISO-8601 text: DATE
(``2024-01-31``), TIME (``12:30:00.250``), TIMESTAMP (``2024-01-31T12:30:00.250``, UTC);
decimals as text into a NUMERIC column, which SQLite keeps as REAL when the value fits in
15 significant digits. Reads map declared types back (see :meth:`SqliteDialect.to_connect`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from connectors.jdbc.dialect import Column, Dialect, Failure, TableId, is_bytes, is_text, numeric_of
from engine.spi import schema

_DECIMAL = re.compile(r"(?:NUMERIC|DECIMAL)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)", re.IGNORECASE)


def declared_type(declared: str) -> pa.DataType | None:
    """The Arrow type a declared SQLite column type reads as (None: as the values come)."""
    d = declared.upper()
    m = _DECIMAL.search(d)
    if m:
        p, s = int(m.group(1)), int(m.group(2))
        return pa.decimal128(p, s) if 0 < p <= 38 and s <= p else pa.float64()
    if d.startswith("BOOL"):
        return pa.bool_()
    if "INT" in d:
        return pa.int64()
    if "CHAR" in d or "CLOB" in d or "TEXT" in d:
        return pa.string()
    if "BLOB" in d:
        return pa.binary()
    if "REAL" in d or "FLOA" in d or "DOUB" in d:
        return pa.float64()
    if d.startswith(("TIMESTAMP", "DATETIME")):
        return pa.timestamp("ms")
    if d.startswith("DATE"):
        return pa.date32()
    if d.startswith("TIME"):
        return pa.time32("ms")
    if d.startswith(("NUMERIC", "DECIMAL")):
        return pa.float64()
    return None


class SqliteDialect(Dialect):
    DDL_TYPES = (
        (pa.types.is_integer, "INTEGER"),
        (pa.types.is_floating, "REAL"),
        (pa.types.is_boolean, "BOOLEAN"),
        (is_text, "TEXT"),
        (is_bytes, "BLOB"),
        (pa.types.is_decimal, numeric_of),
        (pa.types.is_date, "DATE"),
        (pa.types.is_time, "TIME"),
        (pa.types.is_timestamp, "TIMESTAMP"),
    )
    name = "sqlite"

    def connect(self, uri: str) -> Any:
        import adbc_driver_sqlite.dbapi as sq

        return sq.connect(uri, autocommit=True)

    def setup_session(self, cur: Any) -> None:
        cur.execute("PRAGMA busy_timeout = 5000")

    def list_tables(self, cur: Any, schema_pattern: str | None, table_types: Sequence[str]) -> list[TableId]:
        types = [t for t in ("table", "view") if t.upper() in {x.upper() for x in table_types}] or ["table"]
        marks = ", ".join("?" for _ in types)
        cur.execute(
            f"SELECT name FROM sqlite_master WHERE type IN ({marks}) "
            "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
            parameters=tuple(types),
        )
        return [TableId(None, n) for (n,) in cur.fetchall()]

    def describe(self, cur: Any, t: TableId) -> list[Column] | None:
        cur.execute(
            'SELECT name, type, "notnull", pk FROM pragma_table_info(?, ?) ORDER BY cid',
            parameters=(t.name, t.schema or "main"),
        )
        rows = cur.fetchall()
        if not rows:
            return None
        # an INTEGER PRIMARY KEY is the rowid: never null, whatever "notnull" says
        return [
            Column(
                name,
                declared or "",
                not (notnull or (pk and (declared or "").upper() == "INTEGER")),
                None,
                bool(pk),
            )
            for name, declared, notnull, pk in rows
        ]

    def ingest_type(self, t: pa.DataType) -> pa.DataType:
        if pa.types.is_decimal(t) or pa.types.is_time(t):
            return pa.string()
        if pa.types.is_timestamp(t):
            return pa.timestamp(t.unit)  # UTC wall time, no offset in the text
        if pa.types.is_large_string(t):
            return pa.string()
        if pa.types.is_large_binary(t):
            return pa.binary()
        return t

    def write_type(self, column: Column, incoming: pa.DataType) -> pa.DataType | None:
        return self.ingest_type(incoming)

    def to_connect(self, column: pa.Field, declared: str | None) -> tuple[pa.DataType, str | None]:
        target = declared_type(declared) if declared else None
        if target is None:
            return schema.normalize_type(column.type), None
        if pa.types.is_time(target):
            return target, "time_text"
        return target, None

    def now_sql(self) -> str:
        return "SELECT strftime('%Y-%m-%dT%H:%M:%f', 'now')"

    def classify(self, error: BaseException) -> Failure:
        text = str(error).lower()
        if "locked" in text or "busy" in text:
            return Failure.RETRIABLE
        if type(error).__name__ == "IntegrityError" or "constraint failed" in text or "mismatch" in text:
            return Failure.DATA
        return Failure.FATAL
