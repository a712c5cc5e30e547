"""The flat-JSON fast path (engine/converters/json_flat.py) against pyarrow.json's reading.

The oracle is what the schemaless JsonConverter did before the fast path existed and still
does when it returns None: wrap each row as ``{"v":…}`` and read with pyarrow.json's
inference (``json_converter._read_inferred``). For any batch, ``read_flat`` either returns
None or an array identical to the oracle's: same type (field order, names, nullability),
same validity, same values, floats bit for bit. Plain batches (one producer's layout,
numbers, booleans, strings without escapes, nulls) must take the fast path.
"""

from __future__ import annotations

import json
import os
import string
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.converters import json_converter as jc
from engine.converters.json_converter import JsonConverter
from engine.converters.json_flat import read_flat

EXAMPLES = int(os.environ.get("ARROWSMITH_HYPOTHESIS_EXAMPLES", "150"))  # raise it for a deeper run
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def oracle(rows: list[bytes]) -> pa.Array | None:
    data = pa.array(rows, pa.binary())
    return jc._read_inferred(pc.binary_join_element_wise(jc._WRAP_B, data, jc._CLOSE_B, jc._EMPTY_B))


def identical(got: pa.Array, want: pa.Array) -> bool:
    """Same type, validity and values; floats compared by their bits (-0.0 is not 0.0)."""
    if got.type != want.type or not got.equals(want):
        return False
    for i in range(got.type.num_fields):
        a, b = got.field(i), want.field(i)
        if a.null_count != b.null_count or a.is_valid() != b.is_valid():
            return False
        if pa.types.is_floating(a.type):
            valid = np.asarray(a.is_valid().to_numpy(zero_copy_only=False), bool)
            bits_a = np.frombuffer(a.buffers()[1], np.int64, len(a), a.offset * 8)[valid]
            bits_b = np.frombuffer(b.buffers()[1], np.int64, len(b), b.offset * 8)[valid]
            if not (bits_a == bits_b).all():
                return False
    return True


def check(rows: list[bytes]) -> pa.Array | None:
    """read_flat's answer, asserted None or identical to the oracle's."""
    got = read_flat(pa.array(rows, pa.binary()))
    if got is not None:
        want = oracle(rows)
        assert want is not None, rows
        assert identical(got, want), (rows, got.type, want.type, got.to_pylist()[:3], want.to_pylist()[:3])
    return got


def must_read(rows: list[bytes]) -> pa.Array:
    got = check(rows)
    assert got is not None, rows
    return got


# -- generated batches ----------------------------------------------------------------

CHARS = st.characters(exclude_categories=["Cs"])  # no lone surrogates: Arrow strings are UTF-8
KEYS = st.lists(st.text(alphabet=CHARS, max_size=6), min_size=1, max_size=6, unique=True)
NUMBER_FORMS = ["repr", "%.17g", "%e", "%E", "%.3f", "%g", "int"]
ODD_NUMBERS = [
    "01", "-01", "1.", ".5", "1.e5", "-", "+1", "NaN", "Infinity", "-Infinity", "0x10", "1e400",
    "-1e400", "0e400", "0.0e309", "1e-400", "1E+05", "-0", "-0.0", "0.000000e+00", "5e-324",
    "1.7976931348623157e308", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
    "-9223372036854775809", "123456789012345678901234567890", "1" * 70, "1e99", "1e100", "00",
]  # fmt: skip
KEYWORDS = ["true", "false", "null", "nul", "True", "nulls", "tru"]


@st.composite
def number(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(ODD_NUMBERS))
    form = draw(st.sampled_from(NUMBER_FORMS))
    if form == "int":
        return str(draw(st.integers(-(2**65), 2**65)))
    x = draw(st.floats(allow_nan=False, allow_infinity=False))
    return repr(x) if form == "repr" else form % x


def string_value(draw: st.DrawFn) -> str:
    text = draw(
        st.one_of(
            st.text(alphabet=CHARS, max_size=10), st.sampled_from(["2024-01-02", "2024-01-02T03:04:05"])
        )
    )
    return json.dumps(text, ensure_ascii=draw(st.booleans()))


