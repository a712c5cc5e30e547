"""Benchmark: PostgreSQL change data capture into Kafka, snapshot and streaming, rows/s.

Run by hand (not a timed test)::

    KAFKA_BOOTSTRAP_SERVERS=host:port python -m perf.cdc [--rows 1000000] [--tx-rows 100000]
                                                         [--max-batch-size 10000] [--out perf/results]

Without ``KAFKA_BOOTSTRAP_SERVERS`` a broker is started for the run. A throwaway PostgreSQL
15 (:class:`engine.testing.postgres.PostgresServer`, ``wal_level=logical``) and a real
standalone worker (``python -m controlplane standalone``, one worker process, JsonConverter
with schemas for keys and values, as a Debezium deployment is usually configured;
``--no-schemas`` for payloads only) are
started; the connector is created over REST. Two scenarios, each on its own table, slot and
topic, the table being ``id bigint primary key, name text, amount numeric(12,2),
created timestamptz, active boolean``:

* ``snapshot``: ``--rows`` rows are inserted first; the clock runs from the connector's
  creation (``snapshot.mode=initial``) until the topic holds ``--rows`` records.
* ``streaming``: the connector is created on the empty table (``snapshot.mode=no_data``) and
  streaming; then ``--rows`` rows are inserted in transactions of ``--tx-rows`` rows
  (``INSERT … SELECT generate_series``, one after the other); the clock runs from the first
  insert until the topic holds ``--rows`` records. PostgreSQL's own time to insert the rows
  is reported too (``insert_s``): the events cannot arrive faster than that.

The number of records is read from the topic's high watermark; one record is read back and
checked to be a Debezium ``c``/``r`` envelope. CPU seconds are those of the worker (control
plane and worker process) and of PostgreSQL (every backend, including the walsender) over
the window. Writes ``<out>/cdc-<UTC time>.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg2
from confluent_kafka import Consumer, TopicPartition

from perf._util import LoggedProcess, ProcessTree, Watermark, ensure_bytecode, machine, write_props

LISTENING = re.compile(r"REST server listening at (http://[^\s/]+/)")
TABLE = "id bigint PRIMARY KEY, name text, amount numeric(12,2), created timestamptz, active boolean"
FILL = (
    "INSERT INTO {table} SELECT g, 'name-' || g, (g % 100000) / 100.0, "
    "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', g % 2 = 0 "
    "FROM generate_series({start}, {stop}) g"
)


def _rest(base: str, method: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=60) as resp:
        text = resp.read()
        return json.loads(text) if text else None


class Worker:
    def __init__(self, work: Path, bootstrap: str, schemas: bool = True) -> None:
        props = write_props(
            work / "worker.properties",
            {
                "bootstrap.servers": bootstrap,
                "key.converter": "org.apache.kafka.connect.json.JsonConverter",
                "value.converter": "org.apache.kafka.connect.json.JsonConverter",
                "key.converter.schemas.enable": str(schemas).lower(),
                "value.converter.schemas.enable": str(schemas).lower(),
                "offset.storage.file.filename": work / "connect.offsets",
                "offset.flush.interval.ms": 1000,
                "listeners": "http://127.0.0.1:0",
                "worker.processes": 1,
            },
        )
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = LoggedProcess(
            [sys.executable, "-m", "controlplane", "standalone", str(props)], work / "worker.log", env=env
        )
        deadline = time.monotonic() + 60
        while (match := LISTENING.search(self.proc.log(100_000))) is None:
            self.proc.check()
            if time.monotonic() > deadline:
                raise RuntimeError("the worker's REST server did not start:\n" + self.proc.log())
            time.sleep(0.1)
        self.url = match.group(1)

    def create(self, name: str, config: dict[str, str]) -> None:
        _rest(self.url, "POST", "/connectors", {"name": name, "config": config})

    def delete(self, name: str) -> None:
        _rest(self.url, "DELETE", f"/connectors/{name}")

    def stop(self) -> None:
        self.proc.stop()


def _postgres_tree(data_dir: Path) -> ProcessTree:
    """PostgreSQL's processes (the postmaster and every backend, the walsender included)."""
    pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    return ProcessTree(pid, root_label="postgres")


def _connector_config(url: str, prefix: str, snapshot_mode: str, max_batch: int) -> dict[str, str]:
    from urllib.parse import unquote, urlsplit

    u = urlsplit(url)
    return {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.hostname": u.hostname or "127.0.0.1",
        "database.port": str(u.port),
        "database.user": unquote(u.username or ""),
        "database.password": unquote(u.password or ""),
        "database.dbname": u.path.lstrip("/"),
        "topic.prefix": prefix,
        "slot.name": f"slot_{prefix}",
        "publication.name": f"pub_{prefix}",
        "publication.autocreate.mode": "filtered",
        "table.include.list": f"public\\.{prefix}",
        "snapshot.mode": snapshot_mode,
        "max.batch.size": str(max_batch),
        "poll.interval.ms": "100",
    }


def _first_record(bootstrap: str, topic: str) -> dict[str, Any]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"cdc-check-{uuid.uuid4().hex[:8]}"})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None and m.error() is None and m.value() is not None:
                value: dict[str, Any] = json.loads(m.value() or b"{}")
                return value
        raise RuntimeError(f"no record in {topic}")
    finally:
        c.close()


