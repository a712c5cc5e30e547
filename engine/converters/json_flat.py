"""Flat JSON objects read with array kernels: the schemaless JsonConverter's fast path.

A batch whose values are all JSON objects with the same keys in the same order and only
scalar values (strings without escapes, numbers, ``true``/``false``, ``null``) is read
here without ``pyarrow.json``. The quotes of the batch are found at once. The first row is
parsed in Python into its keys and the fixed stretches ("runs") between its values; every
row with as many quotes has its runs at the same places from its quotes, and all of them
are compared with the first row's in one pass. Rows with another layout (a null where the
first has a string, other blanks) are placed the same way from the first row not yet
placed, up to a few layouts. Each column is then cut out of the value buffer and cast by
Arrow.

The result is the one :func:`engine.converters.json_converter._read_inferred` gives for
the same rows (pyarrow.json's inference; timestamps, and all-null columns next to them,
read again as strings): int64 where every number of a column is an integer, float64
where one has a fraction or an exponent or is beyond int64, bool, string, and null for a
column of nulls only. Anything else returns None and the caller takes the general path:
backslash escapes, control characters, line breaks, invalid UTF-8, nested values, keys
that differ between rows or repeat, a column mixing kinds (say strings and numbers),
numbers of more than 64 characters, numbers pyarrow's parser refuses (exponents beyond
~308) or that are not JSON (``01``, ``1.``, ``NaN``), empty objects, empty or null rows,
more layouts than ``_MAX_LAYOUTS``, and an all-null column next to strings that could be
timestamps (whether pyarrow reads the batch again then depends on its timestamp parser).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_QUOTE, _SPACE, _TAB, _BACKSLASH = 34, 32, 9, 92
_MINUS, _DOT, _ZERO = 45, 46, 48
_BLANKS = b" \t"
_MAX_NUMBER = 64  # characters of a number (pyarrow's parser refuses some very long ones)
_MAX_LAYOUTS = 8  # layouts of rows in a batch (one producer writes one or a few)
_SAMPLE = 16  # rows whose numbers are looked at before a column is cast to int64
_NULL, _BOOL, _NUMBER = 1, 2, 3  # kinds of literal
_TRUE, _FALSE = (int.from_bytes(w, "little") for w in (b"true", b"false"))


@dataclass
class _Rows:
    """The rows' bytes, back to back (positions are in ``buf``)."""

    buf: np.ndarray
    base: int  # position of buf[0] in the array's value buffer
    rel: np.ndarray  # row boundaries (n + 1)
    data: pa.Array
    values: pa.Buffer

    @property
    def n(self) -> int:
        return len(self.rel) - 1


@dataclass
class _Layout:
    """Where each row's value of each key sits: (K, n) spans [start, end) in ``buf`` (a
    string's content without its quotes, or a number's or keyword's token)."""

    names: list[str]
    strings: np.ndarray  # (K,) some value of the key is a string
    is_str: np.ndarray | None  # (K, n) which are; None: all values of those keys
    start: np.ndarray
    end: np.ndarray


def read_flat(data: pa.Array) -> pa.Array | None:
    """The StructArray pyarrow.json infers for these rows of flat objects, or None."""
    rows = _rows(data)
    if rows is None:
        return None
    layout = _layout(rows)
    if layout is None:
        return None
    columns = _columns(rows, layout)
    if columns is None:
        return None
    fields = [pa.field(k, c.type) for k, c in zip(layout.names, columns, strict=True)]
    return pa.StructArray.from_arrays(columns, fields=fields)


def _rows(data: pa.Array) -> _Rows | None:
    """The batch's bytes, if no row is null."""
    n = len(data)
    if not pa.types.is_binary(data.type) or n == 0 or data.null_count:
        return None
    _, offsets, values = data.buffers()
    off = np.frombuffer(offsets, np.int32, n + 1, data.offset * 4).astype(np.int64)
    base = int(off[0])
    rel = off - base
    if values is None or rel[-1] == 0:
        return None
    return _Rows(np.frombuffer(values, np.uint8, int(rel[-1]), base), base, rel, data, values)


