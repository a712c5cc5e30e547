"""PostgresCdcTask: the task of :class:`~connectors.postgres_cdc.connector.PostgresConnector`.

One task per connector (a replication slot has one reader). The task:

1. connects, creates the publication when ``publication.autocreate.mode`` says so, and
   looks at the replication slot;
2. when a snapshot is due (``snapshot.mode``, no completed snapshot in the offsets), (re)creates
   the slot with ``EXPORT_SNAPSHOT``, reads every captured table inside that snapshot
   (:mod:`~connectors.postgres_cdc.snapshot`) and emits ``op=r`` events;
3. streams from the slot (:mod:`~connectors.postgres_cdc.stream`) from the last position
   handed over, decoding runs of changes into ``c``/``u``/``d``/``t`` events
   (:mod:`~connectors.postgres_cdc.changes`).

Offsets (source partition ``{"server": <topic.prefix>}``) carry Debezium's keys. The slot's
flush position is moved (``send_feedback``) only from :meth:`PostgresCdcTask.commit`, to
the ``lsn_commit`` of the offset the runtime has actually stored — that is, after Kafka
acknowledged every record up to it. A lost connection (PostgreSQL restarted) is retried with
back-off and the stream resumes after the last change handed over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

import psycopg2
import psycopg2.extras

from connectors.postgres_cdc import catalog
from connectors.postgres_cdc.changes import ChangeAssembler
from connectors.postgres_cdc.config import CdcConfig
from connectors.postgres_cdc.events import SourceContext, heartbeat_batch
from connectors.postgres_cdc.pgoutput import lsn_text, parse_lsn
from connectors.postgres_cdc.snapshot_phase import SnapshotPhase
from connectors.postgres_cdc.stream import (
    LAST_SNAPSHOT_RECORD,
    LSN,
    LSN_COMMIT,
    SNAPSHOT,
    ChangeReader,
    Resume,
)
from engine.spi.connector import SourceTask
from engine.spi.errors import ConnectError, RetriableError
from engine.spi.record import SourceBatch

log = logging.getLogger(__name__)

SERVER = "server"
_CONNECTION_ERRORS = (psycopg2.OperationalError, psycopg2.InterfaceError, RetriableError)
_INITIAL_BACKOFF_MS = 500
_LIBPQ_CONNECTION_OK = 0


def ack_lsn(offset: Mapping[str, Any] | None) -> int | None:
    """The LSN PostgreSQL may forget up to, once ``offset`` is stored."""
    if not offset or (offset.get(SNAPSHOT) and not offset.get(LAST_SNAPSHOT_RECORD)):
        return None
    value = offset.get(LSN_COMMIT, offset.get(LSN))
    return value if isinstance(value, int) and value > 0 else None


class PostgresCdcTask(SourceTask):
    def start(self, props: Mapping[str, str]) -> None:
        self.cfg = CdcConfig.parse(props)
        self.partition = {SERVER: self.cfg.prefix}
        stored = self.context.offset_storage_reader.offset(self.partition)
        self.position: dict[str, Any] | None = dict(stored) if stored else None
        """The last position handed over to the runtime."""
        self.acked = ack_lsn(stored) or 0
        self.filters = catalog.Filters(self.cfg)
        self.ctx = SourceContext(self.version(), self.cfg.prefix, self.cfg.dbname)
        self.stopped = threading.Event()
        self.owner = threading.current_thread()
        self.queue: deque[SourceBatch] = deque()
        self.phase = "connect"
        self.failures = 0
        self.sql: Any = None
        self.repl: Any = None
        self.repl_cur: Any = None
        self.reader: ChangeReader | None = None
        self.snapshot: SnapshotPhase | None = None
        self.assembler = ChangeAssembler(self.cfg, self.ctx, self.filters, self._describe)
        self.snapshot_done = False
        self.last_record = time.monotonic()
        log.info(
            "PostgreSQL CDC of %s/%s as %s: slot %s, publication %s, snapshot.mode %s",
            self.cfg.address,
            self.cfg.dbname,
            self.cfg.user,
            self.cfg.slot,
            self.cfg.publication,
            self.cfg.snapshot_mode,
        )

    # ------------------------------------------------------------------ the loop

    def poll(self) -> SourceBatch | None:
        if self.stopped.is_set():
            return None
        if not self.queue:
            try:
                self._step()
            except _CONNECTION_ERRORS as e:
                self._connection_failed(e)
            except psycopg2.Error as e:
                if not self._connection_lost():
                    raise
                self._connection_failed(e)
        if not self.queue:
            return None
        batch = self.queue.popleft()
        if batch.offsets:
            self.position = dict(batch.offsets[-1][1])
        self.failures = 0  # connected and making progress again
        return batch

    def _step(self) -> None:
        if self.phase == "connect":
            self._connect()
        if self.phase == "snapshot":
            assert self.snapshot is not None
            while not self.queue and self.phase == "snapshot" and not self.stopped.is_set():
                batch, done = self.snapshot.step()
                if batch is not None:
                    self.queue.append(batch)
                if done:
                    self._snapshot_finished()
        elif self.phase == "stream":
            assert self.reader is not None
            result = self.reader.read(self.cfg.max_batch, self.cfg.poll_ms / 1000)
            batches = self.assembler.batches(result, self.partition)
            self.queue.extend(batches)
            now = time.monotonic()
            if any(b.records.num_rows for b in batches):
                self.last_record = now
            elif (
                not batches
                and self.cfg.heartbeat_ms
                and now - self.last_record >= self.cfg.heartbeat_ms / 1000
            ):
                self.last_record = now
                self.queue.append(self._heartbeat())
        elif self.phase == "done":
            self.stopped.wait(self.cfg.poll_ms / 1000)

    def _connection_lost(self) -> bool:
        """Whether a connection in use went away (psycopg2 reports some losses as other errors)."""
        for conn in (self.repl, self.sql):
            if conn is None:
                continue
            try:
                if conn.closed or conn.info.status != _LIBPQ_CONNECTION_OK:
                    return True
            except psycopg2.Error:
                return True
        return False

    def _connection_failed(self, error: BaseException) -> None:
        self._close_connections()
        self.queue.clear()
        self.phase = "connect"
        self.failures += 1
        cfg = self.cfg
        text = str(error).strip() or type(error).__name__
        if 0 <= cfg.max_retries < self.failures:
            raise ConnectError(
                f"Cannot reach PostgreSQL at {cfg.address} (database {cfg.dbname}, user {cfg.user}) "
                f"after {self.failures} attempts: {text}"
            ) from None
        delay_ms = min(cfg.retry_wait_ms, _INITIAL_BACKOFF_MS * 2 ** (self.failures - 1))
        log.warning(
            "PostgreSQL at %s (database %s): %s; retrying in %d ms (attempt %d)",
            cfg.address,
            cfg.dbname,
            text,
            delay_ms,
            self.failures,
        )
        self.stopped.wait(delay_ms / 1000)

    # ------------------------------------------------------------------ connecting

    def _connect(self) -> None:
        cfg = self.cfg
        self.sql = psycopg2.connect(**cfg.dsn())
        self.sql.autocommit = True
        with self.sql.cursor() as cur:
            cur.execute("SHOW wal_level")
            (level,) = cur.fetchone()
            if level != "logical":
                raise ConnectError(
                    f"PostgreSQL at {cfg.address} has wal_level={level}: "
                    "logical decoding needs wal_level=logical"
                )
            tables = catalog.list_tables(cur, self.filters)
            catalog.ensure_publication(cur, cfg, tables)
            slot = catalog.slot_info(cur, cfg.slot)
        if slot is not None:
            catalog.check_slot(slot, cfg)
        self.repl = psycopg2.connect(
            **cfg.dsn(), connection_factory=psycopg2.extras.LogicalReplicationConnection
        )
        self.repl_cur = self.repl.cursor()
        if self._snapshot_due():
            if slot is not None:
                if slot.active_pid is not None:
                    raise RetriableError(
                        f"Replication slot {cfg.slot} is in use by process {slot.active_pid}"
                    )
                log.info("Dropping replication slot %s to take a consistent snapshot", cfg.slot)
                with self.sql.cursor() as cur:
                    catalog.drop_slot(cur, cfg.slot)
            self.repl_cur.execute(f'CREATE_REPLICATION_SLOT "{cfg.slot}" LOGICAL pgoutput EXPORT_SNAPSHOT')
            _, consistent, snapshot_name, _ = self.repl_cur.fetchone()
            log.info("Created slot %s at %s; snapshot %s", cfg.slot, consistent, snapshot_name)
            self.snapshot = SnapshotPhase(
                cfg, self.ctx, self.filters, self.partition, snapshot_name, parse_lsn(consistent)
            )
            self.phase = "snapshot"
        else:
            if slot is None:
                self.repl_cur.execute(
                    f'CREATE_REPLICATION_SLOT "{cfg.slot}" LOGICAL pgoutput NOEXPORT_SNAPSHOT'
                )
                row = self.repl_cur.fetchone()
                if self.position is not None:
                    log.warning(
                        "Replication slot %s was missing and is created at %s: changes since the stored "
                        "offset were not kept by PostgreSQL",
                        cfg.slot,
                        row[1],
                    )
            self._start_streaming()

    def _snapshot_due(self) -> bool:
        mode = self.cfg.snapshot_mode
        if mode in ("never", "no_data"):
            return False
        if mode == "always" and not self.snapshot_done:
            return True
        pos = self.position
        return pos is None or bool(pos.get(SNAPSHOT) and not pos.get(LAST_SNAPSHOT_RECORD))

    def _snapshot_finished(self) -> None:
        assert self.snapshot is not None
        self.position_after_snapshot = self.snapshot.final_offset
        self.snapshot.close()
        self.snapshot = None
        self.snapshot_done = True
        if self.cfg.snapshot_mode == "initial_only":
            log.info("Snapshot complete; snapshot.mode=initial_only: not streaming")
            self.phase = "done"
            return
        self._start_streaming(self.position_after_snapshot)

    def _start_streaming(self, position: Mapping[str, Any] | None = None) -> None:
        cfg = self.cfg
        resume = Resume.from_offset(dict(position) if position is not None else self.position)
        start = resume.lsn_commit if resume else 0
        self.repl_cur.start_replication(
            slot_name=cfg.slot,
            decode=False,
            start_lsn=start,
            options={
                "proto_version": "1",
                "publication_names": '"' + cfg.publication.replace('"', '""') + '"',
            },
            status_interval=max(1, cfg.status_ms // 1000),
        )
        if self.acked:
            self.repl_cur.send_feedback(flush_lsn=self.acked)
        self.reader = ChangeReader(self.repl_cur, self.repl, resume)
        self.phase = "stream"
        log.info("Streaming changes from slot %s at %s", cfg.slot, lsn_text(start))

    def _heartbeat(self) -> SourceBatch:
        """A heartbeat carrying the position; between transactions it moves up to the server's
        WAL end, every transaction before which has been read (changes of other databases and
        of tables not captured), so the slot can advance while nothing is captured."""
        assert self.reader is not None
        position = dict(self.position or {})
        wal_end = int(getattr(self.repl_cur, "wal_end", 0) or 0)
        if self.reader.between_transactions() and wal_end > int(position.get(LSN_COMMIT, 0) or 0):
            position.update({LSN_COMMIT: wal_end, LSN: wal_end, "lsn_proc": wal_end})
            position.pop("tx_events", None)
        topic = f"{self.cfg.heartbeat_prefix}.{self.cfg.prefix}"
        offsets = [(self.partition, position)] if position else []
        return heartbeat_batch(topic, self.cfg.prefix, int(time.time() * 1000), offsets)

    def _describe(self, relid: int) -> catalog.CatalogTable | None:
        try:
            with self.sql.cursor() as cur:
                return catalog.describe(cur, relid)
        except psycopg2.Error as e:
            raise RetriableError(f"catalog lookup failed: {e}") from e

    # ------------------------------------------------------------------ acknowledgements

    def commit(self) -> None:
        """The runtime stored offsets: let PostgreSQL release the WAL up to them."""
        lsn = ack_lsn(self.context.offset_storage_reader.offset(self.partition))
        if lsn is None or lsn <= self.acked:
            return
        self.acked = lsn
        if self.phase == "stream" and self.repl_cur is not None:
            try:
                self.repl_cur.send_feedback(flush_lsn=lsn, force=True)
                log.info("Acknowledged %s to PostgreSQL", lsn_text(lsn))
            except psycopg2.Error as e:
                log.warning("Could not acknowledge %s: %s (sent again after reconnecting)", lsn_text(lsn), e)

    # ------------------------------------------------------------------ stopping

    def stop(self) -> None:
        self.stopped.set()
        if threading.current_thread() is self.owner:
            self._close_connections()
            if self.cfg.drop_slot:
                self._drop_slot()

    def _close_connections(self) -> None:
        if self.snapshot is not None:
            self.snapshot.close()
            self.snapshot = None
        for conn in (self.repl, self.sql):
            if conn is not None:
                try:
                    conn.close()
                except psycopg2.Error:
                    pass
        self.repl = self.repl_cur = self.sql = None
        self.reader = None

    def _drop_slot(self) -> None:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = psycopg2.connect(**self.cfg.dsn())
                conn.autocommit = True
                try:
                    with conn.cursor() as cur:
                        info = catalog.slot_info(cur, self.cfg.slot)
                        if info is None:
                            return
                        if info.active_pid is None:
                            catalog.drop_slot(cur, self.cfg.slot)
                            log.info("Dropped replication slot %s (slot.drop.on.stop=true)", self.cfg.slot)
                            return
                finally:
                    conn.close()
            except psycopg2.Error as e:
                log.warning("Could not drop replication slot %s: %s", self.cfg.slot, e)
                return
            if time.monotonic() > deadline:
                log.warning("Replication slot %s still in use; not dropped", self.cfg.slot)
                return
            time.sleep(0.1)
