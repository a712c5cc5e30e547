"""Cast: fields, or the whole key/value, to another primitive type (Kafka's ``Cast``).

Every conversion is a handful of Arrow kernels over a whole column, with Java's rules:
numbers narrow and widen like Java casts (``int8`` of 300 is 44; floats truncate and
saturate into ``int``/``long``, NaN becomes 0), ``boolean`` is ``value != 0`` of the long
value, strings parse as ``Byte.parseByte`` … ``Double.parseDouble`` do, a string is
``true`` only when it equals ``true`` ignoring case, and everything prints as Java's
``toString`` (``1.0E7``, base64 for bytes, ISO-8601 for dates chosen by value).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi import schema as cs
from engine.spi.config import ConfigDef, Importance, LambdaValidator, Type
from engine.spi.errors import ConfigError, DataError
from engine.spi.values import java_float_text
from engine.transforms._common import (
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    SchemaCache,
    base64_text,
    child,
    date_text,
    default_scalar,
    define_replace_null_with_default,
    instant_millis,
    java_class,
    logical_encoding,
    null_mask,
    require_map,
    require_struct,
    struct_array,
    valid_mask,
    with_default,
)

SPEC = "spec"
PURPOSE = "cast types"

# Schema.Type names, in Kafka's enum order (it prints EnumSets in this order).
_SCHEMA_TYPES = (
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FLOAT32",
    "FLOAT64",
    "BOOLEAN",
    "STRING",
    "BYTES",
    "ARRAY",
    "MAP",
    "STRUCT",
)
_OUTPUT_TYPES: dict[str, pa.DataType] = {
    "INT8": pa.int8(),
    "INT16": pa.int16(),
    "INT32": pa.int32(),
    "INT64": pa.int64(),
    "FLOAT32": pa.float32(),
    "FLOAT64": pa.float64(),
    "BOOLEAN": pa.bool_(),
    "STRING": pa.string(),
}
_INPUT_TYPES = (*_OUTPUT_TYPES, "BYTES")
_INT_BITS = {"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64}


# ------------------------------------------------------------------------------ spec


def _java_split(text: str, sep: str) -> list[str]:
    """Java's ``String.split``: trailing empty strings are removed."""
    parts = text.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def _java_list(items: list[str]) -> str:
    return "[" + ", ".join(items) + "]"


def _type_of(text: str) -> str:
    name = text.strip().upper()
    if name not in _SCHEMA_TYPES:
        raise ConfigError(f"Invalid type found in casting spec: {text.strip()}", key=SPEC)
    if name not in _OUTPUT_TYPES:
        raise ConfigError(
            f"Cast transformation does not support casting to {name}; supported types are "
            f"{_java_list(list(_OUTPUT_TYPES))}",
            key=SPEC,
        )
    return name


def parse_spec(mappings: list[str]) -> dict[str | None, str]:
    """Kafka's ``parseFieldTypes``: field → Schema.Type name; ``None`` → whole value."""
    casts: dict[str | None, str] = {}
    whole = False
    for mapping in mappings:
        parts = _java_split(mapping, ":")
        if len(parts) > 2:
            raise ConfigError(
                f"Invalid value {_java_list(mappings)} for configuration renames: "
                f"Invalid rename mapping: {mapping}",
                key=SPEC,
            )
        if len(parts) <= 1:
            casts[None] = _type_of(parts[0] if parts else "")
            whole = True
        else:
            casts[parts[0].strip()] = _type_of(parts[1])
    if whole and len(mappings) > 1:
        raise ConfigError(
            "Cast transformations that specify a type to cast the entire value to may only specify a single "
            "cast in their spec",
            key=SPEC,
        )
    return casts


def _validate_spec(name: str, value: Any) -> None:
    if not value:
        raise ConfigError("Must specify at least one field to cast.", key=name)
    parse_spec(list(value))


# ------------------------------------------------------------------------------ failures


