"""Benchmark: record batches between two processes, shared-memory ring vs multiprocessing.Queue.

Run by hand (not a timed test)::

    python -m perf.ring_bench [--rows 1000,10000,200000] [--seconds 2] [--repeat 3]
                              [--ring-batches 6] [--queue-max 6]

For each batch size, the same batches (~108-byte rows: a 16-byte key, a ~60-byte JSON
value, an int64 offset, a timestamp; four distinct batches used in turn) go from a writer
process to a reader process, both started with the ``spawn`` context and pinned to
different cores with psutil, through:

* ``ring``: :class:`engine.transport.RingWriter` → :class:`engine.transport.RingReader`
  (one copy into the segment, zero-copy read, the slot freed when the reader drops it);
* ``mp.Queue``: ``multiprocessing.Queue(maxsize=--queue-max)``, which pickles each batch
  in the writer (its feeder thread) and unpickles it in the reader.

Both hold the same number of batches in flight: the ring is sized for ``--ring-batches``
slots (at least 1 MiB), the queue's ``maxsize`` defaults to the same number.

The writer writes for ``--seconds``, then ends the stream; the time runs from the writer's
first write to the reader's last batch (both read ``time.perf_counter``, i.e.
CLOCK_MONOTONIC). The reader only counts rows: it does not touch the data. CPU is each
process's user+system time over the same window, as a share of one core. GB/s counts the
batches' Arrow buffer bytes (``RecordBatch.nbytes``). Each cell is the best of
``--repeat`` runs. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc

from engine.transport import RingEnd, RingReader, RingWriter, create_ring

SPAWN = mp.get_context("spawn")
DISTINCT_BATCHES = 4
START_TIMEOUT_S = 120.0


def make_batch(rows: int, seed: int) -> pa.RecordBatch:
    """``rows`` rows of ~108 bytes: key, value (JSON text), offset, timestamp."""
    offset = np.arange(seed * rows, (seed + 1) * rows, dtype=np.int64)
    text = pc.cast(pa.array(offset), pa.string())
    user = pc.utf8_lpad(pc.cast(pa.array(offset % 977), pa.string()), 5, "0")
    amount = pc.cast(pa.array(offset * 0.25), pa.string())
    value = pc.binary_join_element_wise(
        '{"id":', text, ',"user":"u', user, '","amount":', amount, ',"ok":true,"tag":"abc"}', ""
    )
    return pa.record_batch(
        {
            "key": pc.binary_join_element_wise("key-", pc.utf8_lpad(text, 12, "0"), ""),
            "value": value,
            "offset": pa.array(offset),
            "ts": pa.array(offset + 1_700_000_000_000, pa.timestamp("ms")),
        }
    )


def _pin(core: int | None) -> None:
    if core is not None:
        psutil.Process().cpu_affinity([core])


def _cpu() -> float:
    t = psutil.Process().cpu_times()
    return float(t.user + t.system)


# ------------------------------------------------------------------ child processes
def ring_writer(
    end: RingEnd, rows: int, seconds: float, core: int | None, go: Barrier, out: Queue[Any]
) -> None:
    _pin(core)
    batches = [make_batch(rows, s) for s in range(DISTINCT_BATCHES)]
    with RingWriter(end) as ring:
        go.wait(START_TIMEOUT_S)
        cpu, t0, n = _cpu(), time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            ring.write(batches[n % DISTINCT_BATCHES])
            n += 1
        cpu = _cpu() - cpu
    out.put(("writer", t0, n, cpu))


def ring_reader(end: RingEnd, core: int | None, go: Barrier, out: Queue[Any]) -> None:
    _pin(core)
    with RingReader(end) as ring:
        go.wait(START_TIMEOUT_S)
        cpu, n, rows = _cpu(), 0, 0
        for batch in ring:
            n += 1
            rows += batch.num_rows
            del batch
        t1, cpu = time.perf_counter(), _cpu() - cpu
    out.put(("reader", t1, n, cpu, rows))


def queue_writer(
    q: Queue[Any], rows: int, seconds: float, core: int | None, go: Barrier, out: Queue[Any]
) -> None:
    _pin(core)
    batches = [make_batch(rows, s) for s in range(DISTINCT_BATCHES)]
    go.wait(START_TIMEOUT_S)
    cpu, t0, n = _cpu(), time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        q.put(batches[n % DISTINCT_BATCHES])
        n += 1
    q.put(None)
    q.close()
    q.join_thread()
    out.put(("writer", t0, n, _cpu() - cpu))


def queue_reader(q: Queue[Any], core: int | None, go: Barrier, out: Queue[Any]) -> None:
    _pin(core)
    go.wait(START_TIMEOUT_S)
    cpu, n, rows = _cpu(), 0, 0
    while (batch := q.get()) is not None:
        n += 1
        rows += batch.num_rows
        del batch
    out.put(("reader", time.perf_counter(), n, _cpu() - cpu, rows))


# ------------------------------------------------------------------ the parent
@dataclass(frozen=True, slots=True)
class Run:
    transport: str
    rows: int
    batch_bytes: int
    batches: int
    seconds: float
    writer_cpu: float
    reader_cpu: float
    capacity: str

    @property
    def batches_per_s(self) -> float:
        return self.batches / self.seconds

    @property
    def gb_per_s(self) -> float:
        return self.batches * self.batch_bytes / self.seconds / 1e9


def run_once(
    transport: str, rows: int, seconds: float, cores: Sequence[int | None], ring_bytes: int, qmax: int
) -> Run:
    go = SPAWN.Barrier(2)
    out: Queue[Any] = SPAWN.Queue()
    if transport == "ring":
        w_end, r_end = create_ring(ring_bytes, name="ring-bench")
        procs = [
            SPAWN.Process(target=ring_writer, args=(w_end, rows, seconds, cores[0], go, out)),
            SPAWN.Process(target=ring_reader, args=(r_end, cores[1], go, out)),
        ]
        for p in procs:
            p.start()
        w_end.close()
        r_end.close()
    else:
        q: Queue[Any] = SPAWN.Queue(maxsize=qmax)
        procs = [
            SPAWN.Process(target=queue_writer, args=(q, rows, seconds, cores[0], go, out)),
            SPAWN.Process(target=queue_reader, args=(q, cores[1], go, out)),
        ]
        for p in procs:
            p.start()
    got = {msg[0]: msg for msg in (out.get(timeout=START_TIMEOUT_S + seconds * 10) for _ in procs)}
    for p in procs:
        p.join(30)
        if p.exitcode != 0:
            raise RuntimeError(f"{transport} {p.name} exited with {p.exitcode}")
    _, t0, written, writer_cpu = got["writer"]
    _, t1, read, reader_cpu, read_rows = got["reader"]
    if read != written or read_rows != read * rows:
        raise RuntimeError(f"{transport}: {written} batches written, {read} read ({read_rows} rows)")
    elapsed = t1 - t0
    nbytes = make_batch(rows, 0).nbytes
    capacity = f"{ring_bytes / 2**20:.1f} MiB" if transport == "ring" else f"maxsize {qmax}"
    return Run(transport, rows, nbytes, read, elapsed, writer_cpu / elapsed, reader_cpu / elapsed, capacity)


def render(runs: Sequence[Run]) -> str:
    lines = [
        "| rows/batch | MB/batch | transport | capacity | batches/s | M rows/s | GB/s | writer CPU"
        " | reader CPU | vs Queue |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    queue = {r.rows: r for r in runs if r.transport == "mp.Queue"}
    for r in runs:
        ratio = r.batches_per_s / queue[r.rows].batches_per_s if r.rows in queue else float("nan")
        lines.append(
            f"| {r.rows:,} | {r.batch_bytes / 1e6:.2f} | {r.transport} | {r.capacity} | "
            f"{r.batches_per_s:,.0f} | {r.batches_per_s * r.rows / 1e6:,.1f} | {r.gb_per_s:.2f} | "
            f"{r.writer_cpu:.0%} | {r.reader_cpu:.0%} | {ratio:.1f}x |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    ap.add_argument("--rows", default="1000,10000,200000", help="rows per batch, comma-separated")
    ap.add_argument("--seconds", type=float, default=2.0, help="how long the writer writes, per run")
    ap.add_argument("--repeat", type=int, default=3, help="runs per cell; the best is shown")
    ap.add_argument("--ring-batches", type=int, default=6, help="ring size, in batches (at least 1 MiB)")
    ap.add_argument("--queue-max", type=int, default=6, help="multiprocessing.Queue maxsize (batches)")
    args = ap.parse_args(argv)
    usable = sorted(psutil.Process().cpu_affinity() or [])
    cores: list[int | None] = [usable[0], usable[1]] if len(usable) >= 2 else [None, None]
    print(f"writer on core {cores[0]}, reader on core {cores[1]}; load average {psutil.getloadavg()}")
    runs: list[Run] = []
    for rows in (int(r) for r in args.rows.split(",")):
        ring_bytes = max(
            1 << 20, args.ring_batches * (pa.ipc.get_record_batch_size(make_batch(rows, 0)) + 4096)
        )
        for transport in ("ring", "mp.Queue"):
            tries = [
                run_once(transport, rows, args.seconds, cores, ring_bytes, args.queue_max)
                for _ in range(args.repeat)
            ]
            best = max(tries, key=lambda r: r.batches_per_s)
            mid = statistics.median(r.batches_per_s for r in tries)
            print(
                f"  {transport:8} {rows:>7} rows: best {best.batches_per_s:,.0f}, median {mid:,.0f} batches/s"
            )
            runs.append(best)
    print()
    print(render(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
