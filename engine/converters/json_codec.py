"""Vectorized building blocks for JSON text: whole Arrow arrays in, whole arrays out.

Nothing here loops over rows in Python, except :func:`java_double_text` (one scalar, used
for schema defaults and for the rare subnormal floats). The pieces:

* :func:`join` concatenates literal strings and string arrays row by row (one kernel call);
* :func:`escape` escapes strings the way Jackson does (``\\"``, ``\\\\``, ``\\b \\t \\n \\f \\r``,
  other control characters as ``\\u00XX``; non-ASCII and ``/`` are left alone);
* :func:`java_float_text` prints floats as Java's ``Double.toString``/``Float.toString`` do
  (``1.0``, ``1.0E7``, ``1.0E-4``) — Arrow prints the shortest digits, regexes re-shape them;
* :func:`base64_encode` / :func:`base64_decode` (numpy over the data buffers);
* :func:`decimal_to_bytes` / :func:`bytes_to_decimal`: Connect's Decimal wire form, the
  big-endian two's-complement unscaled integer in the fewest bytes (Java's
  ``BigInteger.toByteArray``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from typing import TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi.values import java_float_text

Piece: TypeAlias = "str | pa.Array"
"""A literal (the same text on every row) or a string array (one text per row)."""

# ---------------------------------------------------------------------------- joining


def join(pieces: Sequence[Piece], length: int) -> pa.Array:
    """Concatenate ``pieces`` row by row into one string array (nulls count as "")."""
    merged: list[Piece] = []
    for p in pieces:
        if isinstance(p, str):
            if not p:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] = merged[-1] + p
                continue
        merged.append(p)
    arrays = [p for p in merged if not isinstance(p, str)]
    if not arrays:
        return pa.repeat(pa.scalar("".join(p for p in merged if isinstance(p, str)), pa.string()), length)
    if len(merged) == 1 and arrays[0].null_count == 0:
        return arrays[0]
    return pc.binary_join_element_wise(*merged, "", null_handling="replace", null_replacement="")


def string_parts(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Absolute int64 offsets (``len(arr) + 1``) into, and the bytes of, a string/binary array."""
    n = len(arr)
    bufs = arr.buffers()
    if n == 0 or bufs[1] is None:
        return np.zeros(n + 1, np.int64), np.zeros(0, np.uint8)
    width = np.int64 if pa.types.is_large_binary(arr.type) or pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(bufs[1], dtype=width)[arr.offset : arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return offsets, data


def from_parts(
    offsets: np.ndarray, data: np.ndarray, typ: pa.DataType, mask: np.ndarray | None = None
) -> pa.Array:
    """Build a string/binary array from int64 offsets starting at 0 and its bytes."""
    n = len(offsets) - 1
    validity = None
    if mask is not None and mask.any():
        validity = pa.array(~mask, pa.bool_()).buffers()[1]
    return pa.Array.from_buffers(
        typ,
        n,
        [validity, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(np.ascontiguousarray(data))],
        null_count=-1 if validity is not None else 0,
    )


def ragged_index(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Flat positions ``starts[i] + 0 .. starts[i] + lengths[i] - 1`` for every row, in order."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    shift = np.repeat(starts - (ends - lengths), lengths)
    out: np.ndarray = np.arange(total, dtype=np.int64) + shift
    return out


def rows_of(positions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The row of each byte position, given a string array's absolute offsets."""
    return np.unique(np.searchsorted(offsets, positions, side="right") - 1)


# ---------------------------------------------------------------------------- strings

_SHORT_ESCAPES = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}
_ESCAPES = {c: _SHORT_ESCAPES.get(c, f"\\u{c:04X}") for c in range(32)}
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def _surrogates(match: re.Match[str]) -> str:
    code = ord(match.group(0)) - 0x10000
    return f"\\u{0xD800 + (code >> 10):04X}\\u{0xDC00 + (code & 0x3FF):04X}"


def escape_text(text: str) -> str:
    """Jackson's escaping of one string (no quotes added)."""
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    if any(ord(ch) < 32 for ch in out):
        out = "".join(_ESCAPES.get(ord(ch), ch) for ch in out)
    return _ASTRAL.sub(_surrogates, out)


def escape(arr: pa.Array) -> pa.Array:
    """Escape a string array for JSON as Jackson does; a no-op (no copy) for clean text.

    Jackson writes characters beyond the BMP as escaped surrogate pairs (``\\uD83D\\uDE00``);
    the rows that have any are fixed up one by one, everything else is vectorized.
    """
    offsets, data = string_parts(arr)
    used = data[offsets[0] : offsets[-1]]
    if used.size == 0:
        return arr
    low, high = int(used.min()), int(used.max())
    raw = used.tobytes()
    special = low < 32 or b'"' in raw or b"\\" in raw
    if not special and high < 0xF0:
        return arr
    out = arr
    if special:
        out = _escape_quotes(arr, offsets, used, raw)
        if low < 32:
            for c in np.unique(used[used < 32]).tolist():
                out = pc.replace_substring(out, chr(c), _ESCAPES[c])
    if high >= 0xF0:
        rows = rows_of(np.flatnonzero(used >= 0xF0) + offsets[0], offsets)
        mask = np.zeros(len(arr), bool)
        mask[rows] = True
        fixed = [_ASTRAL.sub(_surrogates, s) for s in out.take(pa.array(rows)).to_pylist()]
        out = pc.replace_with_mask(out, pa.array(mask), pa.array(fixed, pa.string()))
    return out


def _escape_quotes(arr: pa.Array, offsets: np.ndarray, used: np.ndarray, raw: bytes) -> pa.Array:
    """A backslash before every ``"`` and ``\\``: ``bytes.replace`` over the whole text
    (a second pass only if there is a backslash), each row's offset moved by the number of
    hits in the rows before it (counted per row with one ``reduceat``, no positions)."""
    backslash = b"\\" in raw
    hit = np.zeros(used.size + 1, np.bool_)  # one False more: reduceat may index used.size
    np.equal(used, 34, out=hit[:-1])
    if backslash:
        hit[:-1] |= used == 92
    base = offsets - offsets[0]
    # int32 counts: several times faster than an int64 reduceat; a row is < 2 GiB
    per_row = np.add.reduceat(hit.view(np.uint8), base[:-1], dtype=np.int32)
    per_row[base[1:] == base[:-1]] = 0  # reduceat gives an empty row the element at its start
    if not pa.types.is_string(arr.type) or len(raw) + int(per_row.sum()) >= 1 << 31:
        out = pc.replace_substring(arr, "\\", "\\\\")
        return pc.replace_substring(out, '"', '\\"')
    moved = base.copy()
    np.cumsum(per_row, out=moved[1:])
    moved[1:] += base[1:]
    text = raw.replace(b"\\", b"\\\\") if backslash else raw
    text = text.replace(b'"', b'\\"')
    nulls = None
    if arr.null_count:
        nulls = ~np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
    return from_parts(moved, np.frombuffer(text, np.uint8), pa.string(), nulls)


def quoted(arr: pa.Array) -> list[Piece]:
    """A string array as JSON string literals (escaped, in quotes)."""
    return ['"', escape(arr), '"']


# ---------------------------------------------------------------------------- numbers

# ---------------------------------------------------------------------------- base64

_B64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)
_B64_INV = np.full(256, 255, np.uint8)
_B64_INV[_B64] = np.arange(64, dtype=np.uint8)
_PAD = ord("=")


def base64_encode(arr: pa.Array) -> pa.Array:
    """Binary → padded standard base64 text (nulls stay null)."""
    n = len(arr)
    offsets, data = string_parts(arr)
    lengths = np.diff(offsets)
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool) if arr.null_count else None
    if valid is not None:
        lengths = np.where(valid, lengths, 0)
    groups = (lengths + 2) // 3
    padded = np.zeros(int(groups.sum()) * 3, np.uint8)
    dst = np.cumsum(groups * 3) - groups * 3
    padded[ragged_index(dst, lengths)] = data[ragged_index(offsets[:-1], lengths)]
    trip = padded.reshape(-1, 3).astype(np.uint32)
    word = (trip[:, 0] << 16) | (trip[:, 1] << 8) | trip[:, 2]
    quads = np.stack([(word >> 18) & 63, (word >> 12) & 63, (word >> 6) & 63, word & 63], axis=1)
    chars = _B64[quads].reshape(-1)
    out_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(groups * 4, out=out_offsets[1:])
    rem = lengths % 3
    ends = out_offsets[1:]
    chars[ends[rem == 1] - 2] = _PAD
    chars[ends[rem >= 1] - 1] = _PAD
    mask = None if valid is None else ~valid
    return from_parts(out_offsets, chars, pa.string(), mask)


