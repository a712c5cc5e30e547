"""PostgreSQL column types → Debezium's Connect schemas, and text values → typed Arrow arrays.

Values arrive as PostgreSQL's text output (pgoutput tuples and ``COPY … CSV`` alike, with
``TimeZone=UTC`` and ``DateStyle=ISO``), one Arrow string array per column. Each column
type has a converter that turns the whole array into its Debezium representation with Arrow
kernels (casts, string functions) — no Python per value, except for the rare types noted.

=====================  ==========================================================
PostgreSQL             Debezium (Connect type, schema name)
=====================  ==========================================================
boolean                boolean
smallint / int / big   int16 / int32 / int64 (oid: int64)
real / double          float / double
numeric(p, s)          precise: bytes ``org.apache.kafka.connect.data.Decimal``
                       (scale, connect.decimal.precision); double; string
numeric (no scale)     precise: struct ``io.debezium.data.VariableScaleDecimal``
text, varchar, char    string
bytea                  bytes
date                   int32 ``io.debezium.time.Date`` (days since 1970-01-01)
time(p)                p ≤ 3: int32 ``io.debezium.time.Time`` (ms); else int64
                       ``io.debezium.time.MicroTime`` (µs)
timestamp(p)           p ≤ 3: int64 ``io.debezium.time.Timestamp`` (ms); else int64
                       ``io.debezium.time.MicroTimestamp`` (µs)
timestamptz            string ``io.debezium.time.ZonedTimestamp`` (ISO-8601, UTC)
timetz                 string ``io.debezium.time.ZonedTime``
uuid                   string ``io.debezium.data.Uuid``
json / jsonb           string ``io.debezium.data.Json``
xml                    string ``io.debezium.data.Xml``
anything else          string (PostgreSQL's text form)
=====================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import schema as cs

BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID = 16, 17, 18, 19, 20, 21, 23, 25, 26
JSON, XML, FLOAT4, FLOAT8, BPCHAR, VARCHAR = 114, 142, 700, 701, 1042, 1043
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, TIMETZ, NUMERIC, UUID, JSONB = (
    1082,
    1083,
    1114,
    1184,
    1266,
    1700,
    2950,
    3802,
)

DATE_NAME = "io.debezium.time.Date"
TIME_NAME = "io.debezium.time.Time"
MICRO_TIME_NAME = "io.debezium.time.MicroTime"
TIMESTAMP_NAME = "io.debezium.time.Timestamp"
MICRO_TIMESTAMP_NAME = "io.debezium.time.MicroTimestamp"
ZONED_TIMESTAMP_NAME = "io.debezium.time.ZonedTimestamp"
ZONED_TIME_NAME = "io.debezium.time.ZonedTime"
UUID_NAME = "io.debezium.data.Uuid"
JSON_NAME = "io.debezium.data.Json"
XML_NAME = "io.debezium.data.Xml"
VARIABLE_SCALE_DECIMAL = "io.debezium.data.VariableScaleDecimal"

DECIMAL_MODES = ("precise", "double", "string")

Converter = Callable[[pa.Array], pa.Array]


def lenient(convert: Converter) -> Converter:
    """``convert``, except that values it cannot parse become null instead of failing the
    batch (PostgreSQL's ``infinity`` timestamps, BC dates, ``NaN`` numerics): the whole
    column is converted at once, and only a column that fails is retried value by value."""

    def run(a: pa.Array) -> pa.Array:
        try:
            return convert(a)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            pass
        parts = []
        for i in range(len(a)):
            try:
                parts.append(convert(a.slice(i, 1)))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
                parts.append(None)
        typ = next((p.type for p in parts if p is not None), None)
        if typ is None:
            typ = convert(pa.nulls(1, a.type)).type
        return pa.concat_arrays([p if p is not None else pa.nulls(1, typ) for p in parts])

    return run


@dataclass(frozen=True, slots=True)
class ColumnType:
    """How one column is represented: its Connect field and the text → value converter.

    ``fallback`` is the value Debezium puts in a required column whose value is unknown
    (a column missing from an old key tuple), in the field's Arrow type.
    """

    field: pa.Field
    convert: Converter
    fallback: Any


def _cast(t: pa.DataType) -> Converter:
    return lambda a: a.cast(t)


def _identity(a: pa.Array) -> pa.Array:
    return a


def _bool(a: pa.Array) -> pa.Array:
    return pc.equal(a, "t")


def _date(a: pa.Array) -> pa.Array:
    return a.cast(pa.date32()).cast(pa.int32())


def _timestamp_us(a: pa.Array) -> pa.Array:
    return a.cast(pa.timestamp("us")).cast(pa.int64())


def _timestamp_ms(a: pa.Array) -> pa.Array:
    return _floor_div(_timestamp_us(a), 1000)


def _time_us(a: pa.Array) -> pa.Array:
    joined = pc.binary_join_element_wise("1970-01-01 ", a, "")
    return joined.cast(pa.timestamp("us")).cast(pa.int64())


def _time_ms(a: pa.Array) -> pa.Array:
    return _floor_div(_time_us(a), 1000).cast(pa.int32())


def _zoned(a: pa.Array) -> pa.Array:
    """``2024-01-02 03:04:05.5+00`` (TimeZone=UTC) → ``2024-01-02T03:04:05.5Z``."""
    t = pc.replace_substring(a, " ", "T", max_replacements=1)
    utc = pc.ends_with(t, "+00")
    if pc.all(pc.fill_null(utc, True)).as_py():
        return pc.binary_join_element_wise(pc.utf8_slice_codeunits(t, 0, -3), "Z", "")
    return pc.replace_substring_regex(t, r"\+00$", "Z")


_HEX = np.zeros(256, np.uint8)
for _i, _ch in enumerate(b"0123456789abcdef"):
    _HEX[_ch] = _i
for _i, _ch in enumerate(b"ABCDEF"):
    _HEX[_ch] = 10 + _i


def _bytea(a: pa.Array) -> pa.Array:
    """``\\x0a0b`` hex text → bytes, decoded with numpy over the whole buffer."""
    n = len(a)
    if a.offset:
        a = pa.concat_arrays([pa.array([], a.type), a.take(pa.array(np.arange(n)))])
    validity, offsets_buf, data_buf = a.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32, n + 1).astype(np.int64) if n else np.zeros(1, np.int64)
    base, stop = int(offsets[0]), int(offsets[-1])
    chars = np.frombuffer(data_buf, np.uint8)[base:stop] if data_buf is not None else np.zeros(0, np.uint8)
    has = np.diff(offsets) > 0
    keep = np.ones(stop - base, bool)
    prefix = offsets[:-1][has] - base
    keep[prefix] = False
    keep[prefix + 1] = False  # drop the "\\x" of each value
    nib = _HEX[chars[keep]]
    out = (nib[0::2] << 4) | nib[1::2]
    new_off = ((offsets - base) - 2 * np.concatenate([[0], np.cumsum(has)])) // 2
    return pa.Array.from_buffers(
        pa.binary(),
        n,
        [
            validity if a.null_count else None,
            pa.py_buffer(new_off.astype(np.int32)),
            pa.py_buffer(out.tobytes()),
        ],
        null_count=a.null_count,
    )


def _floor_div(a: pa.Array, d: int) -> pa.Array:
    return pc.divide(pc.subtract(a, pc.if_else(pc.less(a, 0), d - 1, 0)), d)


def _unscaled_bytes(value: int) -> bytes:
    """Two's complement, big-endian, shortest: Java's ``BigInteger.toByteArray``."""
    length = (value + (value < 0)).bit_length() // 8 + 1
    return value.to_bytes(length, "big", signed=True)


def _variable_decimal(field: pa.Field) -> Converter:
    t = field.type

    def convert(a: pa.Array) -> pa.Array:
        scales: list[int | None] = []
        values: list[bytes | None] = []
        for text in a.to_pylist():  # unconstrained numeric: rare, per value
            try:
                d = Decimal(text) if text is not None else None
            except InvalidOperation:
                d = None
            if d is None or not d.is_finite():
                scales.append(None)
                values.append(None)
                continue
            sign, digits, exponent = d.as_tuple()
            assert isinstance(exponent, int)
            unscaled = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
            scale = -exponent
            if scale < 0:
                unscaled *= 10**-scale
                scale = 0
            scales.append(scale)
            values.append(_unscaled_bytes(unscaled))
        mask = pa.array([s is None for s in scales])
        return pa.StructArray.from_arrays(
            [
                pa.array([s or 0 for s in scales], pa.int32()),
                pa.array([v or b"" for v in values], pa.binary()),
            ],
            fields=list(t),
            mask=mask,
        )

    return convert


def _numeric_typmod(typmod: int) -> tuple[int, int] | None:
    if typmod < 4:
        return None
    mod = typmod - 4
    return (mod >> 16) & 0xFFFF, mod & 0x7FF


def _time_precision(typmod: int) -> int:
    return 6 if typmod < 0 else typmod


def column_type(
    name: str, oid: int, typmod: int, optional: bool, decimal_mode: str = "precise"
) -> ColumnType:
    """The Debezium representation of a column of this PostgreSQL type."""

    def make(t: pa.DataType, convert: Converter, fallback: Any, **kw: Any) -> ColumnType:
        return ColumnType(cs.field(name, t, optional=optional, **kw), lenient(convert), fallback)

    if oid == BOOL:
        return make(pa.bool_(), _bool, False)
    if oid == INT2:
        return make(pa.int16(), _cast(pa.int16()), 0)
    if oid == INT4:
        return make(pa.int32(), _cast(pa.int32()), 0)
    if oid in (INT8, OID):
        return make(pa.int64(), _cast(pa.int64()), 0)
    if oid == FLOAT4:
        return make(pa.float32(), _cast(pa.float32()), 0.0)
    if oid == FLOAT8:
        return make(pa.float64(), _cast(pa.float64()), 0.0)
    if oid == NUMERIC:
        if decimal_mode == "double":
            return make(pa.float64(), _cast(pa.float64()), 0.0)
        if decimal_mode == "string":
            return make(pa.string(), _identity, "0")
        ps = _numeric_typmod(typmod)
        if ps is None or ps[0] > 76:
            vsd = pa.struct(
                [
                    cs.field("scale", pa.int32(), optional=False),
                    cs.field("value", pa.binary(), optional=False),
                ]
            )
            f = cs.field(
                name,
                vsd,
                optional=optional,
                schema_name=VARIABLE_SCALE_DECIMAL,
                version=1,
                doc="Variable scaled decimal",
            )
            return ColumnType(f, _variable_decimal(f), {"scale": 0, "value": b"\x00"})
        precision, scale = ps
        dt = pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
        return make(dt, _cast(dt), Decimal(0), parameters={cs.DECIMAL_PRECISION_PARAM: str(precision)})
    if oid == BYTEA:
        return make(pa.binary(), _bytea, b"")
    if oid == DATE:
        return make(pa.int32(), _date, 0, schema_name=DATE_NAME, version=1)
    if oid == TIME:
        if _time_precision(typmod) <= 3:
            return make(pa.int32(), _time_ms, 0, schema_name=TIME_NAME, version=1)
        return make(pa.int64(), _time_us, 0, schema_name=MICRO_TIME_NAME, version=1)
    if oid == TIMESTAMP:
        if _time_precision(typmod) <= 3:
            return make(pa.int64(), _timestamp_ms, 0, schema_name=TIMESTAMP_NAME, version=1)
        return make(pa.int64(), _timestamp_us, 0, schema_name=MICRO_TIMESTAMP_NAME, version=1)
    if oid == TIMESTAMPTZ:
        return make(pa.string(), _zoned, "1970-01-01T00:00:00Z", schema_name=ZONED_TIMESTAMP_NAME, version=1)
    if oid == TIMETZ:
        return make(pa.string(), _zoned, "00:00:00Z", schema_name=ZONED_TIME_NAME, version=1)
    if oid == UUID:
        return make(
            pa.string(), _identity, "00000000-0000-0000-0000-000000000000", schema_name=UUID_NAME, version=1
        )
    if oid in (JSON, JSONB):
        return make(pa.string(), _identity, "{}", schema_name=JSON_NAME, version=1)
    if oid == XML:
        return make(pa.string(), _identity, "", schema_name=XML_NAME, version=1)
    return make(pa.string(), _identity, "")
