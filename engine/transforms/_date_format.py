"""``java.text.SimpleDateFormat`` patterns, in UTC, over whole Arrow arrays.

TimestampConverter and TimestampRouter take SimpleDateFormat patterns (always in UTC, the
English locale). :class:`DateFormat` compiles one once and then formats epoch milliseconds
to text (:meth:`DateFormat.format`) and parses text to epoch milliseconds
(:meth:`DateFormat.parse`) for a whole array with numpy and Arrow kernels:

* formatting computes the calendar fields with integer arithmetic; when every piece has a
  fixed width (``yyyy-MM-dd'T'HH:mm:ss.SSSZ``, ``yyyyMMdd`` …) the text is written straight
  into one byte buffer, otherwise the pieces are padded and joined by Arrow kernels;
* parsing turns the pattern into one regular expression (``extract_regex``), then adds up
  the fields as a *lenient* ``Calendar`` does (month 13 is January of the next year, day 32
  rolls into the next month), and, like ``DateFormat.parse(String)``, ignores text after
  the pattern's end. Numbers directly followed by another number field take exactly as
  many digits as the pattern has letters (``yyyyMMdd``), others take all the digits there
  are; spaces and tabs before a field are skipped.

Letters (Java's meaning): ``G`` era, ``y`` year (``yy``: two digits; parsing two digits
uses the 80-years-back/20-years-ahead window), ``M``/``L`` month (``MMM`` Jan, ``MMMM``
January), ``d`` day in month, ``D`` day in year, ``F`` day-of-week in month, ``E`` day name,
``u`` day number of week (1 = Monday), ``a`` AM/PM, ``H`` (0-23) ``k`` (1-24) ``K`` (0-11) ``h``
(1-12) hours, ``m`` minutes, ``s`` seconds, ``S`` milliseconds (a number: ``SSSSSS`` is the
milliseconds padded to six digits, as in Java), ``z`` ``Z`` ``X`` zones (UTC when formatting:
``UTC``, ``+0000``, ``Z``; parsing accepts ``Z``, ``UTC``/``GMT``/``UT`` and numeric offsets).
``'text'`` is literal text and ``''`` a single quote.

Not supported (:class:`DateFormatError` when the pattern is compiled): the week-based
letters ``Y``, ``w``, ``W``. Differences from Java: dates before the Gregorian reform
(1582-10-15) are proleptic Gregorian where Java uses the Julian calendar; parsing ignores
``E``, ``u`` and ``F``, and accepts only the zone names UTC, GMT and UT.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["DateFormat", "DateFormatError"]

DAY_MS = 86_400_000
_PATTERN_LETTERS = "GyMdkHmsSEDFwWahKzZYuXL"
_UNSUPPORTED = {"Y": "week year", "w": "week in year", "W": "week in month"}
_NUMERIC = frozenset("ydkHmsSDFhKuwWY")
_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
# Field widths when every value fits the pattern's letter count.
_MAX_DIGITS = {"M": 2, "L": 2, "d": 2, "D": 3, "F": 1, "u": 1, "H": 2, "k": 2, "K": 2, "h": 2}
_MAX_DIGITS.update({"m": 2, "s": 2, "S": 3})
_GRANULARITY = {"S": 1, "s": 1000, "m": 60_000, "H": 3_600_000, "k": 3_600_000, "K": 3_600_000}
_GRANULARITY.update({"h": 3_600_000, "a": 3_600_000 * 12})


class DateFormatError(ValueError):
    """A pattern SimpleDateFormat refuses, or one with letters not supported here."""


@dataclass(frozen=True, slots=True)
class _Token:
    letter: str  # "" for literal text
    count: int = 0
    text: str = ""

    @property
    def numeric(self) -> bool:
        return bool(self.letter) and (self.letter in _NUMERIC or (self.letter in "ML" and self.count <= 2))


def _compile(pattern: str) -> list[_Token]:
    """``SimpleDateFormat.compile``: letters, quoted text and other characters."""
    tokens: list[_Token] = []
    i, n = 0, len(pattern)
    literal: list[str] = []

    def flush() -> None:
        if literal:
            tokens.append(_Token("", text="".join(literal)))
            literal.clear()

    while i < n:
        c = pattern[i]
        if c == "'":
            if pattern.startswith("''", i):
                literal.append("'")
                i += 2
                continue
            i += 1
            while True:
                if i >= n:
                    raise DateFormatError("Unterminated quote")
                if pattern[i] == "'":
                    if pattern.startswith("''", i):
                        literal.append("'")
                        i += 2
                        continue
                    i += 1
                    break
                literal.append(pattern[i])
                i += 1
            continue
        if ("a" <= c <= "z") or ("A" <= c <= "Z"):
            if c not in _PATTERN_LETTERS:
                raise DateFormatError(f"Illegal pattern character '{c}'")
            j = i
            while j < n and pattern[j] == c:
                j += 1
            count = j - i
            if c == "X" and count > 3:
                raise DateFormatError(f"invalid ISO 8601 format: length={count}")
            if c in _UNSUPPORTED:
                raise DateFormatError(f"pattern letter '{c}' ({_UNSUPPORTED[c]}) is not supported")
            flush()
            tokens.append(_Token(c, count))
            i = j
            continue
        literal.append(c)
        i += 1
    flush()
    return tokens


# ----------------------------------------------------------------------------- calendar


def civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month (1-12), day (1-31) of days since 1970-01-01 (proleptic Gregorian)."""
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    return year, month, day


