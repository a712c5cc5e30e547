"""JdbcSource against real PostgreSQL and SQLite: every mode returns exact rows, offsets
have Confluent's shapes, and a task restarted from its committed offsets goes on with no
duplicates and no loss. (End-to-end runs through a worker are in test_jdbc_sink.py.)"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import adbc_driver_sqlite.dbapi as sqlite_dbapi
import pytest

from connectors.jdbc.source import JdbcSourceConnector, JdbcSourceTask
from engine.spi import schema
from engine.spi.connector import ConnectorContext, OffsetStorageReader, SourceTaskContext
from engine.spi.record import SourcePartition
from engine.testing.pytest_postgres import admin_execute

pytestmark: list[pytest.MarkDecorator] = []  # needs PostgreSQL: the session fixture starts one
UTC = dt.UTC


class Offsets(OffsetStorageReader):
    def __init__(self, stored: Mapping[str, Any]) -> None:
        self.stored = stored

    def offset(self, partition: SourcePartition) -> Mapping[str, Any] | None:
        return self.stored.get(json.dumps(dict(partition), sort_keys=True))


class TaskContext(SourceTaskContext):
    def __init__(self, stored: Mapping[str, Any]) -> None:
        self.reader = Offsets(stored)

    def configs(self) -> Mapping[str, str]:
        return {}

    @property
    def offset_storage_reader(self) -> OffsetStorageReader:
        return self.reader


class Context(ConnectorContext):
    def request_task_reconfiguration(self) -> None:
        pass

    def raise_error(self, error: BaseException) -> None:
        raise error


class Run:
    """A connector and its tasks, polled until every task has nothing more to say."""

    def __init__(self, props: Mapping[str, str], stored: dict[str, Any] | None = None, max_tasks: int = 1):
        self.stored: dict[str, Any] = dict(stored or {})
        self.connector = JdbcSourceConnector()
        self.connector.initialize(Context())
        self.connector.start({"poll.interval.ms": "50", "table.poll.interval.ms": "0", **props})
        self.task_configs = self.connector.task_configs(max_tasks)
        self.tasks = []
        for cfg in self.task_configs:
            task = JdbcSourceTask()
            task.initialize(TaskContext(self.stored))
            task.start(cfg)
            self.tasks.append(task)

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        """(topic, value) of every record the tasks produce until each returns None; offsets
        of every batch are 'committed' into ``stored``."""
        out: list[tuple[str, dict[str, Any]]] = []
        for task in self.tasks:
            while (batch := task.poll()) is not None:
                topics = batch.records.column("topic").to_pylist()
                out.extend(zip(topics, batch.records.column("value").to_pylist(), strict=True))
                assert batch.records.column("key").null_count == batch.records.num_rows
                for p, o in batch.offsets:
                    self.stored[json.dumps(dict(p), sort_keys=True)] = dict(o)
        return out

    def stop(self) -> None:
        for task in self.tasks:
            task.stop()
            assert task.poll() is None  # closes the connection
        self.connector.stop()


def run(props: Mapping[str, str], stored: dict[str, Any] | None = None) -> Iterator[Run]:
    r = Run(props, stored)
    try:
        yield r
    finally:
        r.stop()


def once(props: Mapping[str, str], stored: dict[str, Any] | None = None) -> tuple[list[Any], dict[str, Any]]:
    r = Run(props, stored)
    try:
        return r.drain(), r.stored
    finally:
        r.stop()


def pg_props(url: str, **extra: str) -> dict[str, str]:
    return {"connection.url": url, "topic.prefix": "pg-", **extra}


ORDERS = (
    "CREATE TABLE orders "
    "(id serial PRIMARY KEY, customer text, amount numeric(10,2), ts timestamptz NOT NULL)"
)


def insert_orders(url: str, rows: Sequence[tuple[str | None, str | None, str]]) -> None:
    values = ", ".join(
        "({}, {}, '{}')".format("NULL" if c is None else f"'{c}'", "NULL" if a is None else a, ts)
        for c, a, ts in rows
    )
    admin_execute(url, f"INSERT INTO orders (customer, amount, ts) VALUES {values}")


def order(i: int, customer: str | None, amount: str | None, ts: dt.datetime) -> dict[str, Any]:
    return {
        "id": i,
        "customer": customer,
        "amount": None if amount is None else Decimal(amount),
        "ts": ts.replace(tzinfo=None),
    }


T0 = dt.datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
T1 = dt.datetime(2024, 1, 1, 12, 0, 1, tzinfo=UTC)
T2 = dt.datetime(2024, 1, 1, 12, 0, 2, 500000, tzinfo=UTC)


def ms(t: dt.datetime) -> dt.datetime:
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


@pytest.fixture
def orders(pg_database: str) -> str:
    admin_execute(pg_database, ORDERS)
    insert_orders(
        pg_database,
        [("ann", "1.25", T0.isoformat()), (None, None, T1.isoformat()), ("cé", "3", T1.isoformat())],
    )
    return pg_database


FIRST = [order(1, "ann", "1.25", ms(T0)), order(2, None, None, T1), order(3, "cé", "3.00", T1)]


def test_bulk_reads_the_whole_table_each_time(orders: str) -> None:
    props = pg_props(orders, mode="bulk", **{"table.whitelist": "orders", "batch.max.rows": "2"})
    got, stored = once(props)
    assert got == [("pg-orders", v) for v in FIRST]
    assert stored == {}
    again, _ = once(props)
    assert again == got


def test_value_schema_is_named_after_the_table(orders: str) -> None:
    r = Run(pg_props(orders, mode="bulk", **{"table.whitelist": "orders"}))
    try:
        batch = r.tasks[0].poll()
        assert batch is not None
        value = batch.records.schema.field("value")
        assert schema.schema_name(value) == "orders"
        assert [(f.name, str(f.type), f.nullable) for f in value.type] == [
            ("id", "int32", False),
            ("customer", "string", True),
            ("amount", "decimal128(10, 2)", True),
            ("ts", "timestamp[ms]", False),
        ]
    finally:
        r.stop()


def test_incrementing_resumes_without_duplicates(orders: str) -> None:
    props = pg_props(orders, mode="incrementing", **{"incrementing.column.name": "id", "batch.max.rows": "2"})
    got, stored = once(props)
    assert got == [("pg-orders", v) for v in FIRST]
    assert stored == {json.dumps({"table": "orders"}): {"incrementing": 3}}
    insert_orders(orders, [("dan", "4.5", T2.isoformat())])
    more, stored = once(props, stored)
    assert more == [("pg-orders", order(4, "dan", "4.50", ms(T2)))]
    assert once(props, stored)[0] == []


def test_incrementing_column_defaults_to_the_primary_key(orders: str) -> None:
    got, _ = once(pg_props(orders, mode="incrementing"))
    assert [v["id"] for _, v in got] == [1, 2, 3]


def test_timestamp_mode_and_nanos_in_the_offset(orders: str) -> None:
    props = pg_props(orders, mode="timestamp", **{"timestamp.column.name": "ts", "batch.max.rows": "1"})
    got, stored = once(props)
    assert got == [("pg-orders", v) for v in FIRST]
    assert stored == {json.dumps({"table": "orders"}): {"timestamp": 1704110401000, "timestamp_nanos": 0}}
    # a row updated to a later time is read again; older timestamps are not
    admin_execute(orders, f"UPDATE orders SET customer = 'ann2', ts = '{T2.isoformat()}' WHERE id = 1")
    more, stored = once(props, stored)
    assert more == [("pg-orders", order(1, "ann2", "1.25", ms(T2)))]
    key = json.dumps({"table": "orders"})
    assert stored[key] == {"timestamp": 1704110402500, "timestamp_nanos": 500_000_000}


def test_timestamp_initial_and_delay(orders: str) -> None:
    initial = int(T1.timestamp() * 1000) - 1
    got, _ = once(
        pg_props(
            orders, mode="timestamp", **{"timestamp.column.name": "ts", "timestamp.initial": str(initial)}
        )
    )
    assert [v["id"] for _, v in got] == [2, 3]
    now = dt.datetime.now(UTC)
    insert_orders(orders, [("fresh", "1", now.isoformat())])
    delayed = pg_props(
        orders, mode="timestamp", **{"timestamp.column.name": "ts", "timestamp.delay.interval.ms": "3600000"}
    )
    assert [v["id"] for _, v in once(delayed)[0]] == [1, 2, 3]  # the fresh row waits an hour


def test_timestamp_incrementing_splits_equal_timestamps_safely(orders: str) -> None:
    props = pg_props(
        orders,
        mode="timestamp+incrementing",
        **{"timestamp.column.name": "ts", "incrementing.column.name": "id", "batch.max.rows": "2"},
    )
    r = Run(props)
    try:
        first = r.tasks[0].poll()
        assert first is not None
        assert [v["id"] for v in first.records.column("value").to_pylist()] == [1, 2]
        assert first.offsets == [
            ({"table": "orders"}, {"incrementing": 2, "timestamp": 1704110401000, "timestamp_nanos": 0})
        ]
        stored = {json.dumps({"table": "orders"}): dict(first.offsets[0][1])}
    finally:
        r.stop()
    # a restart between rows 2 and 3, which share a timestamp: row 3 is not lost
    insert_orders(orders, [("eve", "5", T1.isoformat())])
    got, stored = once(props, stored)
    assert got == [("pg-orders", order(3, "cé", "3.00", T1)), ("pg-orders", order(4, "eve", "5.00", T1))]
    assert once(props, stored)[0] == []


def test_coalesce_of_several_timestamp_columns(pg_database: str) -> None:
    admin_execute(
        pg_database,
        "CREATE TABLE t (id int PRIMARY KEY, modified timestamp, created timestamp NOT NULL)",
        "INSERT INTO t VALUES (1, NULL, '2024-01-01 00:00:01'), "
        "(2, '2024-01-01 00:00:03', '2024-01-01 00:00:00'), (3, NULL, '2024-01-01 00:00:02')",
    )
    props = pg_props(
        pg_database,
        mode="timestamp",
        **{"timestamp.column.name": "modified,created", "validate.non.null": "false"},
    )
    got, stored = once(props)
    assert [v["id"] for _, v in got] == [1, 3, 2]
    assert stored[json.dumps({"table": "t"})] == {"timestamp": 1704067203000, "timestamp_nanos": 0}


def test_nullable_incremental_column_is_refused_unless_allowed(pg_database: str) -> None:
    admin_execute(pg_database, "CREATE TABLE t (id int, v text)", "INSERT INTO t VALUES (1, 'a')")
    r = Run(pg_props(pg_database, mode="incrementing", **{"incrementing.column.name": "id"}))
    try:
        with pytest.raises(Exception, match="nullable"):
            r.tasks[0].poll()
    finally:
        r.stop()
    ok, _ = once(
        pg_props(
            pg_database,
            mode="incrementing",
            **{"incrementing.column.name": "id", "validate.non.null": "false"},
        )
    )
    assert ok == [("pg-t", {"id": 1, "v": "a"})]


def test_query_mode_topic_is_the_prefix(orders: str) -> None:
    props = pg_props(
        orders,
        mode="incrementing",
        query="SELECT id, upper(customer) AS who FROM orders WHERE customer IS NOT NULL",
        **{"incrementing.column.name": "id", "topic.prefix": "big-orders"},
    )
    got, stored = once(props)
    assert got == [("big-orders", {"id": 1, "who": "ANN"}), ("big-orders", {"id": 3, "who": "CÉ"})]
    assert stored == {json.dumps({"query": "query"}): {"incrementing": 3}}
    insert_orders(orders, [("zed", "1", T2.isoformat())])
    assert once(props, stored)[0] == [("big-orders", {"id": 4, "who": "ZED"})]


def test_tables_are_spread_over_tasks(pg_database: str) -> None:
    names = ["a", "b", "c", 'we"ird tåble', "skip_me"]
    admin_execute(
        pg_database,
        *[f'CREATE TABLE "{n.replace(chr(34), chr(34) * 2)}" (id int PRIMARY KEY, v text)' for n in names],
        *[f"INSERT INTO \"{n.replace(chr(34), chr(34) * 2)}\" VALUES (1, '{n}')" for n in names],
    )
    r = Run(pg_props(pg_database, mode="bulk", **{"table.exclude.list": "skip_.*"}), max_tasks=2)
    try:
        assert [json.loads(c["tables"]) for c in r.task_configs] == [
            [["public", "a"], ["public", "b"]],
            [["public", "c"], ["public", 'we"ird tåble']],
        ]
        got = sorted(r.drain())
    finally:
        r.stop()
    assert got == [(f"pg-{n}", {"id": 1, "v": n}) for n in ["a", "b", "c", 'we"ird tåble']]


# -- SQLite -----------------------------------------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path) -> str:
    path = tmp_path / "src db.sqlite"
    with sqlite_dbapi.connect(str(path), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            'CREATE TABLE "Ünï code" (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC(8,2), at TIMESTAMP, '
            "ok BOOLEAN, raw BLOB)"
        )
        cur.execute(
            """INSERT INTO "Ünï code" VALUES (1, 'a', 1.5, '2024-01-01T00:00:00.250', 1, x'0001'),
            (2, NULL, NULL, NULL, NULL, NULL)"""
        )
    return str(path)


def sqlite_rows(path: str, *sql: str) -> None:
    with sqlite_dbapi.connect(path, autocommit=True) as conn, conn.cursor() as cur:
        for s in sql:
            cur.execute(s)


ROW1 = {
    "id": 1,
    "name": "a",
    "price": Decimal("1.50"),
    "at": dt.datetime(2024, 1, 1, 0, 0, 0, 250000),
    "ok": True,
    "raw": b"\x00\x01",
}
ROW2 = {"id": 2, "name": None, "price": None, "at": None, "ok": None, "raw": None}


def test_sqlite_bulk(sqlite_db: str) -> None:
    got, stored = once(
        {"connection.url": f"jdbc:sqlite:{sqlite_db}", "topic.prefix": "lite-", "mode": "bulk"}
    )
    assert got == [("lite-Ünï code", ROW1), ("lite-Ünï code", ROW2)]
    assert stored == {}


def test_sqlite_incrementing_resumes(sqlite_db: str) -> None:
    props = {
        "connection.url": f"sqlite:///{sqlite_db}" if sqlite_db.startswith("/") else sqlite_db,
        "topic.prefix": "lite-",
        "mode": "incrementing",
        "batch.max.rows": "1",
    }
    got, stored = once(props)
    assert got == [("lite-Ünï code", ROW1), ("lite-Ünï code", ROW2)]
    assert stored == {json.dumps({"table": "Ünï code"}): {"incrementing": 2}}
    sqlite_rows(sqlite_db, """INSERT INTO "Ünï code" (id, name) VALUES (3, 'c')""")
    more, stored = once(props, stored)
    assert more == [("lite-Ünï code", {**ROW2, "id": 3, "name": "c"})]
