"""PostgresCdc through a real standalone worker, real PostgreSQL and real Kafka.

Every test creates the connector over REST, changes rows with SQL, and reads the topics back
with a Kafka consumer: the events must be exactly Debezium's (key, envelope, source block,
JsonConverter schemas), in commit order, with no loss and no duplicate across a connector
restart and a PostgreSQL restart; the slot's confirmed_flush_lsn only moves once Kafka has the
records.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from confluent_kafka import Consumer, KafkaError
from confluent_kafka import TopicPartition as KTP

from connectors.postgres_cdc.pgoutput import parse_lsn
from engine.testing.postgres import PostgresServer
from engine.testing.pytest_postgres import admin_execute
from tests.integration.rest_client import RestClient, start_rest_worker, wait_until
from tests.integration.standalone_proc import Standalone

pytestmark = [pytest.mark.kafka, pytest.mark.processes]

JSON = "org.apache.kafka.connect.json.JsonConverter"


@pytest.fixture(scope="module")
def worker(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> Iterator[tuple[Standalone, RestClient]]:
    work = tmp_path_factory.mktemp("cdc-worker")
    proc, client = start_rest_worker(
        work,
        kafka_bootstrap,
        **{"key.converter": JSON, "value.converter": JSON, "offset.flush.interval.ms": 300},
    )
    try:
        yield proc, client
        assert proc.terminate() == 0, proc.log()[-5000:]
    finally:
        proc.stop()


def pg_parts(url: str) -> dict[str, str]:
    from urllib.parse import unquote, urlsplit

    u = urlsplit(url)
    return {
        "database.hostname": u.hostname or "",
        "database.port": str(u.port),
        "database.user": unquote(u.username or ""),
        "database.password": unquote(u.password or ""),
        "database.dbname": u.path.lstrip("/"),
    }


def cdc_config(url: str, prefix: str, **extra: Any) -> dict[str, Any]:
    return {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "tasks.max": "1",
        **pg_parts(url),
        "topic.prefix": prefix,
        "slot.name": f"slot_{prefix}",
        "publication.name": f"pub_{prefix}",
        "poll.interval.ms": "100",
        **{k.replace("_", "."): str(v) for k, v in extra.items()},
    }


def sql(url: str, *statements: str) -> None:
    admin_execute(url, *statements)


def query(url: str, text: str) -> list[tuple[Any, ...]]:
    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(text)
            return list(cur.fetchall())
    finally:
        conn.close()


class Topic:
    """Reads a topic from the start, keeping what it read."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"check-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        self.consumer.assign([KTP(topic, 0, 0)])
        self.records: list[tuple[Any, Any]] = []

    def read(self, n: int, timeout: float = 30) -> list[tuple[Any, Any]]:
        """Until ``n`` records have been read in total: (key JSON, value JSON) each, None for null."""
        deadline = time.monotonic() + timeout
        while len(self.records) < n:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.topic}: {len(self.records)} records, wanted {n}: {self.records[-3:]}"
                )
            for m in self.consumer.consume(1000, 0.2):
                error = m.error()
                if error is not None:
                    if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                        continue
                    raise AssertionError(str(error))
                k, v = m.key(), m.value()
                self.records.append((json.loads(k) if k else None, json.loads(v) if v else None))
        return self.records[:n]

    def quiet(self, seconds: float = 1.0) -> None:
        """Assert nothing more arrives for a while."""
        before = len(self.records)
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for m in self.consumer.consume(100, 0.1):
                if m.error() is None:
                    self.records.append((m.key(), m.value()))
        assert len(self.records) == before, self.records[before:]

    def close(self) -> None:
        self.consumer.close()


def payload(record: tuple[Any, Any]) -> tuple[Any, Any]:
    """(key payload, value payload) with the fields that vary from run to run taken out."""
    key, value = record
    k = key["payload"] if key is not None else None
    if value is None:
        return k, None
    v = dict(value["payload"])
    assert isinstance(v.pop("ts_ms"), int)
    src = dict(v.pop("source"))
    v["src"] = (src["snapshot"], src["schema"], src["table"])
    return k, v


