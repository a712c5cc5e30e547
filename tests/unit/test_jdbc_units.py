"""JDBC connectors, without a database: URLs, identifiers, type mapping, offsets, table
selection, record → row mapping and the in-batch ordering rules of the writer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from connectors.jdbc.dialect import TableId, parse_table_name, quote_identifier
from connectors.jdbc.postgres import PostgresDialect, numeric_typmod
from connectors.jdbc.querier import Offset
from connectors.jdbc.records import RecordMapper
from connectors.jdbc.sink import JdbcSinkConnector, parse_sink_config
from connectors.jdbc.source import JdbcSourceConnector, group, parse_source_config, select_tables
from connectors.jdbc.sqlite import SqliteDialect, declared_type
from connectors.jdbc.types import ResultPlan, _time_text
from connectors.jdbc.url import parse_url
from connectors.jdbc.writer import _after_last_delete, _last_per_key, _uncastable
from engine.spi import schema
from engine.spi.config import HIDDEN, convert_to_string
from engine.spi.errors import ConfigError, DataError
from engine.spi.record import make_batch

# -- connection.url ---------------------------------------------------------------------------


def test_jdbc_postgres_url_with_credentials_and_options() -> None:
    info = parse_url("jdbc:postgresql://db.example:6543/sales?user=u&password=p%40ss&sslmode=require")
    assert (info.dialect, info.host, info.port, info.database) == ("postgresql", "db.example", 6543, "sales")
    assert (info.user, info.password, info.params) == ("u", "p@ss", (("sslmode", "require"),))
    assert info.adbc_uri() == "postgresql://u:p%40ss@db.example:6543/sales?sslmode=require"
    assert info.describe() == "db.example:6543/sales"
    assert "p@ss" not in repr(info) and "p%40ss" not in repr(info)


def test_plain_uri_defaults_and_overrides() -> None:
    info = parse_url("postgresql://a:b@localhost/x", user="admin", password="s3cret")
    assert (info.host, info.port, info.user, info.password) == ("localhost", 5432, "admin", "s3cret")
    assert parse_url("postgres://h/db").database == "db"
    assert parse_url("jdbc:postgresql://h:1/db?currentSchema=s").params == (("options", "-csearch_path=s"),)
    assert parse_url("jdbc:postgresql://[::1]:5/db").adbc_uri() == "postgresql://[::1]:5/db"


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("jdbc:sqlite:/tmp/a.db", "/tmp/a.db"),
        ("jdbc:sqlite:rel/a.db", "rel/a.db"),
        ("sqlite:///a b.db", "a b.db"),
        ("sqlite:////tmp/a.db", "/tmp/a.db"),
    ],
)
def test_sqlite_urls(url: str, path: str) -> None:
    info = parse_url(url)
    assert (info.dialect, info.path, info.describe()) == ("sqlite", path, f"sqlite:{path}")


@pytest.mark.parametrize("url", ["jdbc:mysql://h/db", "jdbc:sqlite::memory:", "", "oracle:thin"])
def test_unsupported_urls_are_config_errors(url: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse_url(url)
    assert e.value.key == "connection.url"


def test_url_error_never_shows_the_password() -> None:
    with pytest.raises(ConfigError) as e:
        parse_url("jdbc:mysql://u:topsecret@h:1/db")
    assert "topsecret" not in str(e.value)


def test_password_is_hidden_in_config_rendering() -> None:
    cfg = JdbcSinkConnector.config_def().parse(
        {"connection.url": "jdbc:sqlite:/x.db", "connection.password": "hunter2"}
    )
    assert str(cfg["connection.password"]) == HIDDEN
    assert convert_to_string(cfg["connection.password"]) == HIDDEN


# -- identifiers and types ----------------------------------------------------------------------


def test_identifiers_are_quoted_safely() -> None:
    assert quote_identifier('we"ird') == '"we""ird"'
    assert quote_identifier("a b.ç😀") == '"a b.ç😀"'
    with pytest.raises(ConfigError):
        quote_identifier("nul\x00")
    d = PostgresDialect()
    assert d.table(TableId("my schema", 'ta"ble')) == '"my schema"."ta""ble"'


@pytest.mark.parametrize(
    ("text", "table"),
    [
        ("users", TableId(None, "users")),
        ("public.users", TableId("public", "users")),
        ("db.public.users", TableId("public", "users")),
        ('"my.schema"."a ""b"""', TableId("my.schema", 'a "b"')),
        ('we"ird', TableId(None, 'we"ird')),
    ],
)
def test_table_names(text: str, table: TableId) -> None:
    assert parse_table_name(text) == table


