"""Round trips over generated Connect schemas and values (hypothesis).

JsonConverter with ``schemas.enable=true`` must give back equal values and an equal schema
(Arrow field and its Connect metadata) for every Connect type, nested structs, arrays and
maps, nulls, unicode and escapes; with ``schemas.enable=false`` JSON-representable data
comes back equal. StringConverter and ByteArrayConverter round-trip their data too.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from decimal import Decimal
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.converters.bytearray_converter import ByteArrayConverter
from engine.converters.json_converter import JsonConverter
from engine.converters.string_converter import StringConverter
from engine.spi import schema as cs

EXAMPLES = int(os.environ.get("ARROWSMITH_HYPOTHESIS_EXAMPLES", "120"))  # raise it for a deeper run
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CHARS = st.characters(exclude_categories=["Cs"])  # no lone surrogates: Arrow strings are UTF-8
TEXT = st.text(alphabet=CHARS, max_size=12)
NAMES = st.text(alphabet=CHARS, min_size=1, max_size=6)
INT_BITS = {pa.int8(): 8, pa.int16(): 16, pa.int32(): 32, pa.int64(): 64}


def json_converter(schemas: bool, numeric: bool = False) -> JsonConverter:
    c = JsonConverter()
    c.configure(
        {"schemas.enable": str(schemas).lower(), "decimal.format": "NUMERIC" if numeric else "BASE64"}, False
    )
    return c


# ------------------------------------------------------------------------- schemas


@st.composite
def decimal_types(draw: st.DrawFn) -> pa.DataType:
    precision = draw(st.integers(1, 38))
    return pa.decimal128(precision, draw(st.integers(0, precision)))


PRIMITIVES = (
    st.sampled_from(
        [
            pa.int8(),
            pa.int16(),
            pa.int32(),
            pa.int64(),
            pa.float32(),
            pa.float64(),
            pa.bool_(),
            pa.string(),
            pa.binary(),
            pa.date32(),
            pa.time32("ms"),
            pa.timestamp("ms"),
        ]
    )
    | decimal_types()
)
KEYS = st.sampled_from([pa.string(), pa.int32(), pa.int64(), pa.bool_(), pa.float64()])


@st.composite
def attributes(draw: st.DrawFn, typ: pa.DataType) -> dict[str, Any]:
    logical = cs.schema_name(pa.field("x", typ)) is not None
    out: dict[str, Any] = {"optional": draw(st.booleans())}
    if not logical and draw(st.booleans()):
        out["schema_name"] = draw(NAMES.filter(lambda n: n not in cs.LOGICAL_NAMES))
        out["version"] = draw(st.none() | st.integers(0, 2**31 - 1))
    if draw(st.booleans()):
        out["doc"] = draw(TEXT)
    if not logical and draw(st.booleans()):
        out["parameters"] = draw(st.dictionaries(NAMES, TEXT, max_size=2))
    return out


def fields(depth: int = 2) -> st.SearchStrategy[pa.Field]:
    @st.composite
    def build(draw: st.DrawFn, name: str) -> pa.Field:
        kinds = ["primitive"] + (["array", "map", "struct"] if depth > 0 else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "primitive":
            typ = draw(PRIMITIVES)
        elif kind == "array":
            typ = cs.arrow_type(cs.ARRAY, items=draw(fields(depth - 1).map(lambda f: f.with_name("item"))))
        elif kind == "map":
            key = cs.field("key", draw(KEYS), optional=False)
            typ = cs.arrow_type(cs.MAP, keys=key, values=draw(fields(depth - 1)).with_name("value"))
        else:
            names = draw(st.lists(NAMES, max_size=4, unique=True))
            typ = pa.struct([draw(fields(depth - 1)).with_name(n) for n in names])
        return cs.field(name, typ, **draw(attributes(typ)))

    return build("value")


# ------------------------------------------------------------------------- values


def values_for(f: pa.Field, nullable: bool | None = None) -> st.SearchStrategy[Any]:
    nullable = f.nullable if nullable is None else nullable
    base = _values(f.type)
    return st.none() | base if nullable else base


def _values(t: pa.DataType) -> st.SearchStrategy[Any]:
    if t in INT_BITS:
        bits = INT_BITS[t]
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if pa.types.is_float32(t):
        return st.floats(width=32)
    if pa.types.is_float64(t):
        return st.floats()
    if pa.types.is_boolean(t):
        return st.booleans()
    if pa.types.is_string(t):
        return TEXT
    if pa.types.is_binary(t):
        return st.binary(max_size=12)
    if pa.types.is_decimal(t):
        unscaled = st.integers(-(10**t.precision) + 1, 10**t.precision - 1)
        return unscaled.map(lambda u: Decimal(f"{u}E{-t.scale}"))
    if pa.types.is_date32(t):
        return st.dates()
    if pa.types.is_time32(t):
        return st.times().map(lambda x: x.replace(microsecond=x.microsecond // 1000 * 1000))
    if pa.types.is_timestamp(t):
        return st.datetimes().map(lambda x: x.replace(microsecond=x.microsecond // 1000 * 1000))
    if pa.types.is_map(t):
        pairs = st.dictionaries(_values(t.key_type), values_for(t.item_field), max_size=3)
        return pairs.map(lambda d: list(d.items()))
    if pa.types.is_list(t):
        return st.lists(values_for(t.value_field), max_size=3)
    return st.fixed_dictionaries({c.name: values_for(c) for c in t})


@st.composite
def batches(draw: st.DrawFn) -> tuple[pa.Field, pa.Array]:
    f = draw(fields())
    rows = draw(st.lists(values_for(f), max_size=6))
    return f, pa.array(rows, f.type)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# ------------------------------------------------------------------------- JSON with schemas


@SETTINGS
@given(batches(), st.booleans())
def test_json_with_schemas_round_trips_values_and_schema(
    batch: tuple[pa.Field, pa.Array], numeric: bool
) -> None:
    f, values = batch
    conv = json_converter(True, numeric)
    data = conv.from_connect_data("t", f, values)
    assert len(data) == len(values)
    got_field, got = conv.to_connect_data("t", data)
    assert same(got.to_pylist(), values.to_pylist())
    if values.null_count < len(values):
        assert got_field.equals(f, check_metadata=True), (got_field, f)
        assert got.type == f.type


@SETTINGS
@given(batches())
def test_json_schema_text_is_stable(batch: tuple[pa.Field, pa.Array]) -> None:
    f, values = batch
    conv = json_converter(True)
    data = conv.from_connect_data("t", f, values)
    got_field, got = conv.to_connect_data("t", data)
    if values.null_count < len(values):
        assert conv.from_connect_data("t", got_field, got).equals(data)


# ------------------------------------------------------------------------- JSON without schemas


def plain_fields(depth: int = 2) -> st.SearchStrategy[pa.Field]:
    leaves = st.sampled_from([pa.int64(), pa.float64(), pa.bool_(), pa.string()])

    @st.composite
    def build(draw: st.DrawFn) -> pa.Field:
        kind = draw(st.sampled_from(["leaf", "list", "struct"] if depth else ["leaf"]))
        if kind == "leaf":
            typ = draw(leaves)
        elif kind == "list":
            typ = pa.list_(draw(plain_fields(depth - 1)).with_name("item"))
        else:
            names = draw(st.lists(NAMES, max_size=3, unique=True))
            typ = pa.struct([draw(plain_fields(depth - 1)).with_name(n) for n in names])
        return pa.field("value", typ)

    return build()


def _plain_values(t: pa.DataType) -> st.SearchStrategy[Any]:
    if pa.types.is_float64(t):
        return st.none() | st.floats(allow_nan=False, allow_infinity=False)
    if pa.types.is_list(t):
        return st.none() | st.lists(_plain_values(t.value_type), max_size=3)
    if pa.types.is_struct(t):
        return st.none() | st.fixed_dictionaries({c.name: _plain_values(c.type) for c in t})
    return st.none() | _values(t)


@SETTINGS
@given(plain_fields().flatmap(lambda f: st.tuples(st.just(f), st.lists(_plain_values(f.type), max_size=6))))
def test_json_without_schemas_round_trips_json_data(case: tuple[pa.Field, list[Any]]) -> None:
    f, rows = case
    values = pa.array(rows, f.type)
    conv = json_converter(False)
    got_field, got = conv.to_connect_data(
        "t", conv.from_connect_data("t", cs.field("v", f.type, schemaless=True), values)
    )
    assert cs.is_schemaless(got_field)
    assert same(got.to_pylist(), values.to_pylist())


# ------------------------------------------------------------------------- String / ByteArray


@SETTINGS
@given(st.lists(st.none() | TEXT, max_size=8), st.sampled_from(["UTF-8", "UTF-16", "UTF-32"]))
def test_string_converter_round_trips_text(rows: list[str | None], encoding: str) -> None:
    conv = StringConverter()
    conv.configure({"converter.encoding": encoding}, False)
    values = pa.array(rows, pa.string())
    got = conv.to_connect_data("t", conv.from_connect_data("t", pa.field("v", pa.string()), values))[1]
    assert got.to_pylist() == rows


@SETTINGS
@given(
    st.lists(st.none() | st.floats(), max_size=8),
    st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), max_size=8),
)
def test_string_converter_numbers_parse_back(floats: list[float | None], ints: list[int | None]) -> None:
    conv = StringConverter()
    conv.configure({}, False)
    text = conv.from_connect_data("t", pa.field("v", pa.float64()), pa.array(floats, pa.float64()))
    back = [None if t is None else float(t) for t in conv.to_connect_data("t", text)[1].to_pylist()]
    assert same(back, floats)
    text = conv.from_connect_data("t", pa.field("v", pa.int64()), pa.array(ints, pa.int64()))
    assert [None if t is None else int(t) for t in conv.to_connect_data("t", text)[1].to_pylist()] == ints


@SETTINGS
@given(st.lists(st.none() | st.binary(max_size=16), max_size=8))
def test_byte_array_converter_round_trips_bytes(rows: list[bytes | None]) -> None:
    conv = ByteArrayConverter()
    values = pa.array(rows, pa.binary())
    data = conv.from_connect_data("t", cs.field("v", pa.binary()), values)
    assert conv.to_connect_data("t", data)[1].to_pylist() == rows


def test_date_strategy_bounds_are_representable() -> None:
    assert pa.array([dt.date.min, dt.date.max]).to_pylist() == [dt.date.min, dt.date.max]