def _utf8(data: pa.Array) -> bool:
    try:
        data.view(pa.binary()).cast(pa.string())  # validates UTF-8
    except pa.ArrowInvalid:
        return False
    return True


# -- where the values are ------------------------------------------------------------


@dataclass
class _Plan:
    """The first row, parsed: its keys, and the stretches around its values ("runs"), each
    placed by (anchor, delta): from a quote in it (anchor: the quote's index in the row), or
    from the row's end (anchor: the number of quotes) for the last one after a number."""

    names: list[str]
    is_str: list[bool]
    runs: list[bytes]  # before the first value, between values, after the last
    run_at: list[tuple[int, int]]


def _layout(rows: _Rows) -> _Layout | None:
    """Where the values are, when the rows come in a few layouts: the first row not yet
    placed is parsed, and every other row with as many quotes that has its runs at the same
    places from its quotes (a string or a null where the first has a string or a null,
    the same keys, separators and blanks) takes its layout."""
    buf, rel, n = rows.buf, rows.rel, rows.n
    quotes = np.flatnonzero(buf == _QUOTE)
    if not quotes.size:
        return None
    before = np.searchsorted(quotes, rel)  # quotes before each row
    count = np.diff(before)
    pending = np.arange(n)
    names: list[str] = []
    strings: list[np.ndarray] = []
    start = end = is_str = np.empty((0, n))
    for _ in range(_MAX_LAYOUTS):
        first = int(pending[0])
        members = pending[count[pending] == count[first]]
        placed = _place(rows, quotes, before, members)
        if placed is None:
            return None
        plan, good, lo, hi = placed
        if not names:
            names = plan.names
            start, end = np.empty((len(names), n), np.int64), np.empty((len(names), n), np.int64)
            is_str = np.empty((len(names), n), bool)
        elif plan.names != names:
            return None
        if len(members) == n and good.all():  # one layout, the usual case
            return _Layout(plan.names, np.array(plan.is_str), None, lo, hi)
        rows_here = members[good]
        start[:, rows_here], end[:, rows_here] = lo, hi
        is_str[:, rows_here] = np.array(plan.is_str)[:, None]
        strings.append(np.array(plan.is_str))
        pending = pending[~np.isin(pending, rows_here, assume_unique=True)]
        if not pending.size:
            same = all((x == strings[0]).all() for x in strings)
            return _Layout(names, np.any(strings, axis=0), None if same else is_str, start, end)
    return None  # more layouts than that: left to pyarrow


def _place(
    rows: _Rows, quotes: np.ndarray, before: np.ndarray, members: np.ndarray
) -> tuple[_Plan, np.ndarray, np.ndarray, np.ndarray] | None:
    """The first member's plan, which members follow it, and (K, members) spans of their
    values."""
    buf, rel = rows.buf, rows.rel
    r0, m = int(members[0]), int(before[members[0] + 1] - before[members[0]])
    plan = _plan(
        buf[rel[r0] : rel[r0 + 1]].tobytes(), (quotes[before[r0] : before[r0] + m] - rel[r0]).tolist()
    )
    if plan is None:
        return None
    anchor = np.array([a for a, _ in plan.run_at])
    run = quotes[before[members, None] + np.minimum(anchor, m - 1)]  # (members, R)
    if (anchor == m).any():
        run[:, anchor == m] = rel[members + 1, None]
    run += np.array([d for _, d in plan.run_at])
    size = np.array([len(x) for x in plan.runs])
    start, end = run[:, :-1] + size[:-1], run[:, 1:]  # the values between the runs
    # the runs of a row in order inside it, a number or keyword not empty (then its quotes
    # are where the plan has them once its runs compare equal)
    lit = ~np.array(plan.is_str)
    good = (
        (run[:, 0] == rel[members])
        & (run[:, -1] + size[-1] == rel[members + 1])
        & (end - start >= lit).all(axis=1)
    )
    if lit.any():  # blanks around a number or keyword where the first row has none: another layout
        around = np.take(buf, start[:, lit], mode="clip"), np.take(buf, end[:, lit] - 1, mode="clip")
        good &= ~(_blank(around[0]) | _blank(around[1])).any(axis=1)
    if good.all():
        good = _same_runs(rows, run, plan.runs)
    else:
        good[good] = _same_runs(rows, run[good], plan.runs)
    if not good[0]:
        return None
    return plan, good, start[good].T, end[good].T


