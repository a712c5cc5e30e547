"""JdbcSource: tables (or one query) of PostgreSQL or SQLite into Kafka topics, as Arrow.

Topic = ``topic.prefix`` + table name (with ``query``: the prefix alone). Values are
STRUCTs whose schema is named after the table; keys are null. The connector lists the
tables (whitelist/blacklist or include/exclude regexes) and spreads them over up to
``tasks.max`` tasks in contiguous groups; every ``table.poll.interval.ms`` it looks again and
asks for new task configs when the set changed.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.jdbc import config as C
from connectors.jdbc.connection import Database
from connectors.jdbc.dialect import TableId, parse_table_name
from connectors.jdbc.querier import Querier
from engine.spi.config import ConfigDef
from engine.spi.connector import SourceConnector, SourceTask, Task
from engine.spi.errors import ConfigError, ConnectError, RetriableError
from engine.spi.record import SourceBatch

log = logging.getLogger(__name__)
MAX_WAIT_S = 1.0  # poll() returns None at least this often while waiting for the next interval


def parse_source_config(props: Mapping[str, str]) -> dict[str, Any]:
    cfg = C.source_config_def().parse(props)
    mode = cfg[C.MODE]
    C.require(mode != "", C.MODE, f'Missing required configuration "{C.MODE}" (one of: {", ".join(C.MODES)})')
    C.require(
        not (cfg[C.TABLE_WHITELIST] and cfg[C.TABLE_BLACKLIST]),
        C.TABLE_WHITELIST,
        f"{C.TABLE_WHITELIST} and {C.TABLE_BLACKLIST} are exclusive.",
    )
    C.require(
        not (cfg[C.TABLE_INCLUDE_LIST] and cfg[C.TABLE_EXCLUDE_LIST]),
        C.TABLE_INCLUDE_LIST,
        f"{C.TABLE_INCLUDE_LIST} and {C.TABLE_EXCLUDE_LIST} are exclusive.",
    )
    if "timestamp" in mode:
        C.require(
            bool(cfg[C.TIMESTAMP_COLUMN]),
            C.TIMESTAMP_COLUMN,
            f"{C.TIMESTAMP_COLUMN} is required with mode {mode}",
        )
    for key in (C.TABLE_INCLUDE_LIST, C.TABLE_EXCLUDE_LIST):
        for pattern in cfg[key]:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ConfigError(f"Invalid value {pattern} for configuration {key}: {e}", key=key) from None
    C.connection_info(cfg)  # the URL parses
    return cfg


def select_tables(tables: Sequence[TableId], cfg: Mapping[str, Any]) -> list[TableId]:
    """Apply table.whitelist/blacklist (names) and table.include/exclude.list (regexes)."""

    def names(t: TableId) -> set[str]:
        return {t.name, str(t)}

    def listed(t: TableId, entries: Sequence[str]) -> bool:
        wanted = {str(parse_table_name(e)) if '"' in e else e for e in entries}
        return bool(names(t) & wanted)

    def matched(t: TableId, patterns: Sequence[str]) -> bool:
        return any(re.fullmatch(p, n) for p in patterns for n in names(t))

    out = list(tables)
    if cfg[C.TABLE_WHITELIST]:
        out = [t for t in out if listed(t, cfg[C.TABLE_WHITELIST])]
    if cfg[C.TABLE_BLACKLIST]:
        out = [t for t in out if not listed(t, cfg[C.TABLE_BLACKLIST])]
    if cfg[C.TABLE_INCLUDE_LIST]:
        out = [t for t in out if matched(t, cfg[C.TABLE_INCLUDE_LIST])]
    if cfg[C.TABLE_EXCLUDE_LIST]:
        out = [t for t in out if not matched(t, cfg[C.TABLE_EXCLUDE_LIST])]
    return out


def group(items: Sequence[Any], groups: int) -> list[list[Any]]:
    """Contiguous groups of near-equal size (Kafka's ConnectorUtils.groupPartitions)."""
    n = min(groups, len(items))
    if n <= 0:
        return []
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return out


def _db(cfg: Mapping[str, Any], stopping: threading.Event | None = None) -> Database:
    return Database(
        C.connection_info(cfg), cfg[C.CONNECTION_ATTEMPTS], cfg[C.CONNECTION_BACKOFF_MS], stopping
    )


class JdbcSourceConnector(SourceConnector):
    aliases = ("io.confluent.connect.jdbc.JdbcSourceConnector",)

    @classmethod
    def config_def(cls) -> ConfigDef:
        return C.source_config_def()

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)
        self.cfg = parse_source_config(props)
        self.stopping = threading.Event()
        self.tables: list[TableId] = []
        self.monitor: threading.Thread | None = None
        if self.cfg[C.QUERY]:
            return
        self.tables = self._list_tables()
        interval = self.cfg[C.TABLE_POLL_INTERVAL_MS]
        if interval > 0:
            self.monitor = threading.Thread(
                target=self._watch, args=(interval / 1000,), name="jdbc-table-monitor", daemon=True
            )
            self.monitor.start()

    def _list_tables(self) -> list[TableId]:
        db = _db(self.cfg, self.stopping)
        try:
            cur = db.open()
            try:
                found = db.dialect.list_tables(cur, self.cfg[C.SCHEMA_PATTERN], self.cfg[C.TABLE_TYPES])
            except Exception as e:
                raise db.translate(e, "Listing tables") from None
        finally:
            db.close()
        return select_tables(found, self.cfg)

    def _watch(self, interval_s: float) -> None:
        while not self.stopping.wait(interval_s):
            try:
                tables = self._list_tables()
            except Exception as e:
                log.warning("Could not list tables: %s", e)
                continue
            if tables != self.tables:
                log.info("Tables changed: %s → %s; reconfiguring tasks", self.tables, tables)
                self.tables = tables
                self.context.request_task_reconfiguration()

    def task_class(self) -> type[Task]:
        return JdbcSourceTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        if self.cfg[C.QUERY]:
            return [dict(self.props)]
        if not self.tables:
            log.warning("No tables were found so there's no work to be done.")
            return []
        return [
            {**self.props, C.TASK_TABLES: json.dumps([[t.schema, t.name] for t in g])}
            for g in group(self.tables, max_tasks)
        ]

    def stop(self) -> None:
        stopping = getattr(self, "stopping", None)
        if stopping is not None:
            stopping.set()


