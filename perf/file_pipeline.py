"""Benchmark: FileStreamSource → Kafka and Kafka → FileStreamSink, next to raw confluent-kafka.

Run by hand (not a timed test)::

    python -m perf.file_pipeline [--records N] [--converters json,string] [--processes 1,2]
                                 [--repeat K] [--out perf/results] [--profile]

Scenarios, each on a fresh single-partition topic (the file source has one task, so one
partition is what it can fill; the sink gets one partition to match):

* ``raw-produce``: a plain confluent-kafka ``Producer`` producing the N pre-serialized
  lines (``produce`` loop, no callback, ``linger.ms=20``, ``batch.size=1000000``, then
  ``flush``): the ceiling of the source side.
* ``raw-consume``: a plain ``Consumer`` reading them back (``consume(10000)`` loop): the
  ceiling of the sink side.
* ``source-<conv>-p<P>``: a real ``python -m controlplane standalone worker.properties
  source.properties`` with ``worker.processes=P`` reads a file of N lines; timed from the
  launch until the topic's high watermark reaches N.
* ``sink-<conv>-p<P>``: the same with a FileStreamSink on a topic pre-filled with the N
  records (by the raw producer); timed from the launch until the sink file has N lines.

``<conv>`` is ``json`` (JsonConverter, ``schemas.enable=false`` for keys and values) or
``string`` (StringConverter). CPU is that of the control plane and all its descendants
(worker processes), read with psutil; the raw rows count this process's CPU (the Python
loop plus librdkafka's threads). MB/s counts the lines' bytes (without the newline).

With ``--repeat K`` every scenario runs K times (round by round) and the table shows the
median run. It prints a markdown table, writes the run as JSON into ``--out`` and appends
a summary line to ``<out>/history.jsonl``. ``--profile`` attaches py-spy to every worker
process from the first record to the last (:mod:`perf._profile`). The broker is an
embedded :class:`engine.broker.launcher.KafkaBroker` unless ``KAFKA_BOOTSTRAP_SERVERS`` is
set. Method and results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.broker.launcher import free_port
from perf._raw import Data, prepare_data, raw_consume, raw_produce
from perf._report import HEADER, Result, medians, render_table, summary, write_results
from perf._util import (
    LineCounter,
    Standalone,
    Topics,
    Watermark,
    ensure_bytecode,
    machine,
    machine_busy,
    pid_cpu,
    self_cpu,
    write_props,
)

CONVERTERS = {
    "json": "org.apache.kafka.connect.json.JsonConverter",
    "string": "org.apache.kafka.connect.storage.StringConverter",
}
DEFAULT_RECORDS = 1_000_000
SOURCE_BATCH_SIZE = 10_000
OFFSET_FLUSH_INTERVAL_MS = 10_000
POLL_S = 0.05

Progress = Callable[[str], None]


# -- our pipeline ------------------------------------------------------------------------


@dataclass
class Env:
    bootstrap: str
    work: Path
    data: Data
    topics: Topics
    timeout: float
    broker_pid: int | None = None
    profile_dir: Path | None = None
    profile_native: bool = False
    progress: Progress = print


def worker_props(env: Env, label: str, converter: str, processes: int) -> dict[str, object]:
    cls = CONVERTERS[converter]
    return {
        "bootstrap.servers": env.bootstrap,
        "key.converter": cls,
        "value.converter": cls,
        "key.converter.schemas.enable": "false",
        "value.converter.schemas.enable": "false",
        "offset.storage.file.filename": env.work / f"{label}.offsets",
        "offset.flush.interval.ms": OFFSET_FLUSH_INTERVAL_MS,
        "worker.processes": processes,
        # a port of its own: another worker (or test) may hold the default 8083
        "listeners": f"http://127.0.0.1:{free_port()}",
    }


@dataclass
class Window:
    """What a scenario's watcher saw: first progress and completion."""

    t0: float
    broker_cpu0: float | None
    busy0: float = field(default_factory=machine_busy)
    harness0: float = field(default_factory=self_cpu)
    t_first: float | None = None
    cpu_first: float = 0.0
    n_first: int = 0
    t_done: float | None = None
    cpu_done: float = 0.0
    n_done: int = 0
    broker_cpu_done: float | None = None
    busy_done: float = 0.0
    harness_done: float = 0.0


