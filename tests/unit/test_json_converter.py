# ruff: noqa: E501
"""JsonConverter: exact bytes against Kafka 4.3.1's JsonConverter, reading them back, errors.

``KAFKA`` holds what Apache Kafka 4.3.1's ``org.apache.kafka.connect.json.JsonConverter``
(Jackson 2.21, JDK 17) wrote for each case, captured by running it; the cases below
build the same Connect schema and value as Arrow and must produce the same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from engine.converters import json_converter as jc
from engine.converters.json_converter import ENVELOPE_ERROR, JsonConverter
from engine.spi import schema as cs
from engine.spi.config import ConfigDef
from engine.spi.errors import ConfigError, DataError

KAFKA: dict[str, str] = {
    "boolean": '{"schema":{"type":"boolean","optional":false},"payload":true}',
    "boolean_optional": '{"schema":{"type":"boolean","optional":true},"payload":false}',
    "int8": '{"schema":{"type":"int8","optional":false},"payload":-12}',
    "int16": '{"schema":{"type":"int16","optional":false},"payload":300}',
    "int32": '{"schema":{"type":"int32","optional":false},"payload":70000}',
    "int64": '{"schema":{"type":"int64","optional":false},"payload":4398046511104}',
    "float32": '{"schema":{"type":"float","optional":false},"payload":12.34}',
    "float32_big": '{"schema":{"type":"float","optional":false},"payload":1.0E7}',
    "float32_small": '{"schema":{"type":"float","optional":false},"payload":1.0E-4}',
    "float32_tenth": '{"schema":{"type":"float","optional":false},"payload":0.1}',
    "float64": '{"schema":{"type":"double","optional":false},"payload":12.34}',
    "float64_one": '{"schema":{"type":"double","optional":false},"payload":1.0}',
    "float64_negzero": '{"schema":{"type":"double","optional":false},"payload":-0.0}',
    "float64_big": '{"schema":{"type":"double","optional":false},"payload":1.23456789E7}',
    "float64_huge": '{"schema":{"type":"double","optional":false},"payload":1.0E21}',
    "float64_small": '{"schema":{"type":"double","optional":false},"payload":1.0E-4}',
    "float64_tiny": '{"schema":{"type":"double","optional":false},"payload":1.5E-7}',
    "float64_min": '{"schema":{"type":"double","optional":false},"payload":4.9E-324}',
    "float64_max": '{"schema":{"type":"double","optional":false},"payload":1.7976931348623157E308}',
    "float64_nan": '{"schema":{"type":"double","optional":false},"payload":"NaN"}',
    "float64_inf": '{"schema":{"type":"double","optional":false},"payload":"-Infinity"}',
    "float64_third": '{"schema":{"type":"double","optional":false},"payload":0.30000000000000004}',
    "string": '{"schema":{"type":"string","optional":false},"payload":"test-string"}',
    "string_escapes": '{"schema":{"type":"string","optional":false},"payload":"a\\u0001\\b\\t\\n\\f\\r\\u001F\\"\\\\/\x7f é€\\uD83D\\uDE00\u2028"}',
    "bytes": '{"schema":{"type":"bytes","optional":false},"payload":"dGVzdC1zdHJpbmc="}',
    "bytes_empty": '{"schema":{"type":"bytes","optional":true},"payload":""}',
    "optional_null": '{"schema":{"type":"string","optional":true},"payload":null}',
    "string_default_null": '{"schema":{"type":"string","optional":true,"default":"default"},"payload":"default"}',
    "string_default_null_noreplace": '{"schema":{"type":"string","optional":true,"default":"default"},"payload":null}',
    "attributes": '{"schema":{"type":"boolean","optional":false,"name":"bool","version":2,"doc":"the documentation","parameters":{"foo":"bar"}},"payload":true}',
    "decimal": '{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":"AJw="}',
    "decimal_negative": '{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":"gA=="}',
    "decimal_zero": '{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":"AA=="}',
    "decimal_numeric": '{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}},"payload":1.56}',
    "decimal_numeric_trailing": '{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"4"}},"payload":1.5600}',
    "decimal_numeric_small": '{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"10"}},"payload":1E-10}',
    "decimal_numeric_zero_small": '{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"10"}},"payload":0E-10}',
    "decimal_precision": '{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"}},"payload":"SZYC0g=="}',
    "date": '{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date","version":1},"payload":10000}',
    "time": '{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Time","version":1},"payload":14400000}',
    "timestamp": '{"schema":{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1},"payload":4000000000}',
    "array": '{"schema":{"type":"array","items":{"type":"int32","optional":false},"optional":false},"payload":[1,2,3]}',
    "array_optional_items": '{"schema":{"type":"array","items":{"type":"string","optional":true},"optional":true},"payload":["a",null,"c"]}',
    "map_string_keys": '{"schema":{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":false},"optional":false},"payload":{"key1":12,"key2":15}}',
    "map_int_keys": '{"schema":{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"int32","optional":false},"optional":false},"payload":[[1,12],[2,15]]}',
    "map_optional_values": '{"schema":{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"string","optional":true},"optional":false},"payload":{"k":null}}',
    "nested_struct": '{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"},{"type":"struct","fields":[{"type":"double","optional":false,"field":"a"},{"type":"array","items":{"type":"string","optional":false},"optional":false,"field":"tags"}],"optional":true,"name":"com.example.Inner","field":"inner"},{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int64","optional":false},"optional":true,"field":"m"}],"optional":false,"name":"com.example.Outer","version":3,"doc":"an outer record"},"payload":{"id":1,"name":"a","inner":{"a":2.5,"tags":["p","q"]},"m":{"x":1}}}',
    "nested_struct_nulls": '{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"},{"type":"struct","fields":[{"type":"double","optional":false,"field":"a"},{"type":"array","items":{"type":"string","optional":false},"optional":false,"field":"tags"}],"optional":true,"name":"com.example.Inner","field":"inner"},{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int64","optional":false},"optional":true,"field":"m"}],"optional":false,"name":"com.example.Outer","version":3,"doc":"an outer record"},"payload":{"id":2,"name":null,"inner":null,"m":null}}',
    "nested_struct_noschema": '{"id":1,"name":"a","inner":{"a":2.5,"tags":["p","q"]},"m":{"x":1}}',
    "string_noschema": '"abc"',
    "defaults": '{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"default":42,"field":"i"},{"type":"float","optional":true,"default":1.5,"field":"f"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"},"default":"AJw=","field":"d"},{"type":"bytes","optional":true,"default":"aGk=","field":"b"},{"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"default":42,"field":"ts"},{"type":"array","items":{"type":"int32","optional":false},"optional":true,"default":[1,2],"field":"l"}],"optional":false},"payload":{"i":42,"f":1.5,"d":"AJw=","b":"aGk=","ts":42,"l":[1,2]}}',
    "defaults_numeric": '{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"default":42,"field":"i"},{"type":"float","optional":true,"default":1.5,"field":"f"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"},"default":1.56,"field":"d"},{"type":"bytes","optional":true,"default":"aGk=","field":"b"},{"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"default":42,"field":"ts"},{"type":"array","items":{"type":"int32","optional":false},"optional":true,"default":[1,2],"field":"l"}],"optional":false},"payload":{"i":42,"f":1.5,"d":1.56,"b":"aGk=","ts":42,"l":[1,2]}}',
    "defaults_noreplace": "ERROR Conversion error: null value for field that is required and has no default value",
    "defaults_optional_noreplace": '{"schema":{"type":"struct","fields":[{"type":"string","optional":true,"default":"x","field":"s"},{"type":"int32","optional":true,"default":7,"field":"i"}],"optional":false},"payload":{"s":null,"i":null}}',
    "required_null": "ERROR Conversion error: null value for field that is required and has no default value",
    "required_field_null": "ERROR Conversion error: null value for field that is required and has no default value",
    "unicode_names": '{"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"fé\\""}],"optional":false,"name":"né\\"x","doc":"d\\u0001"},"payload":{"fé\\"":"v"}}',
    "null_schema_null": "<null>",
    "empty_struct": '{"schema":{"type":"struct","fields":[],"optional":false},"payload":{}}',
    "array_of_struct": '{"schema":{"type":"array","items":{"type":"struct","fields":[{"type":"double","optional":false,"field":"a"},{"type":"array","items":{"type":"string","optional":false},"optional":false,"field":"tags"}],"optional":true,"name":"com.example.Inner"},"optional":false},"payload":[{"a":1.0,"tags":[]},null]}',
    "float32_min": '{"schema":{"type":"float","optional":false},"payload":1.4E-45}',
    "float32_max": '{"schema":{"type":"float","optional":false},"payload":3.4028235E38}',
    "float64_e7": '{"schema":{"type":"double","optional":false},"payload":1.0E7}',
    "float64_under_e7": '{"schema":{"type":"double","optional":false},"payload":9999999.0}',
    "float64_milli": '{"schema":{"type":"double","optional":false},"payload":0.001}',
    "float64_2e23": '{"schema":{"type":"double","optional":false},"payload":1.9999999999999998E23}',
    "float64_epoch": '{"schema":{"type":"double","optional":false},"payload":1.7E12}',
    "string_emoji_only": '{"schema":{"type":"string","optional":false},"payload":"\\uD83D\\uDE00"}',
    "map_decimal_keys": '{"schema":{"type":"map","keys":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"1"}},"values":{"type":"string","optional":false},"optional":false},"payload":[["Dw==","v"]]}',
    "struct_in_struct_null": '{"schema":{"type":"struct","fields":[{"type":"struct","fields":[{"type":"int32","optional":false,"field":"x"},{"type":"string","optional":true,"field":"y"}],"optional":true,"field":"p"}],"optional":false},"payload":{"p":null}}',
    "int64_min": '{"schema":{"type":"int64","optional":false},"payload":-9223372036854775808}',
}

REQUIRED = "Conversion error: null value for field that is required and has no default value"


def converter(is_key: bool = False, **configs: Any) -> JsonConverter:
    c = JsonConverter()
    c.configure(
        {k.replace("_", "."): str(v).lower() if isinstance(v, bool) else str(v) for k, v in configs.items()},
        is_key,
    )
    return c


DEFAULT = converter()
NUMERIC = converter(decimal_format="numeric")
PLAIN = converter(schemas_enable=False)
NO_REPLACE = converter(replace_null_with_default=False)


def req(name: str, typ: pa.DataType, **kw: Any) -> pa.Field:
    return cs.field(name, typ, optional=False, **kw)


def opt(name: str, typ: pa.DataType, **kw: Any) -> pa.Field:
    return cs.field(name, typ, optional=True, **kw)


def list_of(item: pa.Field) -> pa.DataType:
    return cs.arrow_type(cs.ARRAY, items=item)


def map_of(key: pa.Field, value: pa.Field) -> pa.DataType:
    return cs.arrow_type(cs.MAP, keys=key, values=value)


INNER = pa.struct([req("a", pa.float64()), req("tags", list_of(req("item", pa.string())))])
OUTER = pa.struct(
    [
        req("id", pa.int32()),
        opt("name", pa.string()),
        opt("inner", INNER, schema_name="com.example.Inner"),
        opt("m", map_of(req("key", pa.string()), req("value", pa.int64()))),
    ]
)
OUTER_FIELD = req("v", OUTER, schema_name="com.example.Outer", version=3, doc="an outer record")
OUTER_VALUE = {"id": 1, "name": "a", "inner": {"a": 2.5, "tags": ["p", "q"]}, "m": [("x", 1)]}
DEFAULTS = pa.struct(
    [
        req("i", pa.int32(), default=42, has_default=True),
        opt("f", pa.float32(), default=1.5, has_default=True),
        opt("d", pa.decimal128(38, 2), default="AJw=", has_default=True),
        opt("b", pa.binary(), default="aGk=", has_default=True),
        opt("ts", pa.timestamp("ms"), default=42, has_default=True),
        opt("l", list_of(req("item", pa.int32())), default=[1, 2], has_default=True),
    ]
)
EMPTY_DEFAULTS = {"i": None, "f": None, "d": None, "b": None, "ts": None, "l": None}
ESCAPES = 'a\u0001\b\t\n\f\r\u001f"\\/\u007f é€😀\u2028'
NESTED_OPTIONAL = pa.struct([opt("p", pa.struct([req("x", pa.int32()), opt("y", pa.string())]))])

# name -> (converter, field, value) reproducing the Kafka case of the same name
CASES: dict[str, tuple[JsonConverter, pa.Field, Any]] = {
    "boolean": (DEFAULT, req("v", pa.bool_()), True),
    "boolean_optional": (DEFAULT, opt("v", pa.bool_()), False),
    "int8": (DEFAULT, req("v", pa.int8()), -12),
    "int16": (DEFAULT, req("v", pa.int16()), 300),
    "int32": (DEFAULT, req("v", pa.int32()), 70000),
    "int64": (DEFAULT, req("v", pa.int64()), 4398046511104),
    "int64_min": (DEFAULT, req("v", pa.int64()), -(2**63)),
    "float32": (DEFAULT, req("v", pa.float32()), 12.34),
    "float32_big": (DEFAULT, req("v", pa.float32()), 1e7),
    "float32_small": (DEFAULT, req("v", pa.float32()), 1e-4),
    "float32_tenth": (DEFAULT, req("v", pa.float32()), 0.1),
    "float32_min": (DEFAULT, req("v", pa.float32()), 1.401298464324817e-45),
    "float32_max": (DEFAULT, req("v", pa.float32()), 3.4028234663852886e38),
    "float64": (DEFAULT, req("v", pa.float64()), 12.34),
    "float64_one": (DEFAULT, req("v", pa.float64()), 1.0),
    "float64_negzero": (DEFAULT, req("v", pa.float64()), -0.0),
    "float64_big": (DEFAULT, req("v", pa.float64()), 12345678.9),
    "float64_huge": (DEFAULT, req("v", pa.float64()), 1e21),
    "float64_small": (DEFAULT, req("v", pa.float64()), 0.0001),
    "float64_tiny": (DEFAULT, req("v", pa.float64()), 1.5e-7),
    "float64_min": (DEFAULT, req("v", pa.float64()), 5e-324),
    "float64_max": (DEFAULT, req("v", pa.float64()), 1.7976931348623157e308),
    "float64_nan": (DEFAULT, req("v", pa.float64()), float("nan")),
    "float64_inf": (DEFAULT, req("v", pa.float64()), float("-inf")),
    "float64_third": (DEFAULT, req("v", pa.float64()), 0.1 + 0.2),
    "float64_e7": (DEFAULT, req("v", pa.float64()), 1e7),
    "float64_under_e7": (DEFAULT, req("v", pa.float64()), 9999999.0),
    "float64_milli": (DEFAULT, req("v", pa.float64()), 0.001),
    "float64_epoch": (DEFAULT, req("v", pa.float64()), 1.7e12),
    "string": (DEFAULT, req("v", pa.string()), "test-string"),
    "string_escapes": (DEFAULT, req("v", pa.string()), ESCAPES),
    "string_emoji_only": (DEFAULT, req("v", pa.string()), "😀"),
    "bytes": (DEFAULT, req("v", pa.binary()), b"test-string"),
    "bytes_empty": (DEFAULT, opt("v", pa.binary()), b""),
    "attributes": (
        DEFAULT,
        req(
            "v", pa.bool_(), schema_name="bool", version=2, doc="the documentation", parameters={"foo": "bar"}
        ),
        True,
    ),
    "decimal": (DEFAULT, req("v", pa.decimal128(38, 2)), Decimal("1.56")),
    "decimal_negative": (DEFAULT, req("v", pa.decimal128(38, 2)), Decimal("-1.28")),
    "decimal_zero": (DEFAULT, req("v", pa.decimal128(38, 2)), Decimal("0.00")),
    "decimal_numeric": (NUMERIC, req("v", pa.decimal128(38, 2)), Decimal("1.56")),
    "decimal_numeric_trailing": (NUMERIC, req("v", pa.decimal128(38, 4)), Decimal("1.5600")),
    "decimal_numeric_small": (NUMERIC, req("v", pa.decimal128(38, 10)), Decimal("1E-10")),
    "decimal_numeric_zero_small": (NUMERIC, req("v", pa.decimal128(38, 10)), Decimal("0E-10")),
    "decimal_precision": (DEFAULT, req("v", pa.decimal128(10, 2)), Decimal("12345678.90")),
    "date": (DEFAULT, req("v", pa.date32()), dt.date(1970, 1, 1) + dt.timedelta(days=10000)),
    "time": (DEFAULT, req("v", pa.time32("ms")), dt.time(4, 0)),
    "timestamp": (DEFAULT, req("v", pa.timestamp("ms")), dt.datetime(1970, 2, 16, 7, 6, 40)),
    "array": (DEFAULT, req("v", list_of(req("item", pa.int32()))), [1, 2, 3]),
    "array_optional_items": (DEFAULT, opt("v", list_of(opt("item", pa.string()))), ["a", None, "c"]),
    "map_string_keys": (
        DEFAULT,
        req("v", map_of(req("key", pa.string()), req("value", pa.int32()))),
        [("key1", 12), ("key2", 15)],
    ),
    "map_int_keys": (
        DEFAULT,
        req("v", map_of(req("key", pa.int32()), req("value", pa.int32()))),
        [(1, 12), (2, 15)],
    ),
    "map_optional_values": (
        DEFAULT,
        req("v", map_of(req("key", pa.string()), opt("value", pa.string()))),
        [("k", None)],
    ),
    "map_decimal_keys": (
        DEFAULT,
        req("v", map_of(req("key", pa.decimal128(38, 1)), req("value", pa.string()))),
        [(Decimal("1.5"), "v")],
    ),
    "nested_struct": (DEFAULT, OUTER_FIELD, OUTER_VALUE),
    "nested_struct_nulls": (DEFAULT, OUTER_FIELD, {"id": 2, "name": None, "inner": None, "m": None}),
    "nested_struct_noschema": (PLAIN, OUTER_FIELD, OUTER_VALUE),
    "string_noschema": (PLAIN, req("v", pa.string()), "abc"),
    "defaults": (DEFAULT, req("v", DEFAULTS), EMPTY_DEFAULTS),
    "defaults_numeric": (NUMERIC, req("v", DEFAULTS), EMPTY_DEFAULTS),
    "defaults_optional_noreplace": (
        NO_REPLACE,
        req(
            "v",
            pa.struct(
                [
                    opt("s", pa.string(), default="x", has_default=True),
                    opt("i", pa.int32(), default=7, has_default=True),
                ]
            ),
        ),
        {"s": None, "i": None},
    ),
    "unicode_names": (
        DEFAULT,
        req("v", pa.struct([req('fé"', pa.string())]), schema_name='né"x', doc="d\u0001"),
        {'fé"': "v"},
    ),
    "empty_struct": (DEFAULT, req("v", pa.struct([])), {}),
    "array_of_struct": (
        DEFAULT,
        req("v", list_of(opt("item", INNER, schema_name="com.example.Inner"))),
        [{"a": 1.0, "tags": []}, None],
    ),
    "struct_in_struct_null": (DEFAULT, req("v", NESTED_OPTIONAL), {"p": None}),
}


def write(conv: JsonConverter, f: pa.Field, values: Sequence[Any]) -> list[bytes | None]:
    out: list[bytes | None] = conv.from_connect_data("t", f, pa.array(values, f.type)).to_pylist()
    return out


def read(conv: JsonConverter, rows: Sequence[bytes | None]) -> tuple[pa.Field, list[Any]]:
    f, values = conv.to_connect_data("t", pa.array(rows, pa.binary()))
    return f, values.to_pylist()


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and np.isnan(a) and np.isnan(b):
        return True
    return bool(a == b)


# ------------------------------------------------------------------------- writing


@pytest.mark.parametrize("name", sorted(CASES))
def test_writes_exactly_what_kafka_writes(name: str) -> None:
    conv, f, value = CASES[name]
    assert write(conv, f, [value]) == [KAFKA[name].encode("utf-8")]


@pytest.mark.parametrize("name", sorted(CASES))
def test_writes_the_same_bytes_in_a_batch_with_other_rows(name: str) -> None:
    conv, f, value = CASES[name]
    rows = write(conv, f, [value, value, value][::1])
    assert rows == [KAFKA[name].encode("utf-8")] * 3


def test_a_sliced_batch_writes_its_own_rows() -> None:
    f = OUTER_FIELD
    arr = pa.array([OUTER_VALUE, {"id": 2, "name": None, "inner": None, "m": None}, OUTER_VALUE], f.type)
    out = DEFAULT.from_connect_data("t", f, arr.slice(1, 2)).to_pylist()
    assert out == [KAFKA["nested_struct_nulls"].encode(), KAFKA["nested_struct"].encode()]


def test_required_null_is_a_data_error_naming_the_rows() -> None:
    f = req("v", pa.struct([req("r", pa.string()), opt("o", pa.int32())]))
    values = [{"r": "a", "o": 1}, {"r": None, "o": 1}, {"r": "c", "o": None}, {"r": None, "o": None}]
    with pytest.raises(DataError) as err:
        write(DEFAULT, f, values)
    assert str(err.value) == REQUIRED == KAFKA["required_field_null"].removeprefix("ERROR ")
    assert err.value.rows == (1, 3)


def test_required_null_at_the_top_and_inside_lists_names_the_rows() -> None:
    with pytest.raises(DataError) as err:
        write(DEFAULT, req("v", pa.string()), ["a", None, "b", None])
    assert (str(err.value), err.value.rows) == (REQUIRED, (1, 3))
    f = opt("v", list_of(req("item", pa.int32())))
    with pytest.raises(DataError) as err:
        write(DEFAULT, f, [[1, 2], None, [3, None], [], [None]])
    assert err.value.rows == (2, 4)


def test_required_field_with_default_and_no_replace_is_an_error() -> None:
    with pytest.raises(DataError, match=REQUIRED) as err:
        write(NO_REPLACE, req("v", DEFAULTS), [EMPTY_DEFAULTS])
    assert err.value.rows == (0,)
    assert KAFKA["defaults_noreplace"] == "ERROR " + REQUIRED


def test_null_under_a_null_parent_is_not_an_error() -> None:
    f = req("v", pa.struct([opt("p", pa.struct([req("x", pa.int32())]))]))
    assert write(DEFAULT, f, [{"p": None}])[0] == (
        b'{"schema":{"type":"struct","fields":[{"type":"struct","fields":[{"type":"int32","optional":false,'
        b'"field":"x"}],"optional":true,"field":"p"}],"optional":false},"payload":{"p":null}}'
    )


def test_null_values_are_tombstones() -> None:
    assert KAFKA["null_schema_null"] == "<null>"
    for f in (opt("v", pa.string()), opt("v", pa.string(), default="d", has_default=True), opt("v", OUTER)):
        arr = pa.nulls(3, f.type)
        assert DEFAULT.from_connect_data("t", f, arr).to_pylist() == [None, None, None]
    f = opt("v", pa.int64())
    assert write(DEFAULT, f, [1, None]) == [b'{"schema":{"type":"int64","optional":true},"payload":1}', None]
    assert write(PLAIN, f, [None, 2]) == [None, b"2"]
    assert DEFAULT.from_connect_data("t", opt("v", pa.null()), pa.nulls(2)).to_pylist() == [None, None]


def test_required_top_level_null_with_default_writes_the_default() -> None:
    f = req("v", pa.int32(), default=7, has_default=True)
    assert write(DEFAULT, f, [None]) == [
        b'{"schema":{"type":"int32","optional":false,"default":7},"payload":7}'
    ]


def test_schemaless_fields_write_a_null_schema() -> None:
    f = cs.field("v", pa.struct([opt("a", pa.int64()), opt("b", pa.string())]), schemaless=True)
    assert write(DEFAULT, f, [{"a": 1, "b": None}]) == [b'{"schema":null,"payload":{"a":1,"b":null}}']
    assert write(PLAIN, f, [{"a": 1, "b": None}]) == [b'{"a":1,"b":null}']


def test_jdk17_prints_some_doubles_longer_than_we_do() -> None:
    # A known divergence: JDK 17's Double.toString is not always the shortest form (JDK-4511638,
    # fixed in JDK 19). Both texts read back as the same double.
    assert KAFKA["float64_2e23"].endswith('"payload":1.9999999999999998E23}')
    assert write(DEFAULT, req("v", pa.float64()), [2e23]) == [
        b'{"schema":{"type":"double","optional":false},"payload":2.0E23}'
    ]
    assert float("1.9999999999999998E23") == 2e23


def test_arrow_types_without_a_connect_twin_are_normalized() -> None:
    f = opt(
        "v",
        pa.struct(
            [opt("u", pa.uint8()), opt("s", pa.large_string()), opt("t", pa.timestamp("us", tz="UTC"))]
        ),
    )
    rows = write(PLAIN, f, [{"u": 200, "s": "x", "t": dt.datetime(1970, 1, 1, 0, 0, 1, 500, tzinfo=dt.UTC)}])
    assert rows == [b'{"u":200,"s":"x","t":1000}']
    dictionary = pa.array(["a", "b", "a"]).dictionary_encode()
    assert DEFAULT.from_connect_data("t", opt("v", pa.string()), dictionary).to_pylist()[2] == (
        b'{"schema":{"type":"string","optional":true},"payload":"a"}'
    )


def test_values_that_do_not_match_the_schema_are_a_data_error() -> None:
    with pytest.raises(DataError):
        DEFAULT.from_connect_data("t", req("v", pa.int32()), pa.array([{"a": 1}]))


def test_floats_in_every_range_print_as_java_does() -> None:
    values = [1.0, 100.0, 0.5, 1e-3, 9.99e-4, 1e7, 1.5e300, -2.5e-300, 123456789.0, float("inf")]
    rows = write(PLAIN, opt("v", pa.float64()), values)
    assert rows == [
        b"1.0",
        b"100.0",
        b"0.5",
        b"0.001",
        b"9.99E-4",
        b"1.0E7",
        b"1.5E300",
        b"-2.5E-300",
        b"1.23456789E8",
        b'"Infinity"',
    ]


# ------------------------------------------------------------------------- reading


READABLE = sorted(set(CASES) - {"nested_struct_noschema", "string_noschema"})
FILLED = {
    "i": 42,
    "f": 1.5,
    "d": Decimal("1.56"),
    "b": b"hi",
    "ts": dt.datetime(1970, 1, 1, 0, 0, 0, 42000),
    "l": [1, 2],
}
READ_BACK = {"defaults": FILLED, "defaults_numeric": FILLED}


@pytest.mark.parametrize("name", READABLE)
def test_reads_kafka_bytes_back_into_the_same_schema_and_values(name: str) -> None:
    conv, f, value = CASES[name]
    got_field, got = read(conv, [KAFKA[name].encode("utf-8")])
    expected = pa.array([READ_BACK.get(name, value)], f.type).to_pylist()
    assert same(got[0], expected[0]), (got, expected)
    assert got_field.equals(f.with_name("value"), check_metadata=True), (got_field, f)


def test_reads_the_envelopes_of_kafkas_own_tests() -> None:
    cases: list[tuple[str, pa.Field, Any]] = [
        ('{ "schema": { "type": "boolean" }, "payload": true }', req("value", pa.bool_()), True),
        (
            '{ "schema": { "type": "boolean", "optional": true }, "payload": null }',
            opt("value", pa.bool_()),
            None,
        ),
        (
            '{ "schema": { "type": "boolean", "default": true }, "payload": null }',
            req("value", pa.bool_(), default=True, has_default=True),
            True,
        ),
        (
            '{ "schema": { "type": "boolean", "optional": false, "name": "bool", "version": 2, "doc": "the documentation", "parameters": { "foo": "bar" }}, "payload": true }',
            req(
                "value",
                pa.bool_(),
                schema_name="bool",
                version=2,
                doc="the documentation",
                parameters={"foo": "bar"},
            ),
            True,
        ),
        ('{ "schema": { "type": "int8" }, "payload": 0012 }', req("value", pa.int8()), 12),
        ('{ "schema": { "type": "int64" }, "payload": 00000123456789 }', req("value", pa.int64()), 123456789),
        (
            '{ "schema": { "type": "float" }, "payload": 12.34 }',
            req("value", pa.float32()),
            float(np.float32(12.34)),
        ),
        (
            '{ "schema": { "type": "bytes" }, "payload": "dGVzdC1zdHJpbmc=" }',
            req("value", pa.binary()),
            b"test-string",
        ),
        (
            '{ "schema": { "type": "array", "items": { "type" : "int32" } }, "payload": [1, 2, 3] }',
            req("value", list_of(req("item", pa.int32()))),
            [1, 2, 3],
        ),
        (
            '{ "schema": { "type": "map", "keys": { "type" : "int32" }, "values": { "type" : "int32" } }, "payload": [ [1, 12], [2, 15] ] }',
            req("value", map_of(req("key", pa.int32()), req("value", pa.int32()))),
            [(1, 12), (2, 15)],
        ),
        (
            '{ "schema": { "type": "struct", "fields": [{ "field":"optional", "type": "string", "optional": true }, {  "field": "required", "type": "string" }] }, "payload": { "required": "required" } }',
            req("value", pa.struct([opt("optional", pa.string()), req("required", pa.string())])),
            {"optional": None, "required": "required"},
        ),
        (
            '{ "schema": { "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "parameters": { "scale": "2" } }, "payload": 1.56 }',
            req("value", pa.decimal128(38, 2)),
            Decimal("1.56"),
        ),
        (
            '{ "schema": { "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "parameters": { "scale": "17" } }, "payload": 1.23456789123456789 }',
            req("value", pa.decimal128(38, 17)),
            Decimal("1.23456789123456789"),
        ),
        (
            '{ "schema": { "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "default": "AJw=", "parameters": { "scale": "2" } }, "payload": null }',
            req("value", pa.decimal128(38, 2), default="AJw=", has_default=True),
            Decimal("1.56"),
        ),
        (
            '{ "schema": { "type": "int32", "name": "org.apache.kafka.connect.data.Time", "version": 1, "optional": true, "default": 0 }, "payload": null }',
            opt("value", pa.time32("ms"), default=0, has_default=True),
            dt.time(0),
        ),
    ]
    for text, f, value in cases:
        got_field, got = read(DEFAULT, [text.encode()])
        assert got == pa.array([value], f.type).to_pylist(), text
        assert got_field.equals(f, check_metadata=True), (text, got_field, f)


def test_null_schema_envelopes_read_schemaless_payloads() -> None:
    rows = [b'{ "schema": null, "payload": 12 }', b'{"schema":null,"payload":13}']
    f, values = read(DEFAULT, rows)
    assert (values, f.type, cs.is_schemaless(f)) == ([12, 13], pa.int64(), True)
    assert read(DEFAULT, [b'{ "schema": null, "payload": null }'])[1] == [None]


def test_envelope_errors_name_the_rows_with_kafkas_message() -> None:
    rows = [
        b'{"schema":{"type":"int32","optional":false},"payload":1}',
        b'{"a":1}',
        b'{"schema":{"type":"int32","optional":false},"payload":2,"extra":3}',
        b"[1]",
        b"",
        None,
        b'{"schema":{"type":"int32","optional":false},"payload":3}',
    ]
    with pytest.raises(DataError) as err:
        read(DEFAULT, rows)
    assert str(err.value) == ENVELOPE_ERROR
    assert err.value.rows == (1, 2, 3, 4)
    assert ENVELOPE_ERROR == (
        'JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional fields. '
        "If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration."
    )


def test_malformed_json_names_exactly_those_rows() -> None:
    good = [f'{{"schema":{{"type":"int64","optional":false}},"payload":{i}}}'.encode() for i in range(200)]
    rows: list[bytes | None] = list(good)
    for i in (3, 57, 58, 199):
        rows[i] = good[i][:-5]
    with pytest.raises(DataError) as err:
        read(DEFAULT, rows)
    assert err.value.rows == (3, 57, 58, 199)
    assert str(err.value).startswith(
        "Converting byte[] to Kafka Connect data failed due to serialization error: "
    )
    plain = [str(i).encode() for i in range(100)]
    plain[10] = b"{nope"
    plain[90] = b'"unterminated'
    with pytest.raises(DataError) as err:
        read(PLAIN, plain)
    assert err.value.rows == (10, 90)


def test_bad_payload_values_name_the_rows() -> None:
    head = b'{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"i"},{"type":"bytes","optional":true,"field":"b"}],"optional":false},"payload":'
    rows = [
        head + b'{"i":1,"b":"AAE="}}',
        head + b'{"i":null}}',
        head + b'{"i":3,"b":"***"}}',
        head + b'{"i":"x"}}',
        head + b'{"i":5}}',
    ]
    with pytest.raises(DataError) as err:
        read(DEFAULT, rows)
    assert err.value.rows == (1, 2, 3)
    with pytest.raises(DataError, match="Invalid null value for required INT32 field"):
        read(DEFAULT, rows[1:2])
    with pytest.raises(DataError, match="Invalid bytes field"):
        read(DEFAULT, rows[2:3])
    assert read(DEFAULT, [rows[0], rows[4]])[1] == [{"i": 1, "b": b"\x00\x01"}, {"i": 5, "b": None}]


def test_extra_struct_fields_in_a_payload_are_ignored_as_kafka_does() -> None:
    head = b'{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"i"}],"optional":false},"payload":'
    assert read(DEFAULT, [head + b'{"i":1,"other":[1,2]}}', head + b'{"i":2}}'])[1] == [{"i": 1}, {"i": 2}]


def test_tombstones_and_empty_values() -> None:
    assert read(DEFAULT, [None, b'{"schema":{"type":"string","optional":true},"payload":"a"}', None])[1] == [
        None,
        "a",
        None,
    ]
    assert read(PLAIN, [None, b"", b"  ", b"1"])[1] == [None, None, None, 1]
    _f, values = read(DEFAULT, [None, None])
    assert values == [None, None]


def test_default_replaces_a_null_payload_unless_disabled() -> None:
    row = b'{"schema":{"type":"string","optional":true,"default":"default"},"payload":null}'
    assert read(DEFAULT, [row])[1] == ["default"]
    assert read(NO_REPLACE, [row])[1] == [None]
    nested = b'{"schema":{"type":"struct","fields":[{"field":"field1","type":"string","optional":true,"default":"default"}],"optional":false},"payload":{"field1":null}}'
    assert read(DEFAULT, [nested])[1] == [{"field1": "default"}]
    assert read(NO_REPLACE, [nested])[1] == [{"field1": None}]


def test_pretty_printed_and_reordered_envelopes() -> None:
    rows = [
        b'{\n  "payload": {"a": 1},\n  "schema": {"type": "struct", "fields": [{"field": "a", "type": "int32"}]}\n}',
        b'{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"a"}],"optional":false},"payload":{"a":\r\n2}}',
        b'{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"a"}],"optional":false},"payload":{"a":3}}',
    ]
    f, values = read(DEFAULT, rows)
    assert values == [{"a": 1}, {"a": 2}, {"a": 3}]
    assert f.type == pa.struct([req("a", pa.int32())])


def test_trailing_content_after_the_value_is_ignored_as_jackson_does() -> None:
    assert read(PLAIN, [b'{"a":1} trailing', b'{"a":2}'])[1] == [{"a": 1}, {"a": 2}]


def test_records_with_different_schemas_in_one_batch_are_merged() -> None:
    v1 = b'{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"a"}],"optional":false,"name":"r","version":1},"payload":'
    v2 = b'{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"a"},{"type":"string","optional":true,"field":"b"}],"optional":false,"name":"r","version":2},"payload":'
    f, values = read(DEFAULT, [v1 + b'{"a":1}}', v2 + b'{"a":2,"b":"x"}}', None, v1 + b'{"a":3}}'])
    assert values == [{"a": 1, "b": None}, {"a": 2, "b": "x"}, None, {"a": 3, "b": None}]
    assert cs.schema_version(f) == 1 and [x.name for x in f.type] == ["a", "b"]
    other = b'{"schema":{"type":"string","optional":false},"payload":"s"}'
    with pytest.raises(DataError) as err:
        read(DEFAULT, [v1 + b'{"a":1}}', other, v1 + b'{"a":3}}'])
    assert err.value.rows == (1,)


def test_schema_errors_are_kafkas() -> None:
    def schema_error(schema: str) -> str:
        with pytest.raises(DataError) as err:
            read(DEFAULT, [b'{"schema":' + schema.encode() + b',"payload":1}'])
        return str(err.value)

    assert schema_error("{}") == "Schema must contain 'type' field"
    assert schema_error('{"type":"nope"}') == "Unknown schema type: nope"
    assert schema_error('{"type":"array"}') == "Array schema did not specify the element type"
    assert (
        schema_error('{"type":"map","values":{"type":"int8"}}') == "Map schema did not specify the key type"
    )
    assert (
        schema_error('{"type":"struct","fields":{}}') == 'Struct schema\'s "fields" argument is not an array.'
    )
    assert (
        schema_error('{"type":"struct","fields":[{"type":"int8"}]}')
        == "Struct schema's field name not specified properly"
    )
    assert (
        schema_error('{"type":"int8","parameters":{"a":1}}') == "Schema parameters must have string values."
    )


def test_map_payloads_and_their_errors() -> None:
    head = b'{"schema":{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":true},"optional":true},"payload":'
    assert read(DEFAULT, [head + b'{"k1":12,"k2":null}}'])[1] == [[("k1", 12), ("k2", None)]]
    with pytest.raises(
        DataError, match="Maps with string fields should be encoded as JSON objects, but found ARRAY"
    ):
        read(DEFAULT, [head + b"[[1,2]]}"])
    ints = b'{"schema":{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"int32","optional":false},"optional":false},"payload":'
    with pytest.raises(DataError, match="Found invalid map entry, expected length 2 but found :3"):
        read(DEFAULT, [ints + b"[[1,2,3]]}"])


def test_optional_map_keys_survive_a_round_trip() -> None:
    row = b'{"schema":{"type":"map","keys":{"type":"int32","optional":true},"values":{"type":"int32","optional":false},"optional":false},"payload":[[1,2]]}'
    f, values = DEFAULT.to_connect_data("t", pa.array([row]))
    assert DEFAULT.from_connect_data("t", f, values).to_pylist() == [row]


def test_schemaless_reading_infers_a_struct_for_the_batch() -> None:
    rows = [
        b'{"a":1,"b":"x","c":[1,2],"d":{"e":true}}',
        b'{"a":2.5,"f":null}',
        b'{"b":"2020-01-01 00:00:00"}',
        None,
    ]
    f, values = read(PLAIN, rows)
    assert cs.is_schemaless(f) and f.name == "value"
    assert f.type == pa.struct(
        [
            ("a", pa.float64()),
            ("b", pa.string()),
            ("c", pa.list_(pa.int64())),
            ("d", pa.struct([("e", pa.bool_())])),
            ("f", pa.null()),
        ]
    )
    assert values[2]["b"] == "2020-01-01 00:00:00" and values[3] is None
    assert read(PLAIN, [b'"abc"', b'"d"'])[1] == ["abc", "d"]
    assert read(PLAIN, [b"true", b"null"])[1] == [True, None]
    assert read(PLAIN, [b"[1,2]", b"[]"])[1] == [[1, 2], []]


def test_schemaless_values_of_clashing_types_become_json_text() -> None:
    f, values = read(PLAIN, [b'{"a":1}', b'"s"', b"[1, 2]"])
    assert f.type == pa.string() and values == ['{"a":1}', "s", "[1,2]"]
    f, values = read(PLAIN, [b'{"a":1}', b'{"a":"x"}'])
    assert values == [{"a": "1"}, {"a": "x"}]


def test_clean_batches_take_no_per_row_python(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any) -> Any:
        raise AssertionError("per-row path used")

    fresh, plain = converter(), converter(schemas_enable=False)
    monkeypatch.setattr(jc, "reader", forbidden)
    monkeypatch.setattr(jc, "py_value", forbidden)
    monkeypatch.setattr(jc, "parse_json", forbidden)
    f = OUTER_FIELD
    rows = fresh.from_connect_data("t", f, pa.array([OUTER_VALUE] * 50, f.type))
    inner = req(
        "v",
        pa.struct(
            [
                req("x", pa.int64()),
                opt("d", pa.decimal128(38, 3)),
                opt("b", pa.binary()),
                opt("t", pa.timestamp("ms")),
            ]
        ),
    )
    values = pa.array(
        [{"x": i, "d": Decimal(i) / 1000, "b": bytes([i % 256]), "t": None} for i in range(300)], inner.type
    )
    _got_field, got = fresh.to_connect_data("t", fresh.from_connect_data("t", inner, values))
    assert got.equals(values)
    with pytest.raises(AssertionError):
        fresh.to_connect_data("t", rows)  # has a map: read row by row
    text = plain.from_connect_data("t", inner, values)
    assert plain.to_connect_data("t", text)[1].field("x").equals(values.field("x"))


def test_reads_a_sliced_binary_column() -> None:
    rows = pa.array([b"1", b"2", b"3", b"4"]).slice(1, 2)
    assert PLAIN.to_connect_data("t", rows)[1].to_pylist() == [2, 3]


# ------------------------------------------------------------------------- config


def test_config_def_declares_kafkas_keys() -> None:
    d = JsonConverter.config_def()
    assert isinstance(d, ConfigDef)
    assert d.names() == [
        "converter.type",
        "schemas.enable",
        "schemas.cache.size",
        "decimal.format",
        "replace.null.with.default",
    ]
    keys = d.keys()
    assert (keys["schemas.enable"].default, keys["schemas.cache.size"].default) == (True, 1000)
    assert (keys["decimal.format"].default, keys["replace.null.with.default"].default) == ("BASE64", True)
    assert JsonConverter.aliases == ("org.apache.kafka.connect.json.JsonConverter",)


def test_configure_validates_and_is_case_insensitive() -> None:
    c = converter(decimal_format="Numeric")
    assert c.decimal_numeric
    with pytest.raises(ConfigError):
        converter(decimal_format="hex")
    with pytest.raises(ConfigError):
        converter(schemas_cache_size="-1")
    header = JsonConverter()
    header.configure({"schemas.enable": "false"})
    assert header.name == "header" and not header.schemas_enable
    assert converter(is_key=True).name == "key"


def test_schema_cache_is_an_lru_of_the_configured_size() -> None:
    c = converter(schemas_cache_size=2)
    for t in ("int8", "int16", "int32"):
        read(c, [b'{"schema":{"type":"' + t.encode() + b'","optional":false},"payload":1}'])
    assert len(c._read_cache) == 2
    write(c, req("v", pa.int8()), [1])
    write(c, req("v", pa.int8()), [2])
    assert len(c._write_cache) == 1


def test_header_converter_methods_delegate() -> None:
    c = JsonConverter()
    c.configure({})
    out = c.from_connect_header("t", "h", req("v", pa.string()), pa.array(["test-string"]))
    assert out.to_pylist() == [b'{"schema":{"type":"string","optional":false},"payload":"test-string"}']
    f, values = c.to_connect_header("t", "h", out)
    assert (f.name, values.to_pylist()) == ("h", ["test-string"])