@st.composite
def value(draw: st.DrawFn, kind: str) -> str:
    if draw(st.integers(0, 7)) == 0:
        return "null"
    if kind == "number":
        return draw(number())
    if kind == "bool":
        return draw(st.sampled_from(["true", "false"]))
    if kind == "string":
        return string_value(draw)
    if kind == "null":
        return "null"
    if draw(st.booleans()):
        return string_value(draw)
    return draw(st.one_of(number(), st.sampled_from([*KEYWORDS, "{}", "[]", '{"a":1}', "[1,2]"])))


BLANKS = st.sampled_from(["", " ", "\t", "  ", "\n"])


@st.composite
def batches(draw: st.DrawFn) -> list[bytes]:
    keys = draw(KEYS)
    kinds = draw(
        st.lists(
            st.sampled_from(["number", "bool", "string", "null", "mixed"]),
            min_size=len(keys),
            max_size=len(keys),
        )
    )
    layout = draw(st.sampled_from(["compact", "dumps", "blanks"]))
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        order = keys if draw(st.integers(0, 19)) else draw(st.permutations(keys))
        members = []
        for k, kind in zip(order, kinds, strict=True):
            name, v = json.dumps(k, ensure_ascii=draw(st.booleans())), draw(value(kind))
            if layout == "compact":
                members.append(f"{name}:{v}")
            elif layout == "dumps":
                members.append(f"{name}: {v}")
            else:
                members.append(draw(BLANKS) + name + draw(BLANKS) + ":" + draw(BLANKS) + v + draw(BLANKS))
        sep = {"compact": ",", "dumps": ", "}.get(layout) or draw(st.sampled_from([",", " ,", ", ", "\t,"]))
        row = "{" + sep.join(members) + "}"
        if layout == "blanks":
            row = draw(BLANKS) + row + draw(BLANKS)
        if draw(st.integers(0, 49)) == 0:
            row = draw(st.sampled_from([row[:-1], row + "x", row + "}", "", "[" + row + "]", "{}"]))
        rows.append(row.encode())
    return rows


@SETTINGS
@given(batches())
def test_none_or_the_same_as_pyarrow(rows: list[bytes]) -> None:
    check(rows)


# plain batches: what one producer writes; the fast path must take them
PLAIN_KEYS = st.lists(
    st.text(alphabet=string.ascii_letters + "_ -:,{}", min_size=1, max_size=8),
    min_size=1,
    max_size=8,
    unique=True,
)
PLAIN_TEXT = st.text(alphabet=string.ascii_letters + " -_:,.{}[]#/éü€😀", max_size=12)


@st.composite
def plain_value(draw: st.DrawFn, kind: str, nullable: bool) -> Any:
    if nullable and draw(st.integers(0, 5)) == 0:
        return None
    if kind == "int":
        return draw(st.integers(-(2**63), 2**63 - 1))
    if kind == "float":
        return draw(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**6), 10**6)))
    if kind == "bool":
        return draw(st.booleans())
    if kind == "string":
        return draw(PLAIN_TEXT)
    return None


@st.composite
def plain_batches(draw: st.DrawFn) -> list[bytes]:
    """Rows of one producer: its keys in its order, compact or json.dumps' blanks, nulls
    anywhere but in three string columns at most (each string column with nulls doubles the
    layouts a batch may have: the fast path takes up to 8)."""
    keys = draw(PLAIN_KEYS)
    kinds = draw(
        st.lists(
            st.sampled_from(["int", "float", "bool", "string", "null"]),
            min_size=len(keys),
            max_size=len(keys),
        )
    )
    strings = [i for i, kind in enumerate(kinds) if kind == "string"]
    nullable = [kind != "string" or i in strings[:3] for i, kind in enumerate(kinds)]
    separators = (",", ":") if draw(st.booleans()) else (", ", ": ")
    objects = [
        {k: draw(plain_value(kind, can)) for k, kind, can in zip(keys, kinds, nullable, strict=True)}
        for _ in range(draw(st.integers(1, 40)))
    ]
    return [json.dumps(o, separators=separators, ensure_ascii=False).encode() for o in objects]