def source_of(record: tuple[Any, Any]) -> dict[str, Any]:
    return dict(record[1]["payload"]["source"])


def stored_offset(client: RestClient, name: str) -> dict[str, Any] | None:
    offsets = client.ok("GET", f"/connectors/{name}/offsets")["offsets"]
    return offsets[0]["offset"] if offsets else None


def slot_flush(url: str, slot: str) -> int:
    rows = query(
        url, f"SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{slot}'"
    )
    return parse_lsn(rows[0][0]) if rows and rows[0][0] else 0


def prefix() -> str:
    return f"cdc{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------------------------------------


def test_snapshot_then_changes_in_commit_order_across_two_tables(
    worker: tuple[Standalone, RestClient], pg_database: str, kafka_bootstrap: str
) -> None:
    _, client = worker
    url = pg_database
    sql(
        url,
        "CREATE TABLE a (id int PRIMARY KEY, name text NOT NULL, qty int)",
        "CREATE TABLE b (id int PRIMARY KEY, note text)",
        "ALTER TABLE b REPLICA IDENTITY FULL",
        "INSERT INTO a VALUES (1, 'one', 10), (2, 'two', NULL)",
        "INSERT INTO b VALUES (100, 'b-hundred')",
    )
    p = prefix()
    name = f"cdc-{p}"
    client.create(name, cdc_config(url, p, skipped_operations="none"))
    ta, tb = Topic(kafka_bootstrap, f"{p}.public.a"), Topic(kafka_bootstrap, f"{p}.public.b")
    try:
        snap_a = ta.read(2)
        snap_b = tb.read(1)
        assert [payload(r) for r in snap_a] == [
            (
                {"id": 1},
                {
                    "before": None,
                    "after": {"id": 1, "name": "one", "qty": 10},
                    "op": "r",
                    "transaction": None,
                    "src": ("true", "public", "a"),
                },
            ),
            (
                {"id": 2},
                {
                    "before": None,
                    "after": {"id": 2, "name": "two", "qty": None},
                    "op": "r",
                    "transaction": None,
                    "src": ("true", "public", "a"),
                },
            ),
        ]
        assert [payload(r) for r in snap_b] == [
            (
                {"id": 100},
                {
                    "before": None,
                    "after": {"id": 100, "note": "b-hundred"},
                    "op": "r",
                    "transaction": None,
                    "src": ("last", "public", "b"),
                },
            )
        ]
        slot_lsn = source_of(snap_a[0])["lsn"]
        assert {source_of(r)["lsn"] for r in snap_a + snap_b} == {slot_lsn}
        assert source_of(snap_a[0])["sequence"] == f'[null,"{slot_lsn}"]'

        sql(
            url,
            "INSERT INTO a VALUES (3, 'three', 30)",
            "UPDATE a SET qty = 11 WHERE id = 1",
            "UPDATE b SET note = 'changed' WHERE id = 100",
            "DELETE FROM a WHERE id = 2",
            "BEGIN; INSERT INTO b VALUES (101, 'in tx'); UPDATE a SET name = 'THREE' WHERE id = 3; "
            "DELETE FROM b WHERE id = 100; COMMIT",
            "TRUNCATE b",
            "UPDATE a SET id = 4 WHERE id = 1",  # a new primary key: delete + tombstone + create
        )
        stream_a = ta.read(2 + 8)[2:]
        stream_b = tb.read(1 + 5)[1:]
        s = ("false", "public", "a")
        assert [payload(r) for r in stream_a] == [
            (
                {"id": 3},
                {
                    "before": None,
                    "after": {"id": 3, "name": "three", "qty": 30},
                    "op": "c",
                    "transaction": None,
                    "src": s,
                },
            ),
            (
                {"id": 1},
                {
                    "before": None,
                    "after": {"id": 1, "name": "one", "qty": 11},
                    "op": "u",
                    "transaction": None,
                    "src": s,
                },
            ),
            # REPLICA IDENTITY DEFAULT: only the key is known; a required column gets its type's
            # empty value, an optional one null (as Debezium does)
            (
                {"id": 2},
                {
                    "before": {"id": 2, "name": "", "qty": None},
                    "after": None,
                    "op": "d",
                    "transaction": None,
                    "src": s,
                },
            ),
            ({"id": 2}, None),
            (
                {"id": 3},
                {
                    "before": None,
                    "after": {"id": 3, "name": "THREE", "qty": 30},
                    "op": "u",
                    "transaction": None,
                    "src": s,
                },
            ),
            (
                {"id": 1},
                {
                    "before": {"id": 1, "name": "", "qty": None},
                    "after": None,
                    "op": "d",
                    "transaction": None,
                    "src": s,
                },
            ),
            ({"id": 1}, None),
            (
                {"id": 4},
                {
                    "before": None,
                    "after": {"id": 4, "name": "one", "qty": 11},
                    "op": "c",
                    "transaction": None,
                    "src": s,
                },
            ),
        ]
        sb = ("false", "public", "b")
        assert [payload(r) for r in stream_b] == [
            (
                {"id": 100},
                {
                    "before": {"id": 100, "note": "b-hundred"},
                    "after": {"id": 100, "note": "changed"},
                    "op": "u",
                    "transaction": None,
                    "src": sb,
                },
            ),
            (
                {"id": 101},
                {
                    "before": None,
                    "after": {"id": 101, "note": "in tx"},
                    "op": "c",
                    "transaction": None,
                    "src": sb,
                },
            ),
            (
                {"id": 100},
                {
                    "before": {"id": 100, "note": "changed"},
                    "after": None,
                    "op": "d",
                    "transaction": None,
                    "src": sb,
                },
            ),
            ({"id": 100}, None),
            (None, {"before": None, "after": None, "op": "t", "transaction": None, "src": sb}),
        ]
        # one transaction: one txId, one commit time, LSNs in order across both tables
        tx = [source_of(r) for r in (stream_b[1], stream_a[4], stream_b[2])]
        assert len({t["txId"] for t in tx}) == 1 and len({t["ts_ms"] for t in tx}) == 1
        assert tx[0]["lsn"] < tx[1]["lsn"] < tx[2]["lsn"]
        singles = [source_of(r) for r in (stream_a[0], stream_a[1], stream_b[0], stream_a[2])]
        assert [t["lsn"] for t in singles] == sorted(t["lsn"] for t in singles)
        assert len({t["txId"] for t in singles}) == 4
        first = source_of(stream_a[0])
        assert first["sequence"].startswith("[") and first["sequence"].endswith(f',"{first["lsn"]}"]')
        assert {k: first[k] for k in ("connector", "name", "db", "xmin")} == {
            "connector": "postgresql",
            "name": p,
            "db": url.rsplit("/", 1)[1],
            "xmin": None,
        }
        assert abs(first["ts_ms"] - time.time() * 1000) < 60_000

        # the slot moves once the offsets of those records are stored (offsets are flushed
        # periodically: wait for the offset of the last record read, not just any offset)
        last_lsn = max(source_of(r)["lsn"] for r in stream_a + stream_b if r[1] is not None)

        def acked() -> bool:
            off = stored_offset(client, name)
            return (
                off is not None
                and "lsn_commit" in off
                and int(off["lsn"]) >= last_lsn
                and slot_flush(url, f"slot_{p}") >= off["lsn_commit"]
            )

        wait_until(acked, 30, "the stored offset to cover every record and the slot to reach its lsn_commit")
        off = stored_offset(client, name)
        assert off is not None and off["lsn_commit"] > slot_lsn and "snapshot" not in off
        ta.quiet(0.5)
        tb.quiet(0.1)
        moved = [source_of(r) for r in (stream_a[5], stream_a[7])]
        assert moved[0]["lsn"] == moved[1]["lsn"] and moved[0]["txId"] == moved[1]["txId"]
    finally:
        client.delete_quietly(name)
        ta.close()
        tb.close()


