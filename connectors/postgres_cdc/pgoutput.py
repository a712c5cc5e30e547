"""The pgoutput logical replication protocol (version 1), decoded.

Control messages (Begin, Commit, Relation, Type, Origin, Truncate) are parsed one at a
time with :mod:`struct`; they are rare. Row changes (Insert, Update, Delete) are decoded a
*run* at a time: the payloads of consecutive changes of one relation are joined into one
buffer and every column of every row is located with numpy (one pass per column over all
rows, no Python per row), then each column becomes an Arrow string array sliced straight
out of that buffer.

Message layouts (all integers big-endian)::

    B  final_lsn:i64 commit_ts:i64 xid:i32
    C  flags:i8 commit_lsn:i64 end_lsn:i64 commit_ts:i64
    O  commit_lsn:i64 name:str
    R  relid:i32 namespace:str name:str replident:i8 ncols:i16 {flags:i8 name:str type:i32 typmod:i32}*
    Y  oid:i32 namespace:str name:str
    I  relid:i32 'N' tuple
    U  relid:i32 [('K'|'O') tuple] 'N' tuple
    D  relid:i32 ('K'|'O') tuple
    T  nrels:i32 options:i8 relid:i32*
    tuple = ncols:i16 {'n' | 'u' | 't' len:i32 bytes}*

Timestamps count microseconds from 2000-01-01 (PostgreSQL's epoch).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from engine.spi.errors import DataError

PG_EPOCH_US = 946_684_800_000_000
"""2000-01-01T00:00:00Z in microseconds since the Unix epoch."""

BEGIN, COMMIT, ORIGIN, RELATION, TYPE = b"B"[0], b"C"[0], b"O"[0], b"R"[0], b"Y"[0]
INSERT, UPDATE, DELETE, TRUNCATE = b"I"[0], b"U"[0], b"D"[0], b"T"[0]
CHANGES = frozenset({INSERT, UPDATE, DELETE})
# Messages that count as a change of their transaction (an ordinal each).
COUNTED = CHANGES | {TRUNCATE}
KIND_NULL, KIND_UNCHANGED, KIND_TEXT = b"n"[0], b"u"[0], b"t"[0]
OLD_KEY, OLD_FULL, NEW = b"K"[0], b"O"[0], b"N"[0]

_BEGIN = struct.Struct(">qqI")
_COMMIT = struct.Struct(">bqqq")
_I32 = struct.Struct(">I")
_I16 = struct.Struct(">h")
_COLUMN = struct.Struct(">Ii")
_TRUNCATE = struct.Struct(">Ib")
_PAD = b"\0" * 8


def lsn_text(lsn: int) -> str:
    """``0/16B3748`` as PostgreSQL prints an LSN."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: int
    commit_ts_us: int
    """Unix microseconds."""
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type_oid: int
    typmod: int
    key: bool
    """Part of the replica identity."""


@dataclass(frozen=True, slots=True)
class Relation:
    relid: int
    namespace: str
    name: str
    replica_identity: str
    """``d`` default, ``n`` nothing, ``f`` full, ``i`` index."""
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class TypeInfo:
    oid: int
    namespace: str
    name: str


@dataclass(frozen=True, slots=True)
class Truncate:
    options: int
    """1 = CASCADE, 2 = RESTART IDENTITY."""
    relids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Origin:
    commit_lsn: int
    name: str


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.index(0, pos)
    return data[pos:end].decode("utf-8"), end + 1


def parse_begin(data: bytes) -> Begin:
    final_lsn, ts, xid = _BEGIN.unpack_from(data, 1)
    return Begin(final_lsn, ts + PG_EPOCH_US, xid)


def parse_commit(data: bytes) -> Commit:
    flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(data, 1)
    return Commit(flags, commit_lsn, end_lsn, ts + PG_EPOCH_US)


