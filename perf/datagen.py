"""Datagen into Kafka: records/s of a standalone worker generating N records (default 1 000 000).

    python -m perf.datagen [--records N] [--quickstart users] [--value-converter CLASS]

Starts ``connect-standalone`` with one Datagen connector (``max.interval=0``, ``iterations=N``)
on the broker of ``KAFKA_BOOTSTRAP_SERVERS`` and times from the worker's start until the
topic holds N records. Keys are the quickstart's key field (StringConverter), values JSON
without schemas by default. Also reports the in-process generation rate (numpy → Arrow, no Kafka).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from connectors.datagen.generator import RecordGenerator
from connectors.datagen.quickstarts import QUICKSTARTS
from perf._util import LoggedProcess, Topics, Watermark, ensure_bytecode, write_props


def generation_rate(quickstart: str, n: int) -> float:
    gen = RecordGenerator(*QUICKSTARTS[quickstart], seed=1)
    t0 = time.perf_counter()
    for start in range(0, n, 10_000):
        gen.records(start, min(n, start + 10_000))
    return n / (time.perf_counter() - t0)


def main() -> None:
    ensure_bytecode()  # as installed: no module compiled inside a timed run
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--quickstart", default="users", choices=sorted(QUICKSTARTS))
    ap.add_argument("--value-converter", default="org.apache.kafka.connect.json.JsonConverter")
    args = ap.parse_args()
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        sys.exit("set KAFKA_BOOTSTRAP_SERVERS (e.g. arrowsmith broker start)")
    topics = Topics(bootstrap, "perf-datagen")
    topic = topics.create(args.quickstart)
    work = Path(tempfile.mkdtemp(prefix="perf-datagen-"))
    worker = write_props(
        work / "worker.properties",
        {
            "bootstrap.servers": bootstrap,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": args.value_converter,
            "value.converter.schemas.enable": "false",
            "offset.storage.file.filename": work / "offsets",
            "listeners": "http://127.0.0.1:0",
            "worker.processes": 1,
        },
    )
    conn = {
        "name": "datagen",
        "connector.class": "Datagen",
        "kafka.topic": topic,
        "quickstart": args.quickstart,
        "iterations": args.records,
        "max.interval": 0,
        "random.seed": 1,
        "tasks.max": 1,
    }
    connector = write_props(work / "datagen.properties", conn)
    watermark = Watermark(bootstrap, topic)
    t0 = time.monotonic()
    proc = LoggedProcess(
        [sys.executable, "-m", "controlplane", "standalone", str(worker), str(connector)], work / "log.txt"
    )
    first = None
    try:
        while True:
            proc.check()
            got = watermark.records()
            if got and first is None:
                first = (time.monotonic(), got)
            if got >= args.records:
                break
            time.sleep(0.05)
        t1 = time.monotonic()
    finally:
        proc.stop()
        watermark.close()
        topics.delete(topic)
    assert first is not None
    steady = (args.records - first[1]) / (t1 - first[0]) if t1 > first[0] else float("nan")
    print(
        json.dumps(
            {
                "quickstart": args.quickstart,
                "records": args.records,
                "seconds_from_worker_start": round(t1 - t0, 2),
                "records_per_s_from_first_record": round(steady),
                "records_per_s_including_startup": round(args.records / (t1 - t0)),
                "generation_only_records_per_s": round(generation_rate(args.quickstart, args.records)),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