def _wait_records(
    bootstrap: str, topic: str, n: int, timeout_s: float, worker: Worker, trees: Sequence[ProcessTree]
) -> float:
    """Seconds (monotonic clock) when the topic held ``n`` records (reading the processes' CPU
    meanwhile, so processes that exit before the end are counted)."""
    deadline = time.monotonic() + timeout_s
    mark: Watermark | None = None
    try:
        while True:
            worker.proc.check()
            for tree in trees:
                tree.cpu()
            try:
                if mark is None:
                    mark = Watermark(bootstrap, topic)
                if mark.records() >= n:
                    return time.monotonic()
            except Exception:  # the topic does not exist yet
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{topic}: fewer than {n} records after {timeout_s:.0f} s")
            time.sleep(0.05)
    finally:
        if mark is not None:
            mark.close()


def run_scenario(
    kind: str,
    url: str,
    data_dir: Path,
    bootstrap: str,
    worker: Worker,
    rows: int,
    tx_rows: int,
    max_batch: int,
) -> dict[str, Any]:
    prefix = f"bench{kind[:4]}{uuid.uuid4().hex[:6]}"
    topic = f"{prefix}.public.{prefix}"
    conn = psycopg2.connect(url)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(f"CREATE TABLE {prefix} ({TABLE})")
    insert_s = 0.0
    if kind == "snapshot":
        t0 = time.monotonic()
        cur.execute(FILL.format(table=prefix, start=1, stop=rows))
        insert_s = time.monotonic() - t0
    tree = ProcessTree(worker.proc.proc.pid)
    pg_tree = _postgres_tree(data_dir)
    name = f"cdc-{prefix}"
    config = _connector_config(url, prefix, "initial" if kind == "snapshot" else "no_data", max_batch)
    if kind == "snapshot":
        cpu0, pg0 = tree.cpu(), pg_tree.cpu()
        start = time.monotonic()
        worker.create(name, config)
    else:
        worker.create(name, config)
        deadline = time.monotonic() + 60
        while True:  # streaming: the slot is being read
            cur.execute(f"SELECT active FROM pg_replication_slots WHERE slot_name = 'slot_{prefix}'")
            row = cur.fetchone()
            if row is not None and row[0]:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the connector did not start streaming:\n" + worker.proc.log())
            time.sleep(0.05)
        time.sleep(1.0)  # let the task settle into its read loop
        cpu0, pg0 = tree.cpu(), pg_tree.cpu()
        start = time.monotonic()
        for lo in range(1, rows + 1, tx_rows):
            cur.execute(FILL.format(table=prefix, start=lo, stop=min(rows, lo + tx_rows - 1)))
            pg_tree.cpu()
        insert_s = time.monotonic() - start
    end = _wait_records(bootstrap, topic, rows, 600, worker, (tree, pg_tree))
    cpu, pg_cpu = tree.cpu() - cpu0, pg_tree.cpu() - pg0
    seconds = end - start
    first = _first_record(bootstrap, topic)
    payload = first.get("payload", first)
    assert payload["op"] == ("r" if kind == "snapshot" else "c"), payload
    assert payload["after"]["id"] == 1 and payload["source"]["connector"] == "postgresql", payload
    worker.delete(name)
    cur.execute(f"DROP TABLE {prefix}")
    conn.close()
    return {
        "scenario": kind,
        "rows": rows,
        "tx_rows": tx_rows if kind == "streaming" else None,
        "max_batch_size": max_batch,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds, 1),
        "insert_s": round(insert_s, 3),
        "worker_cpu_s": round(cpu, 2),
        "postgres_cpu_s": round(pg_cpu, 2),
        "worker_cpu_us_per_row": round(cpu / rows * 1e6, 3),
        "topic": topic,
    }


def render(results: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| scenario | rows | seconds | rows/s | PostgreSQL insert s | worker CPU s | µs CPU/row "
        "| PostgreSQL CPU s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['scenario']} | {r['rows']:,} | {r['seconds']:.2f} | {r['rows_per_s']:,.0f} | "
            f"{r['insert_s']:.2f} | {r['worker_cpu_s']:.1f} | {r['worker_cpu_us_per_row']:.2f} | "
            f"{r['postgres_cpu_s']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ensure_bytecode()  # as installed: no module compiled inside a timed run
    p = argparse.ArgumentParser(prog="python -m perf.cdc", description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--tx-rows", type=int, default=100_000, help="rows per inserting transaction (streaming)")
    p.add_argument("--max-batch-size", type=int, default=10_000, help="the connector's max.batch.size")
    p.add_argument("--scenarios", default="streaming,snapshot")
    p.add_argument(
        "--no-schemas", action="store_true", help="JsonConverter schemas.enable=false (payloads only)"
    )
    p.add_argument("--out", default="perf/results")
    args = p.parse_args(argv)

    from engine.broker.launcher import KafkaBroker, bootstrap_from_env
    from engine.testing.postgres import PostgresServer

    broker = None
    bootstrap = bootstrap_from_env()
    if bootstrap is None:
        broker = KafkaBroker()
        broker.start()
        bootstrap = broker.bootstrap_servers
    server = PostgresServer()
    server.start()
    work = Path(tempfile.mkdtemp(prefix="perf-cdc-"))
    worker = Worker(work, bootstrap, schemas=not args.no_schemas)
    results = []
    try:
        for kind in args.scenarios.split(","):
            print(f"{kind}: {args.rows:,} rows …", file=sys.stderr, flush=True)
            results.append(
                run_scenario(
                    kind,
                    server.url(),
                    server.data_dir,
                    bootstrap,
                    worker,
                    args.rows,
                    args.tx_rows,
                    args.max_batch_size,
                )
            )
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    finally:
        worker.stop()
        server.destroy()
        if broker is not None:
            broker.stop()
    report = {
        "benchmark": "cdc",
        "command": "python -m perf.cdc " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "json_schemas": not args.no_schemas,
        "results": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"cdc-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(render(results))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