@dataclass
class _Failures:
    """Bad rows found while casting a batch, each with Kafka's message."""

    found: list[tuple[np.ndarray, str]] = field(default_factory=list)

    def add(self, bad: np.ndarray, message: Callable[[int], str]) -> None:
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            self.found.append((bad, message(first)))

    def raise_if_any(self, partial: Callable[[], pa.RecordBatch] | None = None) -> None:
        """Raise a DataError naming the bad rows, with ``partial()`` (the batch cast, row for
        row) when it can be built."""
        if not self.found:
            return
        union = self.found[0][0] if len(self.found) == 1 else np.logical_or.reduce([b for b, _ in self.found])
        rows = np.flatnonzero(union)
        first_row = int(rows[0])
        message = next(msg for bad, msg in self.found if bad[first_row])
        output = None
        if partial is not None:
            try:
                output = partial()
            except Exception:  # the runtime runs the step again on the good rows instead
                output = None
        raise DataError(message, rows=rows.tolist(), partial=output)


# ------------------------------------------------------------------------------ conversions

_INT_RE = r"^[+-]?[0-9]+$"
_WS = r"[\x00-\x20]*"
# Double.parseDouble's grammar: a decimal or hexadecimal literal between whitespace
_FLOAT_LITERAL = r"[+-]?(?:NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fFdD]?)"
_HEX_LITERAL = r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+[fFdD]?"
_FLOAT_RE = rf"^{_WS}{_FLOAT_LITERAL}{_WS}$"
_HEX_RE = rf"^{_WS}{_HEX_LITERAL}{_WS}$"
_PY_HEX = re.compile(r"[fFdD]$")


def _out_of_range(values: pa.Array) -> Callable[[int], str]:
    return lambda i: f"Value ({values[i].as_py()}) was out of range for requested data type"


def _wrap_int(arr: pa.Array, target: str) -> pa.Array:
    """Java's narrowing of an integer array (two's complement wrap-around)."""
    return pc.cast(arr, _OUTPUT_TYPES[target], safe=False)


def _float_to_int(arr: pa.Array, target: str) -> pa.Array:
    """Java's ``(int) d`` / ``(long) d`` (truncate, saturate, NaN → 0), then narrowing."""
    bits = 64 if target == "INT64" else 32
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    wide = pa.int64() if bits == 64 else pa.int32()
    x = pc.trunc(arr.cast(pa.float64()))
    x = pc.if_else(pc.is_nan(x), 0.0, x)
    in_range = pc.and_(pc.greater_equal(x, float(lo)), pc.less(x, float(2 ** (bits - 1))))
    safe = pc.cast(pc.if_else(in_range, x, 0.0), wide)
    out = pc.if_else(in_range, safe, pc.if_else(pc.greater(x, 0.0), pa.scalar(hi, wide), pa.scalar(lo, wide)))
    return _wrap_int(out, target)


def _parse_int(text: pa.Array, target: str, failures: _Failures) -> pa.Array:
    """``Byte.parseByte`` … ``Long.parseLong``: optional sign, ASCII digits, in range."""
    bits = _INT_BITS[target]
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    ok = pc.fill_null(pc.match_substring_regex(text, _INT_RE), True)
    digits = pc.if_else(ok, text, pa.scalar(None, pa.string()))
    if pc.any(pc.starts_with(digits, "+")).as_py():
        digits = pc.replace_substring_regex(digits, r"^\+", "")
    longest = pc.max(pc.utf8_length(digits)).as_py() or 0
    if longest <= 18:  # no int64 overflow possible: Arrow's parser does it all
        number = pc.cast(digits, pa.int64())
        low, high = pa.scalar(lo, pa.int64()), pa.scalar(hi, pa.int64())
    else:
        digits = pc.replace_substring_regex(digits, r"^(-?)0*([0-9])", r"\1\2")
        ok = pc.and_(ok, pc.fill_null(pc.less_equal(pc.utf8_length(digits), 20), True))
        number = pc.cast(pc.if_else(ok, digits, pa.scalar(None, pa.string())), pa.decimal128(21, 0))
        low, high = pa.scalar(lo).cast(number.type), pa.scalar(hi).cast(number.type)
    if bits < 64 or longest > 18:
        fits = pc.and_(pc.greater_equal(number, low), pc.less_equal(number, high))
        ok = pc.and_(ok, pc.fill_null(fits, True))
    failures.add(~np.asarray(ok.to_numpy(zero_copy_only=False), bool), _out_of_range(text))
    return pc.cast(pc.if_else(ok, number, pa.scalar(None, number.type)), _OUTPUT_TYPES[target])


