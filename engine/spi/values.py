"""Kafka Connect's ``Values``: how Connect prints values as text and reads text back.

This is the pure logic behind ``SimpleHeaderConverter`` and ``InsertHeader``, in the SPI so
that converters and transforms share it:

* :func:`convert_to_string` is ``Values.convertToString``: strings as they are, numbers and
  booleans as Java prints them, bytes as base64, lists ``[a,b]``, maps ``{k:v}``, structs
  ``{"name":value}`` (strings inside quoted, with ``\\`` and ``"`` escaped), dates and times
  as ISO-8601 (``2020-01-01``, ``12:34:56.789Z``, ``2020-01-01T12:34:56.789Z`` — chosen by
  value, as Kafka does). :func:`header_text` applies it to a whole array (one cast for
  strings, integers and booleans).
* :func:`parse_string` is ``Values.parseString`` (:func:`parsed_text` writes its result
  back): integers become the narrowest of INT8..INT64, other numbers FLOAT32 (FLOAT64 or
  Decimal when FLOAT32 overflows), ``true`` / ``false`` BOOLEAN, ``[..]`` arrays, ``{..}``
  maps, ISO dates/times their logical types, the rest (and the empty string) strings;
  ``null`` is null. :func:`kind_type` gives the Arrow type of a parsed kind,
  :func:`parse_column` types a whole column of header text.

A batch column has one Arrow type, where Kafka types each value on its own: numbers widen
to a common type as Kafka's ``SchemaMerger`` does, and when the values of a column have no
common type the whole column stays text (the values as they were). Plain strings — the
common case — are recognized with one regex kernel; only candidates are parsed in Python.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
from decimal import Context, Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi.errors import DataError
from engine.spi.schema import normalize_type

_CANDIDATE = r"^[\x00-\x20]*(?:[-+\[{]|\p{Nd}|true|false|null)|^[\x00-\x20]+[:,}\]\"]"
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_TIME = re.compile(r"(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z")
_DAY_MS = 86_400_000
_EPOCH = dt.datetime(1970, 1, 1)
_DELIMS = ':,{}[]"'

# Value kinds: "string", "boolean", "int8".."int64", "float32", "float64", ("decimal", scale),
# "date", "time", "timestamp", ("array", kind), ("map", kind, kind), None (no value / unknown).
_INTS = ("int8", "int16", "int32", "int64")
_NUMERIC = (*_INTS, "float32", "float64")


def canonical(arr: pa.Array) -> pa.Array:
    """``arr`` cast to the nearest Arrow type with a Connect counterpart (see ``normalize_type``)."""
    target = normalize_type(arr.type)
    if target == arr.type:
        return arr
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr.cast(target, safe=False)


def header_text(values: pa.Array) -> pa.Array:
    """Each value as ``SimpleHeaderConverter`` writes it (``Values.convertToString``), as binary."""
    values = canonical(values)
    t = values.type
    if pa.types.is_string(t) or pa.types.is_integer(t) or pa.types.is_boolean(t):
        return pc.cast(values, pa.string()).cast(pa.binary())
    out = [None if v is None else convert_to_string(v, t).encode("utf-8") for v in values.to_pylist()]
    return pa.array(out, pa.binary())


def parse_column(name: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
    """Header text (binary or string) read back with ``Values.parseString``, typed per column."""
    data = canonical(data)
    try:
        text = data.cast(pa.string())
    except pa.ArrowInvalid:
        text = pa.array(
            [None if b is None else b.decode("utf-8", "replace") for b in data.to_pylist()], pa.string()
        )
    candidates = pc.fill_null(pc.match_substring_regex(text, _CANDIDATE), False)
    if not pc.any(candidates).as_py():
        return pa.field(name, pa.string()), text
    return _typed_column(name, text, np.asarray(candidates.to_numpy(zero_copy_only=False), bool))


# writing ---------------------------------------------------------------------------------


def convert_to_string(value: Any, t: pa.DataType) -> str:
    """``Values.convertToString`` of one value of Arrow type ``t``."""
    return _append(value, t, False)


def _append(v: Any, t: pa.DataType, embedded: bool) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' if embedded else v
    if isinstance(v, float):
        if pa.types.is_null(t):  # no schema: a value that a float holds exactly was a Float
            with np.errstate(all="ignore"):
                return java_double_text(v, bool(np.float32(v) == v))
        return java_double_text(v, pa.types.is_float32(t))
    if isinstance(v, int | Decimal):
        return str(v)
    if isinstance(v, bytes):
        text = base64.b64encode(v).decode("ascii")
        return f'"{text}"' if embedded else text
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return _date_text(_millis(v))
    if pa.types.is_struct(t):
        return (
            "{"
            + ",".join(_append(f.name, pa.string(), True) + ":" + _append(v[f.name], f.type, True) for f in t)
            + "}"
        )
    if pa.types.is_map(t):
        pairs = ",".join(_append(k, t.key_type, True) + ":" + _append(x, t.item_type, True) for k, x in v)
        return "{" + pairs + "}"
    if pa.types.is_list(t):
        return "[" + ",".join(_append(x, t.value_type, True) for x in v) + "]"
    if pa.types.is_null(t) and isinstance(v, list):  # elements of mixed kinds
        if v and all(isinstance(x, tuple) for x in v):
            return "{" + ",".join(_append(k, t, True) + ":" + _append(x, t, True) for k, x in v) + "}"
        return "[" + ",".join(_append(x, t, True) for x in v) + "]"
    raise DataError(f"Failed to serialize unexpected value type {t}: {v!r}")


def parsed_text(parsed: Parsed | None) -> str | None:
    """A :func:`parse_string` result as ``Values.convertToString`` writes it (None for null).

    Lists and maps whose elements have no common kind are written element by element.
    """
    if parsed is None:
        return None
    kind, value = parsed
    t = kind_type(kind)
    if t is None and isinstance(kind, tuple) and kind[0] == "map":
        null = pa.null()
        return "{" + ",".join(_append(k, null, True) + ":" + _append(x, null, True) for k, x in value) + "}"
    return _append(value, t or pa.null(), False)


def _millis(v: dt.datetime | dt.date | dt.time) -> int:
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return (v - _EPOCH) // dt.timedelta(milliseconds=1)
    if isinstance(v, dt.date):
        return (v - _EPOCH.date()).days * _DAY_MS
    return ((v.hour * 60 + v.minute) * 60 + v.second) * 1000 + v.microsecond // 1000


def _date_text(ms: int) -> str:
    """``Values.dateFormatFor``: a time below one day, a date at midnight, else a timestamp."""
    when = _EPOCH + dt.timedelta(milliseconds=ms)
    clock = f"{when:%H:%M:%S}.{when.microsecond // 1000:03d}Z"
    if ms < _DAY_MS:
        return clock
    if ms % _DAY_MS == 0:
        return f"{when.year:04d}-{when:%m-%d}"
    return f"{when.year:04d}-{when:%m-%d}T{clock}"


# reading: a port of Values.parseString ---------------------------------------------------


def _trim(s: str) -> str:
    """Java's ``String.trim``: strips characters up to U+0020."""
    start, end = 0, len(s)
    while start < end and s[start] <= " ":
        start += 1
    while end > start and s[end - 1] <= " ":
        end -= 1
    return s[start:end]


