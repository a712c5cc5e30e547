"""ReplaceField$Key / $Value: Kafka's ReplaceFieldTest and what Kafka 4.3.1 does at the edges."""

from __future__ import annotations

import pyarrow as pa
import pytest

from engine.spi import schema as cs
from engine.spi.errors import ConfigError, DataError
from engine.transforms.replace_field import ReplaceFieldKey, ReplaceFieldValue

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
FIELD = cs.field("value", STRUCT, schema_name="n", version=3, doc="d", parameters={"p": "q"})


def replace(**config: str) -> ReplaceFieldValue:
    t = configured(ReplaceFieldValue, config)
    assert isinstance(t, ReplaceFieldValue)
    return t


def test_schemaless() -> None:
    # ReplaceFieldTest.schemaless
    f, arr = schemaless([{"dont": "whatever", "abc": 42, "foo": True, "etc": "etc"}])
    out = replace(exclude="dont", renames="abc:xyz,foo:bar").apply(batch(arr, f))
    assert rows_of(out) == [{"xyz": 42, "bar": True, "etc": "etc"}]
    assert_same_field(
        out.schema.field("value"),
        cs.field(
            "value",
            pa.struct([("xyz", pa.int64()), ("bar", pa.bool_()), ("etc", pa.string())]),
            schemaless=True,
        ),
    )


def test_schemaless_include_exclude_and_a_rename_clash() -> None:
    f, arr = schemaless([{"a": 1, "b": 2, "c": 3}, None])
    assert rows_of(replace(include="a,b,zz", exclude="b", renames="a:x,zz:y").apply(batch(arr, f))) == [
        {"x": 1},
        None,
    ]
    assert rows_of(replace(renames="a:b").apply(batch(arr, f))) == [{"b": 2, "c": 3}, None]  # HashMap.put


def test_with_schema() -> None:
    # ReplaceFieldTest.withSchema: include, renames; the struct schema keeps name/version/doc/params
    st = pa.struct([("dont", pa.int32()), ("abc", pa.int32()), ("foo", pa.bool_()), ("etc", pa.string())])
    b = batch(
        [{"dont": 1, "abc": 42, "foo": True, "etc": "etc"}], cs.field("value", st, schema_name="s", version=2)
    )
    out = replace(include="abc,foo", renames="abc:xyz,foo:bar").apply(b)
    assert rows_of(out) == [{"xyz": 42, "bar": True}]
    assert_same_field(
        out.schema.field("value"),
        cs.field(
            "value",
            pa.struct([("xyz", pa.int32()), ("bar", pa.bool_())]),
            optional=False,
            schema_name="s",
            version=2,
        ),
    )


def test_with_schema_defaults_and_metadata() -> None:
    b = batch([{"a": None, "b": "x", "c": None}, None], FIELD)
    out = replace(exclude="c", renames="a:aa").apply(b)
    assert rows_of(out) == [{"aa": 9, "b": "x"}, None]  # a tombstone in the batch: optional
    expected = pa.struct(
        [cs.field("aa", pa.int32(), default=9, has_default=True), cs.field("b", pa.string(), optional=False)]
    )
    assert_same_field(
        out.schema.field("value"),
        cs.field("value", expected, schema_name="n", version=3, doc="d", parameters={"p": "q"}),
    )
    out = replace(renames="a:aa", **{"replace.null.with.default": "false"}).apply(b)
    assert rows_of(out) == [{"aa": None, "b": "x", "c": None}, None]
    assert rows_of(replace(renames="a:b,b:a").apply(b)) == [{"b": 9, "a": "x", "c": None}, None]
    assert rows_of(replace(include="aa", renames="a:aa").apply(b)) == [{}, None]


def test_a_struct_default_is_dropped() -> None:
    st = pa.struct([("a", pa.int32())])
    b = batch([{"a": 1}], cs.field("value", st, default={"a": 2}, has_default=True, schema_name="x"))
    assert_same_field(
        replace(renames="a:b").apply(b).schema.field("value"),
        cs.field("value", pa.struct([("b", pa.int32())]), optional=False, schema_name="x"),
    )