def _f(t: pa.DataType, nullable: bool = True) -> pa.Field:
    return pa.field("c", t, nullable=nullable)


@pytest.mark.parametrize(
    ("arrow", "pg", "sqlite"),
    [
        (pa.int8(), "SMALLINT", "INTEGER"),
        (pa.int16(), "SMALLINT", "INTEGER"),
        (pa.int32(), "INT", "INTEGER"),
        (pa.int64(), "BIGINT", "INTEGER"),
        (pa.float32(), "REAL", "REAL"),
        (pa.float64(), "DOUBLE PRECISION", "REAL"),
        (pa.bool_(), "BOOLEAN", "BOOLEAN"),
        (pa.string(), "TEXT", "TEXT"),
        (pa.binary(), "BYTEA", "BLOB"),
        (pa.decimal128(12, 3), "NUMERIC(12,3)", "NUMERIC(12,3)"),
        (pa.date32(), "DATE", "DATE"),
        (pa.time32("ms"), "TIME", "TIME"),
        (pa.timestamp("ms"), "TIMESTAMP", "TIMESTAMP"),
        (pa.timestamp("ms", tz="UTC"), "TIMESTAMPTZ", "TIMESTAMP"),
    ],
)
def test_ddl_types(arrow: pa.DataType, pg: str, sqlite: str) -> None:
    assert PostgresDialect().ddl_type(_f(arrow)) == pg
    assert SqliteDialect().ddl_type(_f(arrow)) == sqlite


def test_nested_fields_have_no_column_type() -> None:
    with pytest.raises(DataError, match="Flatten"):
        PostgresDialect().ddl_type(_f(pa.struct([pa.field("x", pa.int32())])))


def test_create_table_puts_not_null_and_primary_key() -> None:
    sql = PostgresDialect().create_table_sql(
        TableId(None, "t"), [pa.field("id", pa.int64(), nullable=False), pa.field("v", pa.string())], ["id"]
    )
    assert sql == 'CREATE TABLE "t" (\n"id" BIGINT NOT NULL,\n"v" TEXT,\nPRIMARY KEY("id"))'


def test_upsert_sql() -> None:
    sql = PostgresDialect().upsert_sql(TableId(None, "t"), '"s"', ["id", "v"], ["id"], {"v": "jsonb"})
    assert sql == (
        'INSERT INTO "t" ("id", "v") SELECT "id", "v"::jsonb FROM "s" WHERE true '
        'ON CONFLICT ("id") DO UPDATE SET "v" = EXCLUDED."v"'
    )


def test_numeric_typmod() -> None:
    assert numeric_typmod((10 << 16 | 2) + 4) == (10, 2)
    assert numeric_typmod(-1) is None


@pytest.mark.parametrize(
    ("declared", "arrow"),
    [
        ("INTEGER", pa.int64()),
        ("BIGINT", pa.int64()),
        ("VARCHAR(20)", pa.string()),
        ("REAL", pa.float64()),
        ("NUMERIC(10,2)", pa.decimal128(10, 2)),
        ("NUMERIC", pa.float64()),
        ("BOOLEAN", pa.bool_()),
        ("TIMESTAMP", pa.timestamp("ms")),
        ("DATE", pa.date32()),
        ("TIME", pa.time32("ms")),
        ("BLOB", pa.binary()),
        ("", None),
    ],
)
def test_sqlite_declared_types(declared: str, arrow: pa.DataType | None) -> None:
    assert declared_type(declared) == arrow


def test_time_text() -> None:
    got = _time_text(pa.array(["12:30:01.250", "00:00:00", None]))
    assert got.to_pylist() == [dt.time(12, 30, 1, 250000), dt.time(0, 0), None]


