"""Benchmark: the JDBC sink writing N records from Kafka into PostgreSQL, upsert and insert.

Run by hand (not a timed test)::

    python -m perf.jdbc_sink [--records 1000000] [--modes upsert,insert] [--batch-size 10000]
                             [--keys 500000] [--out perf/results]

``KAFKA_BOOTSTRAP_SERVERS`` names a broker (else an embedded one is started) and
``POSTGRES_URL`` a PostgreSQL server (else a throwaway one is started with
:class:`engine.testing.postgres.PostgresServer`).

For each mode: a fresh topic (one partition) is filled first with N JsonConverter records
(schema + payload: ``id`` int64, ``name`` string, ``amount`` Decimal(10,2), ``qty`` int32,
``ts`` Timestamp); in upsert mode the ids repeat every ``--keys`` records, so half the
records insert a row and half update one. Then a standalone worker (one worker process)
runs ``JdbcSink`` with ``auto.create=true`` into a fresh database, and the clock runs from
the moment the REST status shows the task RUNNING until the connector's consumer group has
committed offset N (the sink commits a batch's transaction inside ``put``, and offsets are
committed after ``put``; ``offset.flush.interval.ms=200``). The table is checked after:
row count and a sample of values.

Prints a JSON report and writes ``<out>/jdbc_sink-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Consumer, Producer
from confluent_kafka import TopicPartition as KTP

from engine.broker.launcher import free_port
from perf._util import Standalone, Topics, ensure_bytecode, machine, write_props

SCHEMA = json.dumps(
    {
        "type": "struct",
        "name": "item",
        "fields": [
            {"field": "id", "type": "int64"},
            {"field": "name", "type": "string", "optional": True},
            {
                "field": "amount",
                "type": "bytes",
                "name": "org.apache.kafka.connect.data.Decimal",
                "version": 1,
                "parameters": {"scale": "2"},
                "optional": True,
            },
            {"field": "qty", "type": "int32"},
            {"field": "ts", "type": "int64", "name": "org.apache.kafka.connect.data.Timestamp", "version": 1},
        ],
    },
    separators=(",", ":"),
)
# Decimal(scale 2) payloads are base64 of the unscaled big-endian value: a few fixed ones
_AMOUNTS = ["AJY=", "MDk=", "AQ==", "JxA="]  # 1.50, 123.45, 0.01, 100.00


def produce(bootstrap: str, topic: str, records: int, keys: int) -> float:
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "batch.size": 1_000_000, "acks": "all"})
    t0 = time.monotonic()
    head = '{"schema":' + SCHEMA + ',"payload":{"id":'
    base_ms = 1_700_000_000_000
    for i in range(records):
        value = (
            f'{head}{i % keys},"name":"name-{i}","amount":"{_AMOUNTS[i & 3]}","qty":{i & 1023},'
            f'"ts":{base_ms + i}}}}}'
        )
        while True:
            try:
                p.produce(topic, value.encode())
                break
            except BufferError:
                p.poll(0.05)
        if i % 100_000 == 0:
            p.poll(0)
    assert p.flush(120) == 0
    return time.monotonic() - t0


def rest(port: int, method: str, path: str, body: Any = None) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            method, path, json.dumps(body) if body is not None else None, {"Content-Type": "application/json"}
        )
        resp = conn.getresponse()
        data = resp.read()
        return json.loads(data) if data else None
    finally:
        conn.close()


def committed(bootstrap: str, group: str, topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        (tp,) = c.committed([KTP(topic, 0)], timeout=10)
        return max(tp.offset, 0)
    finally:
        c.close()


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    from engine.testing.postgres import PostgresServer, postgres_url_from_env

    url = postgres_url_from_env()
    if url:
        yield url
        return
    with PostgresServer() as server:
        yield server.url()


def run_mode(
    bootstrap: str, pg_url: str, work: Path, mode: str, records: int, keys: int, batch_size: int
) -> dict[str, Any]:
    from engine.testing.pytest_postgres import admin_execute, with_database

    topics = Topics(bootstrap, "perf-jdbc")
    topic = topics.create(mode)
    db = f"perf_jdbc_{mode}_{uuid.uuid4().hex[:6]}"
    admin_execute(pg_url, f'CREATE DATABASE "{db}"')
    url = with_database(pg_url, db)
    produce_s = produce(bootstrap, topic, records, keys if mode == "upsert" else records)
    port = free_port()
    worker = write_props(
        work / f"{mode}-worker.properties",
        {
            "bootstrap.servers": bootstrap,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "offset.storage.file.filename": work / f"{mode}.offsets",
            "offset.flush.interval.ms": 200,
            "worker.processes": 1,
            "listeners": f"http://127.0.0.1:{port}",
        },
    )
    proc = Standalone(work, worker, label=f"jdbc-{mode}")
    name = f"jdbc-{mode}-{uuid.uuid4().hex[:6]}"
    try:
        deadline = time.monotonic() + 60
        while True:
            proc.check()
            try:
                rest(port, "GET", "/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        config = {
            "connector.class": "JdbcSink",
            "connection.url": url,
            "topics": topic,
            "table.name.format": "items",
            "insert.mode": mode,
            "pk.mode": "record_value" if mode != "insert" else "none",
            "pk.fields": "id" if mode != "insert" else "",
            "auto.create": "true",
            "batch.size": str(batch_size),
        }
        rest(port, "POST", "/connectors", {"name": name, "config": config})
        while True:
            proc.check()
            status = rest(port, "GET", f"/connectors/{name}/status") or {}
            tasks = status.get("tasks") or []
            if tasks and tasks[0]["state"] == "RUNNING":
                break
            if tasks and tasks[0]["state"] == "FAILED":
                raise RuntimeError(tasks[0].get("trace"))
            time.sleep(0.02)
        t0 = time.monotonic()
        cpu0 = sum(
            _cpu(p) for p in [psutil.Process(proc.proc.pid), *psutil.Process(proc.proc.pid).children(True)]
        )
        while committed(bootstrap, f"connect-{name}", topic) < records:
            proc.check()
            status = rest(port, "GET", f"/connectors/{name}/status") or {}
            if any(t["state"] == "FAILED" for t in status.get("tasks", [])):
                raise RuntimeError(status["tasks"][0].get("trace"))
            time.sleep(0.05)
        seconds = time.monotonic() - t0
        cpu = (
            sum(
                _cpu(p)
                for p in [psutil.Process(proc.proc.pid), *psutil.Process(proc.proc.pid).children(True)]
            )
            - cpu0
        )
        rows, sample = check_table(url, mode, records, keys)
        return {
            "mode": mode,
            "records": records,
            "distinct_keys": keys if mode == "upsert" else records,
            "batch_size": batch_size,
            "rows_in_table": rows,
            "seconds": round(seconds, 3),
            "records_per_s": round(records / seconds),
            "worker_cpu_s": round(cpu, 2),
            "produce_s": round(produce_s, 2),
            "sample": sample,
        }
    finally:
        proc.stop()
        topics.delete(topic)
        admin_execute(pg_url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _cpu(p: psutil.Process) -> float:
    try:
        t = p.cpu_times()
        return float(t.user + t.system)
    except psutil.Error:
        return 0.0


def check_table(url: str, mode: str, records: int, keys: int) -> tuple[int, Any]:
    import adbc_driver_postgresql.dbapi as pg

    with pg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM items")
        (count,) = cur.fetchone()
        last = records - 1
        cur.execute(
            "SELECT id, name, amount::text, qty FROM items WHERE id = $1",
            parameters=(last % keys if mode == "upsert" else last,),
        )
        sample = list(cur.fetchone())
    expected = min(keys, records) if mode == "upsert" else records
    if count != expected or sample[1] != f"name-{last}":
        raise RuntimeError(f"table check failed: {count} rows (want {expected}), sample {sample}")
    return int(count), sample


def main(argv: Sequence[str] | None = None) -> int:
    ensure_bytecode()  # as installed: no module compiled inside a timed run
    ap = argparse.ArgumentParser(prog="python -m perf.jdbc_sink", description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=500_000, help="distinct ids in upsert mode")
    ap.add_argument("--modes", default="upsert,insert")
    ap.add_argument("--batch-size", type=int, default=10_000)
    ap.add_argument("--out", default="perf/results")
    args = ap.parse_args(argv)
    from perf.file_pipeline import broker_for_benchmark

    results = []
    with (
        broker_for_benchmark() as (bootstrap, broker, _),
        postgres() as pg_url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            print(f"{mode}: producing {args.records} records, then sinking...", file=sys.stderr, flush=True)
            results.append(
                run_mode(bootstrap, pg_url, Path(tmp), mode, args.records, args.keys, args.batch_size)
            )
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    report = {
        "benchmark": "jdbc_sink",
        "command": "python -m perf.jdbc_sink " + " ".join(argv if argv is not None else sys.argv[1:]),
        "broker": broker,
        "machine": machine(),
        "results": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out / f"jdbc_sink-{stamp}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(json.dumps(report, indent=2, default=str))
    print(f"results: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
