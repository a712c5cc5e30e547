"""The initial snapshot: every captured table read inside the slot's exported snapshot.

The slot was just created with ``EXPORT_SNAPSHOT``; a REPEATABLE READ transaction imports
that snapshot (``SET TRANSACTION SNAPSHOT``), so the rows read are exactly the database at
the slot's consistent point and streaming from that point neither misses nor repeats a
change. Tables are read one after the other (:class:`~connectors.postgres_cdc.snapshot.TableReader`)
and become ``op=r`` events; the last record of the snapshot says ``snapshot=last``, so one
batch is held back until the next one (or the end) is known.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg2
import psycopg2.extensions
import pyarrow as pa

from connectors.postgres_cdc import catalog
from connectors.postgres_cdc.changes import table_info
from connectors.postgres_cdc.config import CdcConfig
from connectors.postgres_cdc.events import (
    SourceContext,
    TableInfo,
    envelope,
    event_batch,
    key_struct,
    source_block,
)
from connectors.postgres_cdc.snapshot import TableReader
from connectors.postgres_cdc.stream import LAST_SNAPSHOT_RECORD, LSN, SNAPSHOT, TS_USEC, TX_ID
from engine.spi.record import SourceBatch, SourcePartition, empty_batch

log = logging.getLogger(__name__)


class SnapshotPhase:
    def __init__(
        self,
        cfg: CdcConfig,
        ctx: SourceContext,
        filters: catalog.Filters,
        partition: SourcePartition,
        snapshot_name: str,
        consistent_lsn: int,
    ) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.partition = partition
        self.lsn = consistent_lsn
        self.conn: Any = psycopg2.connect(**cfg.dsn())
        self.conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ)
        with self.conn.cursor() as cur:
            cur.execute("SET TRANSACTION SNAPSHOT %s", (snapshot_name,))
            cur.execute("SELECT txid_current()")
            self.xid = int(cur.fetchone()[0])
            tables = []
            for oid, _, _ in catalog.list_tables(cur, filters):
                described = catalog.describe(cur, oid)
                if described is None:
                    continue
                cols = [(c.name, c.type_oid, c.typmod, c.not_null) for c in described.columns]
                tables.append(
                    table_info(cfg, filters, described.schema, described.name, cols, described.primary_key)
                )
        self.tables = [t for t in tables if t.columns]
        log.info("Snapshot of %d tables at %s (transaction %d)", len(self.tables), consistent_lsn, self.xid)
        self._batches = self._read()
        self.held: tuple[TableInfo, pa.RecordBatch] | None = None
        self.reader: TableReader | None = None
        self.rows = 0
        self.started = time.monotonic()

    @property
    def final_offset(self) -> dict[str, Any]:
        return self._offset(True)

    def _offset(self, last: bool) -> dict[str, Any]:
        return {
            LAST_SNAPSHOT_RECORD: last,
            LSN: self.lsn,
            TX_ID: self.xid,
            TS_USEC: int(time.time() * 1_000_000),
            SNAPSHOT: True,
        }

    def _read(self) -> Iterator[tuple[TableInfo, pa.RecordBatch]]:
        for info in self.tables:
            log.info("Snapshot of %s.%s", info.schema, info.table)
            names = [c.field.name for c in info.columns]
            self.reader = TableReader(self.conn, info.schema, info.table, names)
            while (batch := self.reader.next_batch()) is not None:
                if batch.num_rows:
                    yield info, batch
            self.reader = None

    def step(self) -> tuple[SourceBatch | None, bool]:
        """The next batch of events (None while the first is read ahead) and whether the snapshot is done."""
        nxt = next(self._batches, None)
        out = None
        if self.held is not None:
            out = self._events(*self.held, last=nxt is None)
        elif nxt is None:
            out = SourceBatch(empty_batch(), [(self.partition, self.final_offset)])
        self.held = nxt
        if nxt is None:
            elapsed = time.monotonic() - self.started
            log.info("Snapshot done: %d rows in %.1f s", self.rows, elapsed)
        return out, nxt is None

    def _events(self, info: TableInfo, batch: pa.RecordBatch, last: bool) -> SourceBatch:
        n = batch.num_rows
        self.rows += n
        values = [ct.convert(batch.column(j)) for j, ct in enumerate(info.columns)]
        after = pa.StructArray.from_arrays(values, fields=list(info.row_type))
        flags = pa.repeat(pa.scalar("true"), n)
        if last:
            flags = pa.array(np.where(np.arange(n) == n - 1, "last", "true"))
        lsn = pa.repeat(pa.scalar(self.lsn, pa.int64()), n)
        now_ms = int(time.time() * 1000)
        source = source_block(
            self.ctx,
            info,
            n,
            ts_ms=pa.repeat(pa.scalar(now_ms, pa.int64()), n),
            snapshot=flags,
            sequence=pa.repeat(pa.scalar(f'[null,"{self.lsn}"]'), n),
            tx_id=pa.repeat(pa.scalar(self.xid, pa.int64()), n),
            lsn=lsn,
        )
        value = envelope(
            info, pa.repeat(pa.scalar("r"), n), pa.nulls(n, info.row_type), after, source, now_ms
        )
        key = key_struct(info, [values[k] for k in info.key])
        return event_batch(info, key, value, [(self.partition, self._offset(last))])

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        try:
            self.conn.close()
        except psycopg2.Error:
            pass
