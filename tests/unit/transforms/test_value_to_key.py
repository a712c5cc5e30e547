"""ValueToKey: Kafka's ValueToKeyTest and its tombstone behaviour."""

from __future__ import annotations

import pyarrow as pa
import pytest

from engine.spi import schema as cs
from engine.spi.errors import ConfigError, DataError
from engine.transforms.value_to_key import ValueToKey

from ._kv_support import (
    assert_rowwise,
    assert_same_field,
    assert_sliced,
    batch,
    configured,
    rows_of,
    schemaless,
)

STRUCT = pa.struct(
    [
        cs.field("a", pa.int32(), default=9, has_default=True),
        cs.field("b", pa.string(), optional=False),
        cs.field("c", pa.string()),
    ]
)
FIELD = cs.field("value", STRUCT, schema_name="n", version=3)
PURPOSE = "copying fields from value to key"
NOT_STRUCT = f"Only Struct objects supported for [{PURPOSE}], found: "


def test_schemaless() -> None:
    f, arr = schemaless([{"a": 1, "b": 2, "c": 3}])
    out = configured(ValueToKey, {"fields": "a,b"}).apply(batch(arr, f))
    assert rows_of(out, "key") == [{"a": 1, "b": 2}]
    assert_same_field(
        out.schema.field("key"),
        cs.field("key", pa.struct([("a", pa.int64()), ("b", pa.int64())]), schemaless=True),
    )
    assert out.column("value").equals(arr)
    out = configured(ValueToKey, {"fields": "a,zz"}).apply(batch(arr, f))
    assert rows_of(out, "key") == [{"a": 1, "zz": None}]


def test_with_schema() -> None:
    st = pa.struct([("a", pa.int32()), ("b", pa.int32()), ("c", pa.int32())])
    b = batch([{"a": 1, "b": 2, "c": 3}], cs.field("value", st, optional=False))
    out = configured(ValueToKey, {"fields": "a,b"}).apply(b)
    assert rows_of(out, "key") == [{"a": 1, "b": 2}]
    assert_same_field(
        out.schema.field("key"), pa.field("key", pa.struct([("a", pa.int32()), ("b", pa.int32())]), False)
    )
    assert_same_field(out.schema.field("value"), b.schema.field("value"))


def test_defaults_duplicates_and_nulls() -> None:
    b = batch([{"a": None, "b": "x", "c": None}], FIELD)
    out = configured(ValueToKey, {"fields": "a,b"}).apply(b)
    assert rows_of(out, "key") == [{"a": 9, "b": "x"}]
    assert_same_field(out.schema.field("key"), pa.field("key", pa.struct(list(STRUCT)[:2]), False))
    out = configured(ValueToKey, {"fields": "a", "replace.null.with.default": "false"}).apply(b)
    assert rows_of(out, "key") == [{"a": None}]
    assert rows_of(configured(ValueToKey, {"fields": "a,a"}).apply(b), "key") == [{"a": 9}]


def test_missing_field_and_tombstones_fail() -> None:
    b = batch([{"a": 1, "b": "x", "c": None}, None], FIELD)
    with pytest.raises(DataError) as e:
        configured(ValueToKey, {"fields": "a,zz"}).apply(b)
    assert str(e.value) == "Field does not exist: zz"
    assert e.value.rows == (0, 1)  # the tombstone fails too (Only Struct objects …)
    with pytest.raises(DataError) as e:
        configured(ValueToKey, {"fields": "a"}).apply(batch(["x"], cs.field("value", pa.string())))
    assert str(e.value) == f"{NOT_STRUCT}java.lang.String"
    with pytest.raises(DataError) as e:
        configured(ValueToKey, {"fields": "a"}).apply(b)
    assert str(e.value) == f"{NOT_STRUCT}null"
    assert e.value.rows == (1,)
    f, arr = schemaless([{"a": 1}, None])
    with pytest.raises(DataError) as e:
        configured(ValueToKey, {"fields": "a"}).apply(batch(arr, f))
    assert str(e.value) == f"Only Map objects supported in absence of schema for [{PURPOSE}], found: null"
    assert e.value.rows == (1,)


def test_a_schemaless_map_column() -> None:
    mt = pa.map_(pa.string(), pa.int64())
    mp = pa.array([[("a", 1), ("b", 2)], [("c", 3)]], mt)
    out = configured(ValueToKey, {"fields": "a,c"}).apply(batch(mp, cs.field("value", mt, schemaless=True)))
    assert rows_of(out, "key") == [{"a": 1, "c": None}, {"a": None, "c": 3}]


def test_rowwise_sliced_empty() -> None:
    t = configured(ValueToKey, {"fields": "c,a"})
    b = batch(
        [{"a": 1, "b": "x", "c": "y"}, {"a": None, "b": "z", "c": None}, {"a": 3, "b": "w", "c": "v"}], FIELD
    )
    assert_rowwise(t, b)
    assert_sliced(t, b)
    assert t.apply(b.slice(0, 0)).num_rows == 0
    f, arr = schemaless([{"a": 1}, {"a": None}])
    assert_rowwise(t, batch(arr, f))


def test_config() -> None:
    with pytest.raises(ConfigError) as e:
        ValueToKey().configure({"fields": ""})
    assert (
        str(e.value) == "Configuration 'fields' must not be empty. Valid values include: any non-empty value"
    )
    with pytest.raises(ConfigError, match=r'Missing required configuration "fields"'):
        ValueToKey().configure({})
    assert ValueToKey.aliases == ("org.apache.kafka.connect.transforms.ValueToKey",)
