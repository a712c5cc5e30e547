"""ExtractField$Key / $Value: golden cases from Kafka's ExtractFieldTest, V1 and V2 paths."""

from __future__ import annotations

import pyarrow as pa
import pytest

from engine.spi import schema as cs
from engine.spi.errors import ConfigError, DataError
from engine.transforms._common import parse_field_path
from engine.transforms.extract_field import ExtractFieldKey, ExtractFieldValue

from ._kv_support import (
    assert_rowwise,
    assert_same_field,
    assert_sliced,
    batch,
    configured,
    rows_of,
    schemaless,
)

INNER = pa.struct(
    [pa.field("x", pa.int32(), nullable=False), cs.field("y", pa.string(), default="dy", has_default=True)]
)
RECORD = pa.struct(
    [
        cs.field("magic", pa.int32(), optional=False, doc="the magic"),
        cs.field("opt", pa.int64(), default=7, has_default=True),
        pa.field("inner", INNER),
    ]
)
VALUE = cs.field("value", RECORD, schema_name="rec")


def with_schema() -> pa.RecordBatch:
    rows = [
        {"magic": 42, "opt": None, "inner": {"x": 1, "y": None}},
        None,
        {"magic": 43, "opt": 3, "inner": None},
    ]
    return batch(rows, VALUE)


def test_schemaless_value() -> None:
    f, arr = schemaless([{"magic": 42}, None, {"magic": None}, {"other": 1}])
    out = configured(ExtractFieldValue, {"field": "magic"}).apply(batch(arr, f))
    assert rows_of(out) == [42, None, None, None]
    assert_same_field(out.schema.field("value"), cs.field("value", pa.int64(), schemaless=True))


def test_schemaless_missing_field_is_null() -> None:
    f, arr = schemaless([{"other": 1}])
    out = configured(ExtractFieldValue, {"field": "magic"}).apply(batch(arr, f))
    assert rows_of(out) == [None]


def test_schemaless_requires_a_map() -> None:
    f, arr = schemaless([1, None, 2])
    with pytest.raises(DataError) as e:
        configured(ExtractFieldValue, {"field": "magic"}).apply(batch(arr, f))
    assert str(e.value) == (
        "Only Map objects supported in absence of schema for [field extraction], found: java.lang.Long"
    )
    assert e.value.rows == (0, 2)


def test_key_variant() -> None:
    f, arr = schemaless([{"magic": 42}], "key")
    b = batch(key=arr, key_field=f)
    out = configured(ExtractFieldKey, {"field": "magic"}).apply(b)
    assert rows_of(out, "key") == [42]
    assert out.column("value").equals(b.column("value"))
    assert ExtractFieldKey.aliases == ("org.apache.kafka.connect.transforms.ExtractField$Key",)
    assert ExtractFieldValue.aliases == ("org.apache.kafka.connect.transforms.ExtractField$Value",)


def test_with_schema_takes_the_field_schema() -> None:
    out = configured(ExtractFieldValue, {"field": "magic"}).apply(with_schema())
    assert rows_of(out) == [42, None, 43]
    assert_same_field(
        out.schema.field("value"), cs.field("value", pa.int32(), optional=False, doc="the magic")
    )


def test_with_schema_default_replaces_null_unless_disabled() -> None:
    out = configured(ExtractFieldValue, {"field": "opt"}).apply(with_schema())
    assert rows_of(out) == [7, None, 3]
    assert_same_field(out.schema.field("value"), cs.field("value", pa.int64(), default=7, has_default=True))
    out = configured(ExtractFieldValue, {"field": "opt", "replace.null.with.default": "false"}).apply(
        with_schema()
    )
    assert rows_of(out) == [None, None, 3]


def test_with_schema_unknown_field() -> None:
    with pytest.raises(DataError) as e:
        configured(ExtractFieldValue, {"field": "nope"}).apply(with_schema())
    assert str(e.value) == "Unknown field: nope"
    assert e.value.rows == (0, 1, 2)