def test_errors() -> None:
    b = batch([{"a": 1, "b": "x", "c": None}, None], FIELD)
    with pytest.raises(DataError) as e:
        replace(renames="a:b").apply(b)
    assert str(e.value) == "Cannot create field because of field name duplication b"
    assert e.value.rows == (0,)
    with pytest.raises(DataError) as e:
        replace(renames="a:b").apply(batch(["x", None], cs.field("value", pa.string())))
    assert str(e.value) == "Only Struct objects supported for [field replacement], found: java.lang.String"
    assert e.value.rows == (0,)
    f, arr = schemaless(["x", None])
    with pytest.raises(DataError) as e:
        replace(renames="a:b").apply(batch(arr, f))
    assert (
        str(e.value)
        == "Only Map objects supported in absence of schema for [field replacement], found: java.lang.String"
    )
    assert e.value.rows == (0,)


def test_tombstones_pass_and_the_schema_is_required_as_in_kafka() -> None:
    only_tombstones = batch([None, None], FIELD)
    assert replace(exclude="a").apply(only_tombstones).equals(only_tombstones)
    no_tombstones = replace(exclude="a").apply(batch([{"a": 1, "b": "x", "c": None}], FIELD))
    assert not no_tombstones.schema.field("value").nullable
    mixed = replace(exclude="a").apply(batch([{"a": 1, "b": "x", "c": None}, None], FIELD))
    assert mixed.schema.field("value").nullable
    assert rows_of(mixed) == [{"b": "x", "c": None}, None]
    f = cs.field("value", pa.null(), schemaless=True)
    nulls = batch(pa.nulls(2), f)
    assert replace(exclude="a").apply(nulls).equals(nulls)


def test_key_variant_and_map_column() -> None:
    st = pa.struct([("id", pa.int64()), ("drop", pa.string())])
    b = batch([1], cs.field("value", pa.int64()), key=[{"id": 7, "drop": "x"}], key_field=cs.field("key", st))
    out = configured(ReplaceFieldKey, {"exclude": "drop", "renames": "id:key_id"}).apply(b)
    assert rows_of(out, "key") == [{"key_id": 7}]
    assert out.column("value").equals(b.column("value"))
    mt = pa.map_(pa.string(), pa.int64())
    mp = pa.array([[("a", 1), ("b", 2)], None, [("c", 3)]], mt)
    out = replace(exclude="b", renames="c:cc").apply(batch(mp, cs.field("value", mt, schemaless=True)))
    assert rows_of(out) == [[("a", 1)], None, [("cc", 3)]]


def test_rowwise_sliced_empty() -> None:
    b = batch([{"a": 1, "b": "x", "c": "y"}, None, {"a": None, "b": "z", "c": None}], FIELD)
    t = replace(exclude="c", renames="a:aa")
    assert_rowwise(t, b, strict_schema=False)
    assert_sliced(t, b)
    assert t.apply(b.slice(0, 0)).num_rows == 0
    f, arr = schemaless([{"a": 1, "b": 2}, None, {"a": 3, "b": None}])
    assert_rowwise(replace(include="a", renames="a:z"), batch(arr, f))


def test_config() -> None:
    with pytest.raises(ConfigError) as e:
        ReplaceFieldValue().configure({"renames": "a:b,c"})
    assert str(e.value) == "Invalid value [a:b, c] for configuration renames: Invalid rename mapping: c"
    for bad in ("a:b:c", "a:", ""):
        if bad:
            with pytest.raises(ConfigError, match=f"Invalid rename mapping: {bad}$"):
                ReplaceFieldValue().configure({"renames": bad})
    with pytest.raises(ConfigError) as e:
        ReplaceFieldValue().configure({"renames": "a:b,,c:d"})
    assert str(e.value) == "Invalid value [a:b, , c:d] for configuration renames: Invalid rename mapping: "
    with pytest.raises(ConfigError) as e:
        ReplaceFieldValue().configure({"exclude": "a,,b"})
    assert str(e.value) == "Configuration 'exclude' values must not be empty."
    configured(ReplaceFieldValue, {"renames": ":b,a:b,a:c", "include": "a,a"})  # Kafka accepts these
    keys = ReplaceFieldValue.config_def().keys()
    assert list(keys) == ["exclude", "include", "renames", "replace.null.with.default"]
    assert (
        str(keys["renames"].validator) == "list of colon-delimited pairs, e.g. <code>foo:bar,abc:xyz</code>"
    )
    assert ReplaceFieldKey.aliases == ("org.apache.kafka.connect.transforms.ReplaceField$Key",)
    assert ReplaceFieldValue.aliases == ("org.apache.kafka.connect.transforms.ReplaceField$Value",)