def watch(
    env: Env,
    proc: Standalone,
    progress: Callable[[], int],
    window: Window,
    on_first: Callable[[], None] | None = None,
) -> None:
    """Poll ``progress()`` until it reaches N (or the timeout, or the process fails);
    call ``on_first()`` when the first records show."""
    n_target = env.data.records
    deadline = window.t0 + env.timeout
    last_check = 0.0
    while True:
        n = progress()
        now = time.monotonic()
        if n > 0 and window.t_first is None:
            window.t_first, window.cpu_first, window.n_first = now, proc.tree.cpu(), n
            if on_first is not None:
                on_first()
        if n >= n_target:
            window.t_done, window.cpu_done, window.n_done = now, proc.tree.cpu(), n
            window.broker_cpu_done = pid_cpu(env.broker_pid)
            window.busy_done, window.harness_done = machine_busy(), self_cpu()
            return
        if now - last_check > 1.0:
            last_check = now
            proc.tree.refresh()
            proc.check()
            if proc.task_failed():
                raise RuntimeError(f"a task failed:\n{proc.log()}")
        if now > deadline:
            raise TimeoutError(f"{n} of {n_target} records after {env.timeout:.0f} s:\n{proc.log()}")
        time.sleep(POLL_S)


def _result(
    env: Env, name: str, direction: str, conv: str, processes: int, proc: Standalone, w: Window
) -> Result:
    assert w.t_done is not None
    t_first = w.t_first if w.t_first is not None else w.t_done
    broker = None
    if w.broker_cpu0 is not None and w.broker_cpu_done is not None:
        broker = w.broker_cpu_done - w.broker_cpu0
    return Result(
        scenario=name,
        kind="ours",
        direction=direction,
        records=env.data.records,
        delivered=w.n_done,
        payload_bytes=env.data.payload_bytes,
        seconds=w.t_done - w.t0,
        startup_s=t_first - w.t0,
        steady_records=w.n_done - w.n_first,
        steady_s=w.t_done - t_first,
        cpu_s=w.cpu_done,
        steady_cpu_s=w.cpu_done - w.cpu_first,
        converter=conv,
        processes=processes,
        broker_cpu_s=broker,
        machine_busy_cpu_s=w.busy_done - w.busy0,
        harness_cpu_s=w.harness_done - w.harness0,
        cpu_by_process=proc.tree.by_process(),
    )


@contextlib.contextmanager
def _profiled(env: Env, proc: Standalone, name: str) -> Iterator[tuple[Callable[[], None], dict[str, Any]]]:
    """(start, summaries): ``start()`` attaches py-spy to every worker process of ``proc``
    (the watcher calls it at the first record, so start-up is left out); the summaries
    are filled in when the body ends. Does nothing unless profiling was asked for."""
    out: dict[str, Any] = {}
    spies: list[Any] = []

    def start() -> None:
        if env.profile_dir is None:
            return
        from perf._profile import Spy

        proc.tree.refresh()
        for pid, label in proc.tree.names.items():
            if label == "worker process":
                spies.append(Spy(pid, env.profile_dir / f"{name}-{pid}.txt", native=env.profile_native))

    try:
        yield start, out
    finally:
        from perf._profile import summarize

        for spy in spies:
            path = spy.stop()
            if path is not None:
                out[path.name] = summarize(path)


def run_source(env: Env, conv: str, processes: int) -> Result:
    """FileStreamSource → Kafka, until the topic's high watermark is N."""
    name = f"source-{conv}-p{processes}"
    topic = env.topics.create(name)
    worker = write_props(env.work / f"{name}.worker.properties", worker_props(env, name, conv, processes))
    source = write_props(
        env.work / f"{name}.source.properties",
        {
            "name": f"perf-{name}-{uuid.uuid4().hex[:6]}",
            "connector.class": "FileStreamSource",
            "tasks.max": 1,
            "file": env.data.file,
            "topic": topic,
            "batch.size": SOURCE_BATCH_SIZE,
        },
    )
    wm = Watermark(env.bootstrap, topic)
    w = Window(time.monotonic(), pid_cpu(env.broker_pid))
    proc = Standalone(env.work, worker, source, label=name)
    try:
        with _profiled(env, proc, name) as (on_first, prof):
            watch(env, proc, wm.records, w, on_first)
        clean, stop_s = proc.stop()
        result = _result(env, name, "source", conv, processes, proc, w)
        result.delivered = wm.records()  # after the stop: duplicates would show here
        result.complete = result.delivered == env.data.records
    finally:
        proc.stop()
        wm.close()
        env.topics.delete(topic)
    result.clean_stop, result.stop_s, result.topic = clean, stop_s, topic
    result.profile = prof or None
    return result


