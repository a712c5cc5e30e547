"""DuckDB sink through the real runtime from real Kafka: upsert with deletes, a record that
does not fit the table dead-lettered with the rest kept, and a restart with no duplicates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KTP

from tests.integration.rest_client import rest_worker, unique, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.processes]

SCHEMA = {
    "type": "struct",
    "name": "shop.Item",
    "optional": False,
    "fields": [
        {"field": "id", "type": "int32", "optional": False},
        {"field": "name", "type": "string", "optional": True},
        {"field": "qty", "type": "int32", "optional": True},
        {
            "field": "at",
            "type": "int64",
            "optional": True,
            "name": "org.apache.kafka.connect.data.Timestamp",
            "version": 1,
        },
    ],
}


def envelope(payload: dict[str, Any] | None) -> bytes | None:
    return None if payload is None else json.dumps({"schema": SCHEMA, "payload": payload}).encode()


def produce(bootstrap: str, topic: str, records: list[tuple[str, dict[str, Any] | None]]) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for key, value in records:
        p.produce(topic, envelope(value), key=key.encode())
    assert p.flush(30) == 0


def table(path: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_upsert_deletes_dead_letters_and_restart(tmp_path: Path, kafka_bootstrap: str, new_topic) -> None:  # type: ignore[no-untyped-def]
    topic = new_topic(1)
    dlq = f"{topic}-dlq"
    db = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(db))  # qty is TINYINT: a quantity of 1000 does not fit
    con.execute(
        'CREATE TABLE "items of shop" (k VARCHAR PRIMARY KEY, id INTEGER NOT NULL, name VARCHAR, '
        'qty TINYINT, "at" TIMESTAMP)'
    )
    con.close()
    first = [
        (f"k{i}", {"id": i, "name": f"item {i}", "qty": i % 100, "at": 1700000000000 + i}) for i in range(200)
    ]
    first[50] = ("k50", {"id": 50, "name": "too many", "qty": 1000, "at": None})  # the bad record (offset 50)
    first += [("k1", {"id": 1, "name": "renamed", "qty": 7, "at": None}), ("k2", None), ("k3", None)]
    produce(kafka_bootstrap, topic, first)
    gen = rest_worker(
        tmp_path / "w",
        kafka_bootstrap,
        **{
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "true",
        },
    )
    proc, client = next(gen)
    name = unique("duck")
    try:
        client.create(
            name,
            {
                "connector.class": "DuckDBSink",
                "topics": topic,
                "connection.url": f"duckdb:{db}",
                "table.name.format": "items of shop",
                "insert.mode": "upsert",
                "pk.mode": "record_key",
                "pk.fields": "k",
                "delete.enabled": "true",
                "errors.tolerance": "all",
                "errors.deadletterqueue.topic.name": dlq,
                "errors.deadletterqueue.topic.replication.factor": "1",
                "errors.deadletterqueue.context.headers.enable": "true",
            },
        )

        def committed() -> int | None:
            offsets = client.ok("GET", f"/connectors/{name}/offsets")["offsets"]
            return offsets[0]["offset"]["kafka_offset"] if offsets else None

        wait_until(lambda: committed() == len(first), 60, "the first records committed")
        assert client.put(f"/connectors/{name}/stop").status == 204
        client.wait_states(name, "STOPPED", [])
        expected = {f"k{i}": (i, f"item {i}", i % 100) for i in range(200) if i not in (2, 3, 50)}
        expected["k1"] = (1, "renamed", 7)
        got = table(db, 'SELECT k, id, name, qty FROM "items of shop"')
        assert {k: (i, n, q) for k, i, n, q in got} == expected
        assert table(db, 'SELECT epoch_ms("at") FROM "items of shop" WHERE k = \'k10\'') == [(1700000000010,)]

        c = Consumer(
            {"bootstrap.servers": kafka_bootstrap, "group.id": unique("dlq"), "enable.auto.commit": False}
        )
        c.assign([KTP(dlq, 0, 0)])
        dead: list[Any] = []
        try:
            wait_until(
                lambda: dead.extend(m for m in c.consume(10, 0.5) if m.error() is None) or dead, 30, "the DLQ"
            )
        finally:
            c.close()
        [bad] = dead
        assert bad.key() == b"k50" and json.loads(bad.value())["payload"]["qty"] == 1000
        headers = dict(bad.headers())
        assert headers["__connect.errors.offset"] == b"50"
        assert headers["__connect.errors.stage"] == b"TASK_PUT"
        assert b"does not fit" in headers["__connect.errors.exception.message"]

        # a restart: more updates, and the last ones again (a redelivery must not duplicate rows)
        more = [(f"k{i}", {"id": i, "name": f"v2 {i}", "qty": 1, "at": None}) for i in range(190, 210)]
        produce(kafka_bootstrap, topic, more + more[-5:])
        assert client.put(f"/connectors/{name}/resume").status == 202
        wait_until(lambda: committed() == len(first) + len(more) + 5, 60, "the second records committed")
        assert client.put(f"/connectors/{name}/stop").status == 204
        client.wait_states(name, "STOPPED", [])
        for i in range(190, 210):
            expected[f"k{i}"] = (i, f"v2 {i}", 1)
        got = table(db, 'SELECT k, id, name, qty FROM "items of shop"')
        assert len(got) == len(expected)
        assert {k: (i, n, q) for k, i, n, q in got} == expected
    finally:
        client.delete_quietly(name)
        try:
            next(gen, None)
        finally:
            proc.stop()
