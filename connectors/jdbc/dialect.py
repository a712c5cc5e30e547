"""What differs between databases: quoting, DDL types, introspection, merge SQL, error classes.

A :class:`Dialect` turns names and Arrow fields into SQL text. Identifiers are always
quoted (``"`` doubled inside), so table and column names with quotes, spaces, dots or any
unicode are safe; values never enter SQL text (they move as Arrow through bulk ingest or
as bound parameters).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from engine.spi.errors import ConfigError, DataError

# (does this rule apply to the Arrow type?, the SQL type: text, or made from the Arrow type)
DdlRule = tuple[Callable[[pa.DataType], bool], str | Callable[[pa.DataType], str]]


def is_text(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def is_bytes(t: pa.DataType) -> bool:
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t))


def numeric_of(t: pa.DataType) -> str:
    return f"NUMERIC({t.precision},{t.scale})"


def unsupported(f: pa.Field) -> DataError:
    return DataError(
        f"Field '{f.name}' has type {f.type}, which the JDBC sink does not write "
        "(flatten nested structs with the Flatten transform; arrays and maps are not supported)"
    )


class Failure(enum.Enum):
    """How a database error is handled."""

    RETRIABLE = "retriable"  # connection lost, server restarting, deadlock: retry later
    DATA = "data"  # the rows do not fit the table: find them, report them
    FATAL = "fatal"  # anything else: fail the task


@dataclass(frozen=True, slots=True)
class TableId:
    """A table: its schema (None = the connection's default) and name, both unquoted."""

    schema: str | None
    name: str

    def __str__(self) -> str:
        return self.name if self.schema is None else f"{self.schema}.{self.name}"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type_name: str  # as the database spells it (``numeric(10,2)``, ``INTEGER``)
    nullable: bool
    arrow: pa.DataType | None  # the exact Arrow type bulk ingest needs; None: unknown to us
    primary_key: bool = False


def quote_identifier(name: str) -> str:
    """``"name"`` with ``"`` doubled: safe for any name without a NUL character."""
    if "\x00" in name:
        raise ConfigError(f"SQL identifier {name!r} contains a NUL character")
    return '"' + name.replace('"', '""') + '"'


def parse_table_name(text: str) -> TableId:
    """``table``, ``schema.table``, ``"schema"."ta.ble"``: dots split unless inside quotes."""
    parts: list[str] = []
    buf: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            if quoted and i + 1 < len(text) and text[i + 1] == '"':
                buf.append('"')
                i += 2
                continue
            quoted = not quoted
        elif ch == "." and not quoted:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    parts.append("".join(buf))
    if quoted:  # an unbalanced quote is part of a name: split on dots only
        parts = text.split(".")
    if any(p == "" for p in parts) or len(parts) > 3:
        raise ConfigError(f"Invalid table name: {text!r}")
    if len(parts) == 1:
        return TableId(None, parts[0])
    return TableId(parts[-2], parts[-1])  # a catalog part (db.schema.table) is the connection's


class Dialect(abc.ABC):
    name: str

    # -- names ---------------------------------------------------------------------------
    def quote(self, name: str) -> str:
        return quote_identifier(name)

    def table(self, t: TableId) -> str:
        return self.quote(t.name) if t.schema is None else f"{self.quote(t.schema)}.{self.quote(t.name)}"

    def columns(self, names: Sequence[str], prefix: str = "") -> str:
        return ", ".join(prefix + self.quote(n) for n in names)

    # -- session ---------------------------------------------------------------------------
    @abc.abstractmethod
    def connect(self, uri: str) -> Any:
        """A DB-API connection in autocommit mode (transactions are opened with BEGIN)."""

    @abc.abstractmethod
    def setup_session(self, cur: Any) -> None:
        """Run once per connection."""

    # -- introspection -----------------------------------------------------------------------
    @abc.abstractmethod
    def list_tables(
        self, cur: Any, schema_pattern: str | None, table_types: Sequence[str]
    ) -> list[TableId]: ...

    @abc.abstractmethod
    def describe(self, cur: Any, t: TableId) -> list[Column] | None:
        """The table's columns in order, or None when it does not exist."""

    # -- types -------------------------------------------------------------------------------
    # the dialect's column types, first match wins (see ddl_type)
    DDL_TYPES: ClassVar[Sequence[DdlRule]] = ()

    def ddl_type(self, f: pa.Field) -> str:
        """The column type for a Connect schema (an Arrow field) in CREATE/ALTER TABLE."""
        for applies, sql in self.DDL_TYPES:
            if applies(f.type):
                return sql(f.type) if callable(sql) else sql
        raise unsupported(f)

    @abc.abstractmethod
    def ingest_type(self, t: pa.DataType) -> pa.DataType:
        """The Arrow type bulk ingest can take for a value of type ``t`` (when no column says)."""

    @abc.abstractmethod
    def to_connect(self, column: pa.Field, declared: str | None) -> tuple[pa.DataType, str | None]:
        """For a result column: the Connect-compatible Arrow type and how to get there
        (None: a plain cast; else a named conversion the reader applies)."""

    @abc.abstractmethod
    def write_type(self, column: Column, incoming: pa.DataType) -> pa.DataType | None:
        """The Arrow type to ingest into this column; None: send text, cast in SQL."""

    # -- statements ---------------------------------------------------------------------------
    def create_table_sql(self, t: TableId, fields: Sequence[pa.Field], pk: Sequence[str]) -> str:
        cols = [f"{self.quote(f.name)} {self.ddl_type(f)}{'' if f.nullable else ' NOT NULL'}" for f in fields]
        if pk:
            cols.append(f"PRIMARY KEY({self.columns(pk)})")
        return f"CREATE TABLE {self.table(t)} (\n" + ",\n".join(cols) + ")"

    def add_column_sql(self, t: TableId, f: pa.Field) -> str:
        return f"ALTER TABLE {self.table(t)} ADD COLUMN {self.quote(f.name)} {self.ddl_type(f)}"

    def select_from(self, staging: str, cols: Sequence[str], casts: dict[str, str]) -> str:
        exprs = [f"{self.quote(c)}::{casts[c]}" if c in casts else self.quote(c) for c in cols]
        return f"SELECT {', '.join(exprs)} FROM {staging}"

    def insert_sql(self, t: TableId, staging: str, cols: Sequence[str], casts: dict[str, str]) -> str:
        return f"INSERT INTO {self.table(t)} ({self.columns(cols)}) {self.select_from(staging, cols, casts)}"

    def upsert_sql(
        self, t: TableId, staging: str, cols: Sequence[str], pk: Sequence[str], casts: dict[str, str]
    ) -> str:
        rest = [c for c in cols if c not in pk]
        action = (
            "DO UPDATE SET " + ", ".join(f"{self.quote(c)} = EXCLUDED.{self.quote(c)}" for c in rest)
            if rest
            else "DO NOTHING"
        )
        # "WHERE true": SQLite needs it to tell ON CONFLICT from a join constraint
        return (
            f"INSERT INTO {self.table(t)} ({self.columns(cols)}) {self.select_from(staging, cols, casts)} "
            f"WHERE true ON CONFLICT ({self.columns(pk)}) {action}"
        )

    def update_sql(
        self, t: TableId, staging: str, cols: Sequence[str], pk: Sequence[str], casts: dict[str, str]
    ) -> str:
        target = self.table(t)
        sets = ", ".join(f"{self.quote(c)} = s.{self.quote(c)}" for c in cols if c not in pk)
        cond = " AND ".join(f"{target}.{self.quote(c)} = s.{self.quote(c)}" for c in pk)
        source = self.select_from(staging, cols, casts)
        return f"UPDATE {target} SET {sets} FROM ({source}) AS s WHERE {cond}"

    def delete_sql(self, t: TableId, staging: str, pk: Sequence[str], casts: dict[str, str]) -> str:
        keys = self.columns(pk)
        sub = self.select_from(staging, pk, casts)
        return f"DELETE FROM {self.table(t)} WHERE ({keys}) IN ({sub})"

    @abc.abstractmethod
    def now_sql(self) -> str:
        """A query giving the database's current time as one timestamp (UTC)."""

    def param(self, i: int) -> str:
        """The placeholder of the i-th (1-based) bound parameter."""
        return "?"

    # -- errors ----------------------------------------------------------------------------------
    @abc.abstractmethod
    def classify(self, error: BaseException) -> Failure: ...


def dialect_for(name: str) -> Dialect:
    if name == "postgresql":
        from connectors.jdbc.postgres import PostgresDialect

        return PostgresDialect()
    if name == "sqlite":
        from connectors.jdbc.sqlite import SqliteDialect

        return SqliteDialect()
    raise ConfigError(f"Unsupported database dialect: {name}")
