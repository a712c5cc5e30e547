"""Reading the replication stream into runs of changes, with their transactions and positions.

Per message the loop does the least it can: look at the tag, keep the payload of a change
(with its LSN, its transaction and its ordinal in that transaction) in the current *run*
— consecutive changes of one relation — and parse the rare control messages. Runs are
decoded later, a whole run at a time (:func:`connectors.postgres_cdc.pgoutput.decode_run`).

Positions follow Debezium's offset keys: ``lsn_commit`` is the end LSN of the last
transaction seen whole, ``lsn``/``lsn_proc`` the LSN of the last change handed over,
``txId`` and ``ts_usec`` its transaction. ``tx_events`` (ours) counts the changes of that
transaction already handed over, so a transaction cut between two batches resumes exactly
after its last change sent, even when several changes share one LSN (multi-row inserts).
"""

from __future__ import annotations

import select
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg2

from connectors.postgres_cdc import pgoutput as pg
from engine.spi.errors import RetriableError

LSN_COMMIT = "lsn_commit"
LSN = "lsn"
LSN_PROC = "lsn_proc"
TX_ID = "txId"
TS_USEC = "ts_usec"
TX_EVENTS = "tx_events"
SNAPSHOT = "snapshot"
LAST_SNAPSHOT_RECORD = "last_snapshot_record"


@dataclass(frozen=True, slots=True)
class Tx:
    xid: int
    ts_us: int
    final_lsn: int
    prev_end: int
    """End LSN of the transaction committed before this one (its resume point)."""
    prev_commit: int | None
    """Commit LSN of that transaction (Debezium's first ``sequence`` element)."""


@dataclass(slots=True)
class Run:
    relid: int
    relation: pg.Relation | None
    payloads: list[bytes] = field(default_factory=list)
    lsns: list[int] = field(default_factory=list)
    txs: list[int] = field(default_factory=list)
    """Index into the reader's transactions, per change."""
    ordinals: list[int] = field(default_factory=list)
    """Ordinal of the change within its transaction (1-based)."""


@dataclass(slots=True)
class TruncateItem:
    relations: tuple[pg.Relation | None, ...]
    options: int
    lsn: int
    tx: int
    ordinal: int


Item = Run | TruncateItem


@dataclass(slots=True)
class Resume:
    """Where a restarted stream picks up: skip what was already handed over."""

    lsn_commit: int
    xid: int | None = None
    tx_events: int = 0

    @classmethod
    def from_offset(cls, offset: dict[str, Any] | None) -> Resume | None:
        if not offset or (offset.get(SNAPSHOT) and not offset.get(LAST_SNAPSHOT_RECORD)):
            return None
        commit = offset.get(LSN_COMMIT, offset.get(LSN))
        if not isinstance(commit, int):
            return None
        xid = offset.get(TX_ID) if offset.get(TX_EVENTS) else None
        return cls(commit, xid if isinstance(xid, int) else None, int(offset.get(TX_EVENTS) or 0))


@dataclass(slots=True)
class ReadResult:
    items: list[Item]
    txs: list[Tx]
    relations: list[pg.Relation]
    """Relation messages, in arrival order (each also ends the current run)."""
    end_position: dict[str, Any] | None
    """The position after everything read (None when nothing advanced)."""
    rows: int


