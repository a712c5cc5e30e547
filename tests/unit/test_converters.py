"""StringConverter, ByteArrayConverter and SimpleHeaderConverter.

Expected texts marked "Kafka" were produced by Apache Kafka 4.3.1's own classes (JVM in UTC).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from engine.converters.bytearray_converter import ByteArrayConverter
from engine.converters.simple_header_converter import SimpleHeaderConverter, parse_string
from engine.converters.string_converter import StringConverter
from engine.spi import schema as cs
from engine.spi.config import ConfigDef
from engine.spi.errors import ConfigError, DataError


def string_converter(**configs: str) -> StringConverter:
    c = StringConverter()
    c.configure({k.replace("_", "."): v for k, v in configs.items()}, False)
    return c


def text(values: pa.Array, conv: StringConverter | None = None) -> list[Any]:
    conv = conv or string_converter()
    out: list[Any] = conv.from_connect_data("t", pa.field("v", values.type), values).to_pylist()
    return out


# ------------------------------------------------------------------------- StringConverter


def test_string_converter_config_and_aliases() -> None:
    d = StringConverter.config_def()
    assert isinstance(d, ConfigDef) and d.names() == ["converter.type", "converter.encoding"]
    assert d.keys()["converter.encoding"].default == "UTF-8"
    assert StringConverter.aliases == ("org.apache.kafka.connect.storage.StringConverter",)
    with pytest.raises(ConfigError):
        string_converter(converter_encoding="no-such-charset")


def test_strings_pass_through_and_read_back_as_optional_strings() -> None:
    values = pa.array(["a", None, "é€😀", ""])
    raw = string_converter().from_connect_data("t", pa.field("v", pa.string()), values)
    assert raw.type == pa.binary() and raw.to_pylist() == [b"a", None, "é€😀".encode(), b""]
    f, back = string_converter().to_connect_data("t", raw)
    assert (f.name, f.type, f.nullable, back.to_pylist()) == ("value", pa.string(), True, values.to_pylist())


def test_numbers_and_booleans_print_as_java_does() -> None:
    assert text(pa.array([1, None, -3])) == [b"1", None, b"-3"]
    assert text(pa.array([1.0, 1e-5, 1e7, 0.1, float("nan")])) == [
        b"1.0",
        b"1.0E-5",
        b"1.0E7",
        b"0.1",
        b"NaN",
    ]
    assert text(pa.array([0.1], pa.float32())) == [b"0.1"]
    assert text(pa.array([True, False])) == [b"true", b"false"]  # Kafka: "true"
    assert text(pa.array([Decimal("1.50")])) == [b"1.50"]  # Kafka: "1.50"


def test_structs_lists_and_maps_print_as_java_tostring() -> None:
    inner = pa.struct([("a", pa.float64()), ("tags", pa.list_(pa.string()))])
    outer = pa.struct(
        [
            ("id", pa.int32()),
            ("name", pa.string()),
            ("inner", inner),
            ("m", pa.map_(pa.string(), pa.int64())),
            ("f", pa.float32()),
        ]
    )
    value = {
        "id": 1,
        "name": None,
        "inner": {"a": 1e7, "tags": ["p", "q"]},
        "m": [("x", 1), ("y", None)],
        "f": 0.1,
    }
    # Kafka: Struct{id=1,inner=Struct{a=1.0E7,tags=[p, q]},m={x=1, y=null},f=0.1}
    assert text(pa.array([value, None], outer)) == [
        b"Struct{id=1,inner=Struct{a=1.0E7,tags=[p, q]},m={x=1, y=null},f=0.1}",
        None,
    ]
    assert text(pa.array([[1, None, 3], []])) == [b"[1, null, 3]", b"[]"]  # Kafka: [1, null, 3]
    assert text(pa.array([{}], pa.struct([]))) == [b"Struct{}"]


def test_dates_print_as_java_util_date_in_utc() -> None:
    ts = pa.array([1700000000123, -1], pa.timestamp("ms"))
    assert text(ts) == [b"Tue Nov 14 22:13:20 UTC 2023", b"Wed Dec 31 23:59:59 UTC 1969"]  # Kafka: first
    assert text(pa.array([dt.date(1970, 1, 2)])) == [b"Fri Jan 02 00:00:00 UTC 1970"]


def test_bytes_pass_through_unchanged() -> None:
    assert text(pa.array([b"\x00\xff", None])) == [b"\x00\xff", None]
    assert text(pa.array([{"b": b"hi"}], pa.struct([("b", pa.binary())]))) == [b"Struct{b=aGk=}"]


def test_other_encodings() -> None:
    latin = string_converter(converter_encoding="ISO-8859-1")
    raw = latin.from_connect_data("t", pa.field("v", pa.string()), pa.array(["é", "a", None, "€"]))
    assert raw.to_pylist() == [b"\xe9", b"a", None, b"?"]
    assert latin.to_connect_data("t", raw)[1].to_pylist() == ["é", "a", None, "?"]
    utf16 = string_converter(converter_encoding="UTF-16")
    raw = utf16.from_connect_data("t", pa.field("v", pa.string()), pa.array(["é"]))
    assert raw.to_pylist() == [b"\xfe\xff\x00\xe9"]
    assert utf16.to_connect_data("t", raw)[1].to_pylist() == ["é"]


def test_invalid_utf8_becomes_replacement_characters() -> None:
    back = string_converter().to_connect_data("t", pa.array([b"\xffok", b"fine"]))[1]
    assert back.to_pylist() == ["\ufffdok", "fine"]


def test_string_converter_as_header_converter() -> None:
    c = StringConverter()
    c.configure({})
    raw = c.from_connect_header("t", "h", pa.field("v", pa.int32()), pa.array([7], pa.int32()))
    f, values = c.to_connect_header("t", "h", raw)
    assert (f.name, values.to_pylist()) == ("h", ["7"])


# ------------------------------------------------------------------------- ByteArrayConverter


def test_byte_array_converter_passes_bytes_through() -> None:
    c = ByteArrayConverter()
    c.configure({}, True)
    values = pa.array([b"\x00a", None, b""])
    assert c.from_connect_data("t", cs.field("v", pa.binary()), values).equals(values)
    assert c.from_connect_data("t", cs.field("v", pa.null(), schemaless=True), values).equals(values)
    large = pa.array([b"x"], pa.large_binary())
    assert c.from_connect_data("t", cs.field("v", pa.large_binary()), large).to_pylist() == [b"x"]
    f, back = c.to_connect_data("t", values)
    assert (f.name, f.type, f.nullable) == ("key", pa.binary(), True) and back.equals(values)
    assert ByteArrayConverter.aliases == ("org.apache.kafka.connect.converters.ByteArrayConverter",)
    assert ByteArrayConverter.config_def().names() == ["converter.type"]


def test_byte_array_converter_rejects_other_schemas() -> None:
    c = ByteArrayConverter()
    with pytest.raises(DataError, match="Invalid schema type for ByteArrayConverter: INT32"):
        c.from_connect_data("t", cs.field("v", pa.int32()), pa.array([1], pa.int32()))
    with pytest.raises(DataError, match="not compatible with objects of type string"):
        c.from_connect_data("t", cs.field("v", pa.null(), schemaless=True), pa.array(["x"]))
    with pytest.raises(DataError):
        c.from_connect_data(
            "t", cs.field("v", pa.decimal128(10, 2)), pa.array([Decimal("1.00")], pa.decimal128(10, 2))
        )


# ------------------------------------------------------------------------- SimpleHeaderConverter

# What Kafka's Values.parseString gave for each text (type, value as Java printed it).
KAFKA_PARSE: list[tuple[str, Any, Any]] = [
    ("5", "int8", 5),
    ("300", "int16", 300),
    ("70000", "int32", 70000),
    ("5000000000", "int64", 5000000000),
    ("99999999999999999999", ("decimal", 0), Decimal("99999999999999999999")),
    ("1.5", "float32", 1.5),
    ("3.14159265358979", "float32", 3.1415927410125732),
    ("1e400", ("decimal", -400), Decimal("1E+400")),
    ("-1", "int8", -1),
    ("true", "boolean", True),
    (" true ", "boolean", True),
    ("true:", "string", "true:"),
    ("", "string", ""),
    ("abc", "string", "abc"),
    ("a:b", "string", "a:b"),
    (" :x", "string", " :x"),
    ("[1,2,3]", ("array", "int8"), [1, 2, 3]),
    ("[]", ("array", None), []),
    ('{"a":1,"b":2}', ("map", "string", "int8"), [("a", 1), ("b", 2)]),
    ("{a:1}", "string", "{a:1}"),
    ("2020-01-01", "date", dt.date(2020, 1, 1)),
    ("12:34:56.789Z", "time", dt.time(12, 34, 56, 789000)),
    ("2020-01-01T12:34:56.789Z", "timestamp", dt.datetime(2020, 1, 1, 12, 34, 56, 789000)),
    ("[1, 2.5]", ("array", "float32"), [1, 2.5]),
    ("1.0", "int8", 1),
    ("+3", "int8", 3),
    ('"quoted"', "string", '"quoted"'),
    ('{"a":[1,2]}', ("map", "string", ("array", "int8")), [("a", [1, 2])]),
    ("1,2", "int8", 1),
    ("  ", "string", "  "),
    ("\t5", "int8", 5),
    ("[1,,2]", "string", "[1,,2]"),
    ('{"k":"v"}', ("map", "string", "string"), [("k", "v")]),
    ("1e5", "int32", 100000),
    (".5", "string", ".5"),
    ("0x10", "string", "0x10"),
]


@pytest.mark.parametrize(("raw", "kind", "value"), KAFKA_PARSE)
def test_parse_string_matches_kafka(raw: str, kind: Any, value: Any) -> None:
    assert parse_string(raw) == (kind, value)
    assert parse_string("null") is None


def header_column(values: list[bytes | None]) -> tuple[pa.Field, list[Any]]:
    f, arr = SimpleHeaderConverter().to_connect_header("t", "h", pa.array(values, pa.binary()))
    return f, arr.to_pylist()


def test_header_columns_take_the_common_type() -> None:
    assert header_column([b"1", b"300", None, b"null"]) == (pa.field("h", pa.int16()), [1, 300, None, None])
    assert header_column([b"1", b"2.5"]) == (pa.field("h", pa.float32()), [1.0, 2.5])
    assert header_column([b"2020-01-01", None]) == (pa.field("h", pa.date32()), [dt.date(2020, 1, 1), None])
    f, values = header_column([b'{"a":1}', b'{"b":300}'])
    assert f.type == pa.map_(pa.string(), pa.int16()) and values == [[("a", 1)], [("b", 300)]]
    assert header_column([b"true", b"false"]) == (pa.field("h", pa.bool_()), [True, False])


def test_header_columns_without_a_common_type_stay_text() -> None:
    assert header_column([b"1", b"abc", None]) == (pa.field("h", pa.string()), ["1", "abc", None])
    assert header_column([b'[1,"a"]']) == (pa.field("h", pa.string()), ['[1,"a"]'])
    assert header_column([b"plain", b"text", b""]) == (pa.field("h", pa.string()), ["plain", "text", ""])
    assert header_column([b"null", None]) == (pa.field("h", pa.string()), [None, None])
    assert header_column([b"\xffbad"])[1] == ["\ufffdbad"]


def header_text(values: pa.Array) -> list[Any]:
    out: list[Any] = (
        SimpleHeaderConverter().from_connect_header("t", "h", pa.field("h", values.type), values).to_pylist()
    )
    return out


def test_header_values_to_text_match_kafka() -> None:
    inner = pa.struct([("a", pa.float64()), ("tags", pa.list_(pa.string()))])
    outer = pa.struct(
        [
            ("id", pa.int32()),
            ("name", pa.string()),
            ("inner", inner),
            ("m", pa.map_(pa.string(), pa.int64())),
            ("f", pa.float32()),
        ]
    )
    value = {
        "id": 1,
        "name": None,
        "inner": {"a": 1e7, "tags": ["p", "q"]},
        "m": [("x", 1), ("y", None)],
        "f": 0.1,
    }
    assert header_text(pa.array([value], outer)) == [
        b'{"id":1,"name":null,"inner":{"a":1.0E7,"tags":["p","q"]},"m":{"x":1,"y":null},"f":0.1}'
    ]
    assert header_text(pa.array([['a"b', None, "c"]])) == [b'["a\\"b",null,"c"]']
    assert header_text(pa.array([[1.5]], pa.list_(pa.float32()))) == [b"[1.5]"]
    assert header_text(pa.array([b"hi"])) == [b"aGk="]
    assert header_text(pa.array([1000], pa.time32("ms"))) == [b"00:00:01.000Z"]
    assert header_text(pa.array([dt.date(1970, 1, 2)])) == [b"1970-01-02"]
    assert header_text(pa.array([86400001], pa.timestamp("ms"))) == [b"1970-01-02T00:00:00.001Z"]
    assert header_text(pa.array([1e10, None])) == [b"1.0E10", None]
    assert header_text(pa.array([Decimal("1.50")])) == [b"1.50"]
    assert header_text(pa.array(["plain", None])) == [b"plain", None]
    assert header_text(pa.array([5, 6])) == [b"5", b"6"]


def test_header_text_round_trips_through_parsing() -> None:
    values = pa.array([[1, 2], [300]], pa.list_(pa.int16()))
    raw = SimpleHeaderConverter().from_connect_header("t", "h", pa.field("h", values.type), values)
    _f, back = SimpleHeaderConverter().to_connect_header("t", "h", raw)
    assert back.to_pylist() == values.to_pylist()
    assert SimpleHeaderConverter.aliases == ("org.apache.kafka.connect.storage.SimpleHeaderConverter",)
    assert SimpleHeaderConverter.config_def().names() == []
