"""MaskField$Key / $Value: Kafka's MaskFieldTest, and replacements as Kafka 4.3.1 converts them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from engine.spi import schema as cs
from engine.spi.errors import ConfigError, DataError
from engine.transforms.mask_field import MaskFieldKey, MaskFieldValue

from ._kv_support import (
    assert_rowwise,
    assert_same_field,
    assert_sliced,
    batch,
    configured,
    rows_of,
    schemaless,
)

NOW = dt.datetime(2024, 5, 6, 7, 8, 9, 123000)
SCHEMA = pa.struct(
    [
        pa.field("magic", pa.int32(), False),
        pa.field("bool", pa.bool_(), False),
        pa.field("byte", pa.int8(), False),
        pa.field("short", pa.int16(), False),
        pa.field("int", pa.int32(), False),
        pa.field("long", pa.int64(), False),
        pa.field("float", pa.float32(), False),
        pa.field("double", pa.float64(), False),
        pa.field("string", pa.string(), False),
        pa.field("date", pa.date32(), False),
        pa.field("time", pa.time32("ms"), False),
        pa.field("timestamp", pa.timestamp("ms"), False),
        pa.field("decimal", pa.decimal128(38, 0), False),
        pa.field("array", pa.list_(pa.field("item", pa.int32(), False)), False),
        pa.field("map", pa.map_(pa.string(), pa.string()), False),
        cs.field("withDefault", pa.string(), default="default", has_default=True),
    ]
)
VALUE_FIELD = pa.field("value", SCHEMA, nullable=False)
VALUES: dict[str, Any] = {
    "magic": 42,
    "bool": True,
    "byte": 42,
    "short": 42,
    "int": 42,
    "long": 42,
    "float": 42.0,
    "double": 42.0,
    "string": "hmm",
    "date": NOW.date(),
    "time": NOW.time(),
    "timestamp": NOW,
    "decimal": Decimal(42),
    "array": [1, 2, 3],
    "map": [("what", "what")],
    "withDefault": None,
}
MASKED: dict[str, Any] = {
    "magic": 42,
    "bool": False,
    "byte": 0,
    "short": 0,
    "int": 0,
    "long": 0,
    "float": 0.0,
    "double": 0.0,
    "string": "",
    "date": dt.date(1970, 1, 1),
    "time": dt.time(0),
    "timestamp": dt.datetime(1970, 1, 1),
    "decimal": Decimal(0),
    "array": [],
    "map": [],
}


def mask(fields: str, replacement: str | None = None, *, default: bool = False) -> MaskFieldValue:
    config = {"fields": fields, "replace.null.with.default": str(default).lower()}
    if replacement is not None:
        config["replacement"] = replacement
    t = configured(MaskFieldValue, config)
    assert isinstance(t, MaskFieldValue)
    return t


def with_schema() -> pa.RecordBatch:
    return batch([VALUES], VALUE_FIELD)


def test_with_schema() -> None:
    fields = ",".join(n for n in VALUES if n != "magic")
    out = mask(fields).apply(with_schema())
    assert rows_of(out) == [{**MASKED, "withDefault": None}]
    assert_same_field(out.schema.field("value"), VALUE_FIELD)


def test_a_null_with_a_default_reads_as_the_default_and_is_masked() -> None:
    out = mask("withDefault", default=True).apply(with_schema())
    assert rows_of(out)[0]["withDefault"] == ""
    out = mask("string", default=True).apply(with_schema())
    assert rows_of(out)[0]["withDefault"] == "default"  # Struct.get on the other fields too
    out = mask("string", default=False).apply(with_schema())
    assert rows_of(out)[0]["withDefault"] is None


def test_schemaless() -> None:
    f, arr = schemaless(
        [
            {
                "magic": 42,
                "bool": True,
                "long": 42,
                "double": 42.0,
                "string": "55.121.20.20",
                "date": NOW,
                "list": [42],
                "map": {"key": "value"},
                "nothing": None,
            }
        ]
    )
    fields = "bool,long,double,string,date,list,map,nothing,missing"
    out = configured(MaskFieldValue, {"fields": fields}).apply(batch(arr, f))
    assert rows_of(out) == [
        {
            "magic": 42,
            "bool": False,
            "long": 0,
            "double": 0.0,
            "string": "",
            "date": dt.datetime(1970, 1, 1),
            "list": [],
            "map": {},
            "nothing": None,
            "missing": None,
        }
    ]
    assert cs.is_schemaless(out.schema.field("value"))


# Values as Kafka 4.3.1 masks a struct {i8=5, i32=7, f=1.5, s=abc, b=true, by=[1], d=1.25, ts=…}.
CANNOT_REPLACE = "Cannot mask value of type class {} with custom replacement."


@pytest.mark.parametrize(
    ("field", "replacement", "expected"),
    [
        ("byte", "12", 12),
        ("byte", "300", 44),
        ("byte", "1.5", 1),
        ("byte", "-0", 0),
        ("int", "300", 300),
        ("int", "1.5", 1),
        ("long", "123", 123),
        ("short", "123", 123),
        ("float", "12", 12.0),
        ("float", "1.5", 1.5),
        ("float", "-0", 0.0),
        ("double", "123", 123.0),
        ("string", "12", "12"),
        ("string", "abc", "abc"),
        ("string", "-0", "-0"),
        ("decimal", "123", Decimal(123)),
        ("decimal", "-0", Decimal(0)),
        ("byte", "abc", "Unable to convert abc (class java.lang.String) to a number"),
        ("float", "abc", "Unable to convert abc (class java.lang.String) to a number"),
        ("decimal", "abc", "Unable to convert abc (class java.lang.String) to number"),
        ("bool", "1", CANNOT_REPLACE.format("java.lang.Boolean")),
        ("date", "1", CANNOT_REPLACE.format("java.util.Date")),
        ("time", "1", CANNOT_REPLACE.format("java.util.Date")),
        ("timestamp", "1", CANNOT_REPLACE.format("java.util.Date")),
        ("array", "1", CANNOT_REPLACE.format("java.util.ArrayList")),
        ("map", "1", CANNOT_REPLACE.format("java.util.HashMap")),
    ],
)
def test_replacement(field: str, replacement: str, expected: Any) -> None:
    t = mask(field, replacement)
    if isinstance(expected, str) and field != "string":
        with pytest.raises(DataError) as e:
            t.apply(with_schema())
        assert str(e.value) == expected
        assert e.value.rows == (0,)
        return
    got = rows_of(t.apply(with_schema()))[0][field]
    assert got == expected and type(got) is type(expected)


def test_bytes_and_structs_cannot_be_masked() -> None:
    st = pa.struct([("by", pa.binary()), ("s", pa.struct([("x", pa.int8())])), ("n", pa.binary())])
    b = batch(
        [{"by": b"\x01", "s": {"x": 1}, "n": None}, {"by": None, "s": None, "n": None}], cs.field("value", st)
    )
    with pytest.raises(DataError) as e:
        mask("by").apply(b)
    assert str(e.value) == "Cannot mask value of type: class [B"
    assert e.value.rows == (0,)
    with pytest.raises(
        DataError, match=r"^Cannot mask value of type: class org\.apache\.kafka\.connect\.data\.Struct$"
    ):
        mask("s").apply(b)
    with pytest.raises(DataError, match=r"^Cannot mask value of type class \[B with custom replacement\.$"):
        mask("by", "x").apply(b)
    # null values stay null whatever their type
    assert rows_of(mask("n").apply(b)) == [
        {"by": b"\x01", "s": {"x": 1}, "n": None},
        {"by": None, "s": None, "n": None},
    ]
    assert rows_of(mask("by").apply(b.slice(1))) == [{"by": None, "s": None, "n": None}]


def test_null_values_fail_both_ways() -> None:
    st = pa.struct([("a", pa.int32())])
    b = batch([{"a": 1}, None, {"a": 2}, None], cs.field("value", st))
    with pytest.raises(DataError) as e:
        mask("a").apply(b)
    assert str(e.value) == "Only Struct objects supported for [mask fields], found: null"
    assert e.value.rows == (1, 3)
    f, arr = schemaless([{"a": 1}, None])
    with pytest.raises(DataError) as e:
        mask("a").apply(batch(arr, f))
    assert str(e.value) == "Only Map objects supported in absence of schema for [mask fields], found: null"
    assert e.value.rows == (1,)
    f, arr = schemaless(["str", None])
    with pytest.raises(DataError) as e:
        mask("a").apply(batch(arr, f))
    assert (
        str(e.value)
        == "Only Map objects supported in absence of schema for [mask fields], found: java.lang.String"
    )
    assert e.value.rows == (0, 1)
    with pytest.raises(DataError, match=r"found: java\.lang\.String$"):
        mask("a").apply(batch(["x"], cs.field("value", pa.string())))


def test_key_variant_and_a_schemaless_map_column() -> None:
    key_type = pa.struct([("id", pa.int64()), ("secret", pa.string())])
    b = batch(
        [1, 2], cs.field("value", pa.int64()), key=[{"id": 1, "secret": "s"}, {"id": 2, "secret": None}]
    )
    b = b.set_column(
        4,
        pa.field("key", key_type),
        pa.array([{"id": 1, "secret": "s"}, {"id": 2, "secret": None}], key_type),
    )
    out = configured(MaskFieldKey, {"fields": "secret"}).apply(b)
    assert rows_of(out, "key") == [{"id": 1, "secret": ""}, {"id": 2, "secret": None}]
    assert out.column("value").equals(b.column("value"))
    mt = pa.map_(pa.string(), pa.int64())
    mp = pa.array([[("a", 1), ("b", 2)], [("c", 3)], [("a", None)]], mt)
    out = mask("a,c,z").apply(batch(mp, cs.field("value", mt, schemaless=True)))
    assert rows_of(out) == [
        [("a", 0), ("b", 2), ("c", None), ("z", None)],
        [("c", 0), ("a", None), ("z", None)],
        [("a", None), ("c", None), ("z", None)],
    ]


def test_rowwise_sliced_empty() -> None:
    st = pa.struct([cs.field("a", pa.int32(), default=5, has_default=True), pa.field("b", pa.string())])
    b = batch(
        [{"a": 1, "b": "x"}, {"a": None, "b": None}, {"a": 3, "b": "z"}],
        cs.field("value", st, schema_name="s"),
    )
    for t in (mask("a,b", default=True), mask("b", "***"), mask("a", "7")):
        assert_rowwise(t, b)
        assert_sliced(t, b)
        assert t.apply(b.slice(0, 0)).num_rows == 0
    f, arr = schemaless([{"a": 1, "l": [1]}, {"a": None, "l": None}, {"a": 3, "l": []}])
    t = mask("a,l,missing")
    assert_rowwise(t, batch(arr, f))
    assert_sliced(t, batch(arr, f))


def test_config() -> None:
    with pytest.raises(ConfigError) as e:
        MaskFieldValue().configure({})
    assert str(e.value) == 'Missing required configuration "fields" which has no default value.'
    with pytest.raises(ConfigError) as e:
        MaskFieldValue().configure({"fields": ""})
    assert (
        str(e.value) == "Configuration 'fields' must not be empty. Valid values include: any non-empty value"
    )
    with pytest.raises(ConfigError) as e:
        MaskFieldValue().configure({"fields": "a,,b"})
    assert str(e.value) == "Configuration 'fields' values must not be empty."
    with pytest.raises(ConfigError) as e:
        MaskFieldValue().configure({"fields": "a", "replacement": ""})
    assert str(e.value) == "Invalid value  for configuration replacement: String must be non-empty"
    configured(MaskFieldValue, {"fields": "a,a"})  # duplicates pass, as in Kafka
    errors = {v.name: v.errors for v in MaskFieldValue.config_def().validate({})}
    assert errors["fields"] == [
        'Missing required configuration "fields" which has no default value.',
        "Configuration 'fields' values must not be null.",
    ]
    assert MaskFieldKey.aliases == ("org.apache.kafka.connect.transforms.MaskField$Key",)
    assert MaskFieldValue.aliases == ("org.apache.kafka.connect.transforms.MaskField$Value",)
