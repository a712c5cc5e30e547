"""engine.converters.json_codec: vectorized escaping agrees with the one-string reference."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from engine.converters.json_codec import escape, escape_text

_TEXT = st.text(alphabet=st.sampled_from(["a", '"', "\\", "\n", "\x01", "é", "😀", "/", " "]), max_size=8)


@given(st.lists(st.none() | _TEXT, max_size=12), st.integers(0, 12), st.integers(0, 12))
def test_escape_matches_escape_text_with_nulls_and_slices(values: list[str | None], a: int, b: int) -> None:
    arr = pa.array(values, pa.string())
    start = min(a, len(values))
    part = arr.slice(start, b)
    out = escape(part)
    out.validate(full=True)
    assert out.to_pylist() == [None if v is None else escape_text(v) for v in values[start : start + b]]


def test_escape_of_clean_text_is_the_same_array() -> None:
    arr = pa.array(["plain", "text"], pa.string())
    assert escape(arr) is arr


def test_escape_counts_hits_per_row_around_empty_rows() -> None:
    # empty rows first, between and last: each row's offset moves by the quotes before it
    values = ["", '"a"', "", "", 'b"', '""', "", None, ""]
    out = escape(pa.array(values, pa.string()))
    out.validate(full=True)
    assert out.to_pylist() == ["", '\\"a\\"', "", "", 'b\\"', '\\"\\"', "", None, ""]
    with_backslash = escape(pa.array(['"', "", "\\", ""], pa.string()))
    assert with_backslash.to_pylist() == ['\\"', "", "\\\\", ""]
