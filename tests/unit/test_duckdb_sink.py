"""DuckDB sink on real database files: exact rows for every insert and pk mode, types,
auto.create/auto.evolve, deletes, bad records reported with the rest written in order."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from connectors.duckdb.sink import DuckDBSinkConnector, DuckDBSinkTask
from connectors.duckdb.types import duckdb_type, quote
from engine.spi import schema
from engine.spi.config import ConfigError
from engine.spi.connector import ErrantRecordReporter, SinkTaskContext
from engine.spi.errors import DataError
from engine.spi.record import TopicPartition, make_batch

UTC = dt.UTC


class Reporter(ErrantRecordReporter):
    def __init__(self) -> None:
        self.reported: list[tuple[list[int], str]] = []

    def report(self, batch: pa.RecordBatch, rows: Sequence[int], error: BaseException) -> None:
        offsets = batch.column("offset").to_pylist()
        self.reported.append(([offsets[r] for r in rows], str(error)))


class Context(SinkTaskContext):
    def __init__(self, reporter: ErrantRecordReporter | None) -> None:
        self.reporter = reporter

    def configs(self) -> Mapping[str, str]:
        return {}

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset()

    def pause(self, *partitions: TopicPartition) -> None: ...

    def resume(self, *partitions: TopicPartition) -> None: ...

    def request_commit(self) -> None: ...

    def offset(self, offsets: Mapping[TopicPartition, int]) -> None: ...

    def timeout(self, ms: int) -> None: ...

    def errant_record_reporter(self) -> ErrantRecordReporter | None:
        return self.reporter


def sink(path: Path, reporter: ErrantRecordReporter | None = None, **props: str) -> DuckDBSinkTask:
    task = DuckDBSinkTask()
    task.initialize(Context(reporter))
    task.start({"duckdb.path": str(path), "auto.create": "true", **props})
    return task


def rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


VALUE = pa.struct(
    [pa.field("id", pa.int32(), nullable=False), pa.field("name", pa.string()), pa.field("n", pa.int64())]
)
VALUE_FIELD = schema.field("value", VALUE, schema_name="test.Value")


def batch(
    values: list[dict[str, Any] | None], keys: list[Any] | None = None, first: int = 0, topic: str = "t"
):  # type: ignore[no-untyped-def]
    return make_batch(
        topic=topic,
        value=pa.array(values, VALUE),
        key=None if keys is None else pa.array(keys),
        partition=[0] * len(values),
        offset=list(range(first, first + len(values))),
        value_field=VALUE_FIELD,
    )


def test_append_creates_the_table_and_keeps_every_record(tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    task = sink(db)
    task.put(batch([{"id": 1, "name": "a", "n": 10}, {"id": 1, "name": "b", "n": None}]))
    task.put(batch([{"id": 2, "name": None, "n": 30}], first=2))
    task.stop()
    assert rows(db, "SELECT id, name, n FROM t ORDER BY rowid") == [
        (1, "a", 10),
        (1, "b", None),
        (2, None, 30),
    ]
    assert rows(
        db,
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 't' ORDER BY ordinal_position",
    ) == [("id", "INTEGER", "NO"), ("name", "VARCHAR", "YES"), ("n", "BIGINT", "YES")]


def test_upsert_record_value_last_record_per_key_wins(tmp_path: Path) -> None:
    db = tmp_path / "u.duckdb"
    task = sink(db, **{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"})
    task.put(
        batch(
            [{"id": 1, "name": "a", "n": 1}, {"id": 2, "name": "b", "n": 2}, {"id": 1, "name": "c", "n": 3}]
        )
    )
    task.put(batch([{"id": 2, "name": "d", "n": 4}, {"id": 3, "name": "e", "n": 5}], first=3))
    task.put(batch([{"id": 2, "name": "d", "n": 4}, {"id": 3, "name": "e", "n": 5}], first=3))  # redelivered
    task.stop()
    assert rows(db, "SELECT id, name, n FROM t ORDER BY id") == [(1, "c", 3), (2, "d", 4), (3, "e", 5)]
    assert rows(
        db,
        "SELECT constraint_type, constraint_column_names FROM duckdb_constraints() "
        "WHERE table_name = 't' AND constraint_type = 'PRIMARY KEY'",
    ) == [("PRIMARY KEY", ["id"])]


def test_upsert_record_key_with_deletes_in_order(tmp_path: Path) -> None:
    db = tmp_path / "k.duckdb"
    task = sink(
        db, **{"insert.mode": "upsert", "pk.mode": "record_key", "pk.fields": "k", "delete.enabled": "true"}
    )
    v = {"id": 0, "name": "x", "n": 0}
    task.put(
        batch(
            [{**v, "n": 1}, {**v, "n": 2}, None, {**v, "n": 3}, None, {**v, "n": 9}],
            keys=["a", "b", "a", "a", "b", "c"],
        )
    )
    assert rows(db, "SELECT k, n FROM t ORDER BY k") == [("a", 3), ("c", 9)]
    task.put(batch([None, {**v, "n": 4}], keys=["c", "b"], first=6))
    task.stop()
    assert rows(db, "SELECT k, n FROM t ORDER BY k") == [("a", 3), ("b", 4)]


def test_tombstones_first_create_no_table(tmp_path: Path) -> None:
    db = tmp_path / "t0.duckdb"
    task = sink(db, **{"insert.mode": "upsert", "pk.mode": "record_key", "delete.enabled": "true"})
    task.put(batch([None, None], keys=["a", "b"]))
    task.put(batch([{"id": 1, "name": "x", "n": 1}], keys=["a"], first=2))
    task.stop()
    assert rows(db, "SELECT * FROM t") == [("a", 1, "x", 1)]


def test_insert_mode_with_deletes_keeps_the_order_of_runs(tmp_path: Path) -> None:
    db = tmp_path / "i.duckdb"
    task = sink(db, **{"pk.mode": "record_key", "delete.enabled": "true"})
    v = {"id": 0, "name": "x", "n": 0}
    # an insert, a delete of the same key, an insert again: the last insert survives
    task.put(batch([{**v, "n": 1}, None, {**v, "n": 2}, {**v, "n": 3}], keys=[7, 7, 8, 9]))
    task.stop()
    assert rows(db, "SELECT __connect_key, n FROM t ORDER BY n") == [(8, 2), (9, 3)]


def test_kafka_pk_mode_makes_redelivery_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "kf.duckdb"
    task = sink(db, **{"insert.mode": "upsert", "pk.mode": "kafka"})
    b = batch([{"id": 1, "name": "a", "n": 1}, {"id": 2, "name": "b", "n": 2}], first=40)
    task.put(b)
    task.put(b)
    task.stop()
    assert rows(
        db, "SELECT __connect_topic, __connect_partition, __connect_offset, id FROM t ORDER BY 3"
    ) == [("t", 0, 40, 1), ("t", 0, 41, 2)]


def test_struct_key_fields_become_the_primary_key(tmp_path: Path) -> None:
    db = tmp_path / "sk.duckdb"
    key_type = pa.struct(
        [pa.field("a", pa.int32(), nullable=False), pa.field("b", pa.string(), nullable=False)]
    )
    task = sink(db, **{"insert.mode": "upsert", "pk.mode": "record_key"})
    keys = pa.array([{"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 1, "b": "x"}], key_type)
    task.put(
        batch(
            [{"id": 1, "name": "p", "n": 1}, {"id": 2, "name": "q", "n": 2}, {"id": 3, "name": "r", "n": 3}],
            keys=keys,
        )
    )  # type: ignore[arg-type]
    task.stop()
    assert rows(db, "SELECT a, b, id, name FROM t ORDER BY b") == [(1, "x", 3, "r"), (1, "y", 2, "q")]


def test_types_decimal_timestamps_nulls_and_nesting(tmp_path: Path) -> None:
    db = tmp_path / "types.duckdb"
    struct = pa.struct(
        [
            pa.field("i8", pa.int8()),
            pa.field("i16", pa.int16()),
            pa.field("f32", pa.float32()),
            pa.field("ok", pa.bool_()),
            pa.field("raw", pa.binary()),
            pa.field("price", pa.decimal128(10, 2)),
            pa.field("day", pa.date32()),
            pa.field("at", pa.time32("ms")),
            pa.field("ts", pa.timestamp("ms")),
            pa.field("tstz", pa.timestamp("ms", tz="UTC")),
            pa.field("addr", pa.struct([pa.field("city", pa.string()), pa.field("zip", pa.int32())])),
            pa.field("tags", pa.list_(pa.string())),
            pa.field("attrs", pa.map_(pa.string(), pa.int64())),
        ]
    )
    full = {
        "i8": -1,
        "i16": 300,
        "f32": 1.5,
        "ok": True,
        "raw": b"\x00\xff",
        "price": Decimal("12.34"),
        "day": dt.date(2024, 2, 29),
        "at": dt.time(13, 14, 15, 16000),
        "ts": dt.datetime(2024, 1, 2, 3, 4, 5, 6000),
        "tstz": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "addr": {"city": "Zürich", "zip": 8000},
        "tags": ["a", None],
        "attrs": [("x", 1)],
    }
    empty = dict.fromkeys(full)
    task = sink(db)
    task.put(make_batch(topic="types", value=pa.array([full, empty], struct), offset=[0, 1]))
    task.stop()
    assert rows(
        db,
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'types' "
        "ORDER BY ordinal_position",
    ) == [
        ("i8", "TINYINT"),
        ("i16", "SMALLINT"),
        ("f32", "FLOAT"),
        ("ok", "BOOLEAN"),
        ("raw", "BLOB"),
        ("price", "DECIMAL(10,2)"),
        ("day", "DATE"),
        ("at", "TIME"),
        ("ts", "TIMESTAMP"),
        ("tstz", "TIMESTAMP WITH TIME ZONE"),
        ("addr", "STRUCT(city VARCHAR, zip INTEGER)"),
        ("tags", "VARCHAR[]"),
        ("attrs", "MAP(VARCHAR, BIGINT)"),
    ]
    got = rows(
        db,
        'SELECT i8, i16, f32, ok, raw, price, day, "at", ts, epoch_ms(tstz), addr, tags, attrs FROM types '
        "ORDER BY rowid",
    )
    assert got == [
        (
            -1,
            300,
            1.5,
            True,
            b"\x00\xff",
            Decimal("12.34"),
            dt.date(2024, 2, 29),
            dt.time(13, 14, 15, 16000),
            dt.datetime(2024, 1, 2, 3, 4, 5, 6000),
            1704164645000,
            {"city": "Zürich", "zip": 8000},
            ["a", None],
            {"x": 1},
        ),
        (None,) * 13,
    ]


def test_awkward_identifiers(tmp_path: Path) -> None:
    db = tmp_path / "id.duckdb"
    struct = pa.struct(
        [
            pa.field('a "quoted" col', pa.int32()),
            pa.field("spaced name", pa.string()),
            pa.field("ünïcødé", pa.string()),
            pa.field("select", pa.int32()),
        ]
    )
    task = sink(db, **{"table.name.format": 'we"ird ${topic} täble'})
    task.put(
        make_batch(
            topic="o'neil",
            value=pa.array([{'a "quoted" col': 1, "spaced name": "s", "ünïcødé": "u", "select": 2}], struct),
            offset=[0],
        )
    )
    task.stop()
    table = quote("we\"ird o'neil täble")
    assert rows(db, f"SELECT * FROM {table}") == [(1, "s", "u", 2)]


def test_auto_evolve_adds_nullable_columns(tmp_path: Path) -> None:
    db = tmp_path / "ev.duckdb"
    task = sink(db, **{"auto.evolve": "true"})
    task.put(batch([{"id": 1, "name": "a", "n": 1}]))
    wider = pa.struct(
        [
            pa.field("id", pa.int32(), nullable=False),
            pa.field("name", pa.string()),
            pa.field("n", pa.int64()),
            pa.field("extra", pa.float64(), nullable=False),
        ]
    )
    task.put(
        make_batch(
            topic="t", value=pa.array([{"id": 2, "name": "b", "n": 2, "extra": 0.5}], wider), offset=[1]
        )
    )
    task.stop()
    assert rows(db, "SELECT id, name, n, extra FROM t ORDER BY id") == [(1, "a", 1, None), (2, "b", 2, 0.5)]
    assert rows(db, "SELECT is_nullable FROM information_schema.columns WHERE column_name = 'extra'") == [
        ("YES",)
    ]


def test_without_auto_evolve_a_new_field_is_a_bad_record(tmp_path: Path) -> None:
    db = tmp_path / "noev.duckdb"
    reporter = Reporter()
    task = sink(db, reporter)
    task.put(batch([{"id": 1, "name": "a", "n": 1}]))
    wider = pa.struct([pa.field("id", pa.int32()), pa.field("other", pa.string())])
    task.put(make_batch(topic="t", value=pa.array([{"id": 2, "other": "z"}], wider), offset=[1]))
    task.stop()
    assert reporter.reported == [([1], "Table 't' is missing fields ['other'] and auto.evolve is disabled")]
    assert rows(db, "SELECT id FROM t") == [(1,)]


def test_bad_records_are_reported_and_the_rest_written_in_order(tmp_path: Path) -> None:
    db = tmp_path / "bad.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t (id INTEGER NOT NULL, name VARCHAR CHECK (name <> 'boom'), n TINYINT)")
    con.close()
    reporter = Reporter()
    task = sink(db, reporter, **{"auto.create": "false"})
    values = [{"id": i, "name": f"r{i}", "n": i} for i in range(100)]
    values[17]["n"] = 1000  # does not fit TINYINT
    values[60]["name"] = "boom"  # violates the CHECK constraint
    task.put(batch(values))
    task.stop()
    assert [r[0] for r in reporter.reported] == [[17], [60]]
    assert "Record does not fit table 't'" in reporter.reported[0][1]
    assert rows(db, "SELECT id FROM t ORDER BY rowid") == [(i,) for i in range(100) if i not in (17, 60)]


def test_without_a_reporter_a_bad_record_fails_before_anything_is_written(tmp_path: Path) -> None:
    db = tmp_path / "fail.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE t (id INTEGER, name VARCHAR, n TINYINT)")
    con.close()
    task = sink(db)
    values = [{"id": i, "name": "x", "n": i} for i in range(10)]
    values[4]["n"] = 999
    with pytest.raises(DataError) as err:
        task.put(batch(values))
    task.stop()
    assert list(err.value.rows) == [4]
    assert rows(db, "SELECT count(*) FROM t") == [(0,)]


def test_tombstones_without_delete_enabled_are_bad_records(tmp_path: Path) -> None:
    db = tmp_path / "tomb.duckdb"
    reporter = Reporter()
    task = sink(db, reporter)
    task.put(batch([{"id": 1, "name": "a", "n": 1}, None, {"id": 3, "name": "c", "n": 3}]))
    task.stop()
    assert [r[0] for r in reporter.reported] == [[1]]
    assert "delete.enabled=false" in reporter.reported[0][1]
    assert rows(db, "SELECT id FROM t ORDER BY rowid") == [(1,), (3,)]


def test_config_checks() -> None:
    c = DuckDBSinkConnector()
    with pytest.raises(ConfigError, match=r"pk\.mode"):
        c.start({"duckdb.path": "x", "insert.mode": "upsert"})
    with pytest.raises(ConfigError, match="record_key"):
        c.start({"duckdb.path": "x", "delete.enabled": "true", "pk.mode": "record_value"})
    with pytest.raises(ConfigError, match=r"duckdb\.path"):
        c.start({})
    c.start({"connection.url": "jdbc:duckdb:/tmp/x.duckdb", "tasks.max": "4"})
    assert c.task_configs(4) == [{"connection.url": "jdbc:duckdb:/tmp/x.duckdb", "tasks.max": "4"}]


def test_connection_url_forms(tmp_path: Path) -> None:
    for url in (
        f"duckdb:{tmp_path}/u1.duckdb",
        f"jdbc:duckdb:{tmp_path}/u2.duckdb",
        f"duckdb://{tmp_path}/u3.duckdb",
    ):
        task = DuckDBSinkTask()
        task.initialize(Context(None))
        task.start({"connection.url": url, "auto.create": "true"})
        task.put(batch([{"id": 1, "name": "a", "n": 1}]))
        task.stop()
    assert sorted(p.name for p in tmp_path.glob("*.duckdb")) == ["u1.duckdb", "u2.duckdb", "u3.duckdb"]


def test_type_names() -> None:
    assert duckdb_type(pa.decimal128(38, 10)) == "DECIMAL(38, 10)"
    assert duckdb_type(pa.list_(pa.struct([pa.field("a b", pa.int8())]))) == 'STRUCT("a b" TINYINT)[]'
    with pytest.raises(DataError):
        duckdb_type(pa.decimal256(40, 2))