def run_sink(env: Env, conv: str, processes: int) -> tuple[Result, Result]:
    """Kafka → FileStreamSink, until the sink file has N lines. Also returns the prefill."""
    name = f"sink-{conv}-p{processes}"
    topic = env.topics.create(name)
    try:
        prefill = raw_produce(env.bootstrap, topic, env.data, f"prefill-{name}", env.broker_pid)
        out = env.work / f"{name}.out.txt"
        out.unlink(missing_ok=True)
        worker = write_props(env.work / f"{name}.worker.properties", worker_props(env, name, conv, processes))
        sink = write_props(
            env.work / f"{name}.sink.properties",
            {
                "name": f"perf-{name}-{uuid.uuid4().hex[:6]}",
                "connector.class": "FileStreamSink",
                "tasks.max": 1,
                "file": out,
                "topics": topic,
            },
        )
        lines = LineCounter(out)
        w = Window(time.monotonic(), pid_cpu(env.broker_pid))
        proc = Standalone(env.work, worker, sink, label=name)
        try:
            with _profiled(env, proc, name) as (on_first, prof):
                watch(env, proc, lines.count, w, on_first)
            clean, stop_s = proc.stop()
            result = _result(env, name, "sink", conv, processes, proc, w)
        finally:
            proc.stop()
        result.delivered = lines.count()
        result.complete = result.delivered == env.data.records and sink_matches(out, env.data, conv)
        out.unlink(missing_ok=True)
    finally:
        env.topics.delete(topic)
    result.clean_stop, result.stop_s, result.topic = clean, stop_s, topic
    result.profile = prof or None
    return result, prefill


def sink_matches(out: Path, data: Data, conv: str) -> bool:
    """StringConverter: the file equals the input. JsonConverter: first and last objects equal."""
    if conv == "string":
        return out.read_bytes() == data.file.read_bytes()
    got = out.read_bytes().splitlines()
    if len(got) != data.records:
        return False
    return all(json.loads(got[i]) == json.loads(data.values[i]) for i in (0, len(got) // 2, -1))


# -- the run -----------------------------------------------------------------------------


def run_benchmark(
    bootstrap: str,
    records: int = DEFAULT_RECORDS,
    converters: Sequence[str] = ("json", "string"),
    processes: Sequence[int] = (1,),
    work: Path | None = None,
    broker: str = "external",
    broker_pid: int | None = None,
    timeout: float | None = None,
    profile_dir: Path | None = None,
    progress: Progress = print,
    repeat: int = 1,
    profile_native: bool = False,
) -> dict[str, Any]:
    """Every scenario ``repeat`` times (round by round, so a busy moment of the machine
    spreads over scenarios); the report of the median runs (see :func:`render_table`,
    :func:`write_results`)."""
    for c in converters:
        if c not in CONVERTERS:
            raise ValueError(f"unknown converter {c!r}; choose from {sorted(CONVERTERS)}")
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="arrowsmith-perf-")) if work is None else work
    work.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()
    try:
        progress(f"Writing {records:,} lines into {work / 'in.txt'}")
        data = prepare_data(work, records)
        env = Env(
            bootstrap,
            work,
            data,
            Topics(bootstrap),
            timeout=timeout if timeout is not None else 60 + records / 2_000,
            broker_pid=broker_pid,
            profile_dir=profile_dir,
            profile_native=profile_native,
            progress=progress,
        )
        results: list[Result] = []
        prefills: list[Result] = []
        for i in range(repeat):
            if repeat > 1:
                progress(f"Round {i + 1} of {repeat}")
            r, pre = _run_all(env, converters, processes)
            for x in r:
                x.round = i
            results += r
            prefills += pre
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    chosen = medians(results)
    return {
        "benchmark": "file_pipeline",
        "started": started.isoformat(timespec="seconds"),
        "records": records,
        "line_bytes_avg": round(data.payload_bytes / records, 1) if records else 0,
        "converters": list(converters),
        "processes": list(processes),
        "partitions": 1,
        "source_batch_size": SOURCE_BATCH_SIZE,
        "offset_flush_interval_ms": OFFSET_FLUSH_INTERVAL_MS,
        "broker": broker,
        "profiled": profile_dir is not None,
        "machine": machine(),
        "repeat": repeat,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "scenarios": [summary(r, chosen, results) for r in chosen],
        "runs": [r.to_json() for r in results],
        "prefills": [p.to_json() for p in prefills],
    }


def _run_all(
    env: Env, converters: Sequence[str], processes: Sequence[int]
) -> tuple[list[Result], list[Result]]:
    results: list[Result] = []
    prefills: list[Result] = []

    def done(r: Result) -> None:
        results.append(r)
        env.progress(
            f"  {r.scenario}: {r.records_per_s:,.0f} records/s "
            f"(steady {r.steady_records_per_s:,.0f}), {r.cpu_per_million:.2f} CPU s / 1M, "
            f"{r.delivered:,} delivered{'' if r.complete else ' INCOMPLETE'}"
        )

    def attempt(direction: str, conv: str, p: int, fn: Callable[[Env, str, int], Result]) -> None:
        name = f"{direction}-{conv}-p{p}"
        env.progress(name)
        try:
            done(fn(env, conv, p))
        except Exception as e:  # report the scenario as failed, go on with the others
            env.progress(f"  {name} FAILED: {e}")
            done(failed(env, name, direction, conv, p, e))

    env.progress("raw-produce")
    raw_topic = env.topics.create("raw")
    try:
        done(raw_produce(env.bootstrap, raw_topic, env.data, broker_pid=env.broker_pid))
        env.progress("raw-consume")
        done(raw_consume(env.bootstrap, raw_topic, env.data, env.timeout, env.broker_pid))
    finally:
        env.topics.delete(raw_topic)
    for p in processes:
        for c in converters:
            attempt("source", c, p, run_source)

    def sink(env: Env, c: str, p: int) -> Result:
        r, pre = run_sink(env, c, p)
        prefills.append(pre)
        return r

    for p in processes:
        for c in converters:
            attempt("sink", c, p, sink)
    return results, prefills