def days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a date, leniently: months and days beyond their range roll over."""
    if year.size and np.abs(year).max() < 100_000 and np.abs(month).max() < 1_000_000:
        year, month = year.astype(np.int32), month.astype(np.int32)  # faster divisions
    months = year * 12 + (month - 1)
    y = np.floor_divide(months, 12)
    m = months - y * 12 + 1
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * np.where(m > 2, m - 3, m + 9) + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    result: np.ndarray = (era * 146_097 + doe - 719_468).astype(np.int64) + (day - 1)
    return result


class _Fields:
    """Calendar fields of epoch milliseconds, computed when first asked for."""

    def __init__(self, millis: np.ndarray) -> None:
        self.millis = millis
        self.days = np.floor_divide(millis, DAY_MS)
        self.tod = (millis - self.days * DAY_MS).astype(np.int32)
        self._ymd: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def ymd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._ymd is None:
            days = self.days
            if days.size and int(days.min()) > -(10**8) and int(days.max()) < 10**8:
                days = days.astype(np.int32)  # numpy divides int32 several times faster
            self._ymd = civil_from_days(days)
        return self._ymd

    def value(self, letter: str) -> np.ndarray:
        """The number a letter prints (for words: their index), per row."""
        return np.asarray(self._value(letter))

    def _value(self, letter: str) -> Any:
        hour = self.tod // 3_600_000
        if letter in "GyMLdDF":
            year, month, day = self.ymd()
            if letter == "G":
                return (year > 0).astype(np.int64)
            if letter == "y":
                return np.where(year > 0, year, 1 - year)
            if letter in "ML":
                return month
            if letter == "d":
                return day
            if letter == "F":
                return (day - 1) // 7 + 1
            jan1 = days_from_civil(year, np.ones_like(year), np.ones_like(year))
            return self.days - jan1 + 1
        if letter == "E":
            return np.mod(self.days + 4, 7)  # 0 = Sunday
        if letter == "u":
            return np.mod(self.days + 3, 7) + 1  # 1 = Monday
        if letter == "a":
            return (hour >= 12).astype(np.int64)
        if letter == "H":
            return hour
        if letter == "k":
            return np.where(hour == 0, 24, hour)
        if letter == "K":
            return hour % 12
        if letter == "h":
            h12 = hour % 12
            return np.where(h12 == 0, 12, h12)
        if letter == "m":
            return (self.tod // 60_000) % 60
        if letter == "s":
            return (self.tod // 1000) % 60
        if letter == "S":
            return self.tod % 1000
        raise AssertionError(letter)


def _texts(token: _Token) -> list[str] | None:
    """The words a text field prints, indexed by its value; None for numbers."""
    letter, count = token.letter, token.count
    if letter in "ML" and count >= 3:
        return [m if count >= 4 else m[:3] for m in _MONTHS]  # indexed by month - 1
    if letter == "E":
        return [d if count >= 4 else d[:3] for d in _DAYS]
    if letter == "a":
        return ["AM", "PM"]
    if letter == "G":
        return ["BC", "AD"]
    if letter == "z":
        return ["Coordinated Universal Time" if count >= 4 else "UTC"]
    if letter == "Z":
        return ["+0000"]
    if letter == "X":
        return ["Z"]
    return None


def _zone(token: _Token) -> bool:
    return token.letter in "zZX"


# ----------------------------------------------------------------------------- formatting


class DateFormat:
    """One compiled SimpleDateFormat pattern (UTC, English)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._tokens = _compile(pattern)
        letters = {t.letter for t in self._tokens if t.letter}
        self.granularity_ms = min((_GRANULARITY.get(c, DAY_MS) for c in letters), default=DAY_MS)
        """The largest unit of time within which every instant formats the same (a day at most)."""
        self._parser = _Parser(self._tokens)

    def __repr__(self) -> str:
        return f"DateFormat({self.pattern!r})"

    def format(self, millis: pa.Array) -> pa.Array:
        """Epoch milliseconds (int64 or a timestamp/date array) as text; null stays null."""
        values = _epoch_millis(millis)
        n = len(values)
        valid = values.is_valid() if values.null_count else None
        raw = np.asarray(values.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
        fields = _Fields(raw)
        pieces = [(t, _piece_values(t, fields)) for t in self._tokens]
        text = _fixed_width(pieces, n)
        if text is None:
            text = _joined(pieces, n)
        if valid is not None:
            text = pc.if_else(valid, text, pa.nulls(n, pa.string()))
        return text

    def format_one(self, millis: int) -> str:
        out = self.format(pa.array([millis], pa.int64()))[0].as_py()
        assert isinstance(out, str)
        return out

    def parse(self, text: pa.Array) -> tuple[pa.Array, list[int]]:
        """Text → int64 epoch milliseconds; also the rows that do not match the pattern.

        Null text gives null; unparsable rows give null and are listed.
        """
        return self._parser.parse(text)


def _piece_values(token: _Token, fields: _Fields) -> np.ndarray | None:
    """What a token prints, per row: a number, an index into its words, or None (constant)."""
    if not token.letter or _zone(token):
        return None
    values = fields.value(token.letter)
    return values - 1 if token.letter in "ML" and token.count >= 3 else values


def _epoch_millis(arr: pa.Array) -> pa.Array:
    t = arr.type
    if pa.types.is_timestamp(t):
        if t.unit != "ms":
            arr = pc.cast(arr, pa.timestamp("ms", t.tz), safe=False)
        return arr.view(pa.int64()) if arr.type.tz is None else pc.cast(arr, pa.int64())
    if pa.types.is_date32(t):
        return pc.multiply(arr.view(pa.int32()).cast(pa.int64()), DAY_MS)
    if pa.types.is_date64(t):
        return arr.view(pa.int64())
    if pa.types.is_time(t):
        return pc.cast(pc.cast(arr, pa.time32("ms")).view(pa.int32()), pa.int64())
    return arr.cast(pa.int64())


def _digits(values: np.ndarray, count: int, letter: str) -> int | None:
    """The fixed width of a number field, or None when its values do not fit one."""
    if letter == "y" and count == 2:
        return 2
    limit = _MAX_DIGITS.get(letter)
    if limit is not None and count >= limit:
        return count
    if letter == "y" and count >= 4 and (values.size == 0 or int(values.max()) < 10**count):
        return count
    return None


def _fixed_width(pieces: Sequence[tuple[_Token, np.ndarray | None]], n: int) -> pa.Array | None:
    """The text written into one byte buffer when every piece has one width; else None."""
    plan: list[tuple[int, Callable[[np.ndarray], None]]] = []
    for token, values in pieces:
        words = _texts(token) if token.letter else [token.text]
        if words is not None:
            encoded = [w.encode() for w in words]
            if len({len(w) for w in encoded}) != 1:
                return None
            width = len(encoded[0])
            table = np.frombuffer(b"".join(encoded), np.uint8).reshape(len(encoded), width)
            idx = values

            def put_text(out: np.ndarray, table: np.ndarray = table, idx: np.ndarray | None = idx) -> None:
                out[:] = table[0] if idx is None else table[idx]

            plan.append((width, put_text))
            continue
        assert values is not None
        width_or_none = _digits(values, token.count, token.letter)
        if width_or_none is None:
            return None
        number = values % 100 if token.letter == "y" and token.count == 2 else values

        def put_number(out: np.ndarray, number: np.ndarray = number) -> None:
            _write_digits(out, number)

        plan.append((width_or_none, put_number))
    row = sum(w for w, _ in plan)
    buf = np.empty((n, row), np.uint8)
    at = 0
    for width, put in plan:
        put(buf[:, at : at + width])
        at += width
    offsets = np.arange(0, (n + 1) * row, row, dtype=np.int64)
    if offsets[-1] >= 2**31:
        return None
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(buf.reshape(-1))
    )