@SETTINGS
@given(plain_batches())
def test_plain_batches_take_the_fast_path(rows: list[bytes]) -> None:
    must_read(rows)


# -- cases ----------------------------------------------------------------------------


def test_the_benchmark_records() -> None:
    from perf._raw import make_values

    got = must_read(make_values(1000, note=True))
    assert got.type == pa.struct(
        [
            ("id", pa.int64()),
            ("user", pa.string()),
            ("amount", pa.float64()),
            ("country", pa.string()),
            ("active", pa.bool_()),
            ("ts", pa.int64()),
            ("note", pa.string()),
        ]
    )


@pytest.mark.parametrize(
    ("rows", "column"),
    [
        ([b'{"a":1}', b'{"a":-2}', b'{"a":-0}'], pa.array([1, -2, 0], pa.int64())),
        ([b'{"a":1}', b'{"a":2.5}'], pa.array([1.0, 2.5])),  # pyarrow: int64 then float64
        ([b'{"a":-0}', b'{"a":0.5}'], pa.array([-0.0, 0.5])),  # "-0" read as a double
        ([b'{"a":9223372036854775807}', b'{"a":-9223372036854775808}'], pa.array([2**63 - 1, -(2**63)])),
        ([b'{"a":9223372036854775808}', b'{"a":1}'], pa.array([9.223372036854776e18, 1.0])),  # beyond int64
        ([b'{"a":1e5}', b'{"a":2}'], pa.array([100000.0, 2.0])),
        ([b'{"a":1E+05}', b'{"a":1e-400}'], pa.array([100000.0, 0.0])),
        ([b'{"a":0.000000e+00}', b'{"a":1.7976931348623157e308}'], pa.array([0.0, 1.7976931348623157e308])),
        ([b'{"a":true}', b'{"a":null}', b'{"a":false}'], pa.array([True, None, False])),
        ([b'{"a":null}', b'{"a":null}'], pa.nulls(2)),
        ([b'{"a":"x"}', b'{"a":null}', b'{"a":""}'], pa.array(["x", None, ""])),
        (
            [b'{"a":"2024-01-02"}', b'{"a":"2024-01-03T04:05:06"}'],
            pa.array(["2024-01-02", "2024-01-03T04:05:06"]),
        ),
        ([b'{"a":"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"}'], pa.array(["é€😀"])),
        ([b'{"a":"x,y:{z}"}', b'{"a":"[1]"}'], pa.array(["x,y:{z}", "[1]"])),
    ],
)
def test_columns_read_as_pyarrow_does(rows: list[bytes], column: pa.Array) -> None:
    got = must_read(rows)
    assert got.type == pa.struct([("a", column.type)])
    assert got.field(0).equals(column)


@pytest.mark.parametrize(
    "rows",
    [
        [b'{"a": 1, "b": "x"}', b'{"a": 2, "b": "y"}'],  # json.dumps
        [b' {\t"a" : 1 ,"b":"x" } ', b'{"a":2,  "b"  :"y"}'],  # blanks differing between rows
        [b'{"a":1,"b":2}', b'{"a": 1,"b":2 }', b'{"a":3,"b":4}'],  # blanks around numbers in one row
        [b'{"":1,"\xc3\xa9":"e"}'],  # an empty key, a unicode key
        [b'{"a":1,"b":null}', b'{"a":null,"b":"s"}', b'{"a":3,"b":"t"}'],  # nulls among strings
        [b'{"a":"x","b":1}'],  # one row
    ],
)
def test_layouts(rows: list[bytes]) -> None:
    must_read(rows)


