"""``arrowsmith quickstart``: Kafka Connect's file quickstart, on an embedded broker.

Writes the same four files as Kafka's quickstart (a worker config and the file source
and sink connector configs, plus the input file) into a working directory, starts a
broker unless ``KAFKA_BOOTSTRAP_SERVERS`` names one, runs a standalone worker until every
line has arrived in the sink file, checks it, and prints what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from controlplane import standalone
from controlplane.herder import StandaloneHerder
from engine.broker.launcher import KafkaBroker, bootstrap_from_env

log = logging.getLogger(__name__)

WORKER = """\
bootstrap.servers={bootstrap}
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=true
value.converter.schemas.enable=true
offset.storage.file.filename={dir}/connect.offsets
offset.flush.interval.ms=10000
listeners=http://127.0.0.1:{port}
"""
SOURCE = """\
name=local-file-source
connector.class=FileStreamSource
tasks.max=1
file={dir}/test.txt
topic=connect-test-{stamp}
batch.size=10000
"""
SINK = """\
name=local-file-sink
connector.class=FileStreamSink
tasks.max=1
file={dir}/test.sink.txt
topics=connect-test-{stamp}
"""


@contextlib.contextmanager
def _bootstrap() -> Iterator[str]:
    existing = bootstrap_from_env()
    if existing:
        yield existing
        return
    print("Starting an embedded Kafka broker (the first run fetches its jars with Maven)...", flush=True)
    with KafkaBroker() as broker:
        print(f"Kafka broker up at {broker.bootstrap_servers}", flush=True)
        yield broker.bootstrap_servers


def write_files(work: Path, bootstrap: str, lines: int) -> tuple[Path, Path, Path]:
    stamp = str(int(time.time()))
    worker = work / "connect-standalone.properties"
    source = work / "connect-file-source.properties"
    sink = work / "connect-file-sink.properties"
    worker.write_text(WORKER.format(bootstrap=bootstrap, dir=work, port=_rest_port()))
    source.write_text(SOURCE.format(dir=work, stamp=stamp))
    sink.write_text(SINK.format(dir=work, stamp=stamp))
    with open(work / "test.txt", "w", encoding="utf-8") as f:
        f.writelines(f"line {i:07d}: hello from arrowsmith\n" for i in range(lines))
    (work / "test.sink.txt").unlink(missing_ok=True)
    (work / "connect.offsets").unlink(missing_ok=True)
    return worker, source, sink


def _rest_port() -> int:
    """8083, Kafka Connect's port, when it is free; else any free port (0)."""
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", 8083))
        except OSError:
            return 0
    return 8083


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def quickstart(lines: int, directory: str | None, timeout: float, log_level: str = "INFO") -> int:
    work = Path(directory) if directory else Path(tempfile.mkdtemp(prefix="arrowsmith-quickstart-"))
    work.mkdir(parents=True, exist_ok=True)
    with _bootstrap() as bootstrap:
        worker, source, sink = write_files(work, bootstrap, lines)
        print(
            f"Working directory: {work}\n  {worker.name}\n  {source.name}\n  {sink.name}\n"
            f"  test.txt ({lines} lines)",
            flush=True,
        )
        out = work / "test.sink.txt"
        started = time.monotonic()

        async def until(herder: StandaloneHerder) -> None:
            while count_lines(out) < lines:
                if time.monotonic() - started > timeout:
                    return
                for name in herder.connectors:
                    st = herder.status(name)
                    failed = [t for t in st["tasks"] if t["state"] == "FAILED"]
                    if failed:
                        print(f"Task of {name} failed:\n{failed[0].get('trace', '')}", flush=True)
                        return
                await asyncio.sleep(0.25)

        prepared = standalone.prepare(str(worker), [str(source), str(sink)], log_level=log_level)
        standalone.run_blocking(prepared, until, log_level)
        elapsed = time.monotonic() - started
    expected = (work / "test.txt").read_bytes()
    got = out.read_bytes() if out.exists() else b""
    if got == expected:
        print(
            f"\nQuickstart OK: {lines} lines went file -> Kafka -> file, complete and in order, "
            f"in {elapsed:.1f}s ({lines / elapsed:,.0f} lines/s including start-up).\n"
            f"Output: {out}"
        )
        return 0
    print(
        f"\nQuickstart FAILED: the sink file has {count_lines(out)} of {lines} lines"
        + (" (content differs)" if count_lines(out) == lines else "")
    )
    return 1