_PLAIN_FLOAT_RE = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"


def _parse_float(text: pa.Array, target: str, failures: _Failures) -> pa.Array:
    """``Float.parseFloat`` / ``Double.parseDouble`` (trimmed; NaN, Infinity, suffixes, hex).

    Plain decimal text, which Arrow's parser and Java read alike, goes through Arrow's cast;
    only the other rows (spaces, suffixes, hex, NaN/Infinity, garbage — usually few) take the
    exact Java-compatible path.
    """
    typ = _OUTPUT_TYPES[target]
    # Rows with a character plain decimal text never has ("n/a", spaces, "NaN": usually few)
    # are found with one byte-level pass and set aside (made null); Arrow parses the rest.
    # When Arrow cannot, the exact split by regex decides which rows it may parse.
    odd = _odd_rows(text)
    if odd is None or not odd.any():
        fast = _arrow_float(text, typ)
        if fast is not None:
            return fast
        out = None
    else:
        plain = ~odd
        out = _arrow_float(_nulled(text, odd), typ)
    if out is None:
        plain = np.asarray(
            pc.fill_null(pc.match_substring_regex(text, _PLAIN_FLOAT_RE), True).to_numpy(
                zero_copy_only=False
            ),
            bool,
        )
        out = pc.cast(pc.if_else(pa.array(plain), text, pa.scalar(None, pa.string())), typ)
    others = np.flatnonzero(~plain)
    if others.size == 0:
        return out
    sub_out, sub_ok = _parse_float_exact(text.take(pa.array(others)), typ)
    if sub_out.null_count < len(sub_out):  # else: nulls for nulls (garbage text), nothing to do
        out = pc.replace_with_mask(out, pa.array(~plain), sub_out)
    if not sub_ok.all():
        bad = np.zeros(len(text), dtype=bool)
        bad[others[~sub_ok]] = True
        failures.add(bad, _out_of_range(text))
    return out


def _arrow_float(text: pa.Array, typ: pa.DataType) -> pa.Array | None:
    """Arrow's parse of every row, or None when a row is not a number Arrow reads (or reads
    as NaN or infinity, which Java spells differently)."""
    try:
        out = pc.cast(text, typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if not pc.all(pc.is_finite(out), min_count=0).as_py():  # NaN or ±infinity somewhere
        return None
    return out


_NUMBER_CHARS = b"0123456789+-.eE"
# bytes.translate table: 1 for a byte plain decimal text never has, 0 for the others
_ODD_BYTES = bytes(0 if b in _NUMBER_CHARS else 1 for b in range(256))


def _odd_rows(text: pa.Array) -> np.ndarray | None:
    """Rows holding a byte that plain decimal text never has (None: not a plain string array)."""
    if not pa.types.is_string(text.type):
        return None
    n = len(text)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + n + 1]
    odd = np.zeros(n, dtype=bool)
    data_buf = text.buffers()[2]
    if data_buf is None or offsets[-1] == offsets[0]:
        return odd
    data = memoryview(data_buf)[int(offsets[0]) : int(offsets[-1])].tobytes()
    flags = data.translate(_ODD_BYTES)  # one C pass: a 1 for each odd byte
    if flags.find(1) < 0:  # the common case: none
        return odd
    positions = np.flatnonzero(np.frombuffer(flags, dtype=bool))
    odd[np.searchsorted(offsets[1:] - offsets[0], positions, side="right")] = True
    return odd