def test_heartbeats_let_the_slot_advance_past_other_databases_changes(
    worker: tuple[Standalone, RestClient], pg_database: str, postgres_url: str, kafka_bootstrap: str
) -> None:
    _, client = worker
    url = pg_database
    sql(url, "CREATE TABLE quiet (id int PRIMARY KEY)")
    p = prefix()
    name = f"cdc-{p}"
    client.create(name, cdc_config(url, p, heartbeat_interval_ms=200))
    beats = Topic(kafka_bootstrap, f"__debezium-heartbeat.{p}")
    try:
        wait_until(lambda: slot_flush(url, f"slot_{p}") > 0, 30, "the slot")
        table = f"elsewhere_{p}"
        sql(
            postgres_url,
            f"CREATE TABLE {table} AS SELECT generate_series(1, 1000) AS g",
            f"DROP TABLE {table}",
        )
        [(written,)] = query(postgres_url, "SELECT pg_current_wal_lsn()::text")
        wait_until(
            lambda: slot_flush(url, f"slot_{p}") >= parse_lsn(written), 30, "the slot to pass the writes"
        )
        key, value = beats.read(1)[0]
        assert key == {
            "schema": {
                "type": "struct",
                "fields": [{"type": "string", "optional": False, "field": "serverName"}],
                "optional": False,
                "name": "io.debezium.connector.common.ServerNameKey",
            },
            "payload": {"serverName": p},
        }
        assert value["schema"]["name"] == "io.debezium.connector.common.Heartbeat"
        assert abs(value["payload"]["ts_ms"] - time.time() * 1000) < 60_000
    finally:
        client.delete_quietly(name)
        beats.close()