def test_a_slice_of_a_larger_array() -> None:
    data = pa.array([b"[1]", b'{"a":1,"b":"x"}', b'{"a":2,"b":"y"}', b"nope"], pa.binary()).slice(1, 2)
    got = read_flat(data)
    want = oracle([b'{"a":1,"b":"x"}', b'{"a":2,"b":"y"}'])
    assert got is not None and want is not None and identical(got, want)


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([b'{"a":"x\\"y"}'], id="escape"),
        pytest.param([b'{"a\\n":1}'], id="escape in a key"),
        pytest.param([b'{"a":{"b":1}}'], id="nested object"),
        pytest.param([b'{"a":[1,2]}'], id="array"),
        pytest.param([b'{"a":1}', b'{"b":1}'], id="other keys"),
        pytest.param([b'{"a":1,"b":2}', b'{"b":1,"a":2}'], id="other order"),
        pytest.param([b'{"a":1,"b":2}', b'{"a":1}'], id="fewer keys"),
        pytest.param([b'{"a":1,"a":2}'], id="duplicate key"),
        pytest.param([b"{}"], id="empty object"),
        pytest.param([b'{"a":1}', b""], id="empty row"),
        pytest.param([b'{"a":"\xff"}'], id="invalid UTF-8"),
        pytest.param([b'{"a":"x\ty"}'], id="tab in a string"),
        pytest.param([b'{"a":1}\n'], id="line break"),
        pytest.param([b'{"a":"x"}', b'{"a":1}'], id="string and number"),
        pytest.param([b'{"a":true}', b'{"a":1}'], id="boolean and number"),
        pytest.param([b'{"a":01}'], id="leading zero"),
        pytest.param([b'{"a":0x10}'], id="hex"),
        pytest.param([b'{"a":1.}'], id="no fraction digit"),
        pytest.param([b'{"a":1.e5}'], id="no fraction digit before the exponent"),
        pytest.param([b'{"a":.5}'], id="no integer digit"),
        pytest.param([b'{"a":+1}'], id="plus"),
        pytest.param([b'{"a":NaN}'], id="NaN"),
        pytest.param([b'{"a":-Infinity}'], id="Infinity"),
        pytest.param([b'{"a":1e400}'], id="overflow"),
        pytest.param([b'{"a":0e400}'], id="zero with a large exponent"),
        pytest.param([b'{"a":' + b"1" * 70 + b"}"], id="a very long number"),
        pytest.param([b'{"a":tru}'], id="not a keyword"),
        pytest.param([b'{"a":1} x'], id="after the object"),
        pytest.param([b'{"a":1,}'], id="trailing comma"),
        pytest.param([b'{"a":null,"t":"2024-01-02"}'], id="all-null column next to a timestamp"),
        pytest.param([b'{"a":1 2}'], id="two numbers"),
    ],
)
def test_left_to_pyarrow(rows: list[bytes]) -> None:
    assert read_flat(pa.array(rows, pa.binary())) is None


def test_a_null_row_is_left_to_pyarrow() -> None:
    assert read_flat(pa.array([b'{"a":1}', None], pa.binary())) is None


def test_a_null_column_next_to_plain_strings() -> None:
    got = must_read([b'{"a":null,"t":"x"}'])
    assert got.type == pa.struct([("a", pa.null()), ("t", pa.string())])


# -- the converter --------------------------------------------------------------------


@pytest.mark.parametrize(
    "rows",
    [
        [
            b'{"id":1,"name":"a","score":1.5,"ok":true}',
            None,
            b'{"id":2,"name":"b","score":2,"ok":false}',
            b"",
        ],
        [b'{"id":1}', b'{"id":"x"}'],  # left to pyarrow, then read row by row
        [b'{"a": {"b": 1}}', b'{"a": {"b": 2}}'],
    ],
)
def test_converter_reads_the_same_with_and_without(
    rows: list[bytes | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    converter = JsonConverter()
    converter.configure({"schemas.enable": "false"}, False)
    data = pa.array(rows, pa.binary())
    fast = converter.to_connect_data("t", data)
    monkeypatch.setattr(jc, "read_flat", lambda _: None)
    slow = converter.to_connect_data("t", data)
    assert fast[0].equals(slow[0], check_metadata=True)
    assert fast[1].type == slow[1].type and fast[1].equals(slow[1])