def _nulled(text: pa.Array, rows: np.ndarray) -> pa.Array:
    """``text`` (a string array) with ``rows`` made null: a new validity bitmap over the same
    offsets and characters (no copy of the strings)."""
    keep = ~rows
    if text.null_count:
        keep &= np.asarray(text.is_valid().to_numpy(zero_copy_only=False), bool)
    if text.offset:  # the bitmap starts where the buffers do
        keep = np.concatenate((np.zeros(text.offset, bool), keep))
    bits = np.packbits(keep, bitorder="little")
    _, offsets, data = text.buffers()
    return pa.Array.from_buffers(
        text.type, len(text), [pa.py_buffer(bits), offsets, data], offset=text.offset
    )


# Up to this many rows, the exact parse runs in Python (the rare odd rows of a batch: a
# dozen Arrow calls cost more than a loop over a few strings); above it, Arrow kernels.
_EXACT_IN_PYTHON_ROWS = 256
_JAVA_WS = "".join(map(chr, range(0x21)))  # String.trim's whitespace: U+0000..U+0020
_PY_FLOAT = re.compile(_FLOAT_LITERAL)
_PY_HEX_LITERAL = re.compile(_HEX_LITERAL)
_SUFFIXES = "fFdD"


def _parse_float_exact(text: pa.Array, typ: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Java's float parsing for any text: the values, and which rows were numbers (null rows
    count as numbers: they stay null)."""
    if len(text) <= _EXACT_IN_PYTHON_ROWS:
        return _parse_float_few(text, typ)
    return _parse_float_kernels(text, typ)


def _parse_float_kernels(text: pa.Array, typ: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """:func:`_parse_float_exact` with Arrow kernels (four regex passes), for many rows."""
    ok = pc.fill_null(pc.match_substring_regex(text, _FLOAT_RE), True)
    hex_rows = pc.fill_null(pc.match_substring_regex(text, _HEX_RE), False)
    trimmed = pc.replace_substring_regex(text, r"^[\x00-\x20]+|[\x00-\x20]+$", "")
    cleaned = pc.replace_substring_regex(trimmed, r"[fFdD]$", "")
    out = pc.cast(pc.if_else(ok, cleaned, pa.scalar(None, pa.string())), typ)
    if pc.any(hex_rows).as_py():
        # hexadecimal literals are rare: parse those rows with Python's float.fromhex
        hex_mask = np.asarray(hex_rows.to_numpy(zero_copy_only=False), bool)
        texts = cleaned.filter(hex_rows).to_pylist()
        parsed = pa.array([float.fromhex(_PY_HEX.sub("", t)) for t in texts], pa.float64()).cast(typ)
        out = pc.replace_with_mask(out, pa.array(hex_mask), parsed)
        ok = pc.or_(ok, hex_rows)
    return out, np.asarray(ok.to_numpy(zero_copy_only=False), bool)


def _parse_float_few(text: pa.Array, typ: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """:func:`_parse_float_exact` in Python, for a few rows: the same grammar and the same
    Arrow cast of the same cleaned text, so both give the same values and the same errors."""
    values = text.to_pylist()
    # each distinct text once: bad values repeat ("n/a", "")
    found = {v: _java_float_literal(v) for v in set(values) if v is not None}
    if not any(number for number, _, _ in found.values()):  # only garbage (and nulls)
        return pa.nulls(len(values), typ), np.array([v is None for v in values], dtype=bool)
    parsed = [_NULL_TEXT if v is None else found[v] for v in values]
    ok = np.array([p[0] for p in parsed], dtype=bool)
    cleaned = [p[1] for p in parsed]
    if any(c is not None for c in cleaned):
        out = pc.cast(pa.array(cleaned, pa.string()), typ)
    else:
        out = pa.nulls(len(parsed), typ)
    hex_rows = [i for i, p in enumerate(parsed) if p[2] is not None]
    if hex_rows:
        mask = np.zeros(len(parsed), dtype=bool)
        mask[hex_rows] = True
        hex_values = pa.array([parsed[i][2] for i in hex_rows], pa.float64()).cast(typ)
        out = pc.replace_with_mask(out, pa.array(mask), hex_values)
    return out, ok


_NULL_TEXT: tuple[bool, str | None, float | None] = (True, None, None)  # stays null


def _java_float_literal(value: str) -> tuple[bool, str | None, float | None]:
    """One text as ``Double.parseDouble`` reads it: (is it a number, the decimal literal
    trimmed and without its suffix for Arrow to parse, the value of a hexadecimal literal).
    The regexes of :func:`_parse_float_kernels` without their whitespace, after Java's trim
    (a literal starts and ends with no whitespace), so both agree."""
    trimmed = value.strip(_JAVA_WS)
    if _PY_FLOAT.fullmatch(trimmed):
        return True, (trimmed[:-1] if trimmed[-1] in _SUFFIXES else trimmed), None
    if _PY_HEX_LITERAL.fullmatch(trimmed):
        return True, None, float.fromhex(trimmed[:-1] if trimmed[-1] in _SUFFIXES else trimmed)
    return False, None, None


def _to_boolean_from_long(longs: pa.Array) -> pa.Array:
    return pc.not_equal(longs, pa.scalar(0, longs.type))


def _number_to(arr: pa.Array, target: str) -> pa.Array:
    """A Java ``Number`` (integers, floats) to a primitive, as ``Number.xxxValue()`` does."""
    t = arr.type
    is_float = pa.types.is_floating(t)
    if target == "STRING":
        return java_float_text(arr) if is_float else pc.cast(arr, pa.string())
    if target == "BOOLEAN":
        if is_float:
            return pc.greater_equal(pc.abs(arr.cast(pa.float64())), 1.0)  # longValue() != 0; NaN → false
        return _to_boolean_from_long(arr)
    if target in _INT_BITS:
        return _float_to_int(arr, target) if is_float else _wrap_int(arr, target)
    return pc.cast(arr, _OUTPUT_TYPES[target], safe=False)


def _decimal_to(arr: pa.Array, target: str) -> pa.Array:
    """``BigDecimal`` to a primitive: truncate and keep the low bits; floats correctly rounded."""
    if target == "STRING":
        return pc.cast(arr, pa.string())
    if target in ("FLOAT32", "FLOAT64"):
        return pc.cast(pc.cast(arr, pa.string()), _OUTPUT_TYPES[target])
    longs = pc.cast(arr, pa.int64(), safe=False)
    if target == "BOOLEAN":
        return _to_boolean_from_long(longs)
    return _wrap_int(longs, target)


def _string_to(arr: pa.Array, target: str, failures: _Failures) -> pa.Array:
    if target == "STRING":
        return arr
    if target == "BOOLEAN":
        return pc.equal(pc.utf8_lower(arr), "true")
    if target in _INT_BITS:
        return _parse_int(arr, target, failures)
    return _parse_float(arr, target, failures)


def _kind(t: pa.DataType, with_schema: bool) -> str:
    """The Connect type Kafka sees: the schema type, or the type inferred from the Java class."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t):
        return "NULL"
    if pa.types.is_decimal(t) or pa.types.is_temporal(t):
        return cs.connect_type(t).upper() if with_schema else "UNSUPPORTED"
    if pa.types.is_struct(t):
        return "STRUCT" if with_schema else "MAP"
    ct = cs.connect_type(t)
    return {cs.FLOAT32: "FLOAT32", cs.FLOAT64: "FLOAT64"}.get(ct, ct.upper())