class _Tokens:
    """Kafka's ``Values.Parser``: tokens split at ``: , { } [ ] "`` unless escaped."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.next_token: str | None = None
        self.previous: str | None = None

    def mark(self) -> int:
        return self.pos - (len(self.next_token) if self.next_token is not None else 0)

    def rewind(self, position: int) -> None:
        self.pos, self.next_token, self.previous = position, None, None

    def has_next(self) -> bool:
        return self.next_token is not None or self.pos < len(self.text)

    def next(self) -> str:
        if self.next_token is not None:
            self.previous, self.next_token = self.next_token, None
        else:
            self.previous = self._consume()
        return self.previous

    def next_n(self, n: int) -> str | None:
        start = self.mark()
        for _ in range(n):
            if not self.has_next():
                self.rewind(start)
                return None
            self.next()
        return self.text[start : self.pos]

    def _consume(self) -> str:
        escaped, start, s = False, self.pos, self.text
        while self.pos < len(s):
            c = s[self.pos]
            if c == "\\":
                escaped = not escaped
            elif c in _DELIMS and not escaped:
                if start < self.pos:
                    return s[start : self.pos]
                self.pos += 1
                return s[start : start + 1]
            else:
                escaped = False
            self.pos += 1
        return s[start : self.pos]

    def can_consume(self, expected: str) -> bool:
        if self.next_token is None:
            if not self.has_next():
                return False
            self.next_token = self._consume()
        while not _trim(self.next_token) and self.pos < len(self.text):
            self.next_token = self._consume()
        if _trim(self.next_token) == expected:
            self.next_token = None
            return True
        return False


Parsed = tuple[Any, Any]
"""(kind, value) of a parsed text; ``None`` stands for ``null``."""


class _ValueParser:
    def __init__(self, text: str) -> None:
        self.p = _Tokens(text)

    def parse(self, embedded: bool) -> Parsed | None:
        p = self.p
        if not p.has_next():
            return None
        if embedded and p.can_consume('"'):
            return self._quoted()
        if self._literal(embedded, "null"):
            return None
        if self._literal(embedded, "true"):
            return ("boolean", True)
        if self._literal(embedded, "false"):
            return ("boolean", False)
        start = p.mark()
        try:
            if p.can_consume("["):
                return self._array()
            if p.can_consume("{"):
                return self._map()
        except DataError:
            p.rewind(start)
        token = p.next()
        if not _trim(token):
            return ("string", token)
        return self._token(embedded, _trim(token))

    def _literal(self, embedded: bool, literal: str) -> bool:
        start = self.p.mark()
        if self.p.can_consume(literal) and (embedded or not self.p.has_next()):
            return True
        self.p.rewind(start)
        return False

    def _token(self, embedded: bool, token: str) -> Parsed:
        first = token[0]
        if first.isdecimal():
            position = self.p.mark()
            rest = self.p.next_n(4)
            temporal = _temporal(token + rest) if rest is not None else None
            if temporal is None:
                self.p.rewind(position)
                temporal = _temporal(token)
            if temporal is not None:
                return temporal
        if (first.isdecimal() or first in "+-") and _NUMBER.fullmatch(token):
            return _number(Decimal(token))
        if embedded:
            raise DataError("Failed to parse embedded value")
        return ("string", self.p.text)

    def _quoted(self) -> Parsed:
        parts = []
        while self.p.has_next():
            if self.p.can_consume('"'):
                break
            parts.append(self.p.next())
        content = "".join(parts)
        return _temporal(content) or ("string", content)

    def _array(self) -> Parsed:
        p, merger = self.p, _Merger()
        values: list[Any] = []
        while p.has_next():
            if p.can_consume("]"):
                return ("array", merger.common), values
            if p.can_consume(","):
                raise DataError(f"Unable to parse an empty array element: {p.text}")
            element = self.parse(True)
            merger.merge(element)
            values.append(None if element is None else element[1])
            position = p.mark()
            if p.can_consume("]"):
                p.rewind(position)
            elif not p.can_consume(","):
                raise DataError("Array elements missing ',' delimiter")
        if p.previous == ",":
            raise DataError(f"Array is missing element after ',': {p.text}")
        raise DataError(f"Array is missing terminating ']': {p.text}")

    def _map(self) -> Parsed:
        p, keys, values = self.p, _Merger(), _Merger()
        pairs: dict[Any, Any] = {}
        while p.has_next():
            if p.can_consume("}"):
                return ("map", keys.common, values.common), list(pairs.items())
            if p.can_consume(","):
                raise DataError(f"Unable to parse a map entry with no key or value: {p.text}")
            key = self.parse(True)
            if key is None or key[1] is None:
                raise DataError(f"Map entry may not have a null key: {p.text}")
            if not p.can_consume(":"):
                raise DataError(f"Map entry is missing ':' at {p.pos} in {p.text}")
            value = self.parse(True)
            try:
                pairs[key[1]] = None if value is None else value[1]
            except TypeError:
                raise DataError("Map keys must be primitive values") from None
            p.can_consume(",")
            keys.merge(key)
            values.merge(value)
        if p.previous == ",":
            raise DataError(f"Map is missing element after ',': {p.text}")
        raise DataError(f"Map is missing terminating '}}': {p.text}")


def _temporal(token: str) -> Parsed | None:
    token = token.replace("\\:", ":")
    try:
        if len(token) == 13 and (m := _TIME.fullmatch(token)):
            h, mi, s, ms = (int(x) for x in m.groups())
            return ("time", dt.time(h, mi, s, ms * 1000))
        if (
            len(token) == 24
            and token[10] == "T"
            and _DATE.fullmatch(token[:10])
            and _TIME.fullmatch(token[11:])
        ):
            y, mo, d = (int(x) for x in token[:10].split("-"))
            h, mi, s, ms = (int(x) for x in _TIME.fullmatch(token[11:]).groups())  # type: ignore[union-attr]
            return ("timestamp", dt.datetime(y, mo, d, h, mi, s, ms * 1000))
        if len(token) == 10 and (m := _DATE.fullmatch(token)):
            return ("date", dt.date(*(int(x) for x in m.groups())))
    except ValueError:
        return None
    return None


def _number(d: Decimal) -> Parsed:
    """``parseAsNumber``: narrowest integer, else FLOAT32, FLOAT64, Decimal."""
    if d == d.to_integral_value():
        n = int(d)
        for kind, bits in zip(_INTS, (7, 15, 31, 63), strict=True):
            if -(1 << bits) <= n < (1 << bits):
                return kind, n
    exponent = d.as_tuple().exponent
    scale = -exponent if isinstance(exponent, int) else 0
    with np.errstate(over="ignore"):
        f32 = float(np.float32(float(d)))
    if scale != 0 and np.isfinite(f32):
        return "float32", f32
    if scale != 0 and np.isfinite(float(d)):
        return "float64", float(d)
    return ("decimal", scale), d


def _merge(a: Any, b: Any) -> Any:
    """Kafka's ``mergeSchemas`` on kinds: equal kinds, or the wider of two numeric kinds.

    Arrays and maps merge element-wise (Kafka keeps the first schema), None means "no value
    seen yet", and :data:`_MIXED` marks kinds with nothing in common.
    """
    if a is None:
        return b
    if b is None or a == b:
        return a
    if a in _NUMERIC and b in _NUMERIC:
        return _NUMERIC[max(_NUMERIC.index(a), _NUMERIC.index(b))]
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0] and a[0] in ("array", "map"):
        return (a[0], *(_merge(x, y) for x, y in zip(a[1:], b[1:], strict=True)))
    return _MIXED


_MIXED = ("mixed",)


class _Merger:
    """Kafka's ``SchemaMerger``: the common kind of the values seen so far."""

    def __init__(self) -> None:
        self.common: Any = None

    def merge(self, parsed: Parsed | None) -> None:
        if parsed is not None:
            self.common = _merge(self.common, parsed[0])