def _plan(row: bytes, qs: list[int]) -> _Plan | None:
    """Parse the first row (its quotes at ``qs``) into its keys and the stretches between
    its values. (The values' bytes of every row are checked later; those of the keys and
    stretches here, once: the other rows must match them.)"""
    size, m = len(row), len(qs)
    if b"\\" in row or any(c < _SPACE and c != _TAB for c in row):
        return None
    names: list[str] = []
    is_str: list[bool] = []
    spans: list[tuple[int, int]] = []  # each value's [start, end)

    def blanks(i: int) -> int:
        while i < size and row[i] in _BLANKS:
            i += 1
        return i

    i = blanks(0)
    if row[i : i + 1] != b"{":
        return None
    k = 0  # the next quote
    while True:
        i = blanks(i + 1)
        if k + 1 >= m or i != qs[k]:
            return None
        key = row[qs[k] + 1 : qs[k + 1]]
        if any(c < _SPACE for c in key):
            return None
        names.append(key.decode("utf-8"))
        i, k = blanks(qs[k + 1] + 1), k + 2
        if row[i : i + 1] != b":":
            return None
        i = blanks(i + 1)
        if k + 1 < m and i == qs[k]:  # a string
            spans.append((qs[k] + 1, qs[k + 1]))
            is_str.append(True)
            i, k = qs[k + 1] + 1, k + 2
        else:  # a number or keyword: up to a blank, ',' or '}'
            j = i
            while j < size and row[j] not in b' \t,}"{[]:':
                j += 1
            if j == i:
                return None
            spans.append((i, j))
            is_str.append(False)
            i = j
        i = blanks(i)
        if row[i : i + 1] == b"}":
            break
        if row[i : i + 1] != b",":
            return None
    if blanks(i + 1) != size or k != m or len(set(names)) != len(names):
        return None

    def after(p: int) -> tuple[int, int]:  # from the first quote at or after p, else the end
        x = min((x for x in range(m) if qs[x] >= p), default=m)
        return (x, p - qs[x]) if x < m else (m, p - size)

    bounds = [0, *(p for a, b in spans for p in (a, b)), size]
    runs = [row[a:b] for a, b in zip(bounds[0::2], bounds[1::2], strict=True)]
    return _Plan(names, is_str, runs, [after(a) for a in bounds[0::2]])


def _same_runs(rows: _Rows, place: np.ndarray, runs: list[bytes]) -> np.ndarray:
    """Which rows have these runs at these (n, R) places (ascending row by row): Arrow
    copies them out back to back, and one comparison with the runs row after row."""
    n, r = place.shape
    if not n:
        return np.zeros(0, bool)
    offsets = np.empty((n, r, 2), np.int32)
    np.add(place, rows.base, out=offsets[..., 0], casting="unsafe")
    np.add(place, np.array([len(x) for x in runs]) + rows.base, out=offsets[..., 1], casting="unsafe")
    spans = pa.Array.from_buffers(pa.binary(), 2 * n * r - 1, [None, pa.py_buffer(offsets), rows.values])
    got = spans.take(pa.array(np.arange(0, 2 * n * r, 2, dtype=np.int32)))
    template = b"".join(runs)
    data = got.buffers()[2]
    if data[: n * len(template)].equals(pa.py_buffer(template * n)):
        return np.ones(n, bool)  # (one comparison of the bytes: the usual case)
    rows_data = np.frombuffer(data, np.uint8, n * len(template)).reshape(n, len(template))
    same: np.ndarray = (rows_data == np.frombuffer(template, np.uint8)).all(axis=1)
    return same


def _blank(b: np.ndarray) -> np.ndarray:
    blank: np.ndarray = (b == _SPACE) | (b == _TAB)
    return blank