def failed(env: Env, name: str, direction: str, conv: str, p: int, error: Exception) -> Result:
    return Result(
        scenario=name,
        kind="ours",
        direction=direction,
        records=env.data.records,
        delivered=0,
        payload_bytes=env.data.payload_bytes,
        seconds=0.0,
        startup_s=0.0,
        steady_records=0,
        steady_s=0.0,
        cpu_s=0.0,
        steady_cpu_s=0.0,
        converter=conv,
        processes=p,
        complete=False,
        notes=f"FAILED: {type(error).__name__}: {error}"[-8000:],
    )


# -- command line ------------------------------------------------------------------------


EXTERNAL_BROKER_CHECK_S = 10.0


@contextlib.contextmanager
def broker_for_benchmark(progress: Progress = print) -> Iterator[tuple[str, str, int | None]]:
    """(bootstrap, description, broker pid): ``KAFKA_BOOTSTRAP_SERVERS`` (checked first: a
    ``ConnectError`` if it does not answer) or an embedded broker."""
    from engine.broker.launcher import KafkaBroker, bootstrap_from_env

    existing = bootstrap_from_env()
    if existing:
        from controlplane.standalone import check_broker

        # a broker that does not answer stops the run here, not after every scenario timed out;
        # its error names the reason, so librdkafka's line per reconnect attempt is left out
        rdkafka = logging.getLogger("librdkafka")
        was, rdkafka.disabled = rdkafka.disabled, True
        try:
            check_broker(existing, timeout=EXTERNAL_BROKER_CHECK_S)
        finally:
            rdkafka.disabled = was
        yield existing, f"external ({existing})", None
        return
    progress("Starting an embedded Kafka broker...")
    with KafkaBroker() as broker:
        yield broker.bootstrap_servers, "embedded KafkaBroker (single KRaft node, loopback)", broker.pid


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    ensure_bytecode()  # as installed: no module compiled inside a timed run
    p = argparse.ArgumentParser(prog="python -m perf.file_pipeline", description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=DEFAULT_RECORDS, help="records per scenario (1000000)")
    p.add_argument("--converters", default="json,string", help="json,string (default both)")
    p.add_argument("--processes", default="1", help="worker.processes values to run, e.g. 1,2 (default 1)")
    p.add_argument("--out", default="perf/results", help="directory for the JSON results")
    p.add_argument("--work", default=None, help="working directory (default: a temporary one, removed)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per scenario (60 + N/2000)")
    p.add_argument("--repeat", type=int, default=1, help="rounds; the table shows the median run (1)")
    p.add_argument("--profile", action="store_true", help="py-spy every worker process (into --out)")
    p.add_argument("--profile-native", action="store_true", help="with --profile: native frames too")
    args = p.parse_args(argv)
    out = Path(args.out)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    profile_dir = out / f"profiles-{stamp}" if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    with broker_for_benchmark() as (bootstrap, desc, pid):
        report = run_benchmark(
            bootstrap,
            args.records,
            _csv(args.converters),
            [int(x) for x in _csv(args.processes)],
            Path(args.work) if args.work else None,
            desc,
            pid,
            args.timeout,
            profile_dir,
            repeat=args.repeat,
            profile_native=args.profile_native,
        )
    path = write_results(report, out)
    m = report["machine"]
    print(f"\n{report['records']:,} records of ~{report['line_bytes_avg']} bytes; {desc}")
    print(f"{m['nproc']} x {m['cpu_model']}; Python {m['python']}, pyarrow {m['pyarrow']}, ", end="")
    print(f"confluent-kafka {m['confluent_kafka']} (librdkafka {m['librdkafka']})")
    print(
        f"worker.processes {report['processes']}; median of {report['repeat']} run(s); load average "
        f"before {report['load_average_before'][0]}, after {report['load_average_after'][0]}\n"
    )
    print(render_table(report))
    print(f"\nWrote {path}")
    return 0 if all(s["complete"] for s in report["scenarios"]) else 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "CONVERTERS",
    "HEADER",
    "Result",
    "main",
    "raw_consume",
    "raw_produce",
    "render_table",
    "run_benchmark",
    "run_sink",
    "run_source",
    "write_results",
]
