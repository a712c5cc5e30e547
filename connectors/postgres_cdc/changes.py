"""Runs of decoded changes → Debezium change events, tombstones and offsets, per batch.

A run (consecutive changes of one table) is decoded column-wise, every column converted to
its Debezium type with Arrow kernels, and the envelope assembled as struct arrays. Order is
kept: a run becomes one batch, except that with ``tombstones.on.delete`` each stretch of
deletes is followed by a batch of their tombstones (Kafka needs a null value in its own
batch: the envelope schema is required). Every batch carries the offset reached by its last
record, so a batch whose tombstones follow carries none.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.postgres_cdc import pgoutput as pg
from connectors.postgres_cdc.catalog import CatalogTable, Filters
from connectors.postgres_cdc.config import CdcConfig
from connectors.postgres_cdc.events import (
    SourceContext,
    TableInfo,
    envelope,
    event_batch,
    key_struct,
    sequence_text,
    source_block,
    tombstone_batch,
)
from connectors.postgres_cdc.stream import ChangeReader, ReadResult, Run, TruncateItem, Tx
from connectors.postgres_cdc.types import ColumnType, column_type
from engine.spi.record import SourceBatch, SourceOffset, SourcePartition, empty_batch

_OP_NAMES = pa.array(["c", "u", "d"])
_OP_INDEX = np.zeros(256, np.int8)
_OP_INDEX[pg.UPDATE], _OP_INDEX[pg.DELETE] = 1, 2


def table_info(
    cfg: CdcConfig,
    filters: Filters,
    schema: str,
    table: str,
    columns: Sequence[tuple[str, int, int, bool]],
    primary_key: Sequence[str],
) -> TableInfo:
    """A captured table from its columns (name, type oid, typmod, not null) and primary key."""
    positions = [i for i, c in enumerate(columns) if filters.column(schema, table, c[0])]
    types = [
        column_type(columns[i][0], columns[i][1], columns[i][2], not columns[i][3], cfg.decimal_mode)
        for i in positions
    ]
    names = [columns[i][0] for i in positions]
    key = [names.index(k) for k in primary_key if k in names]
    return TableInfo.build(cfg.prefix, schema, table, types, positions, key)


def _placeholder(cfg: CdcConfig, ct: ColumnType, values: pa.Array, mask: np.ndarray) -> pa.Array:
    t = ct.field.type
    if pa.types.is_string(t):
        fill: Any = cfg.placeholder
    elif pa.types.is_binary(t):
        fill = cfg.placeholder.encode()
    else:
        fill = None if ct.field.nullable else ct.fallback
    return pc.if_else(pa.array(mask), pa.scalar(fill, t), values)


class ChangeAssembler:
    def __init__(
        self,
        cfg: CdcConfig,
        ctx: SourceContext,
        filters: Filters,
        describe: Callable[[int], CatalogTable | None],
    ) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.filters = filters
        self.describe = describe
        self._tables: dict[pg.Relation, TableInfo | None] = {}

    def table(self, rel: pg.Relation | None) -> TableInfo | None:
        if rel is None:
            return None
        if rel in self._tables:
            return self._tables[rel]
        info = None
        if self.filters.table(rel.namespace, rel.name):
            cat = self.describe(rel.relid)
            not_null = {c.name: c.not_null for c in cat.columns} if cat is not None else {}
            pk = cat.primary_key if cat is not None else ()
            cols = [(c.name, c.type_oid, c.typmod, not_null.get(c.name, False)) for c in rel.columns]
            info = table_info(self.cfg, self.filters, rel.namespace, rel.name, cols, pk)
        self._tables[rel] = info
        return info

    def batches(self, result: ReadResult, partition: SourcePartition) -> list[SourceBatch]:
        out: list[SourceBatch] = []
        now_ms = int(time.time() * 1000)
        for item in result.items:
            if isinstance(item, Run):
                out.extend(self._run(item, result.txs, partition, now_ms))
            else:
                out.extend(self._truncate(item, result.txs, partition, now_ms))
        end = result.end_position
        if end is not None:
            offsets = [(partition, end)]
            if out:
                out[-1] = SourceBatch(out[-1].records, offsets)
            else:
                out.append(SourceBatch(empty_batch(), offsets))
        return out

    # ---------------------------------------------------------------- row changes

    def _columns(
        self, info: TableInfo, rel: pg.Relation, texts: list[pa.Array], unchanged: list[np.ndarray | None]
    ) -> list[pa.Array]:
        values = []
        for ct, p in zip(info.columns, info.column_positions, strict=True):
            v = ct.convert(texts[p])
            mask = unchanged[p]
            if mask is not None:
                v = _placeholder(self.cfg, ct, v, mask)
            values.append(v)
        return values

    def _run(self, run: Run, txs: list[Tx], partition: SourcePartition, now_ms: int) -> list[SourceBatch]:
        rel = run.relation
        info = self.table(rel)
        if info is None or rel is None:
            return []
        decoded = pg.decode_run(run.payloads, len(rel.columns))
        tags = decoded.tags
        n = len(tags)
        op_index = _OP_INDEX[tags]
        after_vals = self._columns(info, rel, decoded.new.text, decoded.new.unchanged)
        if decoded.old.present.any():
            before_vals = self._columns(info, rel, decoded.old.text, decoded.old.unchanged)
            key_only = decoded.old_kind == pg.OLD_KEY
            if key_only.any():
                for j, (ct, p) in enumerate(zip(info.columns, info.column_positions, strict=True)):
                    if not rel.columns[p].key and not ct.field.nullable:
                        fallback = pa.scalar(ct.fallback, ct.field.type)
                        before_vals[j] = pc.if_else(pa.array(key_only), fallback, before_vals[j])
        else:
            before_vals = [pa.nulls(n, ct.field.type) for ct in info.columns]
        no_after, no_before = ~decoded.new.present, ~decoded.old.present
        rows_in = np.arange(n)

        moved = self._key_changes(info, tags, decoded.old.present, before_vals, after_vals)
        if moved.any():
            # Debezium: a delete of the old key (then its tombstone), and a create of the new one
            rows_in = np.repeat(rows_in, 1 + moved)
            first = np.ones(len(rows_in), bool)
            first[1:] = rows_in[1:] != rows_in[:-1]
            as_delete = moved[rows_in] & first
            as_create = moved[rows_in] & ~first
            op_index = np.where(as_delete, 2, np.where(as_create, 0, op_index[rows_in]))
            no_after = no_after[rows_in] | as_delete
            no_before = no_before[rows_in] | as_create
            take = pa.array(rows_in)
            after_vals = [v.take(take) for v in after_vals]
            before_vals = [v.take(take) for v in before_vals]
            n = len(rows_in)

        skipped = [i for i, op in enumerate("cud") if op in self.cfg.skipped]
        keep = ~np.isin(op_index, skipped) if skipped else np.ones(n, bool)
        if not keep.any():
            return []
        after = pa.StructArray.from_arrays(after_vals, fields=list(info.row_type), mask=pa.array(no_after))
        if no_before.all():
            before = pa.nulls(n, info.row_type)
        else:
            before = pa.StructArray.from_arrays(
                before_vals, fields=list(info.row_type), mask=pa.array(no_before)
            )

        txi = np.asarray(run.txs, np.int64)[rows_in]
        tx_xid = np.fromiter((t.xid for t in txs), np.int64, len(txs))[txi]
        tx_ms = np.fromiter((t.ts_us // 1000 for t in txs), np.int64, len(txs))[txi]
        prev = pa.array([t.prev_commit for t in txs], pa.int64()).take(pa.array(txi))
        lsn = pa.array(np.asarray(run.lsns, np.int64)[rows_in])
        source = source_block(
            self.ctx,
            info,
            n,
            ts_ms=pa.array(tx_ms),
            snapshot=pa.repeat(pa.scalar("false"), n),
            sequence=sequence_text(prev, lsn),
            tx_id=pa.array(tx_xid),
            lsn=lsn,
        )
        value = envelope(info, _OP_NAMES.take(pa.array(op_index)), before, after, source, now_ms)
        key = None
        if info.key_field is not None:
            is_delete = op_index == 2
            if is_delete.any():
                deleted = pa.array(is_delete)
                columns = [pc.if_else(deleted, before_vals[k], after_vals[k]) for k in info.key]
            else:
                columns = [after_vals[k] for k in info.key]
            key = key_struct(info, columns)
        rows = np.flatnonzero(keep)
        if len(rows) < n:
            idx = pa.array(rows)
            value = value.take(idx)
            key = key.take(idx) if key is not None else None
        op_codes = np.array(["c", "u", "d"])[op_index[rows]]

        def position(i: int) -> list[tuple[SourcePartition, SourceOffset]]:
            r = int(rows_in[rows[i]])
            return [(partition, ChangeReader.row_position(txs[run.txs[r]], run.lsns[r], run.ordinals[r]))]

        return self._split_tombstones(info, key, value, op_codes, position)

    @staticmethod
    def _key_changes(
        info: TableInfo,
        tags: np.ndarray,
        has_old: np.ndarray,
        before_vals: list[pa.Array],
        after_vals: list[pa.Array],
    ) -> np.ndarray:
        """Updates whose primary key changed (the old key is only sent when it did, or with FULL)."""
        moved = (tags == pg.UPDATE) & has_old
        if not info.key or not moved.any():
            return np.zeros(len(tags), bool)
        changed = np.zeros(len(tags), bool)
        for k in info.key:
            differs = pc.fill_null(pc.not_equal(before_vals[k], after_vals[k]), False)
            changed |= np.asarray(differs.to_numpy(zero_copy_only=False), bool)
        return np.asarray(moved & changed)

    def _split_tombstones(
        self,
        info: TableInfo,
        key: pa.Array | None,
        value: pa.Array,
        ops: np.ndarray,
        position: Callable[[int], list[tuple[SourcePartition, SourceOffset]]],
    ) -> list[SourceBatch]:
        m = len(ops)
        is_d = ops == "d"
        if not (self.cfg.tombstones and key is not None and is_d.any()):
            return [event_batch(info, key, value, position(m - 1))]
        out: list[SourceBatch] = []
        ends = np.flatnonzero(is_d & ~np.append(is_d[1:], False))
        not_d = np.flatnonzero(~is_d)
        start = 0
        for e in ends.tolist():
            before_run = not_d[not_d < e]
            run_start = int(before_run[-1]) + 1 if len(before_run) and before_run[-1] >= start else start
            out.append(event_batch(info, key.slice(start, e + 1 - start), value.slice(start, e + 1 - start)))
            out.append(tombstone_batch(info, key.slice(run_start, e + 1 - run_start), position(e)))
            start = e + 1
        if start < m:
            out.append(event_batch(info, key.slice(start), value.slice(start), position(m - 1)))
        return out

    # ---------------------------------------------------------------- truncates

    def _truncate(
        self, item: TruncateItem, txs: list[Tx], partition: SourcePartition, now_ms: int
    ) -> list[SourceBatch]:
        if "t" in self.cfg.skipped:
            return []
        tx = txs[item.tx]
        out: list[SourceBatch] = []
        for rel in item.relations:
            info = self.table(rel)
            if info is None:
                continue
            lsn = pa.array([item.lsn], pa.int64())
            source = source_block(
                self.ctx,
                info,
                1,
                ts_ms=pa.array([tx.ts_us // 1000], pa.int64()),
                snapshot=pa.array(["false"]),
                sequence=sequence_text(pa.array([tx.prev_commit], pa.int64()), lsn),
                tx_id=pa.array([tx.xid], pa.int64()),
                lsn=lsn,
            )
            row = pa.nulls(1, info.row_type)
            value = envelope(info, pa.array(["t"]), row, row, source, now_ms)
            out.append(event_batch(info, None, value))
        if out:
            pos: Mapping[str, Any] = ChangeReader.row_position(tx, item.lsn, item.ordinal)
            out[-1] = SourceBatch(out[-1].records, [(partition, pos)])
        return out
