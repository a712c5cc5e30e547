"""InsertHeader: Kafka's InsertHeaderTest; literals typed by Values.parseString, written as text."""

from __future__ import annotations

from typing import Any

import pytest

from engine.spi.errors import ConfigError
from engine.spi.record import make_batch
from engine.transforms.insert_header import InsertHeader, literal_bytes

from ._kv_support import assert_rowwise, assert_sliced, configured


def h(key: str, value: bytes | None) -> dict[str, Any]:
    return {"key": key, "value": value}


def test_insertion_with_existing_other_header() -> None:
    t = configured(InsertHeader, {"header": "inserted", "value.literal": "inserted-value"})
    b = make_batch(topic="topic", value=["value"], key=["key"], headers=[[h("existing", b"existing-value")]])
    out = t.apply(b)
    assert out.column("headers").to_pylist() == [
        [h("existing", b"existing-value"), h("inserted", b"inserted-value")]
    ]
    for name in ("topic", "partition", "offset", "timestamp", "key", "value"):
        assert out.column(name).equals(b.column(name))


def test_insertion_with_existing_same_header_adds_another() -> None:
    t = configured(InsertHeader, {"header": "existing", "value.literal": "inserted-value"})
    b = make_batch(topic="topic", value=["v"], headers=[[h("existing", b"preexisting-value")]])
    assert t.apply(b).column("headers").to_pylist() == [
        [h("existing", b"preexisting-value"), h("existing", b"inserted-value")]
    ]


# What Kafka 4.3.1 writes (InsertHeader, then SimpleHeaderConverter.fromConnectHeader).
@pytest.mark.parametrize(
    ("literal", "written"),
    [
        ("1", b"1"),
        ("42", b"42"),
        ("true", b"true"),
        ("[1, 2]", b"[1,2]"),
        ('{"a": 1}', b'{"a":1}'),
        ("{}", b"{}"),
        ("[]", b"[]"),
        ("2020-01-01", b"2020-01-01"),
        ("12:00:00.000Z", b"12:00:00.000Z"),
        ("2020-01-01T01:02:03.004Z", b"2020-01-01T01:02:03.004Z"),
        ("hello", b"hello"),
        ("1.50", b"1.5"),
        ("1e3", b"1000"),
        ("3000000000", b"3000000000"),
        ("", b""),
        ("null", None),
        ('[1, "a"]', b'[1,"a"]'),
        ('[1.5, "x", [1,2], {"k": true}]', b'[1.5,"x",[1,2],{"k":true}]'),
        ('{"a": 1, "b": "x"}', b'{"a":1,"b":"x"}'),
        ("{1:2", b"{1:2"),
    ],
)
def test_literal_as_written(literal: str, written: bytes | None) -> None:
    assert literal_bytes(literal) == written


def test_every_row_gets_it_null_headers_too() -> None:
    t = configured(InsertHeader, {"header": "h", "value.literal": "x"})
    b = make_batch(
        topic="t", value=[1, 2, 3, 4], headers=[[h("a", b"1")], None, [], [h("b", None), h("c", b"")]]
    )
    assert t.apply(b).column("headers").to_pylist() == [
        [h("a", b"1"), h("h", b"x")],
        [h("h", b"x")],
        [h("h", b"x")],
        [h("b", None), h("c", b""), h("h", b"x")],
    ]
    assert_rowwise(t, b)
    assert_sliced(t, b)
    assert t.apply(b.slice(0, 0)).num_rows == 0


def test_config() -> None:
    with pytest.raises(ConfigError, match=r'Missing required configuration "value.literal"'):
        InsertHeader().configure({"header": "h"})
    with pytest.raises(ConfigError, match=r'Missing required configuration "header"'):
        InsertHeader().configure({"value.literal": "1"})
    t = configured(InsertHeader, {"header": "", "value.literal": ""})
    out = t.apply(make_batch(topic="t", value=[1]))
    assert out.column("headers").to_pylist() == [[h("", b"")]]
    errors = {v.name: v.errors for v in InsertHeader.config_def().validate({})}
    assert errors["header"][-1] == "Invalid value null for configuration header: entry must be non null"
    assert InsertHeader.aliases == ("org.apache.kafka.connect.transforms.InsertHeader",)
