"""Sql (arrowsmith): a SQL query over the batch, evaluated by DuckDB on the Arrow data.

``transforms.t.type=Sql`` and ``transforms.t.query=SELECT * REPLACE (…) FROM batch WHERE …``.
The batch is the table ``batch`` (the envelope: topic, partition, offset, timestamp, key,
value, headers; struct fields as ``value.field``); DuckDB scans it in place (no copy in),
with one thread and insertion order preserved, so a filter or projection keeps the
records' order. The query must return the envelope's columns (``SELECT * EXCLUDE``/
``REPLACE`` keep them); a syntax error is a configuration error. ``offset`` and
``partition`` are SQL keywords: quote them (``"offset"``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import pyarrow as pa

from engine.spi import schema as s
from engine.spi.config import ConfigDef, Importance, LambdaValidator, Type
from engine.spi.errors import ConfigError, DataError
from engine.spi.record import COLUMNS, HEADER_TYPE
from engine.spi.transform import Transformation

QUERY = "query"
_ENVELOPE_TYPES = {
    "topic": pa.string(),
    "partition": pa.int32(),
    "offset": pa.int64(),
    "timestamp": pa.timestamp("ms"),
    "headers": HEADER_TYPE,
}


def check_query(name: str, value: Any) -> None:
    """Parse (without running) the query: one SELECT statement."""
    import duckdb

    text = str(value or "").strip()
    if not text:
        raise ConfigError(
            f"Invalid value {value} for configuration {name}: a SELECT … FROM batch query is required", name
        )
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as e:
        raise ConfigError(f"Invalid value {text} for configuration {name}: {e}", name) from e
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ConfigError(
            f"Invalid value {text} for configuration {name}: expected one SELECT statement", name
        )


class Sql(Transformation):
    aliases: ClassVar[tuple[str, ...]] = ("io.arrowsmith.transforms.Sql",)

    @classmethod
    def config_def(cls) -> ConfigDef:
        return ConfigDef().define(
            QUERY,
            Type.STRING,
            validator=LambdaValidator(check_query, "a SELECT … FROM batch query"),
            importance=Importance.HIGH,
            documentation="A DuckDB SELECT over the table `batch` (the record envelope); it must return the "
            "envelope's columns, e.g. SELECT * REPLACE (struct_pack(id := value.id) AS value) FROM batch "
            "WHERE value.amount > 10",
        )

    def configure(self, configs: Mapping[str, str]) -> None:
        import duckdb

        self.query = self.config_def().parse(configs)[QUERY]
        self._local = threading.local()
        self._duckdb = duckdb

    def _connection(self) -> Any:
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._duckdb.connect()
            con.execute("SET threads=1").fetchall()
            con.execute("SET preserve_insertion_order=true").fetchall()
            self._local.con = con
        return con

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        con = self._connection()
        con.register("batch", batch)
        try:
            table = con.sql(self.query).to_arrow_table()
        except self._duckdb.Error as e:
            raise DataError(f"Sql transform failed: {e}") from e
        finally:
            con.unregister("batch")
        missing = [c for c in COLUMNS if c not in table.column_names]
        if missing:
            raise DataError(f"Sql transform: the query must return the envelope columns; missing {missing}")
        table = table.select(list(COLUMNS))
        fields, arrays = [], []
        for name in COLUMNS:
            col = (
                table.column(name).combine_chunks()
                if table.num_rows
                else pa.array([], table.schema.field(name).type)
            )
            if name in _ENVELOPE_TYPES:
                col = col.cast(_ENVELOPE_TYPES[name])
                fields.append(pa.field(name, col.type))
            else:
                norm = s.normalize_type(col.type)
                col = col.cast(norm)
                original = batch.schema.field(name)
                same = original.type == norm
                fields.append(original if same else s.field(name, norm, schemaless=s.is_schemaless(original)))
            arrays.append(col)
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
