"""DuckDB sink: append or upsert Arrow batches into tables of a DuckDB database file.

Keys follow the Confluent JDBC sink where they mean the same: ``table.name.format``,
``insert.mode`` (``insert``/``append``, ``upsert``), ``pk.mode``, ``pk.fields``,
``fields.whitelist``, ``auto.create``, ``auto.evolve``, ``delete.enabled``, ``batch.size``;
and ``duckdb.path`` (or ``connection.url=duckdb:/path``) for the database file.

Each ``put`` is written in DuckDB transactions before it returns, so the offsets the
framework commits afterwards never run ahead of the table. A record that does not fit the
table is found by bisection (trial writes that are rolled back), reported through the
task's errant record reporter (the error handler: log, dead-letter queue, or fail), and the
other records are written, in order.

DuckDB lets one process open a database file for writing: the connector runs one task.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.duckdb.rows import KAFKA, NONE, RECORD_KEY, RECORD_VALUE, Rows, build
from engine.spi.config import ConfigDef, Importance, Range, Type, ValidString
from engine.spi.connector import SinkConnector, SinkTask, Task
from engine.spi.errors import ConfigError, ConnectError, DataError, RetriableError
from engine.spi.record import TopicPartition

if TYPE_CHECKING:  # duckdb (~25 MB, ~80 ms) is imported when a task first writes, not at discovery
    import duckdb

    from connectors.duckdb.writer import TableWriter

log = logging.getLogger(__name__)

DUCKDB_PATH = "duckdb.path"
CONNECTION_URL = "connection.url"
TABLE_NAME_FORMAT = "table.name.format"
INSERT_MODE = "insert.mode"
PK_MODE = "pk.mode"
PK_FIELDS = "pk.fields"
FIELDS_WHITELIST = "fields.whitelist"
AUTO_CREATE = "auto.create"
AUTO_EVOLVE = "auto.evolve"
DELETE_ENABLED = "delete.enabled"
BATCH_SIZE = "batch.size"

URL_PREFIXES = ("jdbc:duckdb:", "duckdb:")
GROUP = "Connection"


def _config_def() -> ConfigDef:
    return (
        ConfigDef()
        .define(
            DUCKDB_PATH,
            Type.STRING,
            "",
            importance=Importance.HIGH,
            group=GROUP,
            documentation="The DuckDB database file (created when missing). ``:memory:`` for a "
            "throwaway in-memory database",
        )
        .define(
            CONNECTION_URL,
            Type.STRING,
            "",
            importance=Importance.HIGH,
            group=GROUP,
            documentation="The database as a URL: ``duckdb:/path/to/file.duckdb`` or "
            "``jdbc:duckdb:/path/to/file.duckdb`` (instead of duckdb.path)",
        )
        .define(
            TABLE_NAME_FORMAT,
            Type.STRING,
            "${topic}",
            importance=Importance.MEDIUM,
            group="Writes",
            documentation="The destination table name; ``${topic}`` stands for the record's topic. "
            "The whole name is one (quoted) identifier",
        )
        .define(
            INSERT_MODE,
            Type.STRING,
            "insert",
            ValidString.in_("insert", "append", "upsert"),
            Importance.HIGH,
            "``insert`` (or ``append``): add every record as a row. ``upsert``: "
            "the row with the record's key is replaced (needs pk.mode other than none)",
            group="Writes",
        )
        .define(
            PK_MODE,
            Type.STRING,
            NONE,
            ValidString.in_(NONE, KAFKA, RECORD_KEY, RECORD_VALUE),
            Importance.HIGH,
            "Where the primary key comes from: ``none``, ``kafka`` (topic, "
            "partition, offset), ``record_key`` (the key or its fields), ``record_value`` (fields "
            "of the value)",
            group="Data Mapping",
        )
        .define(
            PK_FIELDS,
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            group="Data Mapping",
            documentation="The primary key column names. kafka: three names (default "
            "__connect_topic,__connect_partition,__connect_offset); record_key: the key's fields "
            "(default all) or, for a primitive key, the one column name (default __connect_key); "
            "record_value: the value's fields (default all)",
        )
        .define(
            FIELDS_WHITELIST,
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            group="Data Mapping",
            documentation="The value fields to write (default all); key columns are always written",
        )
        .define(
            AUTO_CREATE,
            Type.BOOLEAN,
            False,
            importance=Importance.MEDIUM,
            group="DDL Support",
            documentation="Create a missing table from the first records' schema (CREATE TABLE with "
            "NOT NULL for required fields and a PRIMARY KEY for the pk columns)",
        )
        .define(
            AUTO_EVOLVE,
            Type.BOOLEAN,
            False,
            importance=Importance.MEDIUM,
            group="DDL Support",
            documentation="Add columns (ALTER TABLE ADD COLUMN, nullable) for fields the table lacks",
        )
        .define(
            DELETE_ENABLED,
            Type.BOOLEAN,
            False,
            importance=Importance.MEDIUM,
            group="Writes",
            documentation="A tombstone (null value) deletes the row with the record's key "
            "(needs pk.mode=record_key)",
        )
        .define(
            BATCH_SIZE,
            Type.INT,
            3000,
            Range.at_least(1),
            Importance.MEDIUM,
            group="Writes",
            documentation="The most records written in one DuckDB transaction",
        )
    )


def database_path(cfg: Mapping[str, Any]) -> str:
    path: str = cfg[DUCKDB_PATH]
    url: str = cfg[CONNECTION_URL]
    if path and url:
        raise ConfigError(f"Set {DUCKDB_PATH} or {CONNECTION_URL}, not both", key=CONNECTION_URL)
    if url:
        for prefix in URL_PREFIXES:
            if url.startswith(prefix):
                path = url[len(prefix) :]
                if path.startswith("//"):
                    path = path[2:]  # duckdb:///abs/path
                break
        else:
            raise ConfigError(
                f"Invalid value {url} for configuration {CONNECTION_URL}: expected duckdb:/path/to/file",
                key=CONNECTION_URL,
            )
    if not path:
        raise ConfigError(f"Missing {DUCKDB_PATH} (or {CONNECTION_URL}=duckdb:/path)", key=DUCKDB_PATH)
    return path


def _check(props: Mapping[str, str]) -> dict[str, Any]:
    cfg = _config_def().parse(props)
    database_path(cfg)
    if cfg[INSERT_MODE] == "upsert" and cfg[PK_MODE] == NONE:
        raise ConfigError("insert.mode=upsert needs a primary key: set pk.mode", key=PK_MODE)
    if cfg[DELETE_ENABLED] and cfg[PK_MODE] != RECORD_KEY:
        raise ConfigError("delete.enabled=true needs pk.mode=record_key", key=DELETE_ENABLED)
    return cfg


class DuckDBSinkConnector(SinkConnector):
    @classmethod
    def config_def(cls) -> ConfigDef:
        return _config_def()

    def start(self, props: Mapping[str, str]) -> None:
        _check(props)
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        return DuckDBSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        if max_tasks > 1:
            log.info("DuckDB allows one writing process per database file: running 1 task, not %d", max_tasks)
        return [dict(self.props)]

    def stop(self) -> None:
        pass

    def alter_offsets(self, config: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        return True  # offsets live in the consumer group only


class DuckDBSinkTask(SinkTask):
    def start(self, props: Mapping[str, str]) -> None:
        cfg = _check(props)
        self.path = database_path(cfg)
        self.table_format: str = cfg[TABLE_NAME_FORMAT]
        self.pk_mode: str = cfg[PK_MODE]
        self.pk_fields: list[str] = cfg[PK_FIELDS]
        self.whitelist: list[str] = cfg[FIELDS_WHITELIST]
        self.batch_size: int = cfg[BATCH_SIZE]
        self.options = {
            "upsert": cfg[INSERT_MODE] == "upsert",
            "deletes": bool(cfg[DELETE_ENABLED]),
            "auto_create": bool(cfg[AUTO_CREATE]),
            "auto_evolve": bool(cfg[AUTO_EVOLVE]),
        }
        self.deletes = bool(cfg[DELETE_ENABLED])
        self.con: duckdb.DuckDBPyConnection | None = None
        self.writer: TableWriter | None = None
        self.lock = threading.Lock()

    def _connect(self) -> TableWriter:
        import duckdb

        from connectors.duckdb.writer import TableWriter

        if self.writer is None:
            try:
                self.con = duckdb.connect(self.path)
            except duckdb.IOException as e:
                # another process holds the file (e.g. a task of this connector that is still stopping)
                raise RetriableError(f"Cannot open DuckDB database {self.path}: {e}") from e
            self.writer = TableWriter(self.con, **self.options)
        return self.writer

    def put(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        with self.lock:
            writer = self._connect()
            for table, part in self._by_table(batch):
                for start in range(0, part.num_rows, self.batch_size):
                    self._put_table(writer, table, part.slice(start, self.batch_size))

    def _by_table(self, batch: pa.RecordBatch) -> list[tuple[str, pa.RecordBatch]]:
        if "${topic}" not in self.table_format:
            return [(self.table_format, batch)]
        topics = batch.column("topic")
        first = topics[0].as_py()
        if pc.all(pc.equal(topics, first)).as_py():
            return [(self.table_format.replace("${topic}", first), batch)]
        # several topics: contiguous runs, in order
        values = topics.to_numpy(zero_copy_only=False)
        edges = np.flatnonzero(values[1:] != values[:-1]) + 1
        return [
            (self.table_format.replace("${topic}", str(values[a])), batch.slice(a, b - a))
            for a, b in zip(np.r_[0, edges], np.r_[edges, len(values)], strict=True)
        ]

    def _put_table(self, writer: TableWriter, table: str, batch: pa.RecordBatch) -> None:
        import duckdb

        from connectors.duckdb.writer import is_data_error, is_schema_error

        try:
            rows = build(batch, self.pk_mode, self.pk_fields, self.whitelist)
        except DataError as e:  # the batch's shape: every record is bad
            self._reject(batch, list(range(batch.num_rows)), e)
            return
        bad: dict[int, BaseException] = {r: DataError(why) for r, why in rows.bad.items()}
        if not self.deletes:
            tombstone = DataError(
                f"Sink connector is configured with 'delete.enabled=false' and 'pk.mode={self.pk_mode}' and "
                "therefore requires records with a non-null value, but found a record with a null value"
            )
            for r in np.flatnonzero(rows.tombstone).tolist():
                bad[r] = tombstone
        keep = np.ones(batch.num_rows, dtype=bool)
        keep[list(bad)] = False
        if not keep.any():
            self._reject_each(batch, bad)
            return
        try:
            if not writer.ensure_table(table, rows):
                self._reject_each(batch, bad)
                return
        except DataError as e:
            self._reject(batch, np.flatnonzero(keep).tolist(), e, also=bad)
            return
        try:
            writer.write(table, rows, keep)
        except duckdb.Error as e:
            if is_schema_error(e):
                self._reject(batch, np.flatnonzero(keep).tolist(), DataError(str(e)), also=bad)
                return
            if not is_data_error(e):
                raise ConnectError(f"Writing to DuckDB table {table!r} failed: {e}") from e
            found = self._bisect(writer, table, rows, np.flatnonzero(keep))
            bad.update(found)
            keep[list(found)] = False
            if self.context.errant_record_reporter() is None:
                self._reject_each(batch, bad)  # raises before anything is written
            if keep.any():
                writer.write(table, rows, keep)
        if bad:
            self._reject_each(batch, bad)

    def _bisect(
        self, writer: TableWriter, table: str, rows: Rows, candidates: np.ndarray
    ) -> dict[int, BaseException]:
        """The rows among ``candidates`` that fail on their own, by trial writes rolled back."""
        import duckdb

        from connectors.duckdb.writer import is_data_error

        n = rows.table.num_rows
        select = np.zeros(n, dtype=bool)
        select[candidates] = True
        try:
            writer.write(table, rows, select, commit=False)
            return {}
        except duckdb.Error as e:
            if not is_data_error(e):
                raise ConnectError(f"Writing to DuckDB table {table!r} failed: {e}") from e
            if len(candidates) == 1:
                return {int(candidates[0]): DataError(f"Record does not fit table {table!r}: {e}")}
        half = len(candidates) // 2
        return self._bisect(writer, table, rows, candidates[:half]) | self._bisect(
            writer, table, rows, candidates[half:]
        )

    def _reject_each(self, batch: pa.RecordBatch, bad: Mapping[int, BaseException]) -> None:
        by_error: dict[int, tuple[BaseException, list[int]]] = {}
        for row, err in sorted(bad.items()):
            by_error.setdefault(id(err), (err, []))[1].append(row)
        for err, rows in by_error.values():
            self._reject(batch, rows, err)

    def _reject(
        self,
        batch: pa.RecordBatch,
        rows: Sequence[int],
        error: BaseException,
        also: Mapping[int, BaseException] | None = None,
    ) -> None:
        if also:
            self._reject_each(batch, also)
        reporter = self.context.errant_record_reporter()
        if reporter is None:
            raise DataError(str(error), rows=list(rows)) from error
        reporter.report(batch, list(rows), error)

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Every ``put`` committed its transactions before returning: nothing is pending."""

    def stop(self) -> None:
        with self.lock:
            con, self.con, self.writer = self.con, None, None
            if con is not None:
                con.close()
