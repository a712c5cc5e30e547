"""One table (or the query) of a source task: its SQL, its open result and its offset.

Offsets have Confluent's shapes, so they carry over: partition ``{"table": name}`` or
``{"query": "query"}``; offset ``{"incrementing": N}``, ``{"timestamp": ms,
"timestamp_nanos": n}`` or all three (timestamp+incrementing), where ``timestamp`` is the
instant in epoch milliseconds and ``timestamp_nanos`` the nanoseconds within its second.

A query runs to its end before the next poll interval: its result stays open across
polls and is handed over ``batch.max.rows`` rows at a time (as Confluent keeps its
ResultSet), so rows with equal timestamps are never cut apart by a LIMIT.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from connectors.jdbc.connection import Database
from connectors.jdbc.dialect import Column, TableId
from connectors.jdbc.types import ResultPlan
from engine.spi.errors import ConfigError, ConnectError
from engine.spi.record import SourceBatch, make_batch

log = logging.getLogger(__name__)

EPOCH = dt.datetime(1970, 1, 1)
INCREMENTING = "incrementing"
TIMESTAMP = "timestamp"
TIMESTAMP_NANOS = "timestamp_nanos"


@dataclass
class Offset:
    incrementing: int | None = None
    timestamp_us: int | None = None  # epoch microseconds (the databases' own precision)

    def to_dict(self, mode: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "incrementing" in mode:
            out[INCREMENTING] = self.incrementing if self.incrementing is not None else -1
        if "timestamp" in mode and self.timestamp_us is not None:
            us = self.timestamp_us
            out[TIMESTAMP] = us // 1000
            out[TIMESTAMP_NANOS] = (us % 1_000_000) * 1000
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Offset:
        if not raw:
            return cls()
        inc = raw.get(INCREMENTING)
        ts = raw.get(TIMESTAMP)
        us = None
        if ts is not None:
            nanos = raw.get(TIMESTAMP_NANOS)
            us = (int(ts) // 1000) * 1_000_000 + (
                int(nanos) // 1000 if nanos is not None else (int(ts) % 1000) * 1000
            )
        return cls(int(inc) if inc is not None else None, us)


def _us(value: Any) -> int:
    """A timestamp cell (datetime, aware or not, or ISO text) as epoch microseconds (UTC)."""
    if isinstance(value, str):
        value = pc.cast(pa.array([value]), pa.timestamp("us"))[0].as_py()
        assert isinstance(value, dt.datetime)
    if isinstance(value, dt.datetime):
        when: dt.datetime = value
        if when.tzinfo is not None:
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
        delta: dt.timedelta = when - EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    raise ConnectError(f"Timestamp column value {value!r} is not a timestamp")


def _datetime(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


class Querier:
    def __init__(
        self,
        db: Database,
        *,
        mode: str,
        topic: str,
        table: TableId | None = None,
        query: str | None = None,
        incrementing_column: str = "",
        timestamp_columns: Sequence[str] = (),
        timestamp_delay_ms: int = 0,
        timestamp_initial: int | None = None,
        suffix: str = "",
        batch_max_rows: int = 100,
        validate_non_null: bool = True,
    ) -> None:
        self.db = db
        self.mode = mode
        self.topic = topic
        self.table = table
        self.query = query
        self.inc_col = incrementing_column
        self.ts_cols = list(timestamp_columns)
        self.delay_ms = timestamp_delay_ms
        self.initial = timestamp_initial
        self.suffix = suffix
        self.batch_max_rows = batch_max_rows
        self.validate_non_null = validate_non_null
        self.partition: dict[str, Any] = {"table": table.name} if table is not None else {"query": "query"}
        self.offset = Offset()
        self.next_update = 0.0
        self.reader: pa.RecordBatchReader | None = None
        self.pending: pa.RecordBatch | None = None
        self.plan: ResultPlan | None = None
        self.plan_schema: pa.Schema | None = None
        self.columns: list[Column] | None = None
        self.prepared = False

    # -- setup -------------------------------------------------------------------------------

    def restore(self, stored: Mapping[str, Any] | None) -> None:
        self.offset = Offset.from_dict(stored)
        if stored:
            log.info("Resuming %s from offset %s", self.describe(), dict(stored))

    def describe(self) -> str:
        return f"table {self.table}" if self.table is not None else "query"

    def _prepare(self, cur: Any) -> None:
        """Look the table up once: column types and nullability; the incrementing column."""
        if self.table is not None:
            self.columns = self.db.dialect.describe(cur, self.table)
            if self.columns is None:
                raise ConnectError(f"Table {self.table} not found in {self.db.where()}")
            names = {c.name: c for c in self.columns}
            if "incrementing" in self.mode and not self.inc_col:
                pks = [c for c in self.columns if c.primary_key]
                if len(pks) != 1:
                    raise ConfigError(
                        f"Table {self.table} has no single-column primary key to use as the incrementing "
                        "column: set incrementing.column.name",
                        key="incrementing.column.name",
                    )
                self.inc_col = pks[0].name
            needed = ([self.inc_col] if "incrementing" in self.mode else []) + (
                self.ts_cols if "timestamp" in self.mode else []
            )
            for name in needed:
                if name not in names:
                    raise ConfigError(f"Column '{name}' not found in table {self.table}")
                if self.validate_non_null and names[name].nullable:
                    raise ConfigError(
                        f"Cannot make incremental queries using column '{name}' on table {self.table} "
                        "because this column is nullable (set validate.non.null=false to allow it).",
                        key="validate.non.null",
                    )
        elif "incrementing" in self.mode and not self.inc_col:
            raise ConfigError(
                "incrementing.column.name is required with a query", key="incrementing.column.name"
            )
        if self.offset.timestamp_us is None and "timestamp" in self.mode and self.initial is not None:
            self.offset.timestamp_us = self._now_us(cur) if self.initial == -1 else self.initial * 1000
        self.prepared = True

    def _now_us(self, cur: Any) -> int:
        cur.execute(self.db.dialect.now_sql())
        (now,) = cur.fetchone()
        return _us(now)

    # -- SQL ---------------------------------------------------------------------------------

    def sql(self, now_us: int | None) -> tuple[str, tuple[Any, ...]]:
        d = self.db.dialect
        base = f"SELECT * FROM {d.table(self.table)}" if self.table is not None else self.query or ""
        if self.mode == "bulk":
            return (base + (" " + self.suffix if self.suffix else "")), ()
        if self.table is None:
            base = f"SELECT * FROM ({base}) AS {d.quote('arrowsmith_query')}"
        params: list[Any] = []

        def p(value: Any) -> str:
            params.append(value)
            return d.param(len(params))

        inc = d.quote(self.inc_col) if self.inc_col else ""
        if len(self.ts_cols) > 1:
            ts = "COALESCE(" + ", ".join(d.quote(c) for c in self.ts_cols) + ")"
        elif self.ts_cols:
            ts = d.quote(self.ts_cols[0])
        last_inc = self.offset.incrementing if self.offset.incrementing is not None else -1
        last_ts = self._param_ts(self.offset.timestamp_us if self.offset.timestamp_us is not None else 0)
        if self.mode == "incrementing":
            where, order = f"{inc} > {p(last_inc)}", inc
        elif self.mode == "timestamp":
            assert now_us is not None
            where = f"{ts} > {p(last_ts)} AND {ts} < {p(self._param_ts(now_us))}"
            order = ts
        else:
            assert now_us is not None
            where = (
                f"{ts} < {p(self._param_ts(now_us))} AND "
                f"(({ts} = {p(last_ts)} AND {inc} > {p(last_inc)}) OR {ts} > {p(last_ts)})"
            )
            order = f"{ts}, {inc}"
        sql = f"{base} WHERE {where} ORDER BY {order} ASC"
        return (sql + (" " + self.suffix if self.suffix else "")), tuple(params)

    def _param_ts(self, us: int) -> Any:
        value = _datetime(us)
        if self.db.dialect.name == "sqlite":
            return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]  # as the sink (and ADBC) writes them
        return value

    # -- reading -----------------------------------------------------------------------------

    @property
    def querying(self) -> bool:
        return self.reader is not None or self.pending is not None

    def start(self) -> None:
        cur = self.db.open()
        if not self.prepared:
            self._prepare(cur)
        now_us = None
        if "timestamp" in self.mode:
            now_us = self._now_us(cur) - self.delay_ms * 1000
        sql, params = self.sql(now_us)
        log.debug("%s: %s %s", self.describe(), sql, params)
        cur.execute(sql, parameters=params) if params else cur.execute(sql)
        self.reader = cur.fetch_record_batch()

    def reset(self, poll_interval_ms: int) -> None:
        """The result is done (or broken): close it; the next query after the poll interval."""
        self.pending = None
        self._close_reader()
        self.next_update = time.monotonic() + poll_interval_ms / 1000

    def next_batch(self) -> tuple[SourceBatch | None, bool]:
        """Up to batch.max.rows rows of the open result, and whether the result is exhausted."""
        if not self.querying:
            self.start()
        rows = self._take(self.batch_max_rows)
        if rows is None:
            return None, True
        done = self.pending is None and self.reader is None
        return self._to_source_batch(rows), done

    def _take(self, n: int) -> pa.RecordBatch | None:
        while self.pending is None or self.pending.num_rows == 0:
            if self.reader is None:
                self.pending = None
                return None
            try:
                self.pending = self.reader.read_next_batch()
            except StopIteration:
                self._close_reader()
                self.pending = None
                return None
        out = self.pending.slice(0, n)
        rest = self.pending.slice(n)
        self.pending = rest if rest.num_rows else None
        if self.pending is None and self.reader is not None:
            # peek: is there more? (the reader tells only by reading)
            try:
                nxt = self.reader.read_next_batch()
                self.pending = nxt if nxt.num_rows else None
            except StopIteration:
                self._close_reader()
        return out

    def _close_reader(self) -> None:
        reader, self.reader = self.reader, None
        if reader is not None:
            try:
                reader.close()
            except Exception as e:
                log.debug("closing a result: %s", e)

    def _plan(self, result: pa.Schema) -> ResultPlan:
        if self.plan is None or self.plan_schema != result:
            declared = {c.name: c.type_name for c in self.columns or []}
            not_null = {c.name: not c.nullable for c in self.columns or []}
            name = self.table.name if self.table is not None else None
            self.plan = ResultPlan(self.db.dialect, result, declared, not_null, name)
            self.plan_schema = result
        return self.plan

    def _to_source_batch(self, rows: pa.RecordBatch) -> SourceBatch:
        plan = self._plan(rows.schema)
        values = plan.convert(rows)
        batch = make_batch(topic=self.topic, value=values, value_field=plan.value_field)
        if self.mode == "bulk":
            return SourceBatch(batch)
        last = rows.num_rows - 1
        if "incrementing" in self.mode:
            self.offset.incrementing = int(rows.column(self.inc_col)[last].as_py())
        if "timestamp" in self.mode:
            for c in self.ts_cols:
                cell = rows.column(c)[last].as_py()
                if cell is not None:
                    self.offset.timestamp_us = _us(cell)
                    break
        return SourceBatch(batch, [(self.partition, self.offset.to_dict(self.mode))])