def parse_relation(data: bytes) -> Relation:
    (relid,) = _I32.unpack_from(data, 1)
    namespace, pos = _cstring(data, 5)
    name, pos = _cstring(data, pos)
    ident = chr(data[pos])
    (ncols,) = _I16.unpack_from(data, pos + 1)
    pos += 3
    columns = []
    for _ in range(ncols):
        flags = data[pos]
        col, pos = _cstring(data, pos + 1)
        oid, typmod = _COLUMN.unpack_from(data, pos)
        pos += 8
        columns.append(Column(col, oid, typmod, bool(flags & 1)))
    return Relation(relid, namespace or "pg_catalog", name, ident, tuple(columns))


def parse_type(data: bytes) -> TypeInfo:
    (oid,) = _I32.unpack_from(data, 1)
    namespace, pos = _cstring(data, 5)
    name, _ = _cstring(data, pos)
    return TypeInfo(oid, namespace or "pg_catalog", name)


def parse_truncate(data: bytes) -> Truncate:
    n, options = _TRUNCATE.unpack_from(data, 1)
    relids = struct.unpack_from(f">{n}I", data, 6)
    return Truncate(options, tuple(relids))


def parse_origin(data: bytes) -> Origin:
    (lsn,) = struct.unpack_from(">q", data, 1)
    name, _ = _cstring(data, 9)
    return Origin(lsn, name)


def relid_of(data: bytes) -> int:
    """The relation id of an Insert/Update/Delete message."""
    return int(_I32.unpack_from(data, 1)[0])


def parse_tuple(data: bytes, pos: int) -> tuple[list[bytes | bool | None], int]:
    """One TupleData, scalar (for tests and tools): ``None`` null, ``False`` unchanged TOAST."""
    (ncols,) = _I16.unpack_from(data, pos)
    pos += 2
    values: list[bytes | bool | None] = []
    for _ in range(ncols):
        kind = data[pos]
        if kind == KIND_TEXT:
            (n,) = _I32.unpack_from(data, pos + 1)
            values.append(data[pos + 5 : pos + 5 + n])
            pos += 5 + n
        elif kind == KIND_NULL:
            values.append(None)
            pos += 1
        elif kind == KIND_UNCHANGED:
            values.append(False)
            pos += 1
        else:
            raise DataError(f"pgoutput: unknown tuple column kind {chr(kind)!r} (binary mode is not used)")
    return values, pos


# ------------------------------------------------------------------------------ runs of changes


@dataclass(slots=True)
class TupleColumns:
    """The columns of one tuple position (old or new) over the rows of a run.

    ``text[j]`` is column j as an Arrow string array with one slot per row of the run
    (null where the value is null, unchanged, or the row has no such tuple);
    ``unchanged[j]`` marks unchanged TOAST values (None when there are none);
    ``present`` marks the rows that carry this tuple.
    """

    present: np.ndarray
    text: list[pa.Array] = field(default_factory=list)
    unchanged: list[np.ndarray | None] = field(default_factory=list)


@dataclass(slots=True)
class DecodedRun:
    tags: np.ndarray
    """Message tag per row: ``I``, ``U`` or ``D`` (as uint8)."""
    old_kind: np.ndarray
    """``K``, ``O`` or 0 per row."""
    old: TupleColumns
    new: TupleColumns


def _be32(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    b = buf[pos[:, None] + np.arange(4)].astype(np.int64)
    return np.asarray((b[:, 0] << 24) | (b[:, 1] << 16) | (b[:, 2] << 8) | b[:, 3])


def _walk(
    buf: np.ndarray, pos: np.ndarray, ncols: int
) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], np.ndarray]:
    """Locate every column of the tuples starting at ``pos``: (kind, start, length) per column."""
    if len(pos):
        counts = (buf[pos].astype(np.int64) << 8) | buf[pos + 1]
        if not np.all(counts == ncols):
            raise DataError(
                f"pgoutput: tuple has {int(counts[counts != ncols][0])} columns, expected {ncols}"
            )
    pos = pos + 2
    out = []
    for _ in range(ncols):
        kind = buf[pos]
        is_text = kind == KIND_TEXT
        if not np.all(is_text | (kind == KIND_NULL) | (kind == KIND_UNCHANGED)):
            bad = int(kind[~(is_text | (kind == KIND_NULL) | (kind == KIND_UNCHANGED))][0])
            raise DataError(f"pgoutput: unknown tuple column kind {chr(bad)!r}")
        length = np.where(is_text, _be32(buf, pos + 1), 0)
        start = np.where(is_text, pos + 5, pos + 1)
        out.append((kind, start, length))
        pos = start + length
    return out, pos


