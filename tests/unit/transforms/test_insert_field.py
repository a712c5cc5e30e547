"""InsertField$Key / $Value: golden cases from Kafka's InsertFieldTest."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from engine.spi import schema as cs
from engine.spi.errors import ConfigError, DataError
from engine.transforms.insert_field import InsertFieldKey, InsertFieldValue

from ._kv_support import (
    assert_rowwise,
    assert_same_field,
    assert_sliced,
    batch,
    configured,
    rows_of,
    schemaless,
)

CONFIG = {
    "topic.field": "topic_field!",
    "partition.field": "partition_field",
    "timestamp.field": "timestamp_field?",
    "static.field": "instance_id",
    "static.value": "my-instance-id",
}
MAGIC = cs.field(
    "value",
    pa.struct([pa.field("magic", pa.int64(), nullable=False)]),
    optional=False,
    schema_name="name",
    version=1,
    doc="doc",
)


def test_with_schema_copies_schema_and_inserts_fields() -> None:
    b = batch([{"magic": 42}], MAGIC, topic="test", partition=[0], timestamp=[1_000_000], offset=[7])
    out = configured(InsertFieldValue, CONFIG).apply(b)
    expected = cs.field(
        "value",
        pa.struct(
            [
                pa.field("magic", pa.int64(), nullable=False),
                pa.field("topic_field", pa.string(), nullable=False),
                pa.field("partition_field", pa.int32()),
                pa.field("timestamp_field", pa.timestamp("ms")),
                pa.field("instance_id", pa.string()),
            ]
        ),
        optional=False,
        schema_name="name",
        version=1,
        doc="doc",
    )
    assert_same_field(out.schema.field("value"), expected)
    assert rows_of(out) == [
        {
            "magic": 42,
            "topic_field": "test",
            "partition_field": 0,
            "timestamp_field": dt.datetime(1970, 1, 1, 0, 16, 40),
            "instance_id": "my-instance-id",
        }
    ]


def test_schemaless_inserts_fields_with_timestamp_as_long() -> None:
    f, arr = schemaless([{"magic": 42}])
    b = batch(arr, f, topic="test", partition=[0], timestamp=[12_483_425], offset=[7])
    out = configured(InsertFieldValue, CONFIG).apply(b)
    assert rows_of(out) == [
        {
            "magic": 42,
            "topic_field": "test",
            "partition_field": 0,
            "timestamp_field": 12_483_425,
            "instance_id": "my-instance-id",
        }
    ]
    value = out.schema.field("value")
    assert cs.is_schemaless(value)
    assert value.type.field("timestamp_field").type == pa.int64()
    assert value.type.field("partition_field").type == pa.int32()


def test_offset_field_on_sink_records_only() -> None:
    f, arr = schemaless([{"a": 1}, {"a": 2}, None])
    out = configured(InsertFieldValue, {"offset.field": "off"}).apply(batch(arr, f, offset=[10, 11, None]))
    assert rows_of(out) == [{"a": 1, "off": 10}, {"a": 2, "off": 11}, None]
    with pytest.raises(DataError) as e:
        configured(InsertFieldValue, {"offset.field": "off"}).apply(batch(arr, f, offset=[10, None, None]))
    assert str(e.value) == (
        "Only SinkRecord supported for [field insertion], found: org.apache.kafka.connect.source.SourceRecord"
    )
    assert e.value.rows == (1,)


def test_null_partition_and_timestamp_are_not_put() -> None:
    f, arr = schemaless([{"p": "old", "ts": 5}, {"p": "old", "ts": 6}])
    b = batch(arr, f, partition=[3, None], timestamp=[None, 1000])
    config = {"partition.field": "p", "timestamp.field": "ts"}
    with pytest.raises(DataError):  # an int32 partition cannot share a column with the kept "old" text
        configured(InsertFieldValue, config).apply(b)
    f, arr = schemaless([{"ts": 5}, {"ts": 6}])
    out = configured(InsertFieldValue, {"timestamp.field": "ts"}).apply(batch(arr, f, timestamp=[None, 1000]))
    assert rows_of(out) == [{"ts": 5}, {"ts": 1000}]
    s = cs.field("value", pa.struct([("a", pa.int8())]))
    out = configured(InsertFieldValue, config).apply(batch([{"a": 1}], s, partition=[None], timestamp=[None]))
    assert rows_of(out) == [{"a": 1, "p": None, "ts": None}]


def test_tombstones_unchanged() -> None:
    f = cs.field("value", pa.struct([("a", pa.int8())]))
    b = batch([None], f)
    assert configured(InsertFieldValue, CONFIG).apply(b).equals(b)
    f2, arr = schemaless([None])
    b2 = batch(arr, f2)
    assert configured(InsertFieldValue, CONFIG).apply(b2).equals(b2)
    mixed = configured(InsertFieldValue, {"topic.field": "t"}).apply(batch([{"a": 1}, None], f))
    assert rows_of(mixed) == [{"a": 1, "t": "orders"}, None]


def test_requires_struct_or_map() -> None:
    with pytest.raises(
        DataError,
        match=r"^Only Struct objects supported for \[field insertion\], found: "
        r"java.lang.Integer$",
    ):
        configured(InsertFieldValue, CONFIG).apply(batch([42], cs.field("value", pa.int32())))
    f, arr = schemaless([42])
    with pytest.raises(
        DataError,
        match=r"^Only Map objects supported in absence of schema for \[field "
        r"insertion\], found: java.lang.Long$",
    ):
        configured(InsertFieldValue, CONFIG).apply(batch(arr, f))


def test_duplicate_field_with_schema() -> None:
    f = cs.field("value", pa.struct([("topic", pa.string())]))
    with pytest.raises(DataError, match=r"^Cannot create field because of field name duplication topic$"):
        configured(InsertFieldValue, {"topic.field": "topic"}).apply(batch([{"topic": "x"}], f))


def test_replace_null_with_default() -> None:
    f = cs.field("value", pa.struct([cs.field("a", pa.int32(), default=9, has_default=True)]))
    b = batch([{"a": None}], f)
    assert rows_of(configured(InsertFieldValue, {"topic.field": "t"}).apply(b)) == [{"a": 9, "t": "orders"}]
    t = configured(InsertFieldValue, {"topic.field": "t", "replace.null.with.default": "false"})
    assert rows_of(t.apply(b)) == [{"a": None, "t": "orders"}]


def test_key_variant() -> None:
    f, arr = schemaless([{"id": 1}], "key")
    b = batch(key=arr, key_field=f, partition=[2])
    out = configured(InsertFieldKey, {"partition.field": "p"}).apply(b)
    assert rows_of(out, "key") == [{"id": 1, "p": 2}]
    assert InsertFieldKey.aliases == ("org.apache.kafka.connect.transforms.InsertField$Key",)
    assert InsertFieldValue.aliases == ("org.apache.kafka.connect.transforms.InsertField$Value",)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"^No field insertion configured$"):
        InsertFieldValue().configure({})
    with pytest.raises(ConfigError) as e:
        InsertFieldValue().configure({"static.field": "s"})
    assert (
        str(e.value)
        == "Invalid value null for configuration static.value: No value specified for static field: s"
    )
    names = InsertFieldValue.config_def().names()
    assert names == [
        "topic.field",
        "partition.field",
        "offset.field",
        "timestamp.field",
        "static.field",
        "static.value",
        "replace.null.with.default",
    ]


def test_rowwise_sliced_empty() -> None:
    t = configured(InsertFieldValue, {**CONFIG, "offset.field": "o"})
    s = cs.field("value", pa.struct([cs.field("a", pa.int32(), default=1, has_default=True)]), optional=True)
    b = batch(
        [{"a": None}, None, {"a": 5}], s, partition=[0, 1, None], offset=[1, 2, 3], timestamp=[1, None, 3]
    )
    assert_rowwise(t, b, strict_schema=False)
    assert_sliced(t, b)
    assert t.apply(b.slice(0, 0)).num_rows == 0
    f, arr = schemaless([{"a": 1}, None, {"a": 3}])
    b = batch(arr, f, partition=[0, 1, None], offset=[1, 2, 3], timestamp=[1, None, 3])
    assert_rowwise(t, b)
    assert_sliced(t, b)
    assert_rowwise(t, batch(arr, f, offset=[1, None, None]))
