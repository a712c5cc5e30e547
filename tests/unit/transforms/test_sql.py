"""The Sql transform: DuckDB over the Arrow batch, order kept, errors as config errors."""

from __future__ import annotations

import pyarrow as pa
import pytest

from engine.spi import schema as s
from engine.spi.errors import ConfigError, DataError
from engine.spi.record import make_batch
from engine.transforms.sql import Sql


def sql(query: str) -> Sql:
    t = Sql()
    t.configure({"query": query})
    return t


def batch(n: int) -> pa.RecordBatch:
    value = pa.array([{"id": i, "amount": float(i % 7), "name": f"n{i}"} for i in range(n)])
    return make_batch(
        topic="orders",
        value=value,
        offset=list(range(n)),
        partition=[0] * n,
        timestamp=pa.array(list(range(n)), pa.int64()).cast(pa.timestamp("ms")),
        value_field=s.field("value", value.type, schemaless=True),
    )


def test_filter_and_project_keep_order_and_envelope() -> None:
    t = sql(
        "SELECT * REPLACE (struct_pack(id := value.id, big := value.amount > 3) AS value) "
        "FROM batch WHERE value.amount >= 2"
    )
    out = t.apply(batch(5000))
    expected = [i for i in range(5000) if i % 7 >= 2]
    assert out.column("offset").to_pylist() == expected
    assert out.column("value").to_pylist() == [{"id": i, "big": i % 7 > 3} for i in expected]
    assert out.schema.field("topic").type == pa.string()
    assert out.schema.field("partition").type == pa.int32()
    assert out.schema.field("timestamp").type == pa.timestamp("ms")
    assert out.column("timestamp").cast(pa.int64()).to_pylist() == expected
    assert s.is_schemaless(out.schema.field("value"))


def test_unchanged_value_keeps_its_field() -> None:
    b = batch(3)
    out = sql('SELECT * FROM batch WHERE "offset" <> 1').apply(b)
    assert out.schema.field("value") == b.schema.field("value")
    assert out.column("offset").to_pylist() == [0, 2]


def test_empty_and_sliced_batches() -> None:
    t = sql("SELECT * FROM batch WHERE value.id > 1")
    assert t.apply(batch(0)).num_rows == 0
    assert t.apply(batch(5).slice(1, 3)).column("offset").to_pylist() == [2, 3]


@pytest.mark.parametrize("query", ["", "SELEC * FROM batch", "DELETE FROM batch", "SELECT 1; SELECT 2"])
def test_bad_queries_are_config_errors(query: str) -> None:
    values = Sql.config_def().validate({"query": query})
    assert values[0].errors, query
    with pytest.raises(ConfigError, match="configuration query"):
        sql(query)


def test_missing_envelope_columns_and_binding_errors_are_data_errors() -> None:
    with pytest.raises(DataError, match="missing"):
        sql("SELECT topic FROM batch").apply(batch(2))
    with pytest.raises(DataError, match="Sql transform failed"):
        sql("SELECT * FROM batch WHERE value.nope = 1").apply(batch(2))


def test_batch_equals_row_by_row() -> None:
    t = sql("SELECT * REPLACE (struct_pack(x := value.id * 2) AS value) FROM batch WHERE value.id % 3 = 0")
    b = batch(30)
    whole = t.apply(b).to_pylist()
    rows = [r for i in range(30) for r in t.apply(b.slice(i, 1)).to_pylist()]
    assert whole == rows
