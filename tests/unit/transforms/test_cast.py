"""Cast$Key / Cast$Value: golden cases from Kafka's CastTest, Java numeric semantics, config errors."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.spi import schema as cs
from engine.spi.errors import ConfigError, DataError
from engine.spi.values import java_double_text
from engine.transforms._common import base64_text, date_text, java_float_text
from engine.transforms.cast import Cast, CastKey, CastValue

from ._kv_support import (
    assert_rowwise,
    assert_same_field,
    assert_sliced,
    batch,
    configured,
    rows_of,
    schemaless,
)

RANGE = "was out of range for requested data type"


def cast(spec: str, b: pa.RecordBatch, cls: type[Cast] = CastValue, **extra: str) -> pa.RecordBatch:
    return configured(cls, {"spec": spec, **extra}).apply(b)


# ----------------------------------------------------------------------------- config


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "Must specify at least one field to cast."),
        ("foo:faketype", "Invalid type found in casting spec: faketype"),
        ("faketype", "Invalid type found in casting spec: faketype"),
        (
            "a:int8,b:bytes",
            "Cast transformation does not support casting to BYTES; supported types are "
            "[INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING]",
        ),
        (
            "array",
            "Cast transformation does not support casting to ARRAY; supported types are "
            "[INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING]",
        ),
        (
            "int8,int32",
            "Cast transformations that specify a type to cast the entire value to may only specify a "
            "single cast in their spec",
        ),
        (
            "a:int8,b:c:int8",
            "Invalid value [a:int8, b:c:int8] for configuration renames: Invalid rename mapping: b:c:int8",
        ),
    ],
)
def test_spec_errors_in_configure_and_validate(spec: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        CastValue().configure({"spec": spec})
    assert str(e.value) == message
    errors = {v.name: v.errors for v in CastValue.config_def().validate({"spec": spec})}
    assert errors["spec"] == [message]
    assert errors["replace.null.with.default"] == []


def test_spec_missing() -> None:
    with pytest.raises(
        ConfigError, match=r'Missing required configuration "spec" which has no default value.'
    ):
        CastValue().configure({})


def test_spec_types_are_case_insensitive_and_trimmed() -> None:
    t = configured(CastValue, {"spec": " a : INT8 , b:Float64 "})
    assert t._casts == {"a": "INT8", "b": "FLOAT64"}


def test_aliases() -> None:
    assert CastKey.aliases == ("org.apache.kafka.connect.transforms.Cast$Key",)
    assert CastValue.aliases == ("org.apache.kafka.connect.transforms.Cast$Value",)


# ----------------------------------------------------------------------------- whole value, with schema


def test_whole_value_int32_to_int8_wraps_and_copies_schema_basics() -> None:
    f = cs.field(
        "value",
        pa.int32(),
        optional=False,
        schema_name="n",
        version=3,
        doc="d",
        default=300,
        has_default=True,
    )
    out = cast("int8", batch([42, 300, -129], f))
    assert rows_of(out) == [42, 44, 127]
    expected = cs.field(
        "value", pa.int8(), optional=False, schema_name="n", version=3, doc="d", default=44, has_default=True
    )
    assert_same_field(out.schema.field("value"), expected)


@pytest.mark.parametrize(
    ("target", "expected", "arrow"),
    [
        ("int8", [1, 0, None], pa.int8()),
        ("int16", [1, 0, None], pa.int16()),
        ("int32", [1, 0, None], pa.int32()),
        ("int64", [1, 0, None], pa.int64()),
        ("float32", [1.0, 0.0, None], pa.float32()),
        ("float64", [1.0, 0.0, None], pa.float64()),
        ("boolean", [True, False, None], pa.bool_()),
        ("string", ["true", "false", None], pa.string()),
    ],
)
def test_whole_value_from_boolean(target: str, expected: list[object], arrow: pa.DataType) -> None:
    out = cast(target, batch([True, False, None], cs.field("value", pa.bool_())))
    assert rows_of(out) == expected
    assert out.schema.field("value").type == arrow


def test_whole_key_cast_leaves_value_alone() -> None:
    b = batch(["v1", "v2"], cs.field("value", pa.string()), key=[1, 2], key_field=cs.field("key", pa.int64()))
    out = cast("string", b, CastKey)
    assert rows_of(out, "key") == ["1", "2"]
    assert out.column("value").equals(b.column("value"))
    assert out.schema.field("value") == b.schema.field("value")


def test_numbers_to_strings_as_java_prints_them() -> None:
    f = cs.field("value", pa.float64())
    out = cast("string", batch([1.0, 1e7, 1.5e-5, 123.456, float("nan"), float("-inf"), -0.0, None], f))
    assert rows_of(out) == ["1.0", "1.0E7", "1.5E-5", "123.456", "NaN", "-Infinity", "-0.0", None]
    out = cast("string", batch([0.1, 3.4e38], cs.field("value", pa.float32())))
    assert rows_of(out) == ["0.1", "3.4E38"]


def test_floats_to_integers_truncate_and_saturate_like_java() -> None:
    f = cs.field("value", pa.float64())
    values = [1.9, -1.9, 300.7, float("nan"), float("inf"), -1e30, 1e30, None]
    assert rows_of(cast("int8", batch(values, f))) == [1, -1, 44, 0, -1, 0, -1, None]
    assert rows_of(cast("int32", batch(values, f))) == [1, -1, 300, 0, 2**31 - 1, -(2**31), 2**31 - 1, None]
    assert rows_of(cast("int64", batch(values, f))) == [1, -1, 300, 0, 2**63 - 1, -(2**63), 2**63 - 1, None]


def test_numbers_to_boolean_use_the_long_value() -> None:
    assert rows_of(
        cast("boolean", batch([0.5, -1.0, 0.0, float("nan"), 2.0], cs.field("value", pa.float64())))
    ) == [
        False,
        True,
        False,
        False,
        True,
    ]
    assert rows_of(cast("boolean", batch([0, 5, -1], cs.field("value", pa.int16())))) == [False, True, True]


def test_strings_parse_like_java() -> None:
    f = cs.field("value", pa.string())
    assert rows_of(cast("int8", batch(["127", "-128", "+5", "007", None], f))) == [127, -128, 5, 7, None]
    assert rows_of(cast("int64", batch(["9223372036854775807", "-9223372036854775808"], f))) == [
        2**63 - 1,
        -(2**63),
    ]
    assert rows_of(cast("float64", batch([" 1.5 ", "1e3", "NaN", "-Infinity", "2f", ".5", "0x1p3"], f)))[
        :2
    ] == [
        1.5,
        1000.0,
    ]
    floats = rows_of(cast("float64", batch([" 1.5 ", "1e3", "NaN", "-Infinity", "2f", ".5", "0x1p3"], f)))
    assert math.isnan(floats[2])
    assert floats[3:] == [-math.inf, 2.0, 0.5, 8.0]
    assert rows_of(cast("boolean", batch(["true", "TRUE", "tRuE", "yes", "1", " true", None], f))) == [
        True,
        True,
        True,
        False,
        False,
        False,
        None,
    ]


@pytest.mark.parametrize(
    ("target", "bad"),
    [
        ("int8", "128"),
        ("int8", "1.0"),
        ("int32", " 1"),
        ("int64", "9223372036854775808"),
        ("float32", "1,5"),
        ("float64", "inf"),
        ("int16", ""),
    ],
)
def test_unparsable_strings_name_their_rows(target: str, bad: str) -> None:
    f = cs.field("value", pa.string())
    with pytest.raises(DataError) as e:
        cast(target, batch(["1", bad, "2", bad], f))
    assert str(e.value) == f"Value ({bad}) {RANGE}"
    assert e.value.rows == (1, 3)


def test_bytes_become_base64_and_nothing_else() -> None:
    f = cs.field("value", pa.binary())
    out = cast("string", batch([b"", b"\x00\xff", b"hello", None], f))
    assert rows_of(out) == ["", "AP8=", "aGVsbG8=", None]
    with pytest.raises(DataError, match=r"^Unexpected type in Cast transformation: class \[B$") as e:
        cast("int32", batch([b"a", None, b"b"], f))
    assert e.value.rows == (0, 2)


def test_logical_types_to_string_and_numbers() -> None:
    date = cs.field("value", pa.date32())
    b = batch(pa.array([dt.date(1970, 1, 1), dt.date(2024, 2, 29), None], pa.date32()), date)
    out = cast("string", b)
    assert rows_of(out) == ["00:00:00.000Z", "2024-02-29", None]
    # copySchemaBasics keeps the logical name on the new type, as Kafka does
    assert cs.schema_name(out.schema.field("value")) == cs.DATE
    assert rows_of(cast("int32", b)) == [0, 19782, None]
    ts = cs.field("value", pa.timestamp("ms"))
    b = batch(pa.array([1_700_000_000_123, 86_400_000, 45_296_789], pa.timestamp("ms")), ts)
    assert rows_of(cast("string", b)) == ["2023-11-14T22:13:20.123Z", "1970-01-02", "12:34:56.789Z"]
    assert rows_of(cast("int64", b)) == [1_700_000_000_123, 86_400_000, 45_296_789]
    assert rows_of(cast("boolean", b)) == [True, True, True]
    time = cs.field("value", pa.time32("ms"))
    b = batch(pa.array([45_296_789], pa.time32("ms")), time)
    assert rows_of(cast("string", b)) == ["12:34:56.789Z"]
    assert rows_of(cast("float64", b)) == [45_296_789.0]


def test_decimals() -> None:
    f = cs.field("value", pa.decimal128(20, 3))
    values = [decimal.Decimal("1.234"), decimal.Decimal("-300.999"), decimal.Decimal("0.000"), None]
    b = batch(pa.array(values, pa.decimal128(20, 3)), f)
    assert rows_of(cast("string", b)) == ["1.234", "-300.999", "0.000", None]
    assert rows_of(cast("int8", b)) == [1, -44, 0, None]
    assert rows_of(cast("float64", b)) == [1.234, -300.999, 0.0, None]
    assert rows_of(cast("boolean", b)) == [True, True, False, None]
    tiny = batch(
        pa.array([decimal.Decimal("1E-9")], pa.decimal128(20, 10)), cs.field("value", pa.decimal128(20, 10))
    )
    assert rows_of(cast("string", tiny)) == ["1.0E-9"]
    out = cast("string", b)
    assert cs.schema_parameters(out.schema.field("value")) == {
        "scale": "3",
        "connect.decimal.precision": "20",
    }


def test_structs_cannot_be_cast_whole() -> None:
    t = pa.struct([("a", pa.int8())])
    with pytest.raises(DataError) as e:
        cast("int8", batch([{"a": 1}, None, {"a": 2}], cs.field("value", t)))
    assert str(e.value) == (
        "Cast transformation does not support casting from STRUCT; supported types are "
        "[INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING, BYTES]"
    )
    assert e.value.rows == (0, 2)


# ----------------------------------------------------------------------------- fields, with schema

RECORD = pa.struct(
    [
        pa.field("int8", pa.int8(), nullable=False),
        cs.field("int32", pa.int32(), default=2, has_default=True),
        pa.field("bigint", pa.int64()),
        pa.field("string", pa.string()),
        pa.field("bool", pa.bool_()),
        cs.field("optional", pa.float32()),
        pa.field("other", pa.string()),
    ]
)


def record_batch() -> pa.RecordBatch:
    f = cs.field("value", RECORD, schema_name="rec", version=2, doc="a record")
    rows = [
        {
            "int8": 8,
            "int32": 200,
            "bigint": 12345678901,
            "string": "42",
            "bool": True,
            "optional": 1.5,
            "other": "x",
        },
        None,
        {
            "int8": -1,
            "int32": None,
            "bigint": -1,
            "string": "-1",
            "bool": False,
            "optional": None,
            "other": None,
        },
    ]
    return batch(rows, f, offset=[1, 2, 3])


def test_field_casts_build_a_new_struct_schema() -> None:
    spec = "int8:int16,int32:int64,bigint:int8,string:int32,bool:string,optional:boolean"
    out = cast(spec, record_batch())
    assert rows_of(out) == [
        {"int8": 8, "int32": 200, "bigint": 53, "string": 42, "bool": "true", "optional": True, "other": "x"},
        None,
        {
            "int8": -1,
            "int32": 2,
            "bigint": -1,
            "string": -1,
            "bool": "false",
            "optional": None,
            "other": None,
        },
    ]
    expected = cs.field(
        "value",
        pa.struct(
            [
                pa.field("int8", pa.int16(), nullable=False),
                cs.field("int32", pa.int64(), default=2, has_default=True),
                pa.field("bigint", pa.int8()),
                pa.field("string", pa.int32()),
                pa.field("bool", pa.string()),
                cs.field("optional", pa.bool_()),
                pa.field("other", pa.string()),
            ]
        ),
        schema_name="rec",
        version=2,
        doc="a record",
    )
    assert_same_field(out.schema.field("value"), expected)


def test_replace_null_with_default_false_keeps_nulls() -> None:
    out = cast("int32:int64", record_batch(), **{"replace.null.with.default": "false"})
    assert [r and r["int32"] for r in rows_of(out)] == [200, None, None]


def test_field_not_in_schema_is_ignored_with_schema() -> None:
    out = cast("missing:int8", record_batch())
    before = rows_of(record_batch())
    assert rows_of(out) == [before[0], None, dict(before[2], int32=2)]


def test_unsupported_field_type() -> None:
    t = pa.struct([("nested", pa.struct([("a", pa.int8())])), ("x", pa.int8())])
    b = batch([{"nested": {"a": 1}, "x": 1}, {"nested": None, "x": 2}], cs.field("value", t))
    with pytest.raises(DataError, match=r"does not support casting from STRUCT") as e:
        cast("nested:string", b)
    assert e.value.rows == (0,)


def test_non_struct_value_with_field_spec() -> None:
    with pytest.raises(DataError, match=r"^Cannot list fields on non-struct type$"):
        cast("a:int8", batch([1], cs.field("value", pa.int32())))


# ----------------------------------------------------------------------------- schemaless


def test_schemaless_fields_missing_ones_added_with_null() -> None:
    f, arr = schemaless([{"a": 300, "b": "12", "c": True}, None, {"a": 1, "b": None, "c": False}])
    out = cast("a:int8,b:int16,c:int32,d:string", batch(arr, f))
    assert rows_of(out) == [
        {"a": 44, "b": 12, "c": 1, "d": None},
        None,
        {"a": 1, "b": None, "c": 0, "d": None},
    ]
    assert cs.is_schemaless(out.schema.field("value"))
    assert out.schema.field("value").type == pa.struct(
        [("a", pa.int8()), ("b", pa.int16()), ("c", pa.int32()), ("d", pa.string())]
    )


def test_schemaless_whole_value() -> None:
    f, arr = schemaless([1, None, 300])
    out = cast("int8", batch(arr, f))
    assert rows_of(out) == [1, None, 44]
    assert cs.is_schemaless(out.schema.field("value"))


def test_schemaless_requires_a_map_for_field_casts() -> None:
    f, arr = schemaless(["x", None, "y"])
    with pytest.raises(DataError) as e:
        cast("a:int8", batch(arr, f))
    assert (
        str(e.value)
        == "Only Map objects supported in absence of schema for [cast types], found: java.lang.String"
    )
    assert e.value.rows == (0, 2)


def test_schemaless_nested_values_cannot_be_cast() -> None:
    f, arr = schemaless([{"m": {"x": 1}}, {"m": None}])
    with pytest.raises(DataError, match=r"does not support casting from MAP") as e:
        cast("m:string", batch(arr, f))
    assert e.value.rows == (0,)
    f, arr = schemaless([{"l": [1]}])
    with pytest.raises(DataError, match=r"does not support casting from ARRAY"):
        cast("l:string", batch(arr, f))
    f, arr = schemaless([{"d": dt.date(2020, 1, 1)}])
    with pytest.raises(
        DataError, match=r"passed a value of type class java.util.Date which is not supported"
    ):
        cast("d:string", batch(arr, f))


# ----------------------------------------------------------------------------- batches


def test_tombstones_stay_null_and_empty_batches_work() -> None:
    f = cs.field("value", pa.int64())
    out = cast("int8", batch([None, None], f))
    assert rows_of(out) == [None, None]
    empty = batch([], f)
    assert cast("int8", empty).num_rows == 0
    assert cast("a:int8", batch([], cs.field("value", pa.struct([("a", pa.int64())])))).num_rows == 0


def test_rowwise_and_sliced() -> None:
    spec = "int8:int16,int32:int64,bigint:int8,string:int32,bool:string,optional:boolean"
    t = configured(CastValue, {"spec": spec})
    assert_rowwise(t, record_batch())
    assert_sliced(t, record_batch())
    f, arr = schemaless([{"a": "1"}, None, {"a": "x"}, {"a": "300"}, {"a": "-5"}])
    t = configured(CastValue, {"spec": "a:int8"})
    assert_rowwise(t, batch(arr, f))
    f, arr = schemaless([{"a": "1"}, None, {"a": "3"}])
    assert_sliced(t, batch(arr, f))


# ----------------------------------------------------------------------------- text with bad rows

# Java's value for each text (None: Double.parseDouble throws); the texts with a character plain
# decimal text never has take the exact path, the others Arrow's parser.
FLOAT_TEXTS: dict[str, float | None] = {
    "1.5": 1.5,
    "2.5": 2.5,
    "3.5": 3.5,
    "4": 4.0,
    "5e1": 50.0,
    "6": 6.0,
    "-2e3": -2000.0,
    " 1.5 ": 1.5,
    "\t7\n": 7.0,
    "2f": 2.0,
    "3.25D": 3.25,
    "0x1p3": 8.0,
    "-0X.8P1d": -1.0,
    "-Infinity": -math.inf,
    "n/a": None,
    "": None,
    "1,5": None,
    "inf": None,
    "0x1p": None,
    "1e": None,
    "x": None,
}


def float_rows(texts: Sequence[str | None], offset: int = 0) -> pa.RecordBatch:
    f = cs.field("value", pa.struct([pa.field("id", pa.int64()), pa.field("amount", pa.string())]))
    values = [{"id": i, "amount": t} for i, t in enumerate(texts)]
    return batch(values, f, offset=list(range(offset, offset + len(texts))))


def java_amounts(texts: Sequence[str | None]) -> list[float | None]:
    return [None if t is None else FLOAT_TEXTS[t] for t in texts]


@pytest.mark.parametrize(
    "texts",
    [
        ["n/a", "1.5", "2.5", "3.5"],  # bad row first
        ["1.5", "2.5", "n/a", "3.5"],  # in the middle
        ["1.5", "2.5", "3.5", "n/a"],  # last
        ["n/a", "", "1.5", "n/a", "n/a", "2.5", "1,5", "1e"],  # several, adjacent ones too
        ["n/a", "", "inf", "0x1p"],  # all bad
        [" 1.5 ", "n/a", "2f", None, "0x1p3", "inf", "-Infinity", "3.25D", "1.5"],  # odd but good rows
        ["1e", "1.5", "n/a", "-2e3"],  # a plain-looking row Arrow cannot parse
    ],
)
def test_bad_float_text_rows_are_named_and_the_partial_output_is_row_for_row(texts: list[str | None]) -> None:
    b = float_rows(texts)
    want = java_amounts(texts)
    bad = tuple(i for i, t in enumerate(texts) if t is not None and want[i] is None)
    with pytest.raises(DataError) as e:
        cast("amount:float64", b)
    assert e.value.rows == bad
    assert str(e.value) == f"Value ({texts[bad[0]]}) {RANGE}"
    partial = e.value.partial
    assert isinstance(partial, pa.RecordBatch) and partial.num_rows == len(texts)
    got = [r["amount"] for r in rows_of(partial)]
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if i not in bad:
            assert g == w, (i, texts[i], g, w)
    good = [t for i, t in enumerate(texts) if i not in bad]
    assert [r["amount"] for r in rows_of(cast("amount:float64", float_rows(good)))] == java_amounts(good)


def test_bad_float_text_in_a_sliced_column_with_nulls() -> None:
    texts = ["n/a", "1.5", None, " 2.5", "x", None, "4", "5e1", "n/a", "6"]
    b = float_rows(texts).slice(1, 8)  # the value column starts at an offset
    with pytest.raises(DataError) as e:
        cast("amount:float64", b)
    assert e.value.rows == (3, 7)
    got = [r["amount"] for r in rows_of(e.value.partial)]
    assert [got[i] for i in (0, 1, 2, 4, 5, 6)] == [1.5, None, 2.5, None, 4.0, 50.0]


def test_many_odd_float_rows_take_the_kernel_path_and_agree() -> None:
    from engine.transforms.cast import _EXACT_IN_PYTHON_ROWS

    texts = list(FLOAT_TEXTS) * 40
    exact = [t for t in texts if t not in ("1.5", "2.5", "3.5", "4", "5e1", "6", "-2e3")]
    assert len(exact) > _EXACT_IN_PYTHON_ROWS  # the rows not plain decimal text
    with pytest.raises(DataError) as e:
        cast("float64", batch(texts, cs.field("value", pa.string())))
    want = java_amounts(texts)
    assert e.value.rows == tuple(i for i, w in enumerate(want) if w is None)
    got = rows_of(e.value.partial)
    assert [g for g, w in zip(got, want, strict=True) if w is not None] == [w for w in want if w is not None]


FLOAT_ALPHABET = "0123456789+-.eExXpPfFdDaAbcNIinty \t\x00\x1f/,"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(FLOAT_ALPHABET, max_size=10),
            st.sampled_from([*FLOAT_TEXTS, "NaN", "+NaN", "Infinity", "1.", ".5", "+.5e3", "0x.8p-1f"]),
        ),
        min_size=1,
        max_size=20,
    ),
    st.sampled_from([pa.float64(), pa.float32()]),
)
def test_exact_float_parse_in_python_equals_the_kernels(texts: list[str | None], typ: pa.DataType) -> None:
    from engine.transforms.cast import _parse_float_few, _parse_float_kernels

    arr = pa.array(texts, pa.string())
    results = []
    for parse in (_parse_float_few, _parse_float_kernels):
        try:
            out, ok = parse(arr, typ)
            results.append((out.to_pylist(), ok.tolist()))
        except (ValueError, OverflowError) as error:  # the same Arrow cast: the same errors
            results.append((type(error), None))
    (few, few_ok), (kernels, kernels_ok) = results
    assert few_ok == kernels_ok
    if isinstance(few, list) and isinstance(kernels, list):
        assert [None if v is None else ("nan" if math.isnan(v) else v) for v in few] == [
            None if v is None else ("nan" if math.isnan(v) else v) for v in kernels
        ]
    else:
        assert few == kernels


# ----------------------------------------------------------------------------- Java semantics (hypothesis)

INTS = {"int8": 8, "int16": 16, "int32": 32, "int64": 64}


def wrap(v: int, bits: int) -> int:
    return ((v + (1 << (bits - 1))) % (1 << bits)) - (1 << (bits - 1))


def java_d2i(d: float, bits: int) -> int:
    """``(int) d`` / ``(long) d`` and then narrowing."""
    wide = 64 if bits == 64 else 32
    if math.isnan(d):
        v = 0
    elif d >= 2 ** (wide - 1):
        v = 2 ** (wide - 1) - 1
    elif d <= -(2 ** (wide - 1)):
        v = -(2 ** (wide - 1))
    else:
        v = int(d)
    return wrap(v, bits)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), min_size=1, max_size=30))
def test_integer_casts_wrap_like_java(values: list[int | None]) -> None:
    b = batch(values, cs.field("value", pa.int64()))
    for name, bits in INTS.items():
        assert rows_of(cast(name, b)) == [None if v is None else wrap(v, bits) for v in values]
    assert rows_of(cast("boolean", b)) == [None if v is None else v != 0 for v in values]
    assert rows_of(cast("string", b)) == [None if v is None else str(v) for v in values]
    as_f32 = rows_of(cast("float32", b))
    assert as_f32 == [None if v is None else float(np.float32(v)) for v in values]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)), min_size=1, max_size=30)
)
def test_float_casts_like_java(values: list[float | None]) -> None:
    b = batch(values, cs.field("value", pa.float64()))
    for name, bits in INTS.items():
        assert rows_of(cast(name, b)) == [None if v is None else java_d2i(v, bits) for v in values]
    assert rows_of(cast("boolean", b)) == [None if v is None else java_d2i(v, 64) != 0 for v in values]
    assert rows_of(cast("string", b)) == [None if v is None else java_double_text(v) for v in values]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=False), min_size=1, max_size=30))
def test_float32_text_like_java(values: list[float]) -> None:
    arr = pa.array(values, pa.float32())
    assert java_float_text(arr).to_pylist() == [java_double_text(v, True) for v in values]


@settings(max_examples=60, deadline=None)
@given(st.integers(-(2**70), 2**70), st.sampled_from(list(INTS)), st.sampled_from(["", "+", "0", "00"]))
def test_integer_strings_parse_like_java(value: int, target: str, prefix: str) -> None:
    text = (
        (prefix if prefix != "+" or value >= 0 else "") + str(value)
        if value >= 0
        else "-" + prefix.strip("+") + str(-value)
    )
    b = batch([text], cs.field("value", pa.string()))
    bits = INTS[target]
    if -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
        assert rows_of(cast(target, b)) == [value]
    else:
        with pytest.raises(DataError, match=RANGE):
            cast(target, b)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=20), min_size=1, max_size=20), st.integers(0, 3))
def test_base64_of_slices(values: list[bytes], start: int) -> None:
    arr = pa.array(values, pa.binary()).slice(min(start, len(values)))
    assert base64_text(arr).to_pylist() == [base64.b64encode(v).decode() for v in arr.to_pylist()]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-(2**40), 2**42), min_size=1, max_size=20))
def test_date_text_chooses_the_format_by_value(values: list[int]) -> None:
    out = date_text(pa.array(values, pa.int64())).to_pylist()
    epoch = dt.datetime(1970, 1, 1)
    for v, text in zip(values, out, strict=True):
        when = epoch + dt.timedelta(milliseconds=v)
        clock = when.strftime("%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
        if v < 86_400_000:
            assert text == clock
        elif v % 86_400_000 == 0:
            assert text == f"{when.year:04d}-{when:%m-%d}"
        else:
            assert text == f"{when.year:04d}-{when:%m-%d}T{clock}"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(), min_size=1, max_size=20))
def test_java_float_text_parses_back(values: list[float]) -> None:
    texts = [java_double_text(v) for v in values]
    out = rows_of(cast("float64", batch(texts, cs.field("value", pa.string()))))
    for v, parsed in zip(values, out, strict=True):
        assert (math.isnan(v) and math.isnan(parsed)) or parsed == v
    with np.errstate(over="ignore"):
        singles = [float(np.float32(v)) for v in values]
    texts32 = [java_double_text(v, True) for v in singles]
    out32 = rows_of(cast("float32", batch(texts32, cs.field("value", pa.string()))))
    for v, parsed in zip(singles, out32, strict=True):
        assert (math.isnan(v) and math.isnan(parsed)) or parsed == v