def _write_digits(out: np.ndarray, number: np.ndarray) -> None:
    """Write ``number`` (non-negative) zero-padded into the columns of ``out``."""
    top = int(number.max()) if number.size else 0
    dtype = np.uint8 if top < 256 else np.uint16 if top < 65_536 else np.uint32 if top < 2**32 else np.uint64
    x: np.ndarray = number.astype(dtype)
    for k in range(out.shape[1] - 1, -1, -1):
        q: np.ndarray = np.floor_divide(x, 10)
        out[:, k] = np.subtract(x, q * 10)
        x = q
    out += 48


def _joined(pieces: Sequence[tuple[_Token, np.ndarray | None]], n: int) -> pa.Array:
    """The text as Arrow kernels build it: numbers padded, words looked up, all joined."""
    parts: list[pa.Array | str] = []
    for token, values in pieces:
        words = _texts(token) if token.letter else [token.text]
        if words is not None:
            parts.append(words[0] if values is None else pa.array(words).take(pa.array(values)))
            continue
        assert values is not None
        number = values % 100 if token.letter == "y" and token.count == 2 else values
        text = pc.cast(pa.array(number), pa.string())
        parts.append(pc.utf8_lpad(text, token.count, "0") if token.count > 1 else text)
    if not parts:
        return pa.array([""] * n, pa.string())
    if len(parts) == 1:
        only = parts[0]
        return only if isinstance(only, pa.Array) else pa.array([only] * n, pa.string())
    if not any(isinstance(p, pa.Array) for p in parts):
        return pa.array(["".join(str(p) for p in parts)] * n, pa.string())
    return pc.binary_join_element_wise(*parts, "")