def base64_decode(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Base64 text → binary, and the rows that are not valid padded base64 (they become null)."""
    n = len(arr)
    offsets, data = string_parts(arr)
    valid = (
        np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
        if arr.null_count
        else np.ones(n, bool)
    )
    lengths = np.where(valid, np.diff(offsets), 0)
    bad = lengths % 4 != 0
    chars = data[ragged_index(offsets[:-1], lengths)]
    codes = _B64_INV[chars]
    ends = np.cumsum(lengths)
    last = ends - 1
    full = (lengths >= 4) & ~bad
    pad1 = np.zeros(n, bool)
    pad2 = np.zeros(n, bool)
    pad1[full] = chars[last[full]] == _PAD
    pad2[full] = pad1[full] & (chars[last[full] - 1] == _PAD)
    codes[last[pad1]] = 0
    codes[last[pad2] - 1] = 0
    invalid = np.flatnonzero(codes == 255)
    if invalid.size:
        bad[np.unique(np.searchsorted(ends, invalid, side="right"))] = True
    pads = pad1.astype(np.int64) + pad2.astype(np.int64)
    if bad.any():
        codes = codes[np.repeat(~bad, lengths)]
        lengths = np.where(bad, 0, lengths)
        pads = np.where(bad, 0, pads)
    quad = codes.reshape(-1, 4).astype(np.uint32)
    word = (quad[:, 0] << 18) | (quad[:, 1] << 12) | (quad[:, 2] << 6) | quad[:, 3]
    raw = np.stack([word >> 16, word >> 8, word], axis=1).astype(np.uint8).reshape(-1)
    full_ends = np.cumsum(lengths // 4 * 3)
    drop = np.zeros(raw.size, bool)
    drop[full_ends[pads >= 1] - 1] = True
    drop[full_ends[pads == 2] - 2] = True
    out_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths // 4 * 3 - pads, out=out_offsets[1:])
    out = from_parts(out_offsets, raw[~drop], pa.binary(), ~valid | bad)
    return out, np.flatnonzero(bad)


def base64_text(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# ---------------------------------------------------------------------------- decimals


def decimal_to_bytes(arr: pa.Array) -> pa.Array:
    """Decimal128/256 → the minimal big-endian two's-complement bytes of the unscaled value."""
    n = len(arr)
    width = arr.type.byte_width
    raw = np.frombuffer(arr.buffers()[1], np.uint8)[arr.offset * width : (arr.offset + n) * width]
    be = raw.reshape(n, width)[:, ::-1]
    sign = np.where(be[:, 0] >= 128, 255, 0).astype(np.uint8)
    lead = np.logical_and.accumulate(be == sign[:, None], axis=1).sum(axis=1)
    first = be[np.arange(n), np.minimum(lead, width - 1)]
    flips = (first >= 128) != (sign == 255)
    start = np.where(lead >= width, width - 1, np.where(flips, lead - 1, lead))
    keep = np.arange(width)[None, :] >= start[:, None]
    if arr.null_count:
        keep &= np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)[:, None]
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(keep.sum(axis=1), out=offsets[1:])
    mask = None if not arr.null_count else ~np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
    return from_parts(offsets, be[keep], pa.binary(), mask)


