"""HeaderFrom$Key / $Value: golden cases from Kafka's HeaderFromTest."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.spi import schema as cs
from engine.spi.errors import ConfigError, DataError
from engine.spi.values import header_text
from engine.transforms._common import header_bytes
from engine.transforms.header_from import HeaderFromKey, HeaderFromValue

from ._kv_support import (
    assert_rowwise,
    assert_same_field,
    assert_sliced,
    batch,
    configured,
    rows_of,
    schemaless,
)

NESTED = pa.struct([("a", pa.string()), ("n", pa.int32())])
RECORD = pa.struct(
    [
        pa.field("field1", pa.string(), nullable=False),
        pa.field("field2", pa.int64()),
        pa.field("nested", NESTED),
        cs.field("dflt", pa.int32(), default=5, has_default=True),
    ]
)
VALUE = cs.field("value", RECORD, optional=True, schema_name="rec", version=3)
ROWS = [
    {"field1": "field1-value", "field2": 2, "nested": {"a": 'q"x', "n": 1}, "dflt": None},
    {"field1": "other", "field2": None, "nested": None, "dflt": 7},
]
EXISTING = [[{"key": "existing", "value": b"e"}], []]


def h(*pairs: tuple[str, bytes | None]) -> list[dict[str, object]]:
    return [{"key": k, "value": v} for k, v in pairs]


def config(fields: str, headers: str, operation: str, **extra: str) -> dict[str, str]:
    return {"fields": fields, "headers": headers, "operation": operation, **extra}


def test_copy_with_schema() -> None:
    b = batch(ROWS, VALUE, headers=EXISTING)
    out = configured(HeaderFromValue, config("field1,field2,nested,dflt", "h1,h2,h3,h4", "copy")).apply(b)
    assert out.column("value").equals(b.column("value"))
    assert_same_field(out.schema.field("value"), VALUE)
    assert out.column("headers").to_pylist() == [
        h(
            ("existing", b"e"),
            ("h1", b"field1-value"),
            ("h2", b"2"),
            ("h3", b'{"a":"q\\"x","n":1}'),
            ("h4", b"5"),
        ),
        h(("h1", b"other"), ("h2", None), ("h3", None), ("h4", b"7")),
    ]


def test_move_with_schema_removes_fields_and_keeps_schema_basics() -> None:
    b = batch(ROWS, VALUE, headers=EXISTING)
    out = configured(HeaderFromValue, config("field2,dflt", "h2,h4", "move")).apply(b)
    assert rows_of(out) == [
        {"field1": "field1-value", "nested": {"a": 'q"x', "n": 1}},
        {"field1": "other", "nested": None},
    ]
    expected = pa.field(
        "value",
        pa.struct([RECORD.field("field1"), RECORD.field("nested")]),
        nullable=False,
        metadata={b"connect.name": b"rec", b"connect.version": b"3"},
    )
    assert_same_field(out.schema.field("value"), expected)
    assert out.column("headers").to_pylist() == [
        h(("existing", b"e"), ("h2", b"2"), ("h4", b"5")),
        h(("h2", None), ("h4", b"7")),
    ]


def test_replace_null_with_default_false() -> None:
    b = batch(ROWS, VALUE)
    out = configured(
        HeaderFromValue, config("dflt", "h", "copy", **{"replace.null.with.default": "false"})
    ).apply(b)
    assert out.column("headers").to_pylist() == [h(("h", None)), h(("h", b"7"))]


def test_schemaless_copy_and_move() -> None:
    f, arr = schemaless(
        [{"field1": "v", "field2": 2.5, "m": {"x": True}}, {"field1": "w", "field2": None, "m": None}]
    )
    b = batch(arr, f)
    out = configured(HeaderFromValue, config("field1,field2,m,missing", "a,b,c,d", "copy")).apply(b)
    assert out.column("value").equals(arr)
    assert out.column("headers").to_pylist() == [
        h(("a", b"v"), ("b", b"2.5"), ("c", b'{"x":true}'), ("d", None)),
        h(("a", b"w"), ("b", None), ("c", None), ("d", None)),
    ]
    out = configured(HeaderFromValue, config("field1,m", "a,c", "move")).apply(b)
    assert rows_of(out) == [{"field2": 2.5}, {"field2": None}]
    assert cs.is_schemaless(out.schema.field("value"))


def test_same_field_to_two_headers_and_duplicate_headers() -> None:
    f, arr = schemaless([{"x": 1}])
    out = configured(HeaderFromValue, config("x,x", "h,h", "copy")).apply(batch(arr, f))
    assert out.column("headers").to_pylist() == [h(("h", b"1"), ("h", b"1"))]


def test_key_variant() -> None:
    f, arr = schemaless([{"id": 5}], "key")
    b = batch(key=arr, key_field=f)
    out = configured(HeaderFromKey, config("id", "key-id", "move")).apply(b)
    assert rows_of(out, "key") == [{}]
    assert out.column("headers").to_pylist() == [h(("key-id", b"5"))]
    assert HeaderFromKey.aliases == ("org.apache.kafka.connect.transforms.HeaderFrom$Key",)
    assert HeaderFromValue.aliases == ("org.apache.kafka.connect.transforms.HeaderFrom$Value",)


def test_tombstones_fail() -> None:
    with pytest.raises(DataError) as e:
        configured(HeaderFromValue, config("field1", "h", "move")).apply(batch([ROWS[0], None], VALUE))
    assert str(e.value) == "Only Struct objects supported for [header move], found: null"
    assert e.value.rows == (1,)
    f, arr = schemaless([None, {"a": 1}])
    with pytest.raises(DataError) as e:
        configured(HeaderFromValue, config("a", "h", "copy")).apply(batch(arr, f))
    assert str(e.value) == "Only Map objects supported in absence of schema for [header copy], found: null"
    assert e.value.rows == (0,)


def test_missing_field_with_schema() -> None:
    with pytest.raises(DataError, match=r"Schema.field"):
        configured(HeaderFromValue, config("nope", "h", "copy")).apply(batch(ROWS, VALUE))


def test_config_errors() -> None:
    with pytest.raises(ConfigError) as e:
        HeaderFromValue().configure(config("a,b", "h", "copy"))
    assert str(e.value) == "'fields' config must have the same number of elements as 'headers' config."
    with pytest.raises(ConfigError) as e:
        HeaderFromValue().configure(config("a", "h", "cut"))
    assert str(e.value) == "Invalid value cut for configuration operation: String must be one of: move, copy"
    errors = {
        v.name: v.errors for v in HeaderFromValue.config_def().validate({"fields": "", "operation": "x"})
    }
    assert errors["fields"] == ["Invalid value [] for configuration fields: Empty list"]
    assert errors["headers"][0] == 'Missing required configuration "headers" which has no default value.'
    assert errors["operation"] == [
        "Invalid value x for configuration operation: String must be one of: move, copy"
    ]


def test_rowwise_sliced_empty() -> None:
    t = configured(HeaderFromValue, config("field2,nested,dflt", "a,b,c", "move"))
    b = batch(ROWS * 2, VALUE, headers=EXISTING * 2)
    assert_rowwise(t, b)
    assert_sliced(t, b)
    assert t.apply(b.slice(0, 0)).num_rows == 0
    assert_rowwise(t, batch([ROWS[0], None, ROWS[1]], VALUE))
    f, arr = schemaless([{"field2": 1, "z": "a"}, {"field2": None, "z": None}, {"field2": 3}])
    assert_rowwise(t, batch(arr, f))
    assert_sliced(t, batch(arr, f))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.floats()), min_size=1, max_size=20),
    st.lists(st.one_of(st.none(), st.binary(max_size=10)), min_size=1, max_size=20),
    st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**42)), min_size=1, max_size=20),
    st.lists(
        st.one_of(st.none(), st.decimals(-(10**6), 10**6, places=3, allow_nan=False)), min_size=1, max_size=9
    ),
)
def test_fast_header_text_matches_simple_header_converter(
    floats: list[float | None], blobs: list[bytes | None], millis: list[int | None], decimals: list[object]
) -> None:
    arrays = [
        pa.array(floats, pa.float64()),
        pa.array(floats, pa.float32()),
        pa.array(blobs, pa.binary()),
        pa.array(millis, pa.int64()).cast(pa.timestamp("ms")),
        pa.array([None if m is None else m // 86_400_000 for m in millis], pa.int32()).cast(pa.date32()),
        pa.array(decimals, pa.decimal128(12, 3)),
    ]
    for arr in arrays:
        assert header_bytes(arr).to_pylist() == header_text(arr).to_pylist(), arr.type
