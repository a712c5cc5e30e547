"""Writing table rows into DuckDB: tables created and evolved from the rows' schema, then
one transaction per write (delete by key, insert by name) over the Arrow table, which
DuckDB scans in place."""

from __future__ import annotations

import itertools
import logging

import duckdb
import numpy as np
import pyarrow as pa

from connectors.duckdb.rows import Rows
from connectors.duckdb.types import duckdb_type, quote
from engine.spi.errors import ConnectError, DataError

log = logging.getLogger(__name__)

ROW_COLUMN = "__arrowsmith_row"
TOMB_COLUMN = "__arrowsmith_tombstone"
_views = itertools.count()


class TableMissing(ConnectError):
    """The table does not exist and ``auto.create`` is off."""


class TableWriter:
    """Writes rows into tables of one DuckDB connection."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        *,
        upsert: bool,
        deletes: bool,
        auto_create: bool,
        auto_evolve: bool,
    ) -> None:
        self.con = con
        self.upsert = upsert
        self.deletes = deletes
        self.auto_create = auto_create
        self.auto_evolve = auto_evolve
        self.columns: dict[str, dict[str, str]] = {}  # table → lower-cased column → column name

    # -- tables ---------------------------------------------------------------------------------
    def _table_columns(self, table: str) -> dict[str, str] | None:
        got = self.con.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND lower(table_name) = lower(?) "
            "ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return {name.lower(): name for (name,) in got} or None

    def ensure_table(self, table: str, rows: Rows) -> bool:
        """Create the table or add the rows' new columns (``auto.create``/``auto.evolve``);
        a DataError when the rows need columns the table lacks and may not get. False when
        there is no table and only tombstones (nothing to write, nothing to create from)."""
        known = self.columns.get(table)
        if known is None:
            known = self._table_columns(table)
        if known is None and bool(rows.tombstone.all()):
            return False
        if known is None:
            if not self.auto_create:
                raise TableMissing(f"Table {table!r} is missing and auto.create is disabled")
            self._create(table, rows)
            known = self._table_columns(table) or {}
        missing = [f for f in rows.fields if f.name.lower() not in known]
        if missing:
            if not self.auto_evolve:
                names = [f.name for f in missing]
                raise DataError(f"Table {table!r} is missing fields {names} and auto.evolve is disabled")
            for f in missing:
                # added columns are nullable: the rows already in the table have no value for them
                log.info("Adding column %s %s to table %s", f.name, duckdb_type(f.type), table)
                self.con.execute(
                    f"ALTER TABLE {quote(table)} ADD COLUMN {quote(f.name)} {duckdb_type(f.type)}"
                )
            known = self._table_columns(table) or {}
        self.columns[table] = known
        return True

    def _create(self, table: str, rows: Rows) -> None:
        if not rows.fields:
            raise DataError(f"cannot create table {table!r}: the records have no fields")
        cols = [
            f"{quote(f.name)} {duckdb_type(f.type)}{'' if f.nullable else ' NOT NULL'}" for f in rows.fields
        ]
        if rows.keys:
            cols.append(f"PRIMARY KEY ({', '.join(map(quote, rows.keys))})")
        sql = f"CREATE TABLE IF NOT EXISTS {quote(table)} ({', '.join(cols)})"
        log.info("Creating table: %s", sql)
        self.con.execute(sql)

    # -- rows -----------------------------------------------------------------------------------
    def write(self, table: str, rows: Rows, select: np.ndarray | None = None, commit: bool = True) -> None:
        """Write the rows (those where ``select`` is true) in one transaction; roll back
        instead of committing when ``commit`` is false (a trial, to find bad rows)."""
        data = rows.table.append_column(ROW_COLUMN, pa.array(np.arange(rows.table.num_rows)))
        data = data.append_column(TOMB_COLUMN, pa.array(rows.tombstone, pa.bool_()))
        if select is not None:
            data = data.filter(pa.array(select))
        if data.num_rows == 0:
            return
        view = f"__arrowsmith_batch_{next(_views)}"
        self.con.register(view, data)
        try:
            self.con.execute("BEGIN TRANSACTION")
            try:
                self._statements(table, view, rows, data)
            except BaseException:
                self.con.execute("ROLLBACK")
                raise
            self.con.execute("COMMIT" if commit else "ROLLBACK")
        finally:
            self.con.unregister(view)

    def _statements(self, table: str, view: str, rows: Rows, data: pa.Table) -> None:
        t = quote(table)
        cols = ", ".join(quote(n) for n in rows.table.column_names if n in data.column_names)
        keys = rows.keys
        if not keys or not (self.upsert or self.deletes):
            self.con.execute(f"INSERT INTO {t} BY NAME SELECT {cols} FROM {view}")
            return
        on = " AND ".join(f"{t}.{quote(k)} IS NOT DISTINCT FROM d.{quote(k)}" for k in keys)
        key_list = ", ".join(map(quote, keys))
        if self.upsert:
            # the last record per key decides: its value replaces the row, a tombstone deletes it
            self.con.execute(
                f"DELETE FROM {t} USING (SELECT DISTINCT {key_list} FROM {view}) AS d WHERE {on}"
            )
            self.con.execute(
                f"INSERT INTO {t} BY NAME SELECT {cols} FROM (SELECT * FROM {view} QUALIFY row_number() "
                f"OVER (PARTITION BY {key_list} ORDER BY {ROW_COLUMN} DESC) = 1) WHERE NOT {TOMB_COLUMN}"
            )
            return
        # insert mode with deletes: runs of inserts and of deletes, in order
        tomb = data.column(TOMB_COLUMN).to_numpy(zero_copy_only=False)
        row = data.column(ROW_COLUMN).to_numpy()
        edges = np.flatnonzero(np.diff(tomb.astype(np.int8))) + 1
        for start, stop in zip(np.r_[0, edges], np.r_[edges, len(tomb)], strict=True):
            lo, hi = int(row[start]), int(row[stop - 1])
            where = f"{ROW_COLUMN} BETWEEN {lo} AND {hi}"
            if tomb[start]:
                keys_in_run = f"SELECT DISTINCT {key_list} FROM {view} WHERE {where}"
                self.con.execute(f"DELETE FROM {t} USING ({keys_in_run}) AS d WHERE {on}")
            else:
                self.con.execute(f"INSERT INTO {t} BY NAME SELECT {cols} FROM {view} WHERE {where}")


def is_data_error(e: BaseException) -> bool:
    """A DuckDB error caused by the values of some rows (not by the table or the database)."""
    return isinstance(
        e,
        duckdb.ConversionException
        | duckdb.ConstraintException
        | duckdb.InvalidInputException
        | duckdb.OutOfRangeException
        | duckdb.TypeMismatchException
        | duckdb.DataError
        | duckdb.IntegrityError,
    )


def is_schema_error(e: BaseException) -> bool:
    """A DuckDB error caused by the rows' shape as a whole (every row would fail the same way)."""
    return isinstance(e, duckdb.BinderException | duckdb.CatalogException)