class ChangeReader:
    """Reads pgoutput messages from a started replication cursor."""

    def __init__(self, cursor: Any, connection: Any, resume: Resume | None) -> None:
        self.cursor = cursor
        self.connection = connection
        self.relations: dict[int, pg.Relation] = {}
        self.last_end = resume.lsn_commit if resume else 0
        self.last_commit: int | None = None
        self.resume = resume
        self.tx: Tx | None = None
        self.ordinal = 0
        self.skip = 0
        self.skip_tx = False
        self.last_lsn = resume.lsn_commit if resume else 0
        self.position: dict[str, Any] | None = None

    def _begin(self, b: pg.Begin) -> None:
        self.tx = Tx(b.xid, b.commit_ts_us, b.final_lsn, self.last_end, self.last_commit)
        self.ordinal = 0
        self.skip = 0
        self.skip_tx = False
        r = self.resume
        if r is not None:
            if b.final_lsn < r.lsn_commit:
                self.skip_tx = True  # already whole in Kafka (the server normally skips it itself)
            elif r.xid is not None and b.xid == r.xid:
                self.skip = r.tx_events
            self.resume = None

    def read(self, max_rows: int, wait_s: float, linger_s: float = 0.005) -> ReadResult:
        """Read until ``max_rows`` changes, ``wait_s`` elapsed, or the stream is quiet for
        ``linger_s`` after something arrived."""
        items: list[Item] = []
        txs: list[Tx] = []
        relations: list[pg.Relation] = []
        run: Run | None = None
        rows = 0
        tx_index = -1
        advanced = False
        open_rows = False
        read_message = self.cursor.read_message
        deadline = time.monotonic() + wait_s
        while rows < max_rows:
            try:
                msg = read_message()
            except psycopg2.Error as e:  # the server ended the stream (shutdown, restart, terminate)
                raise RetriableError(f"replication stream ended: {str(e).strip() or type(e).__name__}") from e
            if msg is None:
                now = time.monotonic()
                if now >= deadline:
                    break
                timeout = min(deadline - now, linger_s) if (rows or advanced) else deadline - now
                ready = select.select([self.connection], [], [], timeout)[0]
                if not ready and (rows or advanced):
                    break
                continue
            data = msg.payload
            tag = data[0]
            if tag in pg.COUNTED:  # a row change or a truncate: one ordinal in its transaction
                tx = self.tx
                if tx is None or self.skip_tx:
                    continue
                self.ordinal += 1
                if self.skip:
                    self.skip -= 1
                    continue
                if tx_index < 0 or txs[tx_index] is not tx:
                    txs.append(tx)
                    tx_index = len(txs) - 1
                lsn = msg.data_start
                self.last_lsn = lsn
                rows += 1
                open_rows = True
                if tag == pg.TRUNCATE:
                    t = pg.parse_truncate(data)
                    relations_of = tuple(self.relations.get(r) for r in t.relids)
                    items.append(TruncateItem(relations_of, t.options, lsn, tx_index, self.ordinal))
                    run = None
                    continue
                relid = pg.relid_of(data)
                if run is None or run.relid != relid:
                    run = Run(relid, self.relations.get(relid))
                    items.append(run)
                run.payloads.append(data)
                run.lsns.append(lsn)
                run.txs.append(tx_index)
                run.ordinals.append(self.ordinal)
            elif tag == pg.BEGIN:
                self._begin(pg.parse_begin(data))
                run = None
            elif tag == pg.COMMIT:
                c = pg.parse_commit(data)
                if self.tx is not None:
                    self.last_end = c.end_lsn
                    self.last_commit = c.commit_lsn
                    if not self.skip_tx:
                        self.position = {
                            LSN_COMMIT: c.end_lsn,
                            LSN_PROC: self.last_lsn if self.ordinal else c.end_lsn,
                            LSN: self.last_lsn if self.ordinal else c.end_lsn,
                            TX_ID: self.tx.xid,
                            TS_USEC: self.tx.ts_us,
                        }
                        advanced = True
                self.tx = None
                open_rows = False
                run = None
            elif tag == pg.RELATION:
                rel = pg.parse_relation(data)
                self.relations[rel.relid] = rel
                relations.append(rel)
                run = None
            # Type and Origin messages need nothing: unknown types are sent as text.
        if open_rows and self.tx is not None:
            # the last change's transaction is still open: its position is mid-transaction
            self.position = self.row_position(txs[tx_index], self.last_lsn, self.ordinal)
        return ReadResult(
            items, txs, relations, dict(self.position) if (rows or advanced) and self.position else None, rows
        )

    def between_transactions(self) -> bool:
        """No transaction is open: everything the server sent so far was read whole."""
        return self.tx is None

    @staticmethod
    def row_position(tx: Tx, lsn: int, ordinal: int) -> dict[str, Any]:
        """The position right after a change inside ``tx`` (transaction not yet whole)."""
        return {
            LSN_COMMIT: tx.prev_end,
            LSN_PROC: lsn,
            LSN: lsn,
            TX_ID: tx.xid,
            TS_USEC: tx.ts_us,
            TX_EVENTS: ordinal,
        }