def parse_string(text: str) -> Parsed | None:
    """``Values.parseString``: (kind, value) or None for ``null``."""
    if not text:
        return ("string", text)
    try:
        return _ValueParser(text).parse(False)
    except (DataError, IndexError, ValueError, ArithmeticError):
        return ("string", text)


def kind_type(kind: Any) -> pa.DataType | None:
    if kind is None:
        return pa.null()
    if isinstance(kind, str):
        simple = {
            "string": pa.string(),
            "boolean": pa.bool_(),
            "float32": pa.float32(),
            "float64": pa.float64(),
        }
        simple.update({"int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64()})
        simple.update({"date": pa.date32(), "time": pa.time32("ms"), "timestamp": pa.timestamp("ms")})
        return simple.get(kind)
    if kind[0] == "decimal":
        return pa.decimal128(38, kind[1]) if 0 <= kind[1] <= 38 else None
    if kind[0] == "array":
        item = kind_type(kind[1])
        return None if item is None else pa.list_(item)
    if kind[0] == "map":
        key, value = kind_type(kind[1]), kind_type(kind[2])
        return None if key is None or value is None or pa.types.is_null(key) else pa.map_(key, value)
    return None


def _typed_column(name: str, text: pa.Array, candidates: np.ndarray) -> tuple[pa.Field, pa.Array]:
    strings = text.to_pylist()
    parsed: list[Parsed | None] = [
        parse_string(s) if c and s is not None else (None if s is None else ("string", s))
        for s, c in zip(strings, candidates.tolist(), strict=True)
    ]
    kinds = [item[0] for item in parsed if item is not None]
    if not kinds:
        return pa.field(name, pa.string()), pa.nulls(len(text), pa.string())
    common: Any = None
    for kind in kinds:
        common = _merge(common, kind)
    typ = kind_type(common)
    if typ is None:
        return pa.field(name, pa.string()), text
    try:
        return pa.field(name, typ), pa.array([None if x is None else x[1] for x in parsed], typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.field(name, pa.string()), text


# Java's Double.toString ---------------------------------------------------------------

_F32_MIN_NORMAL = 1.1754943508222875e-38
_F64_MIN_NORMAL = 2.2250738585072014e-308


def java_double_text(value: float, float32: bool = False) -> str:
    """``Double.toString`` (or ``Float.toString``) of one value, as JDK 19+ prints it."""
    if float32:
        with np.errstate(all="ignore"):
            value = float(np.float32(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    x = abs(value)
    shortest = str(np.float32(x)) if float32 else repr(x)
    digits, exp = _digits(Decimal(shortest))
    if len(digits) == 1 and x < (_F32_MIN_NORMAL if float32 else _F64_MIN_NORMAL):
        digits, exp = _closest_two_digits(x, digits, exp, float32)
    return sign + _java_layout(digits, exp, x)


def _digits(d: Decimal) -> tuple[str, int]:
    """Significant digits (no trailing zeros) and the decimal exponent of the first one."""
    _, tup, e = d.as_tuple()
    assert isinstance(e, int)
    digs = "".join(map(str, tup)).lstrip("0") or "0"
    return digs.rstrip("0") or "0", len(digs) - 1 + e


def _closest_two_digits(x: float, digits: str, exp: int, float32: bool) -> tuple[str, int]:
    """JDK 19+: when the shortest decimal has one digit, a closer two-digit one wins."""
    ctx = Context(prec=2000)
    exact = Decimal(float(np.float32(x))) if float32 else Decimal(x)
    two = exact.quantize(Decimal(f"1E{exp - 1}"), context=ctx)
    back = float(np.float32(float(two))) if float32 else float(two)
    one = Decimal(f"{digits}E{exp}")
    if back == x and ctx.abs(ctx.subtract(two, exact)) < ctx.abs(ctx.subtract(one, exact)):
        return _digits(two)
    return digits, exp


def _java_layout(digits: str, exp: int, x: float) -> str:
    if 1e-3 <= x < 1e7:
        if exp >= 0:
            whole = digits[: exp + 1].ljust(exp + 1, "0")
            frac = digits[exp + 1 :] or "0"
            return f"{whole}.{frac}"
        return "0." + "0" * (-exp - 1) + digits
    return f"{digits[0]}.{digits[1:] or '0'}E{exp}"


# ------------------------------------------------------------- float columns as Java text

_SCI_NO_FRACTION = r"^(-?\d)e\+?(-?\d+)$"
_SCI_FRACTION = r"^(-?\d\.\d+)e\+?(-?\d+)$"


def java_float_text(arr: pa.Array, quote_non_finite: bool = False) -> pa.Array:
    """Floats as Java prints them; NaN/Infinity as Java's words (quoted for JSON if asked)."""
    float32 = pa.types.is_float32(arr.type) or pa.types.is_float16(arr.type)
    if pa.types.is_float16(arr.type):
        arr = arr.cast(pa.float32())
    text = pc.cast(arr, pa.string())
    with np.errstate(all="ignore"):
        vals = np.asarray(arr.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.float64)
        absv = np.abs(vals)
        finite = np.isfinite(vals)
        plain = finite & (((absv >= 1e-3) & (absv < 1e7)) | (absv == 0))
    if plain.all():
        return _append_point_zero(text)
    out = _append_point_zero(text) if plain.any() else text
    sci = finite & ~plain
    if sci.any():
        idx = np.flatnonzero(sci)
        out = pc.replace_with_mask(out, pa.array(sci), _java_scientific(text.take(pa.array(idx)), absv[idx]))
        tiny = np.flatnonzero(sci & (absv < (_F32_MIN_NORMAL if float32 else _F64_MIN_NORMAL)))
        if tiny.size:
            fixed = [java_double_text(float(vals[i]), float32) for i in tiny.tolist()]
            mask = np.zeros(len(arr), bool)
            mask[tiny] = True
            out = pc.replace_with_mask(out, pa.array(mask), pa.array(fixed, pa.string()))
    if not finite.all():
        words = np.where(np.isnan(vals), "NaN", np.where(vals > 0, "Infinity", "-Infinity"))
        if quote_non_finite:
            words = np.char.add(np.char.add('"', words), '"')
        bad = ~finite
        out = pc.replace_with_mask(out, pa.array(bad), pa.array(words[bad].tolist(), pa.string()))
    if arr.null_count:
        out = pc.if_else(arr.is_valid(), out, pa.scalar(None, pa.string()))
    return out


def _append_point_zero(text: pa.Array) -> pa.Array:
    has_point = pc.match_substring(text, ".")
    if pc.all(has_point).as_py() is not False:
        return text
    return pc.if_else(has_point, text, pc.binary_join_element_wise(text, ".0", ""))


def _java_scientific(text: pa.Array, absv: np.ndarray) -> pa.Array:
    """Re-shape Arrow's shortest text of values outside [1e-3, 1e7) into Java's d.dddEn."""
    out = pc.replace_substring_regex(text, _SCI_NO_FRACTION, r"\1.0E\2")
    out = pc.replace_substring_regex(out, _SCI_FRACTION, r"\1E\2")
    with np.errstate(all="ignore"):
        est = np.floor(np.log10(absv)).astype(np.int64)
    candidates = sorted({int(e) + d for e in np.unique(est).tolist() for d in (-1, 0, 1)})
    for e in candidates:
        if e <= -4:  # Arrow prints 0.000ddd plainly down to 1e-6 or so
            zeros = -e - 1
            out = pc.replace_substring_regex(out, rf"^(-?)0\.0{{{zeros}}}([1-9])(\d*)$", rf"\1\2.\3E{e}")
        elif e >= 7:  # and integers plainly up to 1e10 or so
            out = pc.replace_substring_regex(out, rf"^(-?)([1-9])(\d{{{e}}})(?:\.(\d+))?$", rf"\1\2.\3\4E{e}")
    out = pc.replace_substring_regex(out, r"0+E", "E")
    return pc.replace_substring(out, ".E", ".0E")
