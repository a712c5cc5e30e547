"""TimestampConverter$Key / $Value: Kafka's TimestampConverterTest, and SimpleDateFormat in UTC.

Expected values not taken from Kafka's own tests were produced by Kafka 4.3.1's classes on
JDK 17 (``SimpleDateFormat`` with the UTC zone, ``TimestampConverter.Value``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pytest

from engine.spi import schema as cs
from engine.spi.errors import ConfigError, DataError
from engine.transforms._date_format import DateFormat, DateFormatError
from engine.transforms.timestamp_converter import TimestampConverterKey, TimestampConverterValue

from ._kv_support import (
    assert_rowwise,
    assert_same_field,
    assert_sliced,
    batch,
    configured,
    rows_of,
    schemaless,
)

DATE_PLUS_TIME_UNIX = 86_401_234
DATE_PLUS_TIME = dt.datetime(1970, 1, 2, 0, 0, 1, 234000)
DATE = dt.date(1970, 1, 2)
TIME = dt.time(0, 0, 1, 234000)
STRING_DATE_FMT = "yyyy MM dd HH mm ss SSS z"
DATE_PLUS_TIME_STRING = "1970 01 02 00 00 01 234 UTC"
TYPES: dict[str, pa.DataType] = {
    "Timestamp": pa.timestamp("ms"),
    "Date": pa.date32(),
    "Time": pa.time32("ms"),
    "unix": pa.int64(),
    "string": pa.string(),
}
AS: dict[str, Any] = {
    "Timestamp": DATE_PLUS_TIME,
    "Date": dt.datetime(1970, 1, 2),
    "Time": dt.datetime(1970, 1, 1, 0, 0, 1, 234000),
    "unix": DATE_PLUS_TIME_UNIX,
    "string": DATE_PLUS_TIME_STRING,
}
OUT: dict[str, Any] = {
    "Timestamp": DATE_PLUS_TIME,
    "Date": DATE,
    "Time": TIME,
    "unix": DATE_PLUS_TIME_UNIX,
    "string": DATE_PLUS_TIME_STRING,
}


def convert(config: dict[str, str]) -> TimestampConverterValue:
    t = configured(TimestampConverterValue, {"format": STRING_DATE_FMT, **config})
    assert isinstance(t, TimestampConverterValue)
    return t


def source(kind: str) -> tuple[pa.DataType, Any]:
    """An input of a kind: Arrow type and value (Date and Time inputs hold the date / the time)."""
    if kind == "Date":
        return pa.date32(), DATE
    if kind == "Time":
        return pa.time32("ms"), TIME
    return TYPES[kind], AS[kind]


@pytest.mark.parametrize("target", list(TYPES))
def test_with_schema_from_timestamp(target: str) -> None:
    b = batch([DATE_PLUS_TIME], pa.field("value", pa.timestamp("ms"), nullable=False))
    out = convert({"target.type": target}).apply(b)
    expected = {"Date": dt.date(1970, 1, 2), "Time": TIME}.get(target, OUT[target])
    assert rows_of(out) == [expected]
    assert_same_field(out.schema.field("value"), pa.field("value", TYPES[target], nullable=False))


@pytest.mark.parametrize("kind", ["Date", "Time", "unix", "string"])
def test_with_schema_to_timestamp(kind: str) -> None:
    t, value = source(kind)
    out = convert({"target.type": "Timestamp"}).apply(batch([value, None], pa.field("value", t)))
    expected = {"Date": dt.datetime(1970, 1, 2), "Time": dt.datetime(1970, 1, 1, 0, 0, 1, 234000)}
    assert rows_of(out) == [expected.get(kind, DATE_PLUS_TIME), None]
    assert_same_field(out.schema.field("value"), pa.field("value", pa.timestamp("ms")))


@pytest.mark.parametrize("target", list(TYPES))
def test_schemaless_from_timestamp_and_back(target: str) -> None:
    f, arr = schemaless([DATE_PLUS_TIME, None])
    out = convert({"target.type": target}).apply(
        batch(arr.cast(pa.timestamp("ms")), f.with_type(pa.timestamp("ms")))
    )
    expected = {"Date": DATE, "Time": TIME}.get(target, OUT[target])
    assert rows_of(out) == [expected, None]
    assert_same_field(out.schema.field("value"), cs.field("value", TYPES[target], schemaless=True))
    if target in ("unix", "string"):  # Long and String inputs are recognised schemaless
        back = convert({"target.type": "Timestamp"}).apply(out)
        assert rows_of(back) == [DATE_PLUS_TIME, None]


def test_null_values_stay_null_with_the_target_schema() -> None:
    for target, t in TYPES.items():
        out = convert({"target.type": target}).apply(batch([None], pa.field("value", pa.timestamp("ms"))))
        assert rows_of(out) == [None]
        assert_same_field(out.schema.field("value"), pa.field("value", t))
        sl = convert({"target.type": target}).apply(
            batch(pa.nulls(1), cs.field("value", pa.null(), schemaless=True))
        )
        assert rows_of(sl) == [None]
        assert_same_field(sl.schema.field("value"), cs.field("value", t, schemaless=True))


def test_with_schema_field_conversion() -> None:
    st = pa.struct([pa.field("ts", pa.int64(), False), pa.field("other", pa.string(), False)])
    b = batch(
        [{"ts": DATE_PLUS_TIME_UNIX, "other": "test"}, None],
        cs.field("value", st, schema_name="s", version=2),
    )
    out = convert({"target.type": "Timestamp", "field": "ts"}).apply(b)
    assert rows_of(out) == [{"ts": DATE_PLUS_TIME, "other": "test"}, None]
    expected = pa.struct([pa.field("ts", pa.timestamp("ms"), False), pa.field("other", pa.string(), False)])
    assert_same_field(out.schema.field("value"), cs.field("value", expected, schema_name="s", version=2))


@pytest.mark.parametrize(
    ("replace_null", "expected"), [("false", None), ("true", dt.datetime(1970, 1, 1, 0, 0, 0, 7000))]
)
def test_with_schema_null_field_with_default(replace_null: str, expected: Any) -> None:
    st = pa.struct([cs.field("ts", pa.int64(), default=7, has_default=True), pa.field("other", pa.string())])
    b = batch([{"ts": None, "other": "test"}], cs.field("value", st))
    config = {"target.type": "Timestamp", "field": "ts", "replace.null.with.default": replace_null}
    out = convert(config).apply(b)
    assert rows_of(out) == [{"ts": expected, "other": "test"}]
    assert out.schema.field("value").type.field("ts") == pa.field("ts", pa.timestamp("ms"))  # default dropped
    assert not cs.has_default(out.schema.field("value").type.field("ts"))
    missing = convert({"target.type": "Timestamp", "field": "zz"}).apply(b)
    assert rows_of(missing) == [{"ts": 7, "other": "test"}]
    assert_same_field(missing.schema.field("value"), cs.field("value", st))


def test_a_struct_default_is_converted_too() -> None:
    st = pa.struct([pa.field("ts", pa.int64()), pa.field("o", pa.string())])
    f = cs.field("value", st, schema_name="n", default={"ts": 2 * 86_400_000 + 5, "o": "d"}, has_default=True)
    out = convert({"target.type": "Date", "field": "ts"}).apply(batch([{"ts": 0, "o": "x"}], f))
    assert cs.schema_default(out.schema.field("value")) == {"ts": 2, "o": "d"}
    assert rows_of(out) == [{"ts": dt.date(1970, 1, 1), "o": "x"}]


def test_schemaless_field_conversion() -> None:
    f, arr = schemaless([{"ts": DATE_PLUS_TIME_UNIX, "o": 1}, None, {"ts": None, "o": 2}])
    out = convert({"target.type": "Date", "field": "ts"}).apply(batch(arr, f))
    assert rows_of(out) == [{"ts": DATE, "o": 1}, None, {"ts": None, "o": 2}]
    out = convert({"target.type": "string", "format": "yyyy", "field": "zz"}).apply(batch(arr, f))
    assert rows_of(out) == [
        {"ts": DATE_PLUS_TIME_UNIX, "o": 1, "zz": None},
        None,
        {"ts": None, "o": 2, "zz": None},
    ]


@pytest.mark.parametrize(
    ("precision", "unix", "instant"),
    [
        ("microseconds", DATE_PLUS_TIME_UNIX * 1000 + 123, DATE_PLUS_TIME),
        ("nanoseconds", (DATE_PLUS_TIME_UNIX * 1000 + 123) * 1000 + 456, DATE_PLUS_TIME),
        ("seconds", DATE_PLUS_TIME_UNIX // 1000, dt.datetime(1970, 1, 2, 0, 0, 1)),
        ("microseconds", -1500, dt.datetime(1969, 12, 31, 23, 59, 59, 999000)),  # toward zero
    ],
)
def test_unix_precision_in(precision: str, unix: int, instant: dt.datetime) -> None:
    st = pa.struct([pa.field("ts", pa.int64(), False)])
    out = convert({"target.type": "Timestamp", "field": "ts", "unix.precision": precision}).apply(
        batch([{"ts": unix}], cs.field("value", st))
    )
    assert rows_of(out) == [{"ts": instant}]


@pytest.mark.parametrize(
    ("precision", "expected"),
    [
        ("microseconds", 86401234000),
        ("nanoseconds", 86401234000000),
        ("seconds", 86401),
        ("milliseconds", 86401234),
    ],
)
def test_unix_precision_out(precision: str, expected: int) -> None:
    f, arr = schemaless([DATE_PLUS_TIME_STRING])
    out = convert({"target.type": "unix", "unix.precision": precision}).apply(batch(arr, f))
    assert rows_of(out) == [expected]


def test_unix_precision_saturates_and_truncates_like_time_unit() -> None:
    f, arr = schemaless([2**63 - 1, -1500])
    out = convert({"target.type": "unix", "unix.precision": "seconds"}).apply(batch(arr, f))
    assert rows_of(out) == [9223372036854775, -1500]
    b = batch([2**63 // 1000], pa.field("value", pa.timestamp("ms"), False))
    assert rows_of(convert({"target.type": "unix", "unix.precision": "nanoseconds"}).apply(b)) == [2**63 - 1]
    f, arr = schemaless([-1500])
    assert rows_of(
        convert({"target.type": "unix", "unix.precision": "microseconds"}).apply(batch(arr, f))
    ) == [-1000]


def test_date_and_time_of_instants_before_1970() -> None:
    b = batch([-1500], pa.field("value", pa.timestamp("ms")))
    assert rows_of(convert({"target.type": "Date"}).apply(b)) == [dt.date(1969, 12, 31)]
    assert rows_of(convert({"target.type": "Time"}).apply(b)) == [dt.time(23, 59, 58, 500000)]


def test_key_variant() -> None:
    b = batch(
        [1],
        cs.field("value", pa.int8()),
        key=[DATE_PLUS_TIME],
        key_field=cs.field("key", pa.timestamp("ms"), schemaless=True),
    )
    out = configured(TimestampConverterKey, {"target.type": "Timestamp"}).apply(b)
    assert rows_of(out, "key") == [DATE_PLUS_TIME]
    assert out.column("value").equals(b.column("value"))


NOT_STRUCT = "Only Struct objects supported for [converting timestamp formats], found: "
NOT_MAP = "Only Map objects supported in absence of schema for [converting timestamp formats], found: "
UNKNOWN = "Schema {} does not correspond to a known timestamp type format"
UNSUPPORTED = "TimestampConverter does not support class {} objects as timestamps"
TS = {"target.type": "Timestamp"}
TS_FIELD = {"target.type": "Timestamp", "field": "ts"}


@pytest.mark.parametrize(
    ("value", "field", "config", "message", "rows"),
    [
        (pa.array([5, None], pa.int32()), pa.field("value", pa.int32()), {"target.type": "unix"},
         UNKNOWN.format("Schema{INT32}"), (0, 1)),
        (pa.array([5], pa.int32()), cs.field("value", pa.int32(), schema_name="foo"), TS,
         UNKNOWN.format("Schema{foo:INT32}"), (0,)),
        (pa.array([5, None], pa.int32()), cs.field("value", pa.int32(), schemaless=True), TS,
         UNSUPPORTED.format("java.lang.Integer"), (0,)),
        (pa.array([5.0]), cs.field("value", pa.float64(), schemaless=True), TS,
         UNSUPPORTED.format("java.lang.Double"), (0,)),
        (pa.array(["abc", "2020-01-01", None, "x"]), cs.field("value", pa.string(), schemaless=True),
         {"target.type": "Timestamp", "format": "yyyy-MM-dd"},
         "Could not parse timestamp: value (abc) does not match pattern (yyyy-MM-dd)", (0, 3)),
        (pa.array(["x", None]), pa.field("value", pa.string()), TS_FIELD,
         NOT_STRUCT + "java.lang.String", (0,)),
        (pa.array(["x"]), cs.field("value", pa.string(), schemaless=True), TS_FIELD,
         NOT_MAP + "java.lang.String", (0,)),
    ],
)  # fmt: skip
def test_data_errors(
    value: pa.Array, field: pa.Field, config: dict[str, str], message: str, rows: tuple[int, ...]
) -> None:
    t = configured(TimestampConverterValue, config)
    with pytest.raises(DataError) as e:
        t.apply(batch(value, field))
    assert str(e.value) == message
    assert e.value.rows == rows


def test_rowwise_sliced_empty() -> None:
    st = pa.struct(
        [
            cs.field("ts", pa.string(), default="1970 01 01 00 00 00 000 UTC", has_default=True),
            pa.field("o", pa.int8()),
        ]
    )
    b = batch(
        [{"ts": DATE_PLUS_TIME_STRING, "o": 1}, None, {"ts": None, "o": 2}, {"ts": "bad", "o": 3}],
        cs.field("value", st, schema_name="s"),
    )
    for target in TYPES:
        t = convert({"target.type": target, "field": "ts"})
        assert_rowwise(t, b)
        good = b.slice(0, 3)
        assert_rowwise(t, good)
        assert_sliced(t, good)
        assert t.apply(b.slice(0, 0)).num_rows == 0
    f, arr = schemaless([DATE_PLUS_TIME_UNIX, None, 0])
    for target in TYPES:
        t = convert({"target.type": target})
        assert_rowwise(t, batch(arr, f))
        assert_sliced(t, batch(arr, f))


def test_config() -> None:
    with pytest.raises(ConfigError) as e:
        TimestampConverterValue().configure({})
    assert str(e.value) == 'Missing required configuration "target.type" which has no default value.'
    with pytest.raises(ConfigError) as e:
        TimestampConverterValue().configure({"target.type": "date"})
    assert str(e.value) == (
        "Invalid value date for configuration target.type: "
        "String must be one of: string, unix, Date, Time, Timestamp"
    )
    with pytest.raises(ConfigError) as e:
        TimestampConverterValue().configure({"target.type": "unix", "unix.precision": "ms"})
    assert str(e.value) == (
        "Invalid value ms for configuration unix.precision: "
        "String must be one of: nanoseconds, microseconds, milliseconds, seconds"
    )
    for fmt in ("", "  "):
        with pytest.raises(ConfigError) as e:
            TimestampConverterValue().configure({"target.type": "string", "format": fmt})
        assert (
            str(e.value)
            == "TimestampConverter requires format option to be specified when using string timestamps"
        )
    prefix = "TimestampConverter requires a SimpleDateFormat-compatible pattern for string timestamps: "
    for fmt, reason in [
        ("yyyy-bb", "Illegal pattern character 'b'"),
        ("yyyy'", "Unterminated quote"),
        ("XXXX", "invalid ISO 8601 format: length=4"),
    ]:
        for target in ("string", "unix"):
            with pytest.raises(ConfigError) as e:
                TimestampConverterValue().configure({"target.type": target, "format": fmt})
            assert str(e.value) == (
                f"Invalid value java.lang.IllegalArgumentException: {reason} for configuration {prefix}{fmt}"
            )
    assert TimestampConverterKey.aliases == ("org.apache.kafka.connect.transforms.TimestampConverter$Key",)
    assert TimestampConverterValue.aliases == (
        "org.apache.kafka.connect.transforms.TimestampConverter$Value",
    )


# ------------------------------------------------------------------------------ SimpleDateFormat

INSTANTS = [0, 1_700_000_000_123, -1, 951_782_400_000 + 13 * 3_600_000]


@pytest.mark.parametrize(
    ("pattern", "texts", "parsed"),
    [
        (
            "yyyyMMdd",
            ["19700101", "20231114", "19691231", "20000229"],
            [0, 1699920000000, -86400000, 951782400000],
        ),
        (
            "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
            [
                "1970-01-01T00:00:00.000+0000",
                "2023-11-14T22:13:20.123+0000",
                "1969-12-31T23:59:59.999+0000",
                "2000-02-29T13:00:00.000+0000",
            ],
            INSTANTS,
        ),
        (
            "yy/M/d h:mm a",
            ["70/1/1 12:00 AM", "23/11/14 10:13 PM", "69/12/31 11:59 PM", "00/2/29 1:00 PM"],
            [0, 1699999980000, -60000, 951829200000],
        ),
        (
            "EEE, d MMM yyyy HH:mm:ss z",
            [
                "Thu, 1 Jan 1970 00:00:00 UTC",
                "Tue, 14 Nov 2023 22:13:20 UTC",
                "Wed, 31 Dec 1969 23:59:59 UTC",
                "Tue, 29 Feb 2000 13:00:00 UTC",
            ],
            [0, 1700000000000, -1000, 951829200000],
        ),
        (
            "EEEE MMMM dd G 'o''clock' k K u D F",
            [
                "Thursday January 01 AD o'clock 24 0 4 1 1",
                "Tuesday November 14 AD o'clock 22 10 2 318 2",
                "Wednesday December 31 AD o'clock 23 11 3 365 5",
                "Tuesday February 29 AD o'clock 13 1 2 60 5",
            ],
            None,  # Java resolves the fields set twice by recency; not reproduced
        ),
        (
            "S SSSSSS X XX XXX zzzz",
            [
                "0 000000 Z Z Z Coordinated Universal Time",
                "123 000123 Z Z Z Coordinated Universal Time",
                "999 000999 Z Z Z Coordinated Universal Time",
                "0 000000 Z Z Z Coordinated Universal Time",
            ],
            [0, 123, 999, 0],
        ),
        ("''", ["'", "'", "'", "'"], [0, 0, 0, 0]),
    ],
)
def test_simple_date_format(pattern: str, texts: list[str], parsed: list[int] | None) -> None:
    f = DateFormat(pattern)
    assert f.format(pa.array([*INSTANTS, None], pa.int64())).to_pylist() == [*texts, None]
    if parsed is not None:
        millis, bad = f.parse(pa.array([*texts, None]))
        assert millis.to_pylist() == [*parsed, None] and bad == []


@pytest.mark.parametrize(
    ("pattern", "text", "millis"),
    [
        ("yyyy-MM-dd", "2020-1-5", 1578182400000),
        ("yyyy-MM-dd", "2020-13-40", 1612828800000),  # lenient
        ("yyyy-MM-dd", " 2020-01-01", 1577836800000),
        ("yyyy-MM-dd", "2020-01-01junk", 1577836800000),  # text after the pattern is ignored
        ("yyyy-MM-dd", "2020- 01-01", 1577836800000),
        ("yyyy-MM-dd", "x2020-01-01", None),
        ("yyyy-MM-dd", "2020-00-00", 1575072000000),
        ("yyyyMMdd", "202001011", 1578700800000),
        ("yyyyMMdd", "2020011", 1577836800000),
        ("yyyyMMdd", "2020010a", 1577750400000),
        ("yyyy-MM-dd HH:mm:ssZ", "2020-01-01 10:00:00+0100", 1577869200000),
        ("yyyy-MM-dd HH:mm:ssZ", "2020-01-01 10:00:00-08:00", None),
        ("yyyy-MM-dd HH:mm:ssZ", "2020-01-01 10:00:00 UTC", 1577872800000),
        ("yyyy-MM-dd HH:mm:ssZ", "2020-01-01 10:00:00GMT+1:00", 1577869200000),
        ("yyyy-MM-dd HH:mm:ssX", "2020-01-01 10:00:00Z", 1577872800000),
        ("yyyy-MM-dd HH:mm:ssX", "2020-01-01 10:00:00+01", 1577869200000),
        ("yyyy-MM-dd HH:mm:ssX", "2020-01-01 10:00:00+0130", 1577869200000),
        ("yy-MM-dd", "2045-01-01", 2366841600000),
        ("yy-MM-dd", "045-01-01", -60747062400000),  # proleptic Gregorian (Java: Julian before 1582)
    ],
)
def test_simple_date_format_parsing(pattern: str, text: str, millis: int | None) -> None:
    parsed, bad = DateFormat(pattern).parse(pa.array(["pad", text]).slice(1))
    assert parsed.to_pylist() == [millis]
    assert bad == ([] if millis is not None else [0])


def test_two_digit_years_use_the_window_from_80_years_ago() -> None:
    f = DateFormat("yy-MM-dd")
    this_year = dt.datetime.now(dt.UTC).year
    old, new = (this_year - 79) % 100, (this_year + 19) % 100
    parsed, _ = f.parse(pa.array([f"{old:02d}-06-01", f"{new:02d}-06-01"]))
    years = [dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=m) for m in parsed.to_pylist()]
    assert [y.year for y in years] == [this_year - 79, this_year + 19]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("yyyy-bb", "Illegal pattern character 'b'"),
        ("yyyy'", "Unterminated quote"),
        ("XXXX", "invalid ISO 8601 format: length=4"),
        ("YYYY", "pattern letter 'Y' (week year) is not supported"),
        ("ww", "pattern letter 'w' (week in year) is not supported"),
    ],
)
def test_simple_date_format_refused(pattern: str, message: str) -> None:
    with pytest.raises(DateFormatError) as e:
        DateFormat(pattern)
    assert str(e.value) == message
