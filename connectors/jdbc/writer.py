"""Writes rows into one table: create/evolve it, cast to its column types, then insert,
upsert or update in one transaction per chunk, finding bad rows when the database refuses.

Mechanics (per chunk of at most ``batch.size`` rows):

* insert: bulk ingest straight into the table (PostgreSQL ``COPY`` binary, SQLite prepared
  insert), after deleting the keys of tombstones;
* upsert: bulk ingest into a temporary staging table, then ``INSERT INTO t SELECT … FROM
  staging ON CONFLICT (pk) DO UPDATE SET c = EXCLUDED.c …``;
* update: the same staging table, then ``UPDATE t SET … FROM staging WHERE pk = pk``.

Within a chunk only the last record of each key counts, and a delete followed later by an
upsert of the same key is kept as a delete then an insert: the chunk's keys that have a
tombstone are deleted first, then the last upsert of every key whose last record is not a
tombstone is written (in insert mode: every record after the key's last tombstone).

Rows that cannot be cast to the column types, or are null in a NOT NULL column, are found in
memory; rows the database still refuses (constraints, overflow) are found by bisection
under savepoints. Either way the good rows are written, in order, and the bad ones are
handed to ``on_bad`` before the transaction commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.jdbc.connection import Database
from connectors.jdbc.dialect import Column, Failure, TableId
from connectors.jdbc.records import Rows
from engine.spi.errors import ConnectError, DataError

log = logging.getLogger(__name__)

BadRows = Callable[[np.ndarray, BaseException], None]  # (row indices into Rows, error)
_IDX = "__arrowsmith_row"


class _Refused(Exception):
    """The database refused the rows (a Failure.DATA error)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class TableWriter:
    def __init__(
        self,
        db: Database,
        table: TableId,
        *,
        insert_mode: str,
        auto_create: bool,
        auto_evolve: bool,
        batch_size: int,
    ) -> None:
        self.db = db
        self.d = db.dialect
        self.table = table
        self.mode = insert_mode
        self.auto_create = auto_create
        self.auto_evolve = auto_evolve
        self.batch_size = batch_size
        self.columns: dict[str, Column] | None = None
        self.staging: dict[tuple[Any, pa.Schema], str] = {}
        self.staging_conn: Any = None
        self.plans: dict[pa.Schema, tuple[pa.Schema, dict[str, str]]] = {}

    # -- table shape ---------------------------------------------------------------------------

    def _describe(self, cur: Any) -> dict[str, Column] | None:
        cols = self.d.describe(cur, self.table)
        return None if cols is None else {c.name: c for c in cols}

    def ensure(self, rows: Rows) -> None:
        """The table exists with every column of ``rows`` (auto.create, auto.evolve)."""
        cur = self.db.open()
        if self.columns is None:
            self.columns = self._describe(cur)
        if self.columns is None:
            if not self.auto_create:
                raise ConnectError(f"Table {self.table} is missing and auto-creation is disabled")
            sql = self.d.create_table_sql(self.table, rows.fields, rows.pk)
            log.info("Creating table %s: %s", self.table, sql)
            self._ddl(cur, sql)
            self.columns = self._describe(cur)
            assert self.columns is not None
        missing = [f for f in rows.fields if f.name not in self.columns]
        if not missing:
            return
        if not self.auto_evolve:
            raise ConnectError(
                f"Table {self.table} is missing fields {[f.name for f in missing]} "
                "and auto-evolution is disabled"
            )
        for f in missing:
            if not f.nullable:
                raise ConnectError(
                    f"Cannot ALTER table {self.table} to add missing field '{f.name}', as the field is not "
                    "optional and does not have a default value"
                )
        for f in missing:
            sql = self.d.add_column_sql(self.table, f)
            log.info("Amending table %s: %s", self.table, sql)
            self._ddl(cur, sql)
        self.columns = self._describe(cur)
        self.plans.clear()

    def _ddl(self, cur: Any, sql: str) -> None:
        try:
            cur.execute(sql)
        except Exception as e:
            # another task may have created it meanwhile: look again before giving up
            if self._describe(cur) is None:
                raise self.db.translate(e, f"DDL for table {self.table}") from None

    def _plan(self, schema: pa.Schema) -> tuple[pa.Schema, dict[str, str]]:
        """Arrow types to ingest (the columns' own when known) and SQL casts for the rest."""
        plan = self.plans.get(schema)
        if plan is None:
            assert self.columns is not None
            fields, casts = [], {}
            for f in schema:
                col = self.columns[f.name]
                t = self.d.write_type(col, f.type)
                if t is None:
                    t = pa.string()
                    casts[f.name] = col.type_name
                fields.append(pa.field(f.name, t))
            plan = (pa.schema(fields), casts)
            self.plans[schema] = plan
        return plan

    # -- in-memory checks --------------------------------------------------------------------------

    def _cast(
        self, table: pa.Table, target: pa.Schema, deletes: np.ndarray
    ) -> tuple[pa.Table, np.ndarray, str]:
        """``table`` cast to ``target``; rows that do not cast, or are null in a NOT NULL column."""
        assert self.columns is not None
        n = table.num_rows
        bad = np.zeros(n, bool)
        why = ""
        for f in target:
            col = self.columns[f.name]
            if not col.nullable and table.column(f.name).null_count:
                nulls = table.column(f.name).is_null().to_numpy() & ~deletes
                if nulls.any():
                    bad |= nulls
                    why = why or f"null value for NOT NULL column '{f.name}'"
        arrays = []
        for f in target:
            arr = table.column(f.name)
            if arr.type != f.type:
                try:
                    arr = arr.cast(f.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                    rows = _uncastable(arr, f.type)
                    bad[rows] = True
                    why = (
                        why
                        or f"value of column '{f.name}' does not fit {self.columns[f.name].type_name}: {e}"
                    )
                    keep = np.ones(n, bool)
                    keep[rows] = False
                    fixed = pc.if_else(pa.array(keep), arr, pa.nulls(n, arr.type))
                    arr = fixed.cast(f.type)
            arrays.append(arr)
        return pa.Table.from_arrays(arrays, schema=target), bad, why

    # -- writing -------------------------------------------------------------------------------------

    def write(self, rows: Rows, on_bad: BadRows) -> None:
        """Write ``rows`` in chunks of ``batch.size``; bad rows go to ``on_bad``."""
        self.ensure(rows)
        target, casts = self._plan(rows.table.schema)
        table, bad, why = self._cast(rows.table, target, rows.deletes)
        bad |= rows.bad
        why = rows.why if rows.bad.any() else why
        n = table.num_rows
        for start in range(0, n, self.batch_size):
            end = min(n, start + self.batch_size)
            chunk_bad = bad[start:end]
            if chunk_bad.any():
                err = DataError(f"Record does not fit table {self.table}: {why}")
                on_bad_now = np.flatnonzero(chunk_bad) + start
            else:
                err, on_bad_now = None, np.zeros(0, np.int64)
            keep = np.flatnonzero(~chunk_bad) + start
            self._chunk(table, rows, keep, casts, on_bad_now, err, on_bad)

    def _chunk(
        self,
        table: pa.Table,
        rows: Rows,
        keep: np.ndarray,
        casts: dict[str, str],
        pre_bad: np.ndarray,
        pre_err: BaseException | None,
        on_bad: BadRows,
    ) -> None:
        cur = self.db.open()
        part = table.take(pa.array(keep)) if len(keep) != table.num_rows else table
        deletes = rows.deletes[keep]
        self._ensure_staging(cur, part.schema, rows.pk, casts)
        try:
            cur.execute("BEGIN")
            try:
                self._apply(cur, part, deletes, rows.pk, casts)
                found: list[tuple[np.ndarray, BaseException]] = []
            except _Refused as refused:
                cur.execute("ROLLBACK")
                log.info("Table %s refused rows (%s); looking for them", self.table, refused)
                cur.execute("BEGIN")
                found = self._bisect(cur, part, deletes, rows.pk, casts, 0)
            if pre_err is not None and len(pre_bad):
                on_bad(pre_bad, pre_err)
            for idx, err in found:
                on_bad(keep[idx], self.db.translate(err, f"Writing to table {self.table}"))
            cur.execute("COMMIT")
        except BaseException as e:
            self.db.rollback_quietly()
            self.staging.clear()  # recreated (mode replace) on the next write
            if isinstance(e, _Refused):
                raise self.db.translate(e.error, f"Writing to table {self.table}") from None
            if isinstance(e, ConnectError) or not isinstance(e, Exception):
                raise
            raise self.db.translate(e, f"Writing to table {self.table}") from None

    def _bisect(
        self,
        cur: Any,
        part: pa.Table,
        deletes: np.ndarray,
        pk: Sequence[str],
        casts: dict[str, str],
        base: int,
    ) -> list[tuple[np.ndarray, BaseException]]:
        cur.execute("SAVEPOINT arrowsmith_sp")
        try:
            self._apply(cur, part, deletes, pk, casts)
            cur.execute("RELEASE SAVEPOINT arrowsmith_sp")
            return []
        except _Refused as refused:
            cur.execute("ROLLBACK TO SAVEPOINT arrowsmith_sp")
            cur.execute("RELEASE SAVEPOINT arrowsmith_sp")
            if part.num_rows <= 1:
                return [(np.array([base]), refused.error)]
        half = part.num_rows // 2
        return self._bisect(cur, part.slice(0, half), deletes[:half], pk, casts, base) + self._bisect(
            cur, part.slice(half), deletes[half:], pk, casts, base + half
        )

    def _apply(
        self, cur: Any, part: pa.Table, deletes: np.ndarray, pk: Sequence[str], casts: dict[str, str]
    ) -> None:
        """One chunk's statements, inside the open transaction. Raises _Refused on bad data."""
        try:
            self._statements(cur, part, deletes, pk, casts)
        except Exception as e:
            if self.db.failure(e) is Failure.DATA:
                raise _Refused(e) from None
            raise

    def _statements(
        self, cur: Any, part: pa.Table, deletes: np.ndarray, pk: Sequence[str], casts: dict[str, str]
    ) -> None:
        if part.num_rows == 0:
            return
        has_deletes = bool(deletes.any())
        if has_deletes:
            keys = part.filter(pa.array(deletes)).select(list(pk))
            self._via_staging(cur, keys, lambda s: self.d.delete_sql(self.table, s, pk, casts))
        if bool(deletes.all()):
            return
        cols = part.schema.names
        if self.mode == "insert":
            upserts = _after_last_delete(part, deletes, pk) if has_deletes else part
            if casts:
                self._via_staging(cur, upserts, lambda s: self.d.insert_sql(self.table, s, cols, casts))
            else:
                cur.adbc_ingest(self.table.name, upserts, mode="append", db_schema_name=self.table.schema)
            return
        latest = _last_per_key(part, pk, deletes if has_deletes else None)
        if latest.num_rows == 0:
            return
        if self.mode == "upsert":
            self._via_staging(cur, latest, lambda s: self.d.upsert_sql(self.table, s, cols, pk, casts))
        else:
            if len(cols) == len(pk):
                return  # nothing to update
            self._via_staging(cur, latest, lambda s: self.d.update_sql(self.table, s, cols, pk, casts))

    # -- staging tables ------------------------------------------------------------------------------

    def _staging_name(self, cur: Any, schema: pa.Schema) -> str:
        if self.staging_conn is not self.db.conn:  # a new connection has no temporary tables
            self.staging.clear()
            self.staging_conn = self.db.conn
        key = (self.table, schema)
        name = self.staging.get(key)
        if name is None:
            name = f"arrowsmith_stage_{id(self) & 0xFFFFFF:x}_{len(self.staging)}"
            cur.adbc_ingest(name, schema.empty_table(), mode="replace", temporary=True)
            self.staging[key] = name
        return name

    def _ensure_staging(self, cur: Any, schema: pa.Schema, pk: Sequence[str], casts: dict[str, str]) -> None:
        """Create the staging tables outside the transaction (a rollback would drop them)."""
        if self.mode != "insert" or casts:
            self._staging_name(cur, schema)
        if pk:
            self._staging_name(cur, pa.schema([schema.field(k) for k in pk]))

    def _via_staging(self, cur: Any, data: pa.Table, sql: Callable[[str], str]) -> None:
        name = self._staging_name(cur, data.schema)
        cur.adbc_ingest(name, data, mode="append", temporary=True)
        cur.execute(sql(self.d.quote(name)))
        cur.execute(f"DELETE FROM {self.d.quote(name)}")


def _uncastable(arr: pa.ChunkedArray | pa.Array, typ: pa.DataType) -> np.ndarray:
    """Indices of the values of ``arr`` that do not cast to ``typ`` (bisection, in memory)."""
    out: list[int] = []

    def walk(a: Any, base: int) -> None:
        try:
            a.cast(typ)
            return
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if len(a) == 1:
                out.append(base)
                return
        half = len(a) // 2
        walk(a.slice(0, half), base)
        walk(a.slice(half), base + half)

    walk(arr, 0)
    return np.array(out, dtype=np.int64)


def _indexed(table: pa.Table) -> pa.Table:
    return table.append_column(_IDX, pa.array(np.arange(table.num_rows, dtype=np.int64)))


def _last_per_key(table: pa.Table, pk: Sequence[str], deletes: np.ndarray | None = None) -> pa.Table:
    """The last row of each key, in the order of those last rows; keys whose last row is a
    delete are left out."""
    t = _indexed(table.select(list(pk)))
    last = t.group_by(list(pk), use_threads=False).aggregate([(_IDX, "max")]).column(_IDX + "_max")
    if deletes is None and len(last) == table.num_rows:
        return table
    rows = np.sort(last.to_numpy())
    if deletes is not None:
        rows = rows[~deletes[rows]]
    return table.take(pa.array(rows))


def _after_last_delete(part: pa.Table, deletes: np.ndarray, pk: Sequence[str]) -> pa.Table:
    """Non-delete rows that come after their key's last tombstone (insert mode), in order."""
    keys = _indexed(part.select(list(pk)))
    dels = keys.filter(pa.array(deletes)).group_by(list(pk), use_threads=False).aggregate([(_IDX, "max")])
    ups = keys.filter(pa.array(~deletes))
    joined = ups.join(dels, keys=list(pk), join_type="left outer", use_threads=False)
    last_del = joined.column(_IDX + "_max")
    mine = joined.column(_IDX)
    keep = pc.or_kleene(pc.is_null(last_del), pc.greater(mine, last_del))
    rows = pc.sort_indices(pc.filter(mine, keep))
    return part.take(pc.take(pc.filter(mine, keep), rows))
