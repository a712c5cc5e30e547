"""JdbcSink against real PostgreSQL and SQLite (every insert mode, pk mode, auto.create,
auto.evolve, deletes, awkward identifiers, type round trips, bad rows), and both JDBC
connectors run for real in a standalone worker: source → Kafka → sink per database, a bad
record to the dead-letter queue, an unreachable database failing the task."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as pg_dbapi
import adbc_driver_sqlite.dbapi as sqlite_dbapi
import pyarrow as pa
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KTP

from connectors.jdbc.sink import JdbcSinkTask
from engine.spi import schema
from engine.spi.connector import ErrantRecordReporter, SinkTaskContext
from engine.spi.errors import ConnectError, DataError, RetriableError
from engine.spi.record import TopicPartition, make_batch
from engine.testing.pytest_postgres import admin_execute, with_database
from tests.integration.rest_client import rest_worker, unique, wait_until

UTC = dt.UTC


class Reporter(ErrantRecordReporter):
    def __init__(self) -> None:
        self.reported: list[tuple[list[int], list[int | None], str]] = []

    def report(self, batch: pa.RecordBatch, rows: Sequence[int], error: BaseException) -> None:
        offsets = batch.column("offset").to_pylist()
        self.reported.append((list(rows), [offsets[r] for r in rows], str(error)))


class Context(SinkTaskContext):
    def __init__(self) -> None:
        self.reporter = Reporter()
        self.backoff: int | None = None

    def configs(self) -> Mapping[str, str]:
        return {}

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset()

    def pause(self, *partitions: TopicPartition) -> None:
        pass

    def resume(self, *partitions: TopicPartition) -> None:
        pass

    def request_commit(self) -> None:
        pass

    def offset(self, offsets: Mapping[TopicPartition, int]) -> None:
        pass

    def timeout(self, ms: int) -> None:
        self.backoff = ms

    def errant_record_reporter(self) -> ErrantRecordReporter | None:
        return self.reporter


class Db:
    """A database for the sink: its URL for the connector and a way to read tables back."""

    def __init__(self, kind: str, url: str, connect: Callable[[], Any]) -> None:
        self.kind, self.url, self._connect = kind, url, connect

    def sql(self, *statements: str) -> None:
        with self._connect() as conn, conn.cursor() as cur:
            for s in statements:
                cur.execute(s)

    def rows(self, table: str, order: str = "1") -> list[tuple[Any, ...]]:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f'SELECT * FROM "{table.replace(chr(34), chr(34) * 2)}" ORDER BY {order}')
            return [tuple(r) for r in cur.fetchall()]

    def columns(self, table: str) -> list[str]:
        with self._connect() as conn, conn.cursor() as cur:
            cur.execute(f'SELECT * FROM "{table.replace(chr(34), chr(34) * 2)}" WHERE 1 = 0')
            return list(cur.fetch_arrow_table().column_names)


@pytest.fixture(params=["postgresql", "sqlite"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    if request.param == "sqlite":
        path = str(tmp_path / "sink.db")
        return Db("sqlite", f"jdbc:sqlite:{path}", lambda: sqlite_dbapi.connect(path, autocommit=True))
    url = request.getfixturevalue("pg_database")
    return Db("postgresql", url, lambda: pg_dbapi.connect(url, autocommit=True))


INT64 = pa.int64()
VALUE = pa.struct(
    [pa.field("id", pa.int32(), nullable=False), pa.field("name", pa.string()), pa.field("n", pa.int64())]
)


def batch(
    values: Sequence[Mapping[str, Any] | None],
    keys: Sequence[Any] | None = None,
    *,
    topic: str = "items",
    vtype: pa.DataType = VALUE,
    ktype: pa.DataType = INT64,
    first_offset: int = 0,
) -> pa.RecordBatch:
    n = len(values)
    return make_batch(
        topic=topic,
        value=pa.array(values, vtype),
        key=None if keys is None else pa.array(keys, ktype),
        partition=[0] * n,
        offset=list(range(first_offset, first_offset + n)),
        value_field=schema.field("value", vtype),
    )


def sink(db: Db, **props: str) -> tuple[JdbcSinkTask, Context]:
    task = JdbcSinkTask()
    ctx = Context()
    task.initialize(ctx)
    task.start({"connection.url": db.url, "auto.create": "true", **props})
    return task, ctx


def v(i: int, name: str | None = None, n: int | None = None) -> dict[str, Any]:
    return {"id": i, "name": name, "n": n}


# -- insert modes ---------------------------------------------------------------------------------


def test_insert_mode_appends_in_order(db: Db) -> None:
    task, _ = sink(db)
    task.put(batch([v(1, "a", 10), v(2, None, None)]))
    task.put(batch([v(3, "c", 30)], first_offset=2))
    task.stop()
    assert db.rows("items", "id") == [(1, "a", 10), (2, None, None), (3, "c", 30)]


def test_upsert_last_record_per_key_wins(db: Db) -> None:
    task, _ = sink(db, **{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"})
    task.put(batch([v(1, "a", 1), v(2, "b", 2), v(1, "a2", 3)]))
    task.put(batch([v(2, "b2", None), v(3, "c", 4)], first_offset=3))
    task.stop()
    assert db.rows("items") == [(1, "a2", 3), (2, "b2", None), (3, "c", 4)]


def test_update_changes_existing_rows_only(db: Db) -> None:
    db.sql(
        "CREATE TABLE items (id INT PRIMARY KEY, name TEXT, n BIGINT)", "INSERT INTO items VALUES (1, 'a', 1)"
    )
    task, _ = sink(db, **{"insert.mode": "update", "pk.mode": "record_value", "pk.fields": "id"})
    task.put(batch([v(1, "x", 5), v(2, "new", 6), v(1, "y", 7)]))
    task.stop()
    assert db.rows("items") == [(1, "y", 7)]


def test_pk_mode_kafka_and_fields_whitelist(db: Db) -> None:
    task, _ = sink(db, **{"pk.mode": "kafka", "fields.whitelist": "name", "insert.mode": "upsert"})
    task.put(batch([v(1, "a"), v(2, "b")], first_offset=7))
    task.put(batch([v(1, "a again")], first_offset=7))  # redelivered offset: same row
    task.stop()
    assert db.columns("items") == ["__connect_topic", "__connect_partition", "__connect_offset", "name"]
    assert db.rows("items", "3") == [("items", 0, 7, "a again"), ("items", 0, 8, "b")]


def test_pk_mode_record_key_struct_with_deletes(db: Db) -> None:
    key = pa.struct([pa.field("k1", pa.string(), nullable=False), pa.field("k2", pa.int32(), nullable=False)])
    task, _ = sink(db, **{"insert.mode": "upsert", "pk.mode": "record_key", "delete.enabled": "true"})
    keys = [{"k1": "a", "k2": 1}, {"k1": "b", "k2": 1}, {"k1": "a", "k2": 1}, {"k1": "c", "k2": 2}]
    task.put(batch([v(1, "a"), v(2, "b"), None, v(3, "c")], keys, ktype=key))
    # delete then upsert of the same key in one batch: the row is back, with only the new values
    task.put(batch([None, v(9, "b2")], [{"k1": "b", "k2": 1}] * 2, ktype=key, first_offset=4))
    task.stop()
    assert db.rows("items") == [("b", 1, 9, "b2", None), ("c", 2, 3, "c", None)]


def test_delete_in_insert_mode_keeps_order(db: Db) -> None:
    task, _ = sink(db, **{"pk.mode": "record_key", "pk.fields": "key", "delete.enabled": "true"})
    task.put(batch([v(1, "a"), None, v(3, "a again"), v(4, "b"), None], [1, 1, 1, 2, 2]))
    task.stop()
    assert db.rows("items") == [(1, 3, "a again", None)]


# -- DDL ------------------------------------------------------------------------------------------


def test_auto_evolve_adds_optional_columns(db: Db) -> None:
    task, _ = sink(db, **{"auto.evolve": "true"})
    task.put(batch([v(1, "a", 1)]))
    wider = pa.struct([*VALUE, pa.field("extra", pa.float64())])
    task.put(batch([{**v(2, "b", 2), "extra": 0.5}], vtype=wider, first_offset=1))
    required = pa.struct([*VALUE, pa.field("must", pa.int32(), nullable=False)])
    with pytest.raises(ConnectError, match="not optional"):
        task.put(batch([{**v(3), "must": 1}], vtype=required, first_offset=2))
    task.stop()
    assert db.columns("items") == ["id", "name", "n", "extra"]
    assert db.rows("items") == [(1, "a", 1, None), (2, "b", 2, 0.5)]


def test_missing_table_and_columns_without_auto_ddl(db: Db) -> None:
    task, _ = sink(db, **{"auto.create": "false"})
    with pytest.raises(ConnectError, match="missing and auto-creation is disabled"):
        task.put(batch([v(1)]))
    db.sql("CREATE TABLE items (id INT)")
    with pytest.raises(ConnectError, match=r"missing fields \['name', 'n'\] and auto-evolution is disabled"):
        task.put(batch([v(1)]))
    task.stop()


def test_identifiers_with_quotes_spaces_and_unicode(db: Db) -> None:
    vtype = pa.struct(
        [pa.field('we"ird col', pa.int32(), nullable=False), pa.field("naïve 名前", pa.string())]
    )
    task, _ = sink(
        db,
        **{
            "table.name.format": '"tbl ""${topic}"" ü"',  # quoted: the dot of the topic is not a schema
            "insert.mode": "upsert",
            "pk.mode": "record_value",
            "pk.fields": 'we"ird col',
        },
    )
    values = [{'we"ird col': 1, "naïve 名前": "ok"}, {'we"ird col': 1, "naïve 名前": "x'); DROP TABLE t; --"}]
    task.put(batch(values, vtype=vtype, topic="my.topic"))
    task.stop()
    table = 'tbl "my.topic" ü'
    assert db.columns(table) == ['we"ird col', "naïve 名前"]
    assert db.rows(table) == [(1, "x'); DROP TABLE t; --")]


def test_types_round_trip(db: Db) -> None:
    vtype = pa.struct(
        [
            pa.field("id", pa.int8(), nullable=False),
            pa.field("small", pa.int16()),
            pa.field("f", pa.float32()),
            pa.field("ok", pa.bool_()),
            pa.field("raw", pa.binary()),
            pa.field("amount", pa.decimal128(12, 4)),
            pa.field("day", pa.date32()),
            pa.field("at", pa.time32("ms")),
            pa.field("ts", pa.timestamp("ms")),
        ]
    )
    full = {
        "id": 1,
        "small": -2,
        "f": 1.5,
        "ok": True,
        "raw": b"\x00\xff",
        "amount": Decimal("-12345678.1234"),
        "day": dt.date(2024, 2, 29),
        "at": dt.time(23, 59, 58, 250000),
        "ts": dt.datetime(2024, 2, 29, 23, 59, 58, 250000),
    }
    empty = {k: (2 if k == "id" else None) for k in full}
    task, _ = sink(db)
    task.put(batch([full, empty], vtype=vtype))
    task.stop()
    got = db.rows("items")
    if db.kind == "postgresql":
        assert got == [
            (
                1,
                -2,
                1.5,
                True,
                b"\x00\xff",
                "-12345678.1234",
                dt.date(2024, 2, 29),
                dt.time(23, 59, 58, 250000),
                dt.datetime(2024, 2, 29, 23, 59, 58, 250000),
            ),
            (2, None, None, None, None, None, None, None, None),
        ]
    else:  # SQLite: ISO text for dates and times, REAL for a decimal that fits 15 digits
        assert got == [
            (
                1,
                -2,
                1.5,
                1,
                b"\x00\xff",
                -12345678.1234,
                "2024-02-29",
                "23:59:58.250",
                "2024-02-29T23:59:58.250",
            ),
            (2, None, None, None, None, None, None, None, None),
        ]


def test_timestamptz_column_takes_utc_instants(pg_database: str) -> None:
    admin_execute(pg_database, "CREATE TABLE items (id int PRIMARY KEY, ts timestamptz, amount numeric)")
    db = Db("postgresql", pg_database, lambda: pg_dbapi.connect(pg_database, autocommit=True))
    vtype = pa.struct(
        [
            pa.field("id", pa.int32()),
            pa.field("ts", pa.timestamp("ms")),
            pa.field("amount", pa.decimal128(20, 6)),
        ]
    )
    task, _ = sink(db)
    task.put(
        batch([{"id": 1, "ts": dt.datetime(2024, 6, 1, 12, 0), "amount": Decimal("0.000001")}], vtype=vtype)
    )
    task.stop()
    with db._connect() as conn, conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'America/New_York'")
        cur.execute("SELECT id, ts::text, amount::text FROM items")
        assert cur.fetchall() == [(1, "2024-06-01 08:00:00-04", "0.000001")]


# -- bad rows -------------------------------------------------------------------------------------


def test_bad_rows_are_reported_and_the_rest_written_in_order(db: Db) -> None:
    db.sql("CREATE TABLE items (id INT PRIMARY KEY, name TEXT NOT NULL, n BIGINT CHECK (n >= 0))")
    task, ctx = sink(db, **{"insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id"})
    values = [v(1, "a", 1), v(2, None, 2), v(3, "c", -1), v(4, "d", 4), v(5, "e", -5), v(6, "f", 6)]
    task.put(batch(values, first_offset=100))
    task.stop()
    assert db.rows("items") == [(1, "a", 1), (4, "d", 4), (6, "f", 6)]
    reported = ctx.reporter.reported
    assert [(rows, offsets) for rows, offsets, _ in reported] == [([1], [101]), ([2], [102]), ([4], [104])]
    assert "NOT NULL column 'name'" in reported[0][2]
    assert "check" in reported[1][2].lower()


def test_values_that_do_not_cast_are_bad_rows(pg_database: str) -> None:
    admin_execute(pg_database, "CREATE TABLE items (id int, n smallint, name text)")
    db = Db("postgresql", pg_database, lambda: pg_dbapi.connect(pg_database, autocommit=True))
    vtype = pa.struct([pa.field("id", pa.string()), pa.field("n", pa.int64()), pa.field("name", pa.string())])
    task, ctx = sink(db)
    task.put(
        batch(
            [
                {"id": "1", "n": 1, "name": "a"},
                {"id": "x", "n": 2, "name": "b"},
                {"id": "3", "n": 70000, "name": "c"},
                {"id": "4", "n": None, "name": "d"},
            ],
            vtype=vtype,
        )
    )
    task.stop()
    assert db.rows("items") == [(1, 1, "a"), (4, None, "d")]
    assert [rows for rows, _, _ in ctx.reporter.reported] == [[1, 2]]


def test_nested_struct_fails_clearly(db: Db) -> None:
    nested = pa.struct(
        [pa.field("id", pa.int32()), pa.field("inner", pa.struct([pa.field("x", pa.int32())]))]
    )
    task, _ = sink(db)
    with pytest.raises(DataError, match="nested STRUCT"):
        task.put(batch([{"id": 1, "inner": {"x": 1}}], vtype=nested))
    task.stop()


def test_unreachable_database_is_retriable_then_fails(tmp_path: Path) -> None:
    port = _closed_port()
    task = JdbcSinkTask()
    ctx = Context()
    task.initialize(ctx)
    task.start(
        {
            "connection.url": f"jdbc:postgresql://127.0.0.1:{port}/shop?user=bob",
            "connection.password": "s3cr3t-pw",
            "connection.attempts": "1",
            "max.retries": "1",
            "retry.backoff.ms": "123",
        }
    )
    with pytest.raises(RetriableError) as first:
        task.put(batch([v(1)]))
    assert ctx.backoff == 123
    with pytest.raises(ConnectError) as last:
        task.put(batch([v(1)]))
    assert not isinstance(last.value, RetriableError)
    for e in (first.value, last.value):
        assert f"127.0.0.1:{port}/shop" in str(e) and "s3cr3t-pw" not in str(e)
    task.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


# -- through the runtime ----------------------------------------------------------------------------

JSON = {
    "key.converter": "org.apache.kafka.connect.json.JsonConverter",
    "value.converter": "org.apache.kafka.connect.json.JsonConverter",
}


def read_topic(bootstrap: str, topic: str, n: int, timeout: float = 60) -> list[Any]:
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": unique("jdbc-reader"), "enable.auto.commit": False}
    )
    c.assign([KTP(topic, 0, 0)])
    got: list[Any] = []
    try:
        wait_until(
            lambda: got.extend(m for m in c.consume(500, 0.2) if m.error() is None) or len(got) >= n,
            timeout,
            f"{n} records in {topic}",
        )
        extra = [m for m in c.consume(500, 0.5) if m.error() is None]
        got.extend(extra)
    finally:
        c.close()
    return got


@pytest.fixture
def worker(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Any]:
    gen = rest_worker(tmp_path / "w1", kafka_bootstrap, **JSON)
    yield next(gen)
    next(gen, None)


def test_end_to_end_postgres_source_kafka_sink_with_restart(
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str, pg_database: str
) -> None:
    src_url = pg_database
    dst_db = unique("dst").replace("-", "_")
    admin_execute(postgres_url, f'CREATE DATABASE "{dst_db}"')
    dst_url = with_database(postgres_url, dst_db)
    admin_execute(
        src_url,
        "CREATE TABLE orders (id serial PRIMARY KEY, customer text, amount numeric(10,2), at timestamptz)",
        "INSERT INTO orders (customer, amount, at) SELECT 'c' || g, g * 1.5, "
        "'2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second' FROM generate_series(1, 500) g",
    )
    prefix = unique("e2e") + "-"
    work = tmp_path / "w"
    source = {
        "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        "connection.url": src_url.replace("postgresql://", "jdbc:postgresql://"),
        "mode": "incrementing",
        "incrementing.column.name": "id",
        "table.whitelist": "orders",
        "topic.prefix": prefix,
        "poll.interval.ms": "200",
        "batch.max.rows": "1000",
    }
    sink_cfg = {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "connection.url": dst_url,
        "topics": prefix + "orders",
        "insert.mode": "upsert",
        "pk.mode": "record_value",
        "pk.fields": "id",
        "auto.create": "true",
        "table.name.format": "copy_of_${topic}",
    }
    try:
        gen = rest_worker(work, kafka_bootstrap, **JSON)
        _, client = next(gen)
        client.create("jdbc-src", source)
        client.create("jdbc-sink", sink_cfg)
        client.wait_states("jdbc-src", "RUNNING", ["RUNNING"])
        client.wait_states("jdbc-sink", "RUNNING", ["RUNNING"])
        table = f"copy_of_{prefix}orders"
        dst = Db("postgresql", dst_url, lambda: pg_dbapi.connect(dst_url, autocommit=True))

        def copied() -> int:
            try:
                return len(dst.rows(table))
            except Exception:
                return 0

        wait_until(lambda: copied() == 500, 60, "500 rows copied")
        next(gen, None)  # the worker stops (SIGTERM, exit 0): offsets are flushed
        admin_execute(src_url, "INSERT INTO orders (customer, amount, at) VALUES ('late', 0.5, NULL)")
        gen = rest_worker(work, kafka_bootstrap, **JSON)  # same offsets file, same consumer group
        _, client = next(gen)
        client.create("jdbc-src", source)  # standalone keeps no connector configs across restarts
        client.create("jdbc-sink", sink_cfg)
        wait_until(lambda: copied() == 501, 60, "the row added while stopped")
        next(gen, None)
        records = read_topic(kafka_bootstrap, prefix + "orders", 501, 30)
        ids = [json.loads(m.value())["payload"]["id"] for m in records]
        assert ids == list(range(1, 502))  # no duplicates, none lost, in order
        envelope = json.loads(records[0].value())
        assert envelope["schema"]["name"] == "orders"
        assert envelope["payload"] == {"id": 1, "customer": "c1", "amount": "AJY=", "at": 1704067201000}
        rows = dst.rows(table, '"id"')
        assert rows[0] == (1, "c1", "1.50", dt.datetime(2024, 1, 1, 0, 0, 1))
        assert rows[-1] == (501, "late", "0.50", None)
    finally:
        admin_execute(postgres_url, f'DROP DATABASE IF EXISTS "{dst_db}" WITH (FORCE)')


def test_end_to_end_sqlite(tmp_path: Path, worker: Any) -> None:
    _, client = worker
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    with sqlite_dbapi.connect(str(src), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
        cur.execute("INSERT INTO items VALUES (1, 'a', 1.5), (2, NULL, NULL), (3, 'ç', 3.25)")
    prefix = unique("lite") + "-"
    client.create(
        "lite-src",
        {
            "connector.class": "JdbcSource",
            "connection.url": f"jdbc:sqlite:{src}",
            "mode": "incrementing",
            "topic.prefix": prefix,
            "poll.interval.ms": "200",
        },
    )
    client.create(
        "lite-sink",
        {
            "connector.class": "JdbcSink",
            "connection.url": f"sqlite:///{dst}",
            "topics": prefix + "items",
            "auto.create": "true",
            "table.name.format": "items",
            "insert.mode": "upsert",
            "pk.mode": "record_value",
            "pk.fields": "id",
        },
    )
    target = Db("sqlite", "", lambda: sqlite_dbapi.connect(str(dst), autocommit=True))

    def rows() -> list[Any]:
        try:
            return target.rows("items")
        except Exception:
            return []

    wait_until(lambda: len(rows()) == 3, 60, "3 rows in the SQLite copy")
    assert rows() == [(1, "a", 1.5), (2, None, None), (3, "ç", 3.25)]
    assert client.states("lite-sink") == ("RUNNING", ["RUNNING"])


def test_bad_record_goes_to_the_dead_letter_queue(
    tmp_path: Path, kafka_bootstrap: str, new_topic: Callable[..., str], pg_database: str, worker: Any
) -> None:
    _, client = worker
    admin_execute(
        pg_database, "CREATE TABLE items (id int PRIMARY KEY, n int NOT NULL CHECK (n NOT IN (150, 200)))"
    )
    topic = new_topic(1)
    dlq = topic + "-dlq"
    p = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    sch = {
        "type": "struct",
        "fields": [{"field": "id", "type": "int32"}, {"field": "n", "type": "int32", "optional": True}],
    }
    payloads = [{"id": i, "n": i} for i in range(1, 201)]
    payloads[49] = {"id": 50, "n": None}  # NOT NULL
    # 150 and 200 break the CHECK: the database refuses them
    for rec in payloads:
        p.produce(topic, json.dumps({"schema": sch, "payload": rec}).encode())
    assert p.flush(30) == 0
    client.create(
        "dlq-jdbc",
        {
            "connector.class": "JdbcSink",
            "connection.url": pg_database,
            "topics": topic,
            "table.name.format": "items",
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": dlq,
            "errors.deadletterqueue.topic.replication.factor": "1",
            "errors.deadletterqueue.context.headers.enable": "true",
        },
    )
    db = Db("postgresql", pg_database, lambda: pg_dbapi.connect(pg_database, autocommit=True))
    wait_until(lambda: len(db.rows("items")) == 197, 60, "the 197 good rows")
    # 50: null in a NOT NULL column (found in memory); 150 and 200 break the CHECK (found by the database)
    assert db.rows("items") == [(i, i) for i in range(1, 200) if i not in (50, 150)]
    dead = read_topic(kafka_bootstrap, dlq, 3)
    assert [json.loads(m.value())["payload"]["id"] for m in dead] == [50, 150, 200]
    headers = dict(dead[1].headers())
    assert headers["__connect.errors.stage"] == b"TASK_PUT"
    assert headers["__connect.errors.offset"] == b"149"
    assert client.states("dlq-jdbc") == ("RUNNING", ["RUNNING"])


def test_unreachable_database_fails_the_task_naming_the_host(
    kafka_bootstrap: str, worker: Any, new_topic: Callable[..., str]
) -> None:
    proc, client = worker
    port = _closed_port()
    secret = "pw-" + unique("x")
    common = {
        "connection.url": f"jdbc:postgresql://127.0.0.1:{port}/shop",
        "connection.user": "bob",
        "connection.password": secret,
        "connection.attempts": "2",
        "connection.backoff.ms": "50",
    }
    source = {"connector.class": "JdbcSource", "mode": "bulk", "topic.prefix": "x-", "query": "SELECT 1"}
    client.create("down-src", {**source, **common})
    topic = new_topic(1)
    client.create(
        "down-sink",
        {
            "connector.class": "JdbcSink",
            "topics": topic,
            "max.retries": "2",
            "retry.backoff.ms": "50",
            **common,
        },
    )
    p = Producer({"bootstrap.servers": kafka_bootstrap})
    sch = {"type": "struct", "fields": [{"field": "id", "type": "int32"}]}
    p.produce(topic, json.dumps({"schema": sch, "payload": {"id": 1}}).encode())
    assert p.flush(30) == 0
    for name in ("down-src", "down-sink"):
        wait_until(lambda name=name: client.states(name)[1] == ["FAILED"], 60, f"{name} FAILED")
        trace = client.status(name)["tasks"][0]["trace"]
        assert f"127.0.0.1:{port}/shop" in trace and secret not in trace
    assert secret not in proc.log()
    validated = client.ok(
        "PUT",
        "/connector-plugins/JdbcSink/config/validate",
        {"connector.class": "JdbcSink", "topics": topic, **common},
    )
    shown = {c["value"]["name"]: c["value"]["value"] for c in validated["configs"]}
    assert shown["connection.password"] == "[hidden]"
