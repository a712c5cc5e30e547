"""Flatten$Key / $Value: golden cases from Kafka's FlattenTest."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from engine.spi import schema as cs
from engine.spi.errors import DataError
from engine.transforms.flatten import FlattenKey, FlattenValue

from ._kv_support import (
    assert_rowwise,
    assert_same_field,
    assert_sliced,
    batch,
    configured,
    rows_of,
    schemaless,
)

LEAVES = pa.struct(
    [
        ("int8", pa.int8()),
        ("int16", pa.int16()),
        ("int32", pa.int32()),
        ("int64", pa.int64()),
        ("float32", pa.float32()),
        ("float64", pa.float64()),
        ("boolean", pa.bool_()),
        ("string", pa.string()),
        ("bytes", pa.binary()),
        ("array", pa.list_(pa.int32())),
    ]
)
LEAF_ROW = {
    "int8": 8,
    "int16": 16,
    "int32": 32,
    "int64": 64,
    "float32": 32.0,
    "float64": 64.0,
    "boolean": True,
    "string": "stringy",
    "bytes": b"bytes",
    "array": [1, 2],
}


def test_nested_struct_with_schema() -> None:
    t = pa.struct([pa.field("A", pa.struct([pa.field("B", LEAVES, nullable=False)]), nullable=False)])
    f = cs.field("value", t, optional=False, schema_name="top", version=1)
    out = configured(FlattenValue, {}).apply(batch([{"A": {"B": LEAF_ROW}}], f))
    assert rows_of(out) == [{f"A.B.{k}": v for k, v in LEAF_ROW.items()}]
    expected = pa.field(
        "value",
        pa.struct([pa.field(f"A.B.{c.name}", c.type, nullable=True) for c in LEAVES]),
        nullable=False,
        metadata={b"connect.name": b"top", b"connect.version": b"1"},
    )
    assert_same_field(out.schema.field("value"), expected)


def test_schemaless_nested_maps_and_delimiter() -> None:
    f, arr = schemaless([{"A": {"B": LEAF_ROW}, "top": 1}])
    out = configured(FlattenValue, {"delimiter": "#"}).apply(batch(arr, f))
    assert rows_of(out) == [{**{f"A#B#{k}": v for k, v in LEAF_ROW.items()}, "top": 1}]
    assert cs.is_schemaless(out.schema.field("value"))


def test_optionality_propagates_from_ancestors() -> None:
    inner = pa.struct([pa.field("req", pa.string(), nullable=False), pa.field("opt", pa.string())])
    t = pa.struct([pa.field("opt_parent", inner), pa.field("req_parent", inner, nullable=False)])
    f = cs.field("value", t, optional=False)
    rows = [{"opt_parent": None, "req_parent": {"req": "a", "opt": None}}]
    out = configured(FlattenValue, {}).apply(batch(rows, f))
    assert rows_of(out) == [
        {"opt_parent.req": None, "opt_parent.opt": None, "req_parent.req": "a", "req_parent.opt": None}
    ]
    assert [(c.name, c.nullable) for c in out.schema.field("value").type] == [
        ("opt_parent.req", True),
        ("opt_parent.opt", True),
        ("req_parent.req", False),
        ("req_parent.opt", True),
    ]


def test_optional_top_level_makes_every_leaf_optional() -> None:
    t = pa.struct([pa.field("a", pa.struct([pa.field("b", pa.int8(), nullable=False)]), nullable=False)])
    out = configured(FlattenValue, {}).apply(batch([{"a": {"b": 1}}], cs.field("value", t, optional=True)))
    assert out.schema.field("value").type.field("a.b").nullable is True
    # Kafka's flattened schema itself is required (copySchemaBasics does not copy optionality)
    assert out.schema.field("value").nullable is False


def test_defaults_propagate_from_parents() -> None:
    inner = pa.struct(
        [pa.field("x", pa.int32()), cs.field("y", pa.string(), default="own", has_default=True)]
    )
    t = pa.struct([cs.field("n", inner, default={"x": 5, "y": "parent"}, has_default=True)])
    f = cs.field("value", t, optional=False)
    out = configured(FlattenValue, {}).apply(batch([{"n": {"x": 1, "y": None}}, {"n": None}], f))
    leaves = {c.name: c for c in out.schema.field("value").type}
    assert json.loads(leaves["n.x"].metadata[b"connect.default"]) == 5
    assert json.loads(leaves["n.y"].metadata[b"connect.default"]) == "own"
    # Struct.get: a null field reads as its own default; a null struct reads as the struct's default
    assert rows_of(out) == [{"n.x": 1, "n.y": "own"}, {"n.x": 5, "n.y": "parent"}]


def test_logical_types_are_kept_with_their_schema() -> None:
    t = pa.struct([pa.field("a", pa.struct([cs.field("when", pa.timestamp("ms"), doc="time")]))])
    f = cs.field("value", t)
    out = configured(FlattenValue, {}).apply(batch([{"a": {"when": dt.datetime(2020, 1, 1)}}], f))
    leaf = out.schema.field("value").type.field("a.when")
    assert leaf.type == pa.timestamp("ms")
    assert cs.schema_doc(leaf) == "time"
    assert rows_of(out) == [{"a.when": dt.datetime(2020, 1, 1)}]


def test_map_with_schema_is_not_supported() -> None:
    t = pa.struct([pa.field("m", pa.map_(pa.string(), pa.int32()))])
    b = batch([{"m": [("k", 1)]}, None, {"m": None}], cs.field("value", t))
    with pytest.raises(DataError) as e:
        configured(FlattenValue, {}).apply(b)
    assert (
        str(e.value) == "Flatten transformation does not support MAP for record with schemas (for field m)."
    )
    assert e.value.rows == (0, 2)


def test_arrays_are_kept_schemaless() -> None:
    f, arr = schemaless([{"a": {"list": [{"x": 1}], "b": None}, "c": [1, 2]}])
    out = configured(FlattenValue, {}).apply(batch(arr, f))
    assert rows_of(out) == [{"a.list": [{"x": 1}], "a.b": None, "c": [1, 2]}]


def test_schemaless_unsupported_values() -> None:
    f, arr = schemaless([{"d": dt.date(2020, 1, 1)}, {"d": None}])
    with pytest.raises(DataError) as e:
        configured(FlattenValue, {}).apply(batch(arr, f))
    assert str(e.value) == (
        "Flatten transformation was passed a value of type class java.util.Date which is not supported by "
        "Connect's data API"
    )
    assert e.value.rows == (0,)


def test_schemaless_requires_a_map() -> None:
    f, arr = schemaless(["text", None])
    with pytest.raises(DataError) as e:
        configured(FlattenValue, {}).apply(batch(arr, f))
    assert (
        str(e.value)
        == "Only Map objects supported in absence of schema for [flattening], found: java.lang.String"
    )
    assert e.value.rows == (0,)


def test_schemaless_map_columns_are_flattened_too() -> None:
    arr = pa.array(
        [[("a", {"x": 1})], [("b", {"x": 2})], None], pa.map_(pa.string(), pa.struct([("x", pa.int64())]))
    )
    f = cs.field("value", arr.type, schemaless=True)
    out = configured(FlattenValue, {}).apply(batch(arr, f))
    assert rows_of(out) == [{"a.x": 1, "b.x": None}, {"a.x": None, "b.x": 2}, None]


def test_tombstones_unchanged() -> None:
    t = pa.struct([pa.field("a", pa.struct([("b", pa.int8())]))])
    f = cs.field("value", t, optional=True)
    b = batch([None, None], f)
    out = configured(FlattenValue, {}).apply(b)
    assert out.equals(b) and out.schema.equals(b.schema, check_metadata=True)
    f2, arr = schemaless([None, None])
    b2 = batch(arr, f2)
    assert configured(FlattenValue, {}).apply(b2).equals(b2)


def test_mixed_batch_keeps_tombstones_null() -> None:
    t = pa.struct([pa.field("a", pa.struct([("b", pa.int8())]))])
    b = batch([{"a": {"b": 1}}, None, {"a": None}], cs.field("value", t))
    out = configured(FlattenValue, {}).apply(b)
    assert rows_of(out) == [{"a.b": 1}, None, {"a.b": None}]
    # one column holds both: optional where the batch has tombstones
    assert out.schema.field("value").nullable is True


def test_key_variant_and_aliases() -> None:
    t = pa.struct([pa.field("a", pa.struct([("b", pa.int8())]))])
    b = batch(key=[{"a": {"b": 1}}], key_field=cs.field("key", t))
    out = configured(FlattenKey, {}).apply(b)
    assert rows_of(out, "key") == [{"a.b": 1}]
    assert FlattenKey.aliases == ("org.apache.kafka.connect.transforms.Flatten$Key",)
    assert FlattenValue.aliases == ("org.apache.kafka.connect.transforms.Flatten$Value",)


def test_field_name_clash_with_schema() -> None:
    t = pa.struct([pa.field("a.b", pa.int8()), pa.field("a", pa.struct([("b", pa.int8())]))])
    with pytest.raises(DataError, match=r"^Cannot create field because of field name duplication a.b$"):
        configured(FlattenValue, {}).apply(batch([{"a.b": 1, "a": {"b": 2}}], cs.field("value", t)))


def test_rowwise_sliced_empty() -> None:
    t = configured(FlattenValue, {})
    inner = pa.struct([pa.field("x", pa.int32()), cs.field("y", pa.string(), default="d", has_default=True)])
    st = pa.struct([pa.field("n", inner), pa.field("z", pa.int8())])
    rows = [
        {"n": {"x": 1, "y": None}, "z": 1},
        None,
        {"n": None, "z": 2},
        {"n": {"x": None, "y": "s"}, "z": None},
    ]
    b = batch(rows, cs.field("value", st, optional=False))
    assert_rowwise(t, b, strict_schema=False)
    assert_sliced(t, b)
    assert t.apply(b.slice(0, 0)).num_rows == 0
    f, arr = schemaless([{"n": {"x": 1}}, None, {"n": None, "z": 3}])
    assert_rowwise(t, batch(arr, f))
    assert_sliced(t, batch(arr, f))