def test_json_schema_is_debeziums(
    worker: tuple[Standalone, RestClient], pg_database: str, kafka_bootstrap: str
) -> None:
    _, client = worker
    url = pg_database
    sql(url, "CREATE TABLE t (id bigint PRIMARY KEY, ts timestamp NOT NULL, amount numeric(10,2))")
    p = prefix()
    name = f"cdc-{p}"
    client.create(name, cdc_config(url, p))
    topic = Topic(kafka_bootstrap, f"{p}.public.t")
    try:
        wait_until(lambda: client.states(name) == ("RUNNING", ["RUNNING"]), 30, "running")
        wait_until(lambda: slot_flush(url, f"slot_{p}") > 0, 30, "the slot")
        sql(url, "INSERT INTO t VALUES (7, '2024-05-06 07:08:09.123456', 12.50)")
        [(key, value)] = topic.read(1)
        assert key["schema"] == {
            "type": "struct",
            "fields": [{"type": "int64", "optional": False, "field": "id"}],
            "optional": False,
            "name": f"{p}.public.t.Key",
        }
        row = {
            "type": "struct",
            "fields": [
                {"type": "int64", "optional": False, "field": "id"},
                {
                    "type": "int64",
                    "optional": False,
                    "name": "io.debezium.time.MicroTimestamp",
                    "version": 1,
                    "field": "ts",
                },
                {
                    "type": "bytes",
                    "optional": True,
                    "name": "org.apache.kafka.connect.data.Decimal",
                    "version": 1,
                    "parameters": {"connect.decimal.precision": "10", "scale": "2"},
                    "field": "amount",
                },
            ],
            "optional": True,
            "name": f"{p}.public.t.Value",
        }
        assert value["schema"] == {
            "type": "struct",
            "fields": [
                {**row, "field": "before"},
                {**row, "field": "after"},
                {
                    "type": "struct",
                    "fields": [
                        {"type": "string", "optional": False, "field": "version"},
                        {"type": "string", "optional": False, "field": "connector"},
                        {"type": "string", "optional": False, "field": "name"},
                        {"type": "int64", "optional": False, "field": "ts_ms"},
                        {
                            "type": "string",
                            "optional": True,
                            "name": "io.debezium.data.Enum",
                            "version": 1,
                            "parameters": {"allowed": "true,last,false,incremental"},
                            "default": "false",
                            "field": "snapshot",
                        },
                        {"type": "string", "optional": False, "field": "db"},
                        {"type": "string", "optional": True, "field": "sequence"},
                        {"type": "string", "optional": False, "field": "schema"},
                        {"type": "string", "optional": False, "field": "table"},
                        {"type": "int64", "optional": True, "field": "txId"},
                        {"type": "int64", "optional": True, "field": "lsn"},
                        {"type": "int64", "optional": True, "field": "xmin"},
                    ],
                    "optional": False,
                    "name": "io.debezium.connector.postgresql.Source",
                    "field": "source",
                },
                {"type": "string", "optional": False, "field": "op"},
                {"type": "int64", "optional": True, "field": "ts_ms"},
                {
                    "type": "struct",
                    "fields": [
                        {"type": "string", "optional": False, "field": "id"},
                        {"type": "int64", "optional": False, "field": "total_order"},
                        {"type": "int64", "optional": False, "field": "data_collection_order"},
                    ],
                    "optional": True,
                    "name": "event.block",
                    "version": 1,
                    "field": "transaction",
                },
            ],
            "optional": False,
            "name": f"{p}.public.t.Envelope",
            "version": 1,
        }
        after = value["payload"]["after"]
        assert after == {"id": 7, "ts": 1714979289123456, "amount": "BOI="}  # 1250 unscaled: 0x04E2, base64
    finally:
        client.delete_quietly(name)
        topic.close()


