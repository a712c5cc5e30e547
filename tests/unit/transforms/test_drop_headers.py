"""DropHeaders: every occurrence of each listed header goes; nothing else changes."""

from __future__ import annotations

import pyarrow as pa
import pytest

from engine.spi import schema as cs
from engine.spi.errors import ConfigError
from engine.transforms.drop_headers import DropHeaders

from ._kv_support import assert_rowwise, assert_sliced, batch, configured


def h(*pairs: tuple[str, bytes | None]) -> list[dict[str, object]]:
    return [{"key": k, "value": v} for k, v in pairs]


HEADERS = [
    h(("a", b"1"), ("keep", b"2"), ("a", b"3"), ("b", None)),
    None,
    [],
    h(("keep", b"x")),
    h(("b", b"y"), ("A", b"z")),
]


def headers_batch() -> pa.RecordBatch:
    return batch([1, 2, 3, 4, 5], cs.field("value", pa.int64()), key=["k"] * 5, headers=HEADERS)


def test_drops_all_occurrences() -> None:
    b = headers_batch()
    out = configured(DropHeaders, {"headers": "a,b"}).apply(b)
    assert out.column("headers").to_pylist() == [
        h(("keep", b"2")),
        None,
        [],
        h(("keep", b"x")),
        h(("A", b"z")),
    ]
    for name in ("topic", "key", "value", "offset", "partition", "timestamp"):
        assert out.column(name).equals(b.column(name))
    assert out.schema.equals(b.schema, check_metadata=True)


def test_nothing_to_drop_returns_the_same_column() -> None:
    b = headers_batch()
    out = configured(DropHeaders, {"headers": "zzz"}).apply(b)
    assert out.column("headers").to_pylist() == HEADERS


def test_sliced_rowwise_empty() -> None:
    t = configured(DropHeaders, {"headers": "a,b"})
    assert_sliced(t, headers_batch())
    assert_rowwise(t, headers_batch())
    assert t.apply(headers_batch().slice(0, 0)).num_rows == 0
    assert t.apply(headers_batch().slice(1, 2)).column("headers").to_pylist() == [None, []]


def test_config_errors() -> None:
    with pytest.raises(ConfigError) as e:
        DropHeaders().configure({"headers": ""})
    assert str(e.value) == "Invalid value [] for configuration headers: Empty list"
    errors = {v.name: v.errors for v in DropHeaders.config_def().validate({})}
    assert errors["headers"][0] == 'Missing required configuration "headers" which has no default value.'
    assert DropHeaders.aliases == ("org.apache.kafka.connect.transforms.DropHeaders",)