def cast_values(arr: pa.Array, with_schema: bool, target: str, failures: _Failures) -> pa.Array:
    """Kafka's ``castValueToType`` over a column (nulls stay null); bad rows go to ``failures``."""
    out_type = _OUTPUT_TYPES[target]
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    t = arr.type
    valid = valid_mask(arr)
    kind = _kind(t, with_schema)
    if kind == "NULL" or not valid.any():
        return pa.nulls(len(arr), out_type)
    if kind == "UNSUPPORTED":
        name = java_class(t, True)
        failures.add(
            valid,
            lambda _i: (
                f"Cast transformation was passed a value of type class {name} which is not supported "
                "by Connect's data API"
            ),
        )
        return pa.nulls(len(arr), out_type)
    if kind not in _INPUT_TYPES:
        failures.add(
            valid,
            lambda _i: (
                f"Cast transformation does not support casting from {kind}; supported types are "
                f"{_java_list(list(_INPUT_TYPES))}"
            ),
        )
        return pa.nulls(len(arr), out_type)
    if pa.types.is_decimal(t):
        return _decimal_to(arr, target)
    if pa.types.is_temporal(t):
        if target == "STRING":
            return date_text(instant_millis(arr))
        return _number_to(logical_encoding(arr), target)
    if kind == "BYTES":
        if target == "STRING":
            return base64_text(arr)
        failures.add(valid, lambda _i: "Unexpected type in Cast transformation: class [B")
        return pa.nulls(len(arr), out_type)
    if kind == "STRING":
        return _string_to(arr.cast(pa.string()), target, failures)
    if kind == "BOOLEAN":
        return arr if target == "BOOLEAN" else pc.cast(arr, out_type)
    return _number_to(arr, target)


