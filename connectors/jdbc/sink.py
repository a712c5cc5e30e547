"""JdbcSink: Kafka records into PostgreSQL or SQLite tables, a batch at a time, as Arrow.

Each put: the batch is split by destination table (``table.name.format``), mapped to rows
(:mod:`.records`) and written by that table's :class:`~connectors.jdbc.writer.TableWriter`.
Writes commit within ``put``, so ``flush`` has nothing left to do.

Failures: a database that cannot be reached raises RetriableError (the runtime redelivers
the batch after ``retry.backoff.ms``) up to ``max.retries`` times in a row, then the task
fails naming ``host:port/db``. Records that do not fit the table go to the task's errant
record reporter (KIP-610: log and dead-letter queue, per ``errors.tolerance``); without one
the task fails naming the record.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from functools import partial
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.jdbc import config as C
from connectors.jdbc.connection import Database
from connectors.jdbc.dialect import parse_table_name
from connectors.jdbc.records import RecordMapper
from connectors.jdbc.writer import TableWriter
from engine.spi.config import ConfigDef
from engine.spi.connector import SinkConnector, SinkTask, Task
from engine.spi.errors import ConfigError, ConnectError, DataError, RetriableError
from engine.spi.record import TopicPartition

log = logging.getLogger(__name__)


def parse_sink_config(props: Mapping[str, str]) -> dict[str, Any]:
    cfg = C.sink_config_def().parse(props)
    cfg[C.INSERT_MODE] = cfg[C.INSERT_MODE].lower()
    cfg[C.PK_MODE] = cfg[C.PK_MODE].lower()
    if cfg[C.INSERT_MODE] in ("upsert", "update") and cfg[C.PK_MODE] == "none":
        raise ConfigError(
            f"insert.mode {cfg[C.INSERT_MODE]} needs a primary key: set pk.mode to record_key, "
            "record_value or kafka",
            key=C.PK_MODE,
        )
    if cfg[C.DELETE_ENABLED] and cfg[C.PK_MODE] != "record_key":
        raise ConfigError("Deletes are only supported for pk.mode record_key", key=C.DELETE_ENABLED)
    C.connection_info(cfg)
    return cfg


class JdbcSinkConnector(SinkConnector):
    aliases = ("io.confluent.connect.jdbc.JdbcSinkConnector",)

    @classmethod
    def config_def(cls) -> ConfigDef:
        return C.sink_config_def()

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)
        parse_sink_config(props)

    def task_class(self) -> type[Task]:
        return JdbcSinkTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props) for _ in range(max_tasks)]

    def stop(self) -> None:
        pass

    def alter_offsets(self, config: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        return True  # offsets live in the consumer group only


class JdbcSinkTask(SinkTask):
    def start(self, props: Mapping[str, str]) -> None:
        self.cfg = cfg = parse_sink_config(props)
        self.db = Database(C.connection_info(cfg), cfg[C.CONNECTION_ATTEMPTS], cfg[C.CONNECTION_BACKOFF_MS])
        self.mapper = RecordMapper(
            cfg[C.PK_MODE], cfg[C.PK_FIELDS], cfg[C.FIELDS_WHITELIST], cfg[C.DELETE_ENABLED]
        )
        self.writers: dict[str, TableWriter] = {}
        self.max_retries: int = cfg[C.MAX_RETRIES]
        self.remaining = self.max_retries

    def _writer(self, name: str) -> TableWriter:
        w = self.writers.get(name)
        if w is None:
            w = TableWriter(
                self.db,
                parse_table_name(name),
                insert_mode=self.cfg[C.INSERT_MODE],
                auto_create=self.cfg[C.AUTO_CREATE],
                auto_evolve=self.cfg[C.AUTO_EVOLVE],
                batch_size=self.cfg[C.BATCH_SIZE],
            )
            self.writers[name] = w
        return w

    def _by_table(self, batch: pa.RecordBatch) -> Iterator[tuple[str, pa.RecordBatch]]:
        fmt: str = self.cfg[C.TABLE_NAME_FORMAT]
        topics = batch.column("topic")
        distinct = pc.unique(topics).to_pylist()
        names = {t: fmt.replace("${topic}", t) for t in distinct}
        if len(set(names.values())) == 1:
            yield names[distinct[0]], batch
            return
        for name in dict.fromkeys(names.values()):
            mine = [t for t in distinct if names[t] == name]
            yield name, batch.filter(pc.is_in(topics, pa.array(mine, pa.string())))

    def put(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows == 0:
            return
        try:
            for name, part in self._by_table(batch):
                rows = self.mapper.map(part)
                self._writer(name).write(rows, partial(self._report, part))
        except RetriableError as e:
            if self.remaining <= 0:
                raise ConnectError(f"{e} (gave up after max.retries={self.max_retries} retries)") from None
            self.remaining -= 1
            log.warning("Write failed, %d retries left: %s", self.remaining, e)
            self.context.timeout(self.cfg[C.RETRY_BACKOFF_MS])
            raise
        self.remaining = self.max_retries

    def _report(self, part: pa.RecordBatch, rows: np.ndarray, error: BaseException) -> None:
        reporter = self.context.errant_record_reporter()
        if reporter is None:
            first = int(rows[0])
            topic, partition, offset = (
                part.column(c)[first].as_py() for c in ("topic", "partition", "offset")
            )
            where = f"topic='{topic}', partition={partition}, offset={offset}"
            raise DataError(f"{error} (record at {where})", rows=[int(r) for r in rows])
        log.warning("Reporting %d record(s) the table refused: %s", len(rows), error)
        reporter.report(part, [int(r) for r in rows], error)

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        pass  # every put commits its own transaction

    def stop(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            db.close()