class JdbcSourceTask(SourceTask):
    def start(self, props: Mapping[str, str]) -> None:
        cfg = parse_source_config(props)
        self.stopped = threading.Event()
        self.db = _db(cfg, self.stopped)
        self.poll_interval_ms: int = cfg[C.POLL_INTERVAL_MS]
        mode = cfg[C.MODE]
        common: dict[str, Any] = {
            "mode": mode,
            "incrementing_column": cfg[C.INCREMENTING_COLUMN],
            "timestamp_columns": cfg[C.TIMESTAMP_COLUMN],
            "timestamp_delay_ms": cfg[C.TIMESTAMP_DELAY_MS],
            "timestamp_initial": cfg[C.TIMESTAMP_INITIAL],
            "suffix": cfg[C.QUERY_SUFFIX],
            "batch_max_rows": cfg[C.BATCH_MAX_ROWS],
            "validate_non_null": cfg[C.VALIDATE_NON_NULL],
        }
        prefix = cfg[C.TOPIC_PREFIX]
        if cfg[C.QUERY]:
            self.queriers = [Querier(self.db, topic=prefix, query=cfg[C.QUERY], **common)]
        else:
            raw = props.get(C.TASK_TABLES)
            if not raw:
                raise ConfigError("Invalid configuration: the task has no tables assigned", key=C.TASK_TABLES)
            tables = [TableId(s, n) for s, n in json.loads(raw)]
            self.queriers = [Querier(self.db, topic=prefix + t.name, table=t, **common) for t in tables]
        if mode != "bulk":
            reader = self.context.offset_storage_reader
            for q, (_, stored) in zip(
                self.queriers, reader.offsets([q.partition for q in self.queriers]), strict=True
            ):
                q.restore(stored)

    def poll(self) -> SourceBatch | None:
        while not self.stopped.is_set():
            q = min(self.queriers, key=lambda x: (not x.querying, x.next_update))
            if not q.querying:
                wait = q.next_update - time.monotonic()
                if wait > 0:
                    self.stopped.wait(min(wait, MAX_WAIT_S))
                    return None
            try:
                batch, done = q.next_batch()
            except RetriableError as e:
                # the connection could not be (re)opened within connection.attempts: the task
                # fails (the runtime would retry a RetriableError from poll() for ever)
                self._abandon(q)
                raise ConnectError(str(e)) from e
            except ConnectError:
                self._abandon(q)
                raise
            except Exception as e:
                err = self.db.translate(e, f"Querying {q.describe()}")
                self._abandon(q)
                if isinstance(err, RetriableError):
                    log.warning("%s; retrying after reconnecting", err)
                    try:
                        self.db.open()  # connection.attempts tries
                    except RetriableError as gone:
                        # the database stays away: the task fails (the runtime would retry a
                        # RetriableError from poll() for ever, as Kafka Connect does)
                        raise ConnectError(str(gone)) from gone
                    q.next_update = 0.0
                    return None
                raise err from None
            if done:
                q.reset(self.poll_interval_ms)
            if batch is not None:
                return batch
        for q in self.queriers:  # results first: a connection with an open result does not close
            q.reset(self.poll_interval_ms)
        self.db.close()
        return None

    def _abandon(self, q: Querier) -> None:
        q.reset(self.poll_interval_ms)
        self.db.close()

    def stop(self) -> None:
        self.stopped.set()