def test_result_plan_reads_postgres_columns_as_connect_types() -> None:
    numeric = pa.field(
        "n", pa.string(), metadata={b"POSTGRESQL:type": b"numeric", b"POSTGRESQL:typmod": b"655366"}
    )
    result = pa.schema([pa.field("ts", pa.timestamp("us", tz="UTC")), pa.field("t", pa.time64("us"))])
    plan = ResultPlan(PostgresDialect(), result, not_null={"ts": True}, schema_name="orders")
    batch = pa.record_batch(
        [
            pa.array([dt.datetime(2024, 1, 1, 0, 0, 0, 123456)], pa.timestamp("us", tz="UTC")),
            pa.array([dt.time(1, 2, 3, 456789)], pa.time64("us")),
        ],
        schema=result,
    )
    values = plan.convert(batch)
    assert values.type == pa.struct(
        [pa.field("ts", pa.timestamp("ms"), nullable=False), pa.field("t", pa.time32("ms"))]
    )
    assert values.to_pylist() == [
        {"ts": dt.datetime(2024, 1, 1, 0, 0, 0, 123000), "t": dt.time(1, 2, 3, 456000)}
    ]
    assert schema.schema_name(plan.value_field) == "orders"
    assert PostgresDialect().to_connect(numeric, None) == (pa.decimal128(10, 2), "storage")


# -- source -------------------------------------------------------------------------------------


def test_offsets_have_confluents_shape_and_round_trip() -> None:
    us = 1_704_067_200_123_456  # 2024-01-01T00:00:00.123456Z
    off = Offset(7, us)
    assert off.to_dict("timestamp+incrementing") == {
        "incrementing": 7,
        "timestamp": 1_704_067_200_123,
        "timestamp_nanos": 123_456_000,
    }
    assert off.to_dict("incrementing") == {"incrementing": 7}
    assert Offset.from_dict(off.to_dict("timestamp+incrementing")) == off
    assert Offset.from_dict({"timestamp": 1_704_067_200_123}).timestamp_us == 1_704_067_200_123_000
    assert Offset().to_dict("incrementing") == {"incrementing": -1}


def test_table_selection() -> None:
    tables = [TableId("public", n) for n in ("a", "b", "c_1", "c_2")] + [TableId("other", "a")]
    base = {"table.whitelist": [], "table.blacklist": [], "table.include.list": [], "table.exclude.list": []}
    assert select_tables(tables, {**base, "table.whitelist": ["a"]}) == [tables[0], tables[4]]
    assert select_tables(tables, {**base, "table.whitelist": ["other.a"]}) == [tables[4]]
    assert select_tables(tables, {**base, "table.blacklist": ["a", "b"]}) == tables[2:4]
    assert select_tables(tables, {**base, "table.include.list": [r"public\.c_\d"]}) == tables[2:4]
    assert select_tables(tables, {**base, "table.exclude.list": ["c_.*", "other.*"]}) == tables[:2]


def test_tables_spread_over_tasks_in_contiguous_groups() -> None:
    assert group(list("abcde"), 2) == [["a", "b", "c"], ["d", "e"]]
    assert group(list("ab"), 5) == [["a"], ["b"]]
    assert group([], 3) == []


def test_source_config_checks() -> None:
    base = {"connection.url": "jdbc:sqlite:/x.db", "topic.prefix": "p-"}
    with pytest.raises(ConfigError, match="mode"):
        parse_source_config(base)
    with pytest.raises(ConfigError, match="exclusive"):
        parse_source_config({**base, "mode": "bulk", "table.whitelist": "a", "table.blacklist": "b"})
    with pytest.raises(ConfigError, match=r"timestamp\.column\.name"):
        parse_source_config({**base, "mode": "timestamp"})
    assert JdbcSourceConnector.aliases == ("io.confluent.connect.jdbc.JdbcSourceConnector",)


def test_sink_config_checks() -> None:
    base = {"connection.url": "jdbc:sqlite:/x.db"}
    with pytest.raises(ConfigError, match="primary key"):
        parse_sink_config({**base, "insert.mode": "upsert"})
    with pytest.raises(ConfigError, match="record_key"):
        parse_sink_config({**base, "delete.enabled": "true", "pk.mode": "record_value"})
    assert parse_sink_config({**base, "insert.mode": "UPSERT", "pk.mode": "Kafka"})["insert.mode"] == "upsert"