# ----------------------------------------------------------------------------- parsing

_META = frozenset("\\.^$|?*+()[]{}-/ #&~")
_ZONE_NAMES = {"UTC": 0, "GMT": 0, "UT": 0, "Z": 0}
_ZONE_RE = {
    "z": r"(?i:GMT)[+-]\d{1,2}:\d{2}|(?i:Coordinated Universal Time|UTC|GMT|UT)|[+-]\d{4}",
    "Z": r"(?i:GMT)[+-]\d{1,2}:\d{2}|(?i:Coordinated Universal Time|UTC|GMT|UT)|[+-]\d{4}",
    "X1": r"Z|[+-]\d{2}",
    "X2": r"Z|[+-]\d{4}",
    "X3": r"Z|[+-]\d{2}:\d{2}",
}
_OFFSET = re.compile(r"([+-])(\d{1,2}):?(\d{2})?$")


def _quote(text: str) -> str:
    return "".join("\\" + c if c in _META else c for c in text)


def _alternatives(words: Sequence[str]) -> str:
    ordered = sorted({w for w in words if w}, key=len, reverse=True)
    return "(?i:" + "|".join(_quote(w) for w in ordered) + ")"


def _zone_offset_ms(text: str) -> int:
    upper = text.upper()
    for name in ("COORDINATED UNIVERSAL TIME", "UTC", "GMT", "UT"):
        if upper.startswith(name):
            upper = upper[len(name) :]
            break
    if upper in ("", "Z"):
        return 0
    m = _OFFSET.match(upper)
    if m is None:
        raise ValueError(text)
    digits = m.group(2) + (m.group(3) or "")
    hours, minutes = (int(digits[:-2]), int(digits[-2:])) if len(digits) > 2 else (int(digits), 0)
    return (1 if m.group(1) == "+" else -1) * (hours * 60 + minutes) * 60_000


