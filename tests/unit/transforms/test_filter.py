"""Filter: drops every record it is applied to."""

from __future__ import annotations

import pyarrow as pa

from engine.spi import schema as cs
from engine.transforms.filter import Filter

from ._kv_support import assert_rowwise, batch


def test_drops_everything() -> None:
    b = batch([1, None, 3], cs.field("value", pa.int64()))
    t = Filter()
    t.configure({})
    out = t.apply(b)
    assert out.num_rows == 0
    assert out.schema == b.schema
    assert t.apply(b.slice(1, 1)).num_rows == 0
    assert t.apply(b.slice(0, 0)).num_rows == 0
    assert_rowwise(t, b)


def test_config() -> None:
    assert Filter.config_def().names() == []
    assert Filter.aliases == ("org.apache.kafka.connect.transforms.Filter",)