def bytes_to_decimal(arr: pa.Array, typ: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Two's-complement big-endian bytes → decimal; rows that are empty or too wide are bad."""
    n = len(arr)
    width = typ.byte_width
    offsets, data = string_parts(arr)
    valid = (
        np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
        if arr.null_count
        else np.ones(n, bool)
    )
    lengths = np.where(valid, np.diff(offsets), 0)
    bad = valid & (lengths == 0)
    first = np.zeros(n, np.uint8)
    some = lengths > 0
    first[some] = data[offsets[:-1][some]]
    sign = np.where(first >= 128, 255, 0).astype(np.uint8)
    take = np.minimum(lengths, width)
    for i in np.flatnonzero(lengths > width).tolist():  # rare: wider than the type; fine if sign extension
        head = data[offsets[i] : offsets[i] + lengths[i] - width + 1]
        if not (np.all(head[:-1] == sign[i]) and (head[-1] >= 128) == (sign[i] == 255)):
            bad[i] = True
    take = np.where(bad, 0, take)
    out = np.repeat(sign[:, None], width, axis=1)
    rows = np.repeat(np.arange(n), take)
    out[rows, ragged_index(width - take, take)] = data[ragged_index(offsets[:-1] + lengths - take, take)]
    little = np.ascontiguousarray(out[:, ::-1]).reshape(-1)
    invalid = ~valid | bad
    validity = pa.array(~invalid, pa.bool_()).buffers()[1] if invalid.any() else None
    result = pa.Array.from_buffers(typ, n, [validity, pa.py_buffer(little)])
    return result, np.flatnonzero(bad)


# ---------------------------------------------------------------------------- encoding

REQUIRED_NULL = "Conversion error: null value for field that is required and has no default value"

NullText = Callable[[pa.Field], "str | None"]
"""The JSON text written for a null of a field: its default, ``null``, or None (an error)."""

RowMap = Callable[[np.ndarray], np.ndarray]


def _identity(idx: np.ndarray) -> np.ndarray:
    return idx


class Encoder:
    """Arrow values → JSON text, as Kafka's ``JsonConverter.convertToJson`` writes them.

    :meth:`value` returns the pieces of each row's text; rows holding a null where the
    schema allows none are collected in :attr:`bad` (indices of the top-level batch).
    """

    def __init__(self, decimal_numeric: bool, null_text: NullText) -> None:
        self.decimal_numeric = decimal_numeric
        self.null_text = null_text
        self.bad: list[np.ndarray] = []

    def value(
        self, f: pa.Field, arr: pa.Array, top: RowMap = _identity, live: np.ndarray | None = None
    ) -> list[Piece]:
        """Text of every row; nulls written as the field's default or ``null``."""
        pieces = self.present(f, arr, top, live)
        if not arr.null_count:
            return pieces
        text = self.null_text(f)
        if text is None:
            self.flag_nulls(arr, top, live)
            text = "null"
        return [pc.if_else(arr.is_valid(), join(pieces, len(arr)), text)]

    def flag_nulls(self, arr: pa.Array, top: RowMap, live: np.ndarray | None) -> None:
        nulls = ~np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
        if live is not None:
            nulls &= live
        if nulls.any():
            self.bad.append(top(np.flatnonzero(nulls)))

    def present(self, f: pa.Field, arr: pa.Array, top: RowMap, live: np.ndarray | None) -> list[Piece]:
        """Text of the non-null rows (what null rows get is unspecified)."""
        t = arr.type
        if pa.types.is_null(t):
            return ["null"]
        if pa.types.is_boolean(t) or pa.types.is_integer(t):
            return [pc.cast(arr, pa.string())]
        if pa.types.is_floating(t):
            return [java_float_text(arr, quote_non_finite=True)]
        if pa.types.is_string(t):
            return quoted(arr)
        if pa.types.is_binary(t):
            return ['"', base64_encode(arr), '"']
        if pa.types.is_decimal(t):
            if self.decimal_numeric:
                return [pc.cast(arr, pa.string())]
            return ['"', base64_encode(decimal_to_bytes(arr)), '"']
        if pa.types.is_date32(t) or pa.types.is_time32(t):
            return [pc.cast(arr.view(pa.int32()), pa.string())]
        if pa.types.is_timestamp(t):
            return [pc.cast(arr.view(pa.int64()), pa.string())]
        if pa.types.is_struct(t):
            return self._struct(t, arr, top, live)
        if pa.types.is_map(t):
            return self._map(t, arr, top, live)
        if pa.types.is_list(t):
            return self._list(t, arr, top, live)
        raise TypeError(f"no JSON form for Arrow type {t}")

    def _struct(self, t: pa.StructType, arr: pa.Array, top: RowMap, live: np.ndarray | None) -> list[Piece]:
        if arr.null_count:
            valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
            live = valid if live is None else live & valid
        pieces: list[Piece] = ["{"]
        for i in range(t.num_fields):
            child = t.field(i)
            pieces.append(("," if i else "") + '"' + escape_text(child.name) + '":')
            pieces.extend(self.value(child, arr.field(i), top, live))
        pieces.append("}")
        return pieces

    def _children(
        self, arr: pa.Array, top: RowMap, live: np.ndarray | None
    ) -> tuple[np.ndarray, int, int, RowMap, np.ndarray | None]:
        offsets = np.asarray(arr.offsets, dtype=np.int64)
        start, end = int(offsets[0]), int(offsets[-1])
        rel = offsets - start
        lengths = np.diff(rel)
        if arr.null_count:
            valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool)
            live = valid if live is None else live & valid
        child_live = None if live is None else np.repeat(live, lengths)

        def child_top(idx: np.ndarray) -> np.ndarray:
            return top(np.searchsorted(rel, idx, side="right") - 1)

        return rel, start, end - start, child_top, child_live

    def _list(self, t: pa.ListType, arr: pa.Array, top: RowMap, live: np.ndarray | None) -> list[Piece]:
        rel, start, size, child_top, child_live = self._children(arr, top, live)
        items = arr.values.slice(start, size)
        text = join(self.value(t.value_field, items, child_top, child_live), size)
        lists = pa.ListArray.from_arrays(pa.array(rel, pa.int32()), text)
        return ["[", pc.binary_join(lists, ","), "]"]

    def _map(self, t: pa.MapType, arr: pa.Array, top: RowMap, live: np.ndarray | None) -> list[Piece]:
        rel, start, size, child_top, child_live = self._children(arr, top, live)
        keys = self.value(t.key_field, arr.keys.slice(start, size), child_top, child_live)
        values = self.value(t.item_field, arr.items.slice(start, size), child_top, child_live)
        if pa.types.is_string(t.key_type):
            entries, opening, closing = join([*keys, ":", *values], size), "{", "}"
        else:
            entries, opening, closing = join(["[", *keys, ",", *values, "]"], size), "[", "]"
        lists = pa.ListArray.from_arrays(pa.array(rel, pa.int32()), entries)
        return [opening, pc.binary_join(lists, ","), closing]


def canonical(arr: pa.Array) -> pa.Array:
    """``arr`` cast to the Arrow type the encoder handles (see ``engine.spi.schema.normalize_type``)."""
    from engine.spi.schema import normalize_type

    target = normalize_type(arr.type)
    if target == arr.type:
        return arr
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr.cast(target, safe=False)