def _fixed_layout(tokens: Sequence[_Token]) -> list[tuple[str, int, bytes | None]] | None:
    """(letter, digits, literal) pieces when the pattern has a fixed-width text form, else None.

    Text in exactly that layout parses the same as with the regular expression: each number
    field is delimited by a literal that does not start with a digit (or is the last field,
    or is followed by another number field, which makes it take exactly its letter count).
    """
    layout: list[tuple[str, int, bytes | None]] = []
    for i, token in enumerate(tokens):
        if not token.letter:
            layout.append(("", 0, token.text.encode()))
            continue
        if not token.numeric or token.letter in "EuF":
            return None
        following = tokens[i + 1] if i + 1 < len(tokens) else None
        if following is not None and not following.letter and following.text[:1] in "0123456789":
            return None
        layout.append((token.letter, token.count, None))
    return layout if any(lit is None for _, _, lit in layout) else None


def _template(layout: Sequence[tuple[str, int, bytes | None]]) -> tuple[np.ndarray, np.ndarray]:
    """The bytes a fixed layout expects (zeros for digits) and where the digits go."""
    template = b"".join(lit if lit is not None else b"0" * count for _, count, lit in layout)
    digit = [
        ch for _, count, lit in layout for ch in ([False] * len(lit) if lit is not None else [True] * count)
    ]
    return np.frombuffer(template, np.uint8), np.array(digit, bool)


