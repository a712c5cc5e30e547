"""Helpers for the transform tests: build envelope batches, apply, compare with record-by-record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pytest

from engine.spi import make_batch
from engine.spi import schema as cs
from engine.spi.errors import DataError
from engine.spi.transform import Transformation


def configured(cls: type[Transformation], config: Mapping[str, str]) -> Transformation:
    t = cls()
    t.configure(config)
    return t


def schemaless(values: Sequence[Any], name: str = "value") -> tuple[pa.Field, pa.Array]:
    """A schemaless column as JsonConverter(schemas.enable=false) gives it: inferred struct type."""
    arr = pa.array(values)
    return cs.field(name, arr.type, schemaless=True), arr


def batch(
    value: pa.Array | Sequence[Any] | None = None,
    value_field: pa.Field | None = None,
    *,
    key: pa.Array | Sequence[Any] | None = None,
    key_field: pa.Field | None = None,
    topic: str = "orders",
    partition: Sequence[int | None] | None = None,
    offset: Sequence[int | None] | None = None,
    timestamp: Sequence[int | None] | None = None,
    headers: Sequence[Any] | None = None,
) -> pa.RecordBatch:
    if value is None:
        n = len(key) if key is not None else 0
        value = pa.nulls(n, pa.binary())
    if value_field is not None and not isinstance(value, pa.Array):
        value = pa.array(value, value_field.type)
    if key_field is not None and key is not None and not isinstance(key, pa.Array):
        key = pa.array(key, key_field.type)
    return make_batch(
        topic=topic,
        value=value,
        value_field=value_field,
        key=key,
        key_field=key_field,
        partition=partition,
        offset=offset,
        timestamp=timestamp,
        headers=headers,
    )


def field_of(b: pa.RecordBatch, column: str = "value") -> pa.Field:
    return b.schema.field(column)


def rows_of(b: pa.RecordBatch, column: str = "value") -> list[Any]:
    return b.column(column).to_pylist()


def assert_same_field(actual: pa.Field, expected: pa.Field) -> None:
    """Fields equal with nullability and all (nested) metadata."""
    assert pa.schema([actual]).equals(pa.schema([expected]), check_metadata=True), (
        f"{actual!r} != {expected!r}"
    )
    assert (actual.metadata or {}) == (expected.metadata or {}), (actual.metadata, expected.metadata)


def assert_rowwise(
    t: Transformation, b: pa.RecordBatch, column: str = "value", strict_schema: bool = True
) -> None:
    """The batch result equals the transform applied to each 1-row slice, row by row.

    Values always agree; a batch error names exactly the rows that fail alone. With
    ``strict_schema`` every row's schema equals the batch's; otherwise rows whose ``column``
    is null may keep their input schema (Kafka returns a tombstone unchanged) and the
    column's top-level nullability may differ.
    """
    try:
        out = t.apply(b)
    except DataError as e:
        bad = set(e.rows)
        assert bad, "a batch error should name its rows"
        for i in range(b.num_rows):
            if i in bad:
                with pytest.raises(DataError):
                    t.apply(b.slice(i, 1))
            else:
                t.apply(b.slice(i, 1))
        return
    if out.num_rows == 0:
        for i in range(b.num_rows):
            assert t.apply(b.slice(i, 1)).num_rows == 0
        return
    assert out.num_rows == b.num_rows
    for i in range(b.num_rows):
        one = t.apply(b.slice(i, 1))
        assert one.to_pylist() == out.slice(i, 1).to_pylist(), i
        if strict_schema:
            assert one.schema.equals(out.schema, check_metadata=True), (i, one.schema, out.schema)
        elif b.column(column)[i].is_valid:
            for name in out.schema.names:
                f1, f2 = one.schema.field(name), out.schema.field(name)
                if name == column:
                    f1, f2 = f1.with_nullable(True), f2.with_nullable(True)
                assert_same_field(f1, f2)


def assert_sliced(t: Transformation, b: pa.RecordBatch) -> None:
    """A sliced batch (non-zero offset) gives the matching slice of the whole result."""
    n = b.num_rows
    whole = t.apply(b)
    part = t.apply(b.slice(1, n - 1))
    assert part.to_pylist() == whole.slice(1, n - 1).to_pylist()