def test_types_round_trip_in_snapshot_and_stream(
    worker: tuple[Standalone, RestClient], pg_database: str, kafka_bootstrap: str
) -> None:
    _, client = worker
    url = pg_database
    columns = (
        "i2 smallint, i4 int, i8 bigint, f4 real, f8 double precision, n numeric(12,3), nv numeric, "
        "b boolean, t text, vc varchar(20), c char(3), by bytea, d date, tm time, tm3 time(3), "
        "ts timestamp, ts3 timestamp(3), tz timestamptz, u uuid, j json, jb jsonb"
    )
    values = (
        "-3, 2147483647, 9223372036854775807, 1.5, 2.25e300, 123.456, -0.001, true, "
        "E'h\\u00e9llo \"q\"\\n', 'v', 'ab', '\\x00ff10', '2024-02-29', '13:14:15.123456', '13:14:15.123', "
        "'2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.123', '2024-02-29 13:14:15.5+02', "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2]}', '{\"b\": 1}'"
    )
    sql(url, f"CREATE TABLE ty (id int PRIMARY KEY, {columns})", f"INSERT INTO ty VALUES (1, {values})")
    p = prefix()
    name = f"cdc-{p}"
    client.create(name, cdc_config(url, p))
    topic = Topic(kafka_bootstrap, f"{p}.public.ty")
    try:
        topic.read(1)
        sql(url, f"INSERT INTO ty VALUES (2, {values})", "INSERT INTO ty (id) VALUES (3)")
        records = topic.read(3)
        expected = {
            "i2": -3,
            "i4": 2147483647,
            "i8": 9223372036854775807,
            "f4": 1.5,
            "f8": 2.25e300,
            "n": "AeJA",  # 123456 unscaled, scale 3
            "nv": {"scale": 3, "value": "/w=="},  # -1 unscaled
            "b": True,
            "t": 'h\u00e9llo "q"\n',
            "vc": "v",
            "c": "ab ",
            "by": "AP8Q",
            "d": 19782,
            "tm": 47655123456,
            "tm3": 47655123,
            "ts": 1709212455123456,
            "ts3": 1709212455123,
            "tz": "2024-02-29T11:14:15.5Z",
            "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "j": '{"a": [1, 2]}',
            "jb": '{"b": 1}',
        }
        afters = [r[1]["payload"]["after"] for r in records]
        assert afters[0] == {"id": 1, **expected}
        assert afters[1] == {"id": 2, **expected}
        assert afters[2] == {"id": 3, **dict.fromkeys(expected)}
        fields = {f["field"]: f for f in records[0][1]["schema"]["fields"][1]["fields"]}
        assert {k: (f["type"], f.get("name")) for k, f in fields.items()} == {
            "id": ("int32", None),
            "i2": ("int16", None),
            "i4": ("int32", None),
            "i8": ("int64", None),
            "f4": ("float", None),
            "f8": ("double", None),
            "n": ("bytes", "org.apache.kafka.connect.data.Decimal"),
            "nv": ("struct", "io.debezium.data.VariableScaleDecimal"),
            "b": ("boolean", None),
            "t": ("string", None),
            "vc": ("string", None),
            "c": ("string", None),
            "by": ("bytes", None),
            "d": ("int32", "io.debezium.time.Date"),
            "tm": ("int64", "io.debezium.time.MicroTime"),
            "tm3": ("int32", "io.debezium.time.Time"),
            "ts": ("int64", "io.debezium.time.MicroTimestamp"),
            "ts3": ("int64", "io.debezium.time.Timestamp"),
            "tz": ("string", "io.debezium.time.ZonedTimestamp"),
            "u": ("string", "io.debezium.data.Uuid"),
            "j": ("string", "io.debezium.data.Json"),
            "jb": ("string", "io.debezium.data.Json"),
        }
    finally:
        client.delete_quietly(name)
        topic.close()