class _Parser:
    def __init__(self, tokens: Sequence[_Token]) -> None:
        self.fields: list[tuple[str, _Token]] = []
        parts = ["^"]
        for i, token in enumerate(tokens):
            if not token.letter:
                parts.append(_quote(token.text))
                continue
            group = f"g{i}"
            self.fields.append((group, token))
            parts.append(f"[ \\t]*(?P<{group}>{self._body(token, tokens[i + 1 : i + 2])})")
        self.regex = "".join(parts)
        self.layout = _fixed_layout(tokens)
        self._template = _template(self.layout or [])
        now = dt.datetime.now(dt.UTC)
        start = now.replace(year=now.year - 80, day=28 if (now.month, now.day) == (2, 29) else now.day)
        self.century_start_year = start.year
        self.century_start_ms = int(start.timestamp() * 1000)

    @staticmethod
    def _body(token: _Token, following: Sequence[_Token]) -> str:
        if token.numeric:
            obey = bool(following) and following[0].numeric
            return f"\\d{{{token.count}}}" if obey else "\\d+"
        if token.letter in "ML":
            return _alternatives(_MONTHS + [m[:3] for m in _MONTHS])
        if token.letter == "E":
            return _alternatives(_DAYS + [d[:3] for d in _DAYS])
        if token.letter == "a":
            return _alternatives(["AM", "PM"])
        if token.letter == "G":
            return _alternatives(["AD", "BC"])
        if token.letter == "X":
            return _ZONE_RE[f"X{token.count}"]
        return _ZONE_RE[token.letter]

    def parse(self, text: pa.Array) -> tuple[pa.Array, list[int]]:
        n = len(text)
        if pa.types.is_dictionary(text.type):
            text = text.dictionary_decode()
        text = text.cast(pa.string())
        valid = np.asarray(text.is_valid().to_numpy(zero_copy_only=False), bool)
        millis = np.zeros(n, np.int64)
        good = np.zeros(n, bool)
        rest = valid
        if self.layout is not None and valid.any():
            rows, values = self._parse_fixed(text, valid)
            if rows.size:
                millis[rows] = values
                good[rows] = True
                rest = valid & ~good
        if rest.any():
            rows = np.flatnonzero(rest)
            subset = text if rows.size == n else text.take(pa.array(rows))
            ok, values = self._parse_regex(subset)
            millis[rows[ok]] = values[ok]
            good[rows[ok]] = True
        bad_rows = np.flatnonzero(valid & ~good)
        return pa.array(millis, pa.int64(), mask=~good), [int(r) for r in bad_rows]

    def _parse_fixed(self, text: pa.Array, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows laid out exactly as the pattern (fixed widths), parsed from the bytes: (rows, millis)."""
        assert self.layout is not None
        template, is_digit = self._template
        width = len(template)
        buffers = text.buffers()
        offsets = np.frombuffer(buffers[1], np.int32)[text.offset : text.offset + len(text) + 1]
        if buffers[2] is None or width == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        data = np.frombuffer(buffers[2], np.uint8)
        start = int(offsets[0])
        if (
            valid.all()
            and int(offsets[-1]) - start == len(text) * width
            and (np.diff(offsets) == width).all()
        ):
            rows = np.arange(len(text))
            grid = data[start : start + len(text) * width].reshape(len(text), width)
        else:
            rows = np.flatnonzero(valid & (np.diff(offsets) == width))
            grid = data[offsets[rows].astype(np.int64)[:, None] + np.arange(width)]
        bad = np.where(is_digit, (grid - np.uint8(48)) > 9, grid != template).any(axis=1)
        if bad.any():
            rows, grid = rows[~bad], grid[~bad]
        if not rows.size:
            return rows, np.zeros(0, np.int64)
        values: dict[str, np.ndarray] = {}
        at = 0
        for letter, count, lit in self.layout:
            if lit is not None:
                at += len(lit)
                continue
            number = grid[:, at].astype(np.int32) - 48
            for j in range(1, count):
                number = number * 10 + (grid[:, at + j].astype(np.int32) - 48)
            values[letter] = number.astype(np.int64)
            at += count
        counts = {letter: np.full(rows.size, n, np.int64) for letter, n, lit in self.layout if lit is None}
        return rows, self._combine(values, counts)

    def _parse_regex(self, text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """Rows parsed with the pattern's regular expression: (parsed mask, millis)."""
        n = len(text)
        if not self.fields:
            ok = pc.fill_null(pc.match_substring_regex(text, self.regex), False)
            return np.asarray(ok.to_numpy(zero_copy_only=False), bool), np.zeros(n, np.int64)
        matched = pc.extract_regex(text, self.regex)
        good = np.asarray(pc.is_valid(matched).to_numpy(zero_copy_only=False), bool)
        values: dict[str, np.ndarray] = {}
        widths: dict[str, np.ndarray] = {}
        for group, token in self.fields:
            raw = pc.if_else(pa.array(good), matched.field(group), "")
            got, bad = self._field(token, raw)
            good &= ~bad
            values[token.letter] = got
            widths[token.letter] = np.asarray(pc.utf8_length(raw).to_numpy(zero_copy_only=False), np.int64)
        if not good.any():
            return good, np.zeros(n, np.int64)
        return good, self._combine(values, widths)

    def _field(self, token: _Token, raw: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """A matched field's values, and the rows where they make no sense (too many digits, zone)."""
        n = len(raw)
        letter = token.letter
        no = np.zeros(n, bool)
        if token.numeric:
            too_long = np.asarray(pc.greater(pc.utf8_length(raw), 18).to_numpy(zero_copy_only=False), bool)
            digits = pc.if_else(pa.array(too_long), "0", raw) if too_long.any() else raw
            numbers = pc.cast(pc.if_else(pc.equal(digits, ""), "0", digits), pa.int64())
            return np.asarray(numbers.to_numpy(zero_copy_only=False), np.int64), too_long
        lowered = pc.utf8_lower(raw)
        if letter in "ML":
            names = pa.array([m.lower() for m in _MONTHS] + [m[:3].lower() for m in _MONTHS])
            idx = pc.fill_null(pc.index_in(lowered, names), 0)
            return np.asarray(idx.to_numpy(zero_copy_only=False), np.int64) % 12 + 1, no
        if letter in "aG":
            marker = "pm" if letter == "a" else "bc"
            return np.asarray(pc.equal(lowered, marker).to_numpy(zero_copy_only=False), np.int64), no
        if letter in "zZX":
            codes = pc.dictionary_encode(raw)
            table: list[int | None] = []
            for zone in codes.dictionary.to_pylist():
                try:
                    table.append(_zone_offset_ms(zone) if zone else 0)
                except ValueError:
                    table.append(None)
            offsets = pa.array(table, pa.int64()).take(codes.indices)
            bad = np.asarray(offsets.is_null().to_numpy(zero_copy_only=False), bool)
            return np.asarray(offsets.fill_null(0).to_numpy(zero_copy_only=False), np.int64), bad
        return np.zeros(n, np.int64), no  # E, u, F: they do not decide the date here

    def _combine(self, v: dict[str, np.ndarray], widths: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(v.values()))) if v else 0
        zeros = np.zeros(n, np.int64)
        year = v.get("y", zeros + 1970)
        y_tokens = [t for _, t in self.fields if t.letter == "y"]
        two = np.zeros(n, bool)
        if y_tokens and y_tokens[-1].count <= 2:
            # SimpleDateFormat's window for two-digit years: from 80 years ago to 20 years ahead
            two = widths["y"] == 2
            start = self.century_start_year
            resolved = year + (start // 100) * 100 + np.where(year < start % 100, 100, 0)
            year = np.where(two, resolved, year)
        millis = self._instant(v, year, zeros)
        early = two & (millis < self.century_start_ms)
        if early.any():
            millis = np.where(early, self._instant(v, year + 100, zeros), millis)
        return millis

    def _instant(self, v: dict[str, np.ndarray], year: np.ndarray, zeros: np.ndarray) -> np.ndarray:
        if "G" in v:
            year = np.where(v["G"] == 1, 1 - year, year)
        month = v.get("M", v.get("L", zeros + 1))
        if "d" in v:
            days = days_from_civil(year, month, v["d"])
        elif "D" in v:
            days = days_from_civil(year, zeros + 1, v["D"])
        else:
            days = days_from_civil(year, month, zeros + 1)
        if "H" in v:
            hour = v["H"]
        elif "k" in v:
            hour = np.where(v["k"] == 24, 0, v["k"])
        else:
            h12 = v["h"] % 12 if "h" in v else v.get("K", zeros)
            hour = h12 + 12 * v.get("a", zeros)
        clock = hour * 3_600_000 + v.get("m", zeros) * 60_000 + v.get("s", zeros) * 1000 + v.get("S", zeros)
        offset = zeros
        for letter in "zZX":
            if letter in v:
                offset = v[letter]
        result: np.ndarray = days * DAY_MS + clock - offset
        return result