def _digit(b: np.ndarray) -> np.ndarray:
    digit: np.ndarray = (b - np.uint8(_ZERO)) < 10
    return digit


# -- the columns ------------------------------------------------------------------------


def _columns(rows: _Rows, lay: _Layout) -> list[pa.Array] | None:
    """One array per key, typed as pyarrow.json infers it; None where that is not exact."""
    buf, start, end = rows.buf, lay.start, lay.end
    k, n = start.shape
    valid = np.ones((k, n), bool)
    out: dict[int, pa.Array] = {}
    str_cols = np.flatnonzero(lay.strings).tolist()
    for j in str_cols:  # strings, and null where not (rows of another layout)
        if lay.is_str is not None and not lay.is_str[j].all():
            cells = np.flatnonzero(~lay.is_str[j])
            kind = _kinds(buf, start[j, cells], end[j, cells])
            if kind is None or (kind != _NULL).any():
                return None  # strings mixed with numbers or booleans
            valid[j, cells] = False
    lit = np.flatnonzero(~lay.strings)
    first = buf[start[lit]]  # (L, n)
    plain = ((first == _MINUS) | _digit(first)).all(axis=1)  # numbers only, the usual case
    numbers = lit[plain].tolist()
    null_cols: list[int] = []
    for j in lit[~plain].tolist():
        if _booleans(buf, start[j], end[j]):  # true or false only, the usual case
            out[j] = pa.array(buf[start[j]] == ord("t"), pa.bool_())
            continue
        kind = _kinds(buf, start[j], end[j])
        if kind is None:
            return None
        valid[j] = ok = kind != _NULL
        if not ok.any():
            null_cols.append(j)
        elif (kind[ok] == _BOOL).all():
            out[j] = pa.array(buf[start[j]] == ord("t"), pa.bool_(), mask=~ok)
        elif (kind[ok] == _NUMBER).all():
            numbers.append(j)
        else:
            return None  # booleans mixed with numbers
    if null_cols and any(_maybe_timestamps(buf, lay, valid, j) for j in str_cols):
        return None  # pyarrow would infer a timestamp, read again and make the nulls strings
    for j in null_cols:
        out[j] = pa.nulls(n)
    if numbers:
        parsed = _numbers(rows, start[numbers], end[numbers], valid[numbers])
        if parsed is None:
            return None
        out.update(zip(numbers, parsed, strict=True))
    if str_cols:
        g = np.array(str_cols)
        text = _cut(rows, start[g], end[g], valid[g], compact=True)
        if not _plain_text(text):
            return None
        for x, j in enumerate(str_cols):
            out[j] = text.slice(x * n, n)
    return [out[j] for j in range(k)]


def _booleans(buf: np.ndarray, start: np.ndarray, end: np.ndarray) -> bool:
    """Whether every token is ``true`` or ``false``."""
    length = end - start
    t = length == 4
    if not (t | (length == 5)).all():
        return False
    words = _words(buf, start) & np.where(t, np.uint64(0xFFFFFFFF), np.uint64(0xFFFFFFFFFF))
    return bool((words == np.where(t, np.uint64(_TRUE), np.uint64(_FALSE))).all())