def _ids(records: list[tuple[Any, Any]]) -> list[int]:
    return [r[0]["payload"]["id"] for r in records]


def test_connector_restart_mid_stream_loses_nothing_and_repeats_nothing(
    worker: tuple[Standalone, RestClient], pg_database: str, kafka_bootstrap: str
) -> None:
    _, client = worker
    url = pg_database
    sql(url, "CREATE TABLE t (id int PRIMARY KEY, v text)")
    p = prefix()
    name = f"cdc-{p}"
    client.create(name, cdc_config(url, p, max_batch_size=500))
    topic = Topic(kafka_bootstrap, f"{p}.public.t")
    try:
        wait_until(lambda: slot_flush(url, f"slot_{p}") > 0, 30, "the slot")
        for start in range(0, 20_000, 5_000):  # four transactions, cut into batches of 500
            sql(url, f"INSERT INTO t SELECT i, 'v' || i FROM generate_series({start + 1}, {start + 5_000}) i")
        topic.read(2_000)
        assert client.request("POST", f"/connectors/{name}/restart?includeTasks=true").status in (202, 204)
        sql(url, "INSERT INTO t SELECT i, 'w' || i FROM generate_series(20001, 21000) i")
        assert client.put(f"/connectors/{name}/stop").status == 204
        wait_until(lambda: client.states(name)[0] == "STOPPED", 30, "stopped")
        sql(url, "INSERT INTO t SELECT i, 'x' || i FROM generate_series(21001, 22000) i")  # while stopped
        assert client.put(f"/connectors/{name}/resume").status == 202
        records = topic.read(22_000, timeout=60)
        assert _ids(records) == list(range(1, 22_001))
        assert {r[1]["payload"]["op"] for r in records} == {"c"}
        topic.quiet(1.0)
    finally:
        client.delete_quietly(name)
        topic.close()


def _metric(client: RestClient, metric: str, connector: str) -> float:
    text = client.get("/metrics").body.decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or metric not in line or f'connector="{connector}"' not in line:
            continue
        total += float(line.rsplit(" ", 1)[1])
    return total


def test_slot_does_not_advance_before_kafka_has_the_records(
    worker: tuple[Standalone, RestClient], pg_database: str
) -> None:
    """The task reads the changes but Kafka cannot take them: PostgreSQL must keep them."""
    from engine.broker.launcher import free_port

    _, client = worker
    url = pg_database
    sql(url, "CREATE TABLE t (id int PRIMARY KEY)")
    p = prefix()
    name = f"cdc-{p}"
    slot = f"slot_{p}"
    dead_kafka = f"127.0.0.1:{free_port()}"
    overrides = {
        "producer.override.bootstrap.servers": dead_kafka,
        "producer.override.message.timeout.ms": 2000,
    }
    client.create(name, cdc_config(url, p, **overrides))
    try:
        wait_until(lambda: slot_flush(url, slot) > 0, 30, "the slot")
        sql(url, "INSERT INTO t SELECT generate_series(1, 100)")
        # the records wait in the producer through several offset flushes (300 ms), then fail
        wait_until(lambda: client.states(name)[1] == ["FAILED"], 30, "the producer to give up")
        assert (
            "Unrecoverable exception from producer send callback" in client.status(name)["tasks"][0]["trace"]
        )
        assert _metric(client, "source_record_poll_total", name) == 100  # read, never delivered
    finally:
        client.delete_quietly(name)
    wait_until(
        lambda: (
            query(url, f"SELECT active FROM pg_replication_slots WHERE slot_name = '{slot}'") == [(False,)]
        ),
        60,
        "the slot to be released",
    )
    [(pending,)] = query(
        url,
        f"SELECT count(*) FROM pg_logical_slot_peek_binary_changes('{slot}', NULL, NULL, "
        f"'proto_version', '1', 'publication_names', 'pub_{p}') WHERE get_byte(data, 0) = ascii('I')",
    )
    assert pending == 100  # the slot still holds every insert: nothing was acknowledged


