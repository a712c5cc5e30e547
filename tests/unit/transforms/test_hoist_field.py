"""HoistField$Key / $Value: golden cases from Kafka's HoistFieldTest."""

from __future__ import annotations

import pyarrow as pa
import pytest

from engine.spi import schema as cs
from engine.spi.errors import ConfigError, DataError
from engine.transforms.hoist_field import HoistFieldKey, HoistFieldValue

from ._kv_support import (
    assert_rowwise,
    assert_same_field,
    assert_sliced,
    batch,
    configured,
    rows_of,
    schemaless,
)


def test_schemaless_wraps_every_value_even_null() -> None:
    f, arr = schemaless([42, None, 7])
    out = configured(HoistFieldValue, {"field": "magic"}).apply(batch(arr, f))
    assert rows_of(out) == [{"magic": 42}, {"magic": None}, {"magic": 7}]
    assert_same_field(
        out.schema.field("value"), cs.field("value", pa.struct([("magic", pa.int64())]), schemaless=True)
    )


def test_with_schema_wraps_in_a_required_struct() -> None:
    inner = cs.field("key", pa.int32(), optional=False, schema_name="n", doc="d")
    b = batch(key=[42, 43], key_field=inner)
    out = configured(HoistFieldKey, {"field": "magic"}).apply(b)
    assert rows_of(out, "key") == [{"magic": 42}, {"magic": 43}]
    expected = pa.field(
        "key",
        pa.struct([cs.field("magic", pa.int32(), optional=False, schema_name="n", doc="d")]),
        nullable=False,
    )
    assert_same_field(out.schema.field("key"), expected)
    assert out.column("value").equals(b.column("value"))


def test_optional_schema_null_becomes_a_struct_with_null() -> None:
    b = batch([1, None], cs.field("value", pa.int64()))
    out = configured(HoistFieldValue, {"field": "f"}).apply(b)
    assert rows_of(out) == [{"f": 1}, {"f": None}]


def test_required_schema_rejects_null() -> None:
    b = batch([1, None, 2, None], cs.field("value", pa.int64(), optional=False))
    with pytest.raises(DataError) as e:
        configured(HoistFieldValue, {"field": "f"}).apply(b)
    assert str(e.value) == 'Invalid value: null used for required field: "f", schema type: INT64'
    assert e.value.rows == (1, 3)


def test_config_and_aliases() -> None:
    with pytest.raises(
        ConfigError, match=r'Missing required configuration "field" which has no default value.'
    ):
        HoistFieldValue().configure({})
    assert HoistFieldKey.aliases == ("org.apache.kafka.connect.transforms.HoistField$Key",)
    assert HoistFieldValue.aliases == ("org.apache.kafka.connect.transforms.HoistField$Value",)


def test_rowwise_sliced_empty() -> None:
    t = configured(HoistFieldValue, {"field": "f"})
    st = pa.struct([("a", pa.int8())])
    b = batch([{"a": 1}, None, {"a": None}], cs.field("value", st, schema_name="s"))
    assert_rowwise(t, b)
    assert_sliced(t, b)
    assert t.apply(b.slice(0, 0)).num_rows == 0
    f, arr = schemaless([{"a": 1}, None, {"a": 2}])
    assert_rowwise(t, batch(arr, f))