def test_with_schema_requires_a_struct() -> None:
    with pytest.raises(
        DataError,
        match=r"^Only Struct objects supported for \[field extraction\], found: "
        r"java.lang.String$",
    ):
        configured(ExtractFieldValue, {"field": "a"}).apply(batch(["x"], cs.field("value", pa.string())))
    with pytest.raises(DataError, match=r"^Cannot look up fields on non-struct type$"):
        configured(ExtractFieldValue, {"field": "a"}).apply(batch([None], cs.field("value", pa.string())))


def test_v2_nested_path_with_schema() -> None:
    t = configured(ExtractFieldValue, {"field": "inner.y", "field.syntax.version": "v2"})
    out = t.apply(with_schema())
    assert rows_of(out) == ["dy", None, None]
    assert_same_field(
        out.schema.field("value"), cs.field("value", pa.string(), default="dy", has_default=True)
    )
    t = configured(ExtractFieldValue, {"field": "inner.x", "field.syntax.version": "V2"})
    out = t.apply(with_schema())
    assert rows_of(out) == [1, None, None]
    assert out.schema.field("value").nullable is False  # the field's own schema, as Kafka


def test_v1_treats_dots_as_part_of_the_name() -> None:
    f, arr = schemaless([{"a.b": 1, "a": {"b": 2}}])
    assert rows_of(configured(ExtractFieldValue, {"field": "a.b"}).apply(batch(arr, f))) == [1]
    assert rows_of(
        configured(ExtractFieldValue, {"field": "a.b", "field.syntax.version": "V2"}).apply(batch(arr, f))
    ) == [2]
    assert rows_of(
        configured(ExtractFieldValue, {"field": "`a.b`", "field.syntax.version": "V2"}).apply(batch(arr, f))
    ) == [1]


def test_v2_schemaless_nested_non_map_fails() -> None:
    f, arr = schemaless([{"a": 1}, {"a": None}])
    with pytest.raises(DataError) as e:
        configured(ExtractFieldValue, {"field": "a.b", "field.syntax.version": "V2"}).apply(batch(arr, f))
    assert str(e.value) == (
        "Only Map objects supported in absence of schema for [nested field access], found: java.lang.Long"
    )
    assert e.value.rows == (0,)


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("foo", ("foo",)),
        ("foo.bar", ("foo", "bar")),
        ("`foo.bar`.baz", ("foo.bar", "baz")),
        ("foo.`bar.baz`", ("foo", "bar.baz")),
        ("`foo\\`.bar`.baz", ("foo`.bar", "baz")),
        ("foo.", ("foo", "")),
        ("`foo`bar`.baz", ("foo`bar", "baz")),
        ("``", ("",)),
    ],
)
def test_v2_path_syntax(path: str, steps: tuple[str, ...]) -> None:
    assert parse_field_path(path, "V2") == steps
    assert parse_field_path(path, "V1") == (path,)


def test_v2_incomplete_backticks() -> None:
    with pytest.raises(ConfigError) as e:
        ExtractFieldValue().configure({"field": "`foo.bar", "field.syntax.version": "V2"})
    assert str(e.value) == (
        "Incomplete backtick pair in path: [`foo.bar], consider adding a backslash before backtick at "
        "position 0 to escape it"
    )


def test_config_errors() -> None:
    with pytest.raises(
        ConfigError, match=r'Missing required configuration "field" which has no default value.'
    ):
        ExtractFieldValue().configure({})
    errors = {
        v.name: v.errors for v in ExtractFieldValue.config_def().validate({"field.syntax.version": "V3"})
    }
    assert errors["field"] == ['Missing required configuration "field" which has no default value.']
    assert errors["field.syntax.version"] == [
        "Invalid value V3 for configuration field.syntax.version: "
        "String must be one of (case insensitive): V1, V2"
    ]


def test_empty_batch_and_rowwise() -> None:
    t = configured(ExtractFieldValue, {"field": "magic"})
    assert t.apply(with_schema().slice(0, 0)).num_rows == 0
    assert_rowwise(t, with_schema())
    assert_sliced(t, with_schema())
    f, arr = schemaless([{"magic": 1}, None, {"magic": 3}, {"x": 2}])
    assert_rowwise(t, batch(arr, f))
    assert_sliced(t, batch(arr, f))