def test_unreachable_database_fails_the_task_naming_the_host(
    worker: tuple[Standalone, RestClient], pg_database: str
) -> None:
    from engine.broker.launcher import free_port

    proc, client = worker
    port = free_port()
    p = prefix()
    name = f"cdc-{p}"
    config = {
        **cdc_config(pg_database, p),
        "database.port": str(port),
        "database.password": "s3cret-never-shown",
        "errors.max.retries": "2",
        "retriable.restart.connector.wait.ms": "100",
    }
    client.create(name, config)
    try:
        wait_until(lambda: client.states(name)[1] == ["FAILED"], 30, "the task to fail")
        trace = client.status(name)["tasks"][0]["trace"]
        assert f"Cannot reach PostgreSQL at 127.0.0.1:{port}" in trace and "after 3 attempts" in trace
        assert "s3cret-never-shown" not in trace
        assert "s3cret-never-shown" not in proc.log()
        assert client.ok("GET", f"/connectors/{name}")["config"]["database.password"] == "[hidden]"
    finally:
        client.delete_quietly(name)


class Writer(threading.Thread):
    """Inserts 200 rows per transaction, about 50 transactions a second, through server restarts."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.done = threading.Event()
        self.committed = 0
        self.failures = 0

    def run(self) -> None:
        conn = None
        i = 0
        while not self.done.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg2.connect(self.url, connect_timeout=2)
                with conn.cursor() as cur:
                    cur.execute(
                        "INSERT INTO t SELECT g, 'v' FROM generate_series(%s, %s) g",
                        (i * 200 + 1, i * 200 + 200),
                    )
                conn.commit()
                self.committed += 1
                time.sleep(0.02)
            except psycopg2.Error:
                self.failures += 1  # the server is restarting: the outcome is read back from the table
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
            i += 1
        if conn is not None:
            conn.close()


@pytest.mark.slow
def test_postgres_restart_mid_stream_loses_nothing(
    worker: tuple[Standalone, RestClient], kafka_bootstrap: str
) -> None:
    _, client = worker
    server = PostgresServer()
    server.start()
    writer: Writer | None = None
    try:
        url = server.url()
        sql(url, "CREATE TABLE t (id int PRIMARY KEY, v text)")
        p = prefix()
        name = f"cdc-{p}"
        client.create(name, cdc_config(url, p, max_batch_size=2000, retriable_restart_connector_wait_ms=500))
        topic = Topic(kafka_bootstrap, f"{p}.public.t")
        try:
            wait_until(lambda: slot_flush(url, f"slot_{p}") > 0, 30, "the slot")
            writer = Writer(url)
            writer.start()
            topic.read(2_000, timeout=60)
            server.restart("fast")  # the walsender goes away mid-stream, the writer too
            restarted_at = writer.committed
            wait_until(
                lambda: writer is not None and writer.committed >= restarted_at + 20, 60, "writes after"
            )
            writer.done.set()
            writer.join(10)
            expected = [r[0] for r in query(url, "SELECT id FROM t ORDER BY id")]
            records = topic.read(len(expected), timeout=90)
            assert _ids(records) == expected  # in commit order, each once
            topic.quiet(1.0)
            assert client.states(name) == ("RUNNING", ["RUNNING"])
        finally:
            client.delete_quietly(name)
            topic.close()
    finally:
        if writer is not None:
            writer.done.set()
            writer.join(10)
        server.destroy()