def _words(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The 8 bytes at each position as a little-endian uint64 (zero past the end)."""
    if len(buf) < 8:
        buf = np.concatenate([buf, np.zeros(8, np.uint8)])
    last = len(buf) - 8
    view = np.ndarray((last + 1,), "<u8", buffer=buf, strides=(1,))
    at = np.minimum(pos, last)
    words: np.ndarray = view[at] >> ((pos - at).astype(np.uint64) * np.uint64(8))
    return words


def _kinds(buf: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray | None:
    """_NULL/_BOOL/_NUMBER of each token, None if one is neither a keyword nor starts
    like a number."""
    length = end - start
    if not (length > 0).all():
        return None
    first = buf[start]
    kind = np.where((first == _MINUS) | _digit(first), _NUMBER, 0).astype(np.int8)
    for word, k in ((b"null", _NULL), (b"true", _BOOL), (b"false", _BOOL)):
        at = np.flatnonzero((first == word[0]) & (length == len(word)))
        if at.size:
            got = buf[start[at, None] + np.arange(1, len(word))]
            kind[at[(got == np.frombuffer(word[1:], np.uint8)).all(axis=1)]] = k
    if not (kind > 0).all():
        return None
    return kind


def _numbers(rows: _Rows, start: np.ndarray, end: np.ndarray, ok: np.ndarray) -> list[pa.Array] | None:
    """(C, n) number tokens (null where not ``ok``), checked to be JSON numbers, converted as
    pyarrow.json does: int64, or float64 where one has a fraction or an exponent or is
    beyond int64."""
    buf, c = rows.buf, len(start)
    if int((end - start).max()) > _MAX_NUMBER:
        return None
    # (the first byte is '-' or a digit) a digit follows '-'; a leading zero is the whole
    # integer part: "0", "-0", "0.5", "0e5" (the int64 parser takes "0x10" too)
    # (the byte after a token is never a digit)
    lead = buf[start]
    minus = lead == _MINUS
    if minus.any():
        lead = np.where(minus, np.take(buf, start + 1, mode="clip"), lead)
        if (ok & ~_digit(lead)).any():
            return None
    if (ok & (lead == _ZERO)).any():
        after = np.take(buf, start + 1 + minus, mode="clip")
        short = end - start == 1 + minus
        if (ok & (lead == _ZERO) & ~short & (after != _DOT) & ((after | 0x20) != ord("e"))).any():
            return None
    floats = _fraction_ahead(rows, start, end)
    out: dict[int, pa.Array] = {}
    ints = [x for x in range(c) if not floats[x]]
    if ints:
        try:  # (the int64 parser takes "-"? digits, and "0x…", refused above)
            out.update(zip(ints, _cast(rows, start[ints], end[ints], ok[ints], pa.int64()), strict=True))
        except pa.ArrowInvalid:  # an exponent or a fraction, or beyond int64: float64
            for x in ints:
                try:
                    out[x] = _cast(rows, start[x : x + 1], end[x : x + 1], ok[x : x + 1], pa.int64())[0]
                except pa.ArrowInvalid:
                    floats[x] = True
    rest = [x for x in range(c) if floats[x]]
    if rest:
        try:
            got = _cast(rows, start[rest], end[rest], ok[rest], pa.float64(), check_dots=True)
        except pa.ArrowInvalid:
            return None
        for x, column in zip(rest, got, strict=True):
            if not _parsed_alike(buf, column, start[x], end[x], ok[x]):
                return None
            out[x] = column
    return [out[x] for x in range(c)]


def _fraction_ahead(rows: _Rows, start: np.ndarray, end: np.ndarray) -> list[bool]:
    """Per (C, n) column, whether one of its first numbers has a fraction or an exponent
    (the column is then cast to float64 at once: a failing int64 cast costs ~1 µs per
    failing number)."""
    s, e = start[:, :_SAMPLE], end[:, :_SAMPLE]
    raw = rows.buf[: int(e.max())].tobytes()
    return [
        any(b"." in t or b"e" in t or b"E" in t for t in (raw[a:b] for a, b in zip(a_, b_, strict=True)))
        for a_, b_ in zip(s.tolist(), e.tolist(), strict=True)
    ]


def _cast(
    rows: _Rows, start: np.ndarray, end: np.ndarray, ok: np.ndarray, to: pa.DataType, check_dots: bool = False
) -> list[pa.Array]:
    """The (C, n) tokens cast to ``to`` in one kernel call, a column each. With
    ``check_dots``, raise ArrowInvalid where a '.' has no digit after it ("1.", "1.e5":
    the float parser takes them, JSON does not)."""
    c, n = start.shape
    text = _cut(rows, start, end, ok, compact=False)
    parsed = pc.cast(text, to)
    if check_dots:
        dot = pc.find_substring(text, ".")
        at = np.frombuffer(dot.buffers()[1], np.int32, len(dot), dot.offset * 4)[0::2].reshape(n, c).T
        has = ok & (at >= 0)
        if has.any() and not _digit(rows.buf[start[has] + at[has] + 1]).all():
            raise pa.ArrowInvalid("a '.' without a digit after it")
    dtype = np.int64 if to == pa.int64() else np.float64
    got = np.frombuffer(parsed.buffers()[1], dtype, len(parsed), parsed.offset * 8)[0::2].reshape(n, c)
    return [
        pa.array(np.ascontiguousarray(got[:, x]), to, mask=None if ok[x].all() else ~ok[x]) for x in range(c)
    ]


def _parsed_alike(
    buf: np.ndarray, column: pa.Array, start: np.ndarray, end: np.ndarray, ok: np.ndarray
) -> bool:
    """Whether pyarrow.json's parser takes these floats too. It fails where a positive
    exponent exceeds 308 less the fraction's digits: there the value overflows, or is zero
    (zeros with a positive exponent of three digits or more are left to it)."""
    got = np.frombuffer(column.buffers()[1], np.float64, len(column), column.offset * 8)
    if np.isinf(got[ok]).any():
        return False
    zero = np.flatnonzero(ok & (got == 0) & (end - start >= 5))  # ("0e100": five at least)
    if not zero.size:
        return True
    length = (end - start)[zero, None]
    width = int(length.max())
    t = np.where(
        np.arange(width) < length, np.take(buf, start[zero, None] + np.arange(width), mode="clip"), 0
    )
    past = np.cumsum((t | 0x20) == ord("e"), axis=1) > 0  # the exponent mark and after it
    positive = ~(past & (t == _MINUS)).any(axis=1)
    return not (positive & ((past & _digit(t)).sum(axis=1) > 2)).any()


def _cut(rows: _Rows, start: np.ndarray, end: np.ndarray, ok: np.ndarray, compact: bool) -> pa.Array:
    """The (C, n) spans [start, end) as strings, null where not ``ok``: a compact array,
    column after column (``compact``), or the cells row by row interleaved with nulls
    (cell i at 2i, for kernels that skip nulls)."""
    c, n = start.shape
    offsets = np.empty((n, c, 2), np.int32)  # row by row: ascending
    np.add(start.T, rows.base, out=offsets[..., 0], casting="unsafe")
    np.add(
        (end if ok.all() else np.where(ok, end, start)).T, rows.base, out=offsets[..., 1], casting="unsafe"
    )
    size = 2 * c * n - 1
    if compact:
        spans = pa.Array.from_buffers(pa.string(), size, [None, pa.py_buffer(offsets), rows.values])
        idx = 2 * (np.arange(c, dtype=np.int32)[:, None] + c * np.arange(n, dtype=np.int32))
        return spans.take(pa.array(idx.ravel(), pa.int32(), mask=None if ok.all() else ~ok.ravel()))
    if ok.all():
        validity = pa.py_buffer(b"\x55" * ((size + 7) // 8))
    else:
        keep = np.zeros((n, c, 2), bool)
        keep[..., 0] = ok.T
        validity = pa.py_buffer(np.packbits(keep.ravel(), bitorder="little"))
    return pa.Array.from_buffers(pa.string(), size, [validity, pa.py_buffer(offsets), rows.values])


def _plain_text(text: pa.Array) -> bool:
    """Whether these strings have no escapes and no control characters, in UTF-8."""
    data = text.buffers()[2]
    if data is None or not data.size:
        return True
    raw = np.frombuffer(data, np.uint8)
    if raw.min() < _SPACE or (raw == _BACKSLASH).any():
        return False
    return raw.max() < 0x80 or _utf8(text)


def _maybe_timestamps(buf: np.ndarray, lay: _Layout, valid: np.ndarray, j: int) -> bool:
    """Whether every string of key j could be an ISO 8601 timestamp ("YYYY-…", ≥ 10 bytes)."""
    o, c = lay.start[j, valid[j]], lay.end[j, valid[j]]
    if not o.size or not ((c - o) >= 10).all():
        return False
    head = buf[o[:, None] + np.arange(5)]
    return bool(((head[:, :4] - np.uint8(_ZERO)) < 10).all() and (head[:, 4] == _MINUS).all())