def _strings(data: pa.Buffer, start: np.ndarray, length: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Values at (start, length) of ``data`` as one string array, without a loop over rows.

    The values lie in increasing, non-overlapping order, so a binary array whose offsets
    alternate value / gap covers them; taking its even elements copies the values out.
    """
    m = len(start)
    if m == 0:
        return pa.array([], pa.string())
    offsets = np.empty(2 * m + 1, np.int64)
    offsets[0 : 2 * m : 2] = start
    offsets[1 : 2 * m : 2] = start + length
    offsets[2 * m] = offsets[2 * m - 1]
    spans = pa.Array.from_buffers(pa.large_binary(), 2 * m, [None, pa.py_buffer(offsets), data])
    picks = pa.array(np.arange(0, 2 * m, 2, dtype=np.int64), mask=~valid)
    return spans.take(picks).cast(pa.large_string()).cast(pa.string())


def _tuple_columns(
    buf: np.ndarray, data: pa.Buffer, rows: np.ndarray, pos: np.ndarray, n: int, ncols: int
) -> tuple[TupleColumns, np.ndarray]:
    """Decode tuples of ``rows`` (positions ``pos``) into full-length columns over ``n`` rows."""
    present = np.zeros(n, bool)
    present[rows] = True
    located, end = _walk(buf, pos, ncols)
    cols = TupleColumns(present)
    everything = len(rows) == n
    for kind, start, length in located:
        is_text = kind == KIND_TEXT
        if everything:
            full_start, full_len, full_valid = start, length, is_text
        else:
            # rows without this tuple: zero-length values at a position that keeps order
            full_start = np.zeros(n, np.int64)
            full_len = np.zeros(n, np.int64)
            full_valid = np.zeros(n, bool)
            full_start[rows] = start
            full_len[rows] = length
            full_valid[rows] = is_text
            filled = np.maximum.accumulate(np.where(present, full_start + full_len, 0))
            full_start = np.where(present, full_start, filled)
        cols.text.append(_strings(data, full_start, full_len, full_valid))
        unchanged = kind == KIND_UNCHANGED
        if unchanged.any():
            mask = np.zeros(n, bool)
            mask[rows] = unchanged
            cols.unchanged.append(mask)
        else:
            cols.unchanged.append(None)
    return cols, end


def decode_run(payloads: list[bytes], ncols: int) -> DecodedRun:
    """Decode Insert/Update/Delete messages of one relation (``ncols`` columns), in order."""
    n = len(payloads)
    lengths = np.fromiter(map(len, payloads), dtype=np.int64, count=n)
    starts = np.zeros(n, np.int64)
    if n > 1:
        np.cumsum(lengths[:-1], out=starts[1:])
    raw = b"".join(payloads) + _PAD
    buf = np.frombuffer(raw, np.uint8)
    data = pa.py_buffer(raw)
    tags = buf[starts]
    marker = buf[starts + 5]
    has_old = (marker == OLD_KEY) | (marker == OLD_FULL)
    if np.any((tags == DELETE) & ~has_old):
        raise DataError("pgoutput: delete message without an old tuple")
    old_rows = np.flatnonzero(has_old)
    old, old_end = _tuple_columns(buf, data, old_rows, starts[old_rows] + 6, n, ncols)
    new_pos = starts + 6
    new_pos[old_rows] = old_end + 1
    new_rows = np.flatnonzero(tags != DELETE)
    new_pos = new_pos[new_rows]
    if len(new_rows) and not np.all(buf[new_pos - 1] == NEW):
        raise DataError("pgoutput: change message without its new tuple")
    new, _ = _tuple_columns(buf, data, new_rows, new_pos, n, ncols)
    old_kind = np.where(has_old, marker, 0).astype(np.uint8)
    return DecodedRun(tags, old_kind, old, new)
