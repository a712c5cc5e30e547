"""SetSchemaMetadata$Key / $Value: Kafka's SetSchemaMetadataTest."""

from __future__ import annotations

import pyarrow as pa
import pytest

from engine.spi import schema as cs
from engine.spi.errors import ConfigError, DataError
from engine.transforms.set_schema_metadata import SetSchemaMetadataKey, SetSchemaMetadataValue

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
        cs.field("f1", pa.string(), default="default", has_default=True),
        cs.field("f2", pa.int32(), optional=False),
    ]
)
FIELD = cs.field(
    "value", STRUCT, optional=False, schema_name="my.orig.SchemaDefn", doc="d", parameters={"k": "v"}
)


def test_name_version_or_both_on_a_null_value() -> None:
    empty = pa.field("value", pa.struct([]), nullable=False)
    b = batch([None], empty)
    out = configured(SetSchemaMetadataValue, {"schema.name": "foo"}).apply(b)
    assert cs.schema_name(out.schema.field("value")) == "foo" and rows_of(out) == [None]
    out = configured(SetSchemaMetadataValue, {"schema.version": "42"}).apply(b)
    assert cs.schema_version(out.schema.field("value")) == 42
    out = configured(SetSchemaMetadataValue, {"schema.name": "foo", "schema.version": "42"}).apply(b)
    assert_same_field(
        out.schema.field("value"),
        cs.field("value", pa.struct([]), optional=False, schema_name="foo", version=42),
    )


@pytest.mark.parametrize(("replace_null", "expected"), [("false", None), ("true", "default")])
def test_struct_with_a_null_field(replace_null: str, expected: str | None) -> None:
    b = batch([{"f1": None, "f2": 1}], FIELD)
    config = {"schema.name": "foo", "schema.version": "42", "replace.null.with.default": replace_null}
    out = configured(SetSchemaMetadataValue, config).apply(b)
    assert rows_of(out) == [{"f1": expected, "f2": 1}]
    assert_same_field(
        out.schema.field("value"),
        cs.field(
            "value", STRUCT, optional=False, schema_name="foo", version=42, doc="d", parameters={"k": "v"}
        ),
    )


def test_keeps_everything_else_on_other_types() -> None:
    f = cs.field(
        "key", pa.int64(), optional=True, schema_name="old", version=1, doc="d", default=5, has_default=True
    )
    b = batch([1, 2], cs.field("value", pa.int8()), key=[7, None], key_field=f)
    out = configured(SetSchemaMetadataKey, {"schema.version": "3"}).apply(b)
    assert_same_field(
        out.schema.field("key"),
        cs.field("key", pa.int64(), schema_name="old", version=3, doc="d", default=5, has_default=True),
    )
    assert rows_of(out, "key") == [7, None]
    assert out.column("value").equals(b.column("value"))


def test_schema_required() -> None:
    f, arr = schemaless([42, None, 7])
    with pytest.raises(DataError) as e:
        configured(SetSchemaMetadataValue, {"schema.name": "x"}).apply(batch(arr, f))
    assert str(e.value) == "Schema required for [updating schema metadata]"
    assert e.value.rows == (0, 2)
    nulls = batch(pa.nulls(2), cs.field("value", pa.null(), schemaless=True))
    assert configured(SetSchemaMetadataValue, {"schema.name": "x"}).apply(nulls).equals(nulls)


def test_rowwise_sliced_empty() -> None:
    t = configured(SetSchemaMetadataValue, {"schema.name": "foo"})
    b = batch([{"f1": None, "f2": 1}, None, {"f1": "x", "f2": 2}], FIELD.with_nullable(True))
    assert_rowwise(t, b)
    assert_sliced(t, b)
    assert t.apply(b.slice(0, 0)).num_rows == 0


def test_config() -> None:
    with pytest.raises(ConfigError) as e:
        SetSchemaMetadataValue().configure({})
    assert str(e.value) == "Neither schema name nor version configured"
    with pytest.raises(ConfigError) as e:
        SetSchemaMetadataValue().configure({"schema.version": "x"})
    assert str(e.value) == "Invalid value x for configuration schema.version: Not a number of type INT"
    assert SetSchemaMetadataKey.aliases == ("org.apache.kafka.connect.transforms.SetSchemaMetadata$Key",)
    assert SetSchemaMetadataValue.aliases == ("org.apache.kafka.connect.transforms.SetSchemaMetadata$Value",)