# -- sink records -------------------------------------------------------------------------------

VALUE = pa.struct([pa.field("id", pa.int32(), nullable=False), pa.field("name", pa.string())])


def _batch(values: list[object], keys: object = None) -> pa.RecordBatch:
    n = len(values)
    return make_batch(
        topic="t",
        value=pa.array(values, VALUE),
        key=keys,
        partition=[0] * n,
        offset=list(range(10, 10 + n)),
        value_field=schema.field("value", VALUE),
    )


def test_pk_mode_kafka() -> None:
    rows = RecordMapper("kafka", [], [], False).map(_batch([{"id": 1, "name": "a"}]))
    assert rows.pk == ["__connect_topic", "__connect_partition", "__connect_offset"]
    assert rows.table.to_pylist() == [
        {"__connect_topic": "t", "__connect_partition": 0, "__connect_offset": 10, "id": 1, "name": "a"}
    ]


def test_pk_mode_record_key_primitive_and_struct() -> None:
    rows = RecordMapper("record_key", ["k"], [], True).map(
        _batch([{"id": 1, "name": "a"}, None], pa.array([5, 6], pa.int64()))
    )
    assert rows.pk == ["k"] and rows.table.column_names == ["k", "id", "name"]
    assert rows.deletes.tolist() == [False, True]
    kt = pa.struct([pa.field("a", pa.int32()), pa.field("b", pa.string())])
    keyed = RecordMapper("record_key", [], [], False).map(
        _batch([{"id": 1, "name": "x"}], pa.array([{"a": 1, "b": "z"}], kt))
    )
    assert keyed.pk == ["a", "b"] and keyed.table.to_pylist() == [{"a": 1, "b": "z", "id": 1, "name": "x"}]


def test_pk_mode_record_value_and_whitelist() -> None:
    rows = RecordMapper("record_value", ["name"], ["id"], False).map(_batch([{"id": 1, "name": "a"}]))
    assert rows.pk == ["name"] and rows.table.to_pylist() == [{"name": "a", "id": 1}]
    only = RecordMapper("none", [], ["name"], False).map(_batch([{"id": 1, "name": "a"}]))
    assert only.table.to_pylist() == [{"name": "a"}]


def test_tombstones_without_delete_enabled_are_bad_rows() -> None:
    rows = RecordMapper("none", [], [], False).map(_batch([{"id": 1, "name": "a"}, None]))
    assert rows.bad.tolist() == [False, True] and "tombstone" in rows.why


def test_nested_values_are_refused() -> None:
    nested = pa.struct([pa.field("inner", VALUE)])
    batch = make_batch(topic="t", value=pa.array([{"inner": {"id": 1, "name": "a"}}], nested))
    with pytest.raises(DataError, match="nested STRUCT"):
        RecordMapper("none", [], [], False).map(batch)


def test_last_record_per_key_wins_in_order() -> None:
    t = pa.table({"k": [1, 2, 1, 3, 2], "v": ["a", "b", "c", "d", "e"]})
    assert _last_per_key(t, ["k"]).to_pylist() == [
        {"k": 1, "v": "c"},
        {"k": 3, "v": "d"},
        {"k": 2, "v": "e"},
    ]


def test_insert_mode_keeps_rows_after_the_last_delete() -> None:
    t = pa.table({"k": [1, 2, 1, 1, 2], "v": [0, 1, 2, 3, 4]})
    deletes = np.array([False, False, True, False, False])
    assert _after_last_delete(t, deletes, ["k"]).to_pylist() == [
        {"k": 2, "v": 1},
        {"k": 1, "v": 3},
        {"k": 2, "v": 4},
    ]


def test_uncastable_rows_are_found() -> None:
    assert _uncastable(pa.array(["1", "x", "3", "y"]), pa.int64()).tolist() == [1, 3]
    assert _uncastable(pa.array([Decimal("1.5"), Decimal("123456.7")]), pa.decimal128(5, 1)).tolist() == [1]