# ------------------------------------------------------------------------------ the transform


@dataclass(frozen=True)
class _Plan:
    """What a Cast does to one input schema, built once."""

    output: pa.Field
    error: str | None = None  # the schema cannot be built: every non-null row fails


class Cast(KeyOrValue):
    """``org.apache.kafka.connect.transforms.Cast``: base of :class:`CastKey` and :class:`CastValue`."""

    column: ClassVar[str] = record.VALUE

    def __init__(self) -> None:
        self._casts: dict[str | None, str] = {}
        self._whole: str | None = None
        self._replace_null = True
        self._plans: SchemaCache[_Plan] = SchemaCache()

    @classmethod
    def config_def(cls) -> ConfigDef:
        config = ConfigDef().define(
            SPEC,
            Type.LIST,
            validator=LambdaValidator(
                _validate_spec, "list of colon-delimited pairs, e.g. <code>foo:bar,abc:xyz</code>"
            ),
            importance=Importance.HIGH,
            documentation="List of fields and the type to cast them to of the form field1:type,"
            "field2:type to cast fields of Maps or Structs. A single type to cast the entire value. "
            "Valid types are int8, "
            "int16, int32, int64, float32, float64, boolean, and string. Note that binary fields can only be "
            "cast to string.",
        )
        return define_replace_null_with_default(config)

    def configure(self, configs: Mapping[str, str]) -> None:
        values = self.config_def().parse(configs)
        self._casts = parse_spec(list(values[SPEC]))
        self._whole = self._casts.get(None)
        self._replace_null = bool(values[REPLACE_NULL_WITH_DEFAULT])
        self._plans = SchemaCache()

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        f, arr = self.operand(batch)
        schemaless = cs.is_schemaless(f)
        failures = _Failures()
        if self._whole is not None:
            if schemaless:
                values = cast_values(arr, False, self._whole, failures)
                out = cs.field(f.name, values.type, schemaless=True)
            else:
                plan = self._plans.get(f, self._whole_plan)
                failures.add(
                    valid_mask(arr) if plan.error else np.zeros(len(arr), bool), lambda _i: plan.error or ""
                )
                values = cast_values(arr, True, self._whole, failures)
                out = plan.output
        elif schemaless:
            require_map(f, arr, PURPOSE, null_ok=True)
            out, values = self._schemaless_fields(f, arr, failures)
        else:
            plan = self._plans.get(f, self._struct_plan)
            if plan.error is not None:
                failures.add(valid_mask(arr), lambda _i: plan.error or "")
                failures.raise_if_any()
                return batch
            require_struct(f, arr, PURPOSE, null_ok=True)
            out, values = plan.output, self._struct_values(f, arr, plan.output, failures)
        failures.raise_if_any(lambda: self.with_operand(batch, out, values))
        return self.with_operand(batch, out, values)

    # -- with a schema

    def _whole_plan(self, f: pa.Field) -> _Plan:
        assert self._whole is not None
        default, error = _cast_default(f, self._whole)
        return _Plan(_copy_basics(f, _OUTPUT_TYPES[self._whole], default), error)

    def _struct_plan(self, f: pa.Field) -> _Plan:
        if not pa.types.is_struct(f.type):
            return _Plan(f, "Cannot list fields on non-struct type")
        children = []
        errors = []
        for c in f.type:
            target = self._casts.get(c.name)
            if target is None:
                children.append(c)
                continue
            default, error = _cast_default(c, target)
            errors.append(error)
            children.append(
                cs.field(
                    c.name,
                    _OUTPUT_TYPES[target],
                    optional=c.nullable,
                    default=default,
                    has_default=default is not None,
                )
            )
        if default_scalar(f) is not None:
            # Kafka casts the struct's own default "to STRUCT", which it cannot do
            errors.append(
                "Cast transformation does not support casting from STRUCT; supported types are "
                f"{_java_list(list(_INPUT_TYPES))}"
            )
        out = pa.field(f.name, pa.struct(children), nullable=f.nullable, metadata=f.metadata)
        return _Plan(out, next((e for e in errors if e is not None), None))

    def _struct_values(self, f: pa.Field, arr: pa.Array, out: pa.Field, failures: _Failures) -> pa.Array:
        parent_valid = arr.is_valid() if arr.null_count else None
        columns = []
        for c in f.type:
            values = child(arr, c.name)
            if self._replace_null:
                values = with_default(values, c, parent_valid)
            target = self._casts.get(c.name)
            if target is not None:
                values = cast_values(values, True, target, failures)
            columns.append(values)
        return struct_array(columns, list(out.type), len(arr), null_mask(arr))

    # -- schemaless

    def _schemaless_fields(
        self, f: pa.Field, arr: pa.Array, failures: _Failures
    ) -> tuple[pa.Field, pa.Array]:
        if not pa.types.is_struct(f.type):
            if pa.types.is_map(f.type):
                raise DataError(
                    "Cast of schemaless map columns is not supported; use struct columns",
                    rows=np.flatnonzero(valid_mask(arr)).tolist(),
                )
            # only null rows: nothing to cast
            return f, arr
        names = [c.name for c in f.type]
        columns = [child(arr, n) for n in names]
        types = [c.type for c in f.type]
        for name, target in self._casts.items():
            assert name is not None
            if name in names:
                i = names.index(name)
                columns[i] = cast_values(columns[i], False, target, failures)
                types[i] = columns[i].type
            else:
                names.append(name)
                columns.append(pa.nulls(len(arr), _OUTPUT_TYPES[target]))
                types.append(_OUTPUT_TYPES[target])
        fields = [pa.field(n, t) for n, t in zip(names, types, strict=True)]
        values = struct_array(columns, fields, len(arr), null_mask(arr))
        return cs.field(f.name, values.type, schemaless=True), values


def _cast_default(f: pa.Field, target: str) -> tuple[Any, str | None]:
    """The field's default cast to ``target`` (payload form), or the error casting it raises."""
    default = default_scalar(f)
    if default is None:
        return None, None
    failures = _Failures()
    value = cast_values(pa.array([default.as_py()], f.type), True, target, failures)
    if failures.found:
        return None, failures.found[0][1]
    return value[0].as_py(), None


def _copy_basics(f: pa.Field, typ: pa.DataType, default: Any) -> pa.Field:
    """``SchemaUtil.copySchemaBasics`` onto a new type, with optionality and a cast default."""
    return cs.field(
        f.name,
        typ,
        optional=f.nullable,
        schema_name=cs.schema_name(f),
        version=cs.schema_version(f),
        doc=cs.schema_doc(f),
        parameters=cs.schema_parameters(f),
        default=default,
        has_default=default is not None,
    )


class CastKey(Cast):
    """``Cast$Key``: casts the record key."""

    column = record.KEY
    aliases = ("org.apache.kafka.connect.transforms.Cast$Key",)


class CastValue(Cast):
    """``Cast$Value``: casts the record value."""

    column = record.VALUE
    aliases = ("org.apache.kafka.connect.transforms.Cast$Value",)
