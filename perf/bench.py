"""``arrowsmith bench``: pipeline scenarios, timed on arrowsmith and its peers in one run.

Run by hand (a smoke run on small N is part of the test suite)::

    arrowsmith bench [SCENARIO ...] [--records N] [--peers raw,apache] [--repeat K]
                     [--out perf/results] [--timeout S] [--scenario-dir DIR] [--list]
    # the same: python -m perf.bench …

A scenario is a folder of ``perf/scenarios/`` (or of the folder ``--scenario-dir`` names):
``scenario.json`` (what it measures, its kind, the topic's partitions, its connector files,
its variants and peers, its data generator) and the connector ``.properties`` files; the
worker is the folder's own ``worker.properties``, else the one beside the scenario folders,
else ``perf/scenarios/worker.properties``. ``${name}`` placeholders are filled in per run
(``bootstrap``, ``topic``, ``input``, ``output``, ``work``, ``port``, ``run``, and the
variant's values such as ``processes``, ``tasks``, ``pipeline``). The same files, with
Apache's class names, run on

* ``arrowsmith``: ``python -m controlplane standalone worker.properties conn….properties``;
* ``apache``: Apache Kafka Connect 4.3.1's ``ConnectStandalone`` on the JVM, jars from
  Maven Central (:mod:`perf.apache_connect`), when Java and Maven are present;
* ``raw``: the ceiling — a plain confluent-kafka producer (source scenarios: the input
  file's lines) or consumer (sink scenarios: appending to the output file) moving the same
  pre-serialized bytes, a process of its own (:mod:`perf.raw_client`).

The data are N values from the scenario's generator (``"data"`` in ``scenario.json``, a
``module:function`` or ``file.py:function`` called with N; the built-in scenarios' is
:func:`make_values`, JSON objects of ~120 bytes), written to a file, one per line, for
source scenarios and produced to the topic beforehand for sink scenarios. A run (the raw
client's too) is timed from the process's launch until the topic holds N records (source,
its offsets asked every 50 ms) or the output file has N lines (sink, e2e; read every 10 ms
and 20 ms), and reports records/s (also from the first
record on, "steady"), MB/s of payload, CPU seconds per million records of every process of the engine (psutil,
the process and all its descendants), peak RSS (the sum over those processes, sampled
every 0.2 s) and, for e2e, the latency from each record's timestamp to its line appearing
in the output file (polled every 20 ms), p50 and p99. Each run gets a fresh topic and
fresh files. The report prints arrowsmith/peer ratios per scenario, is written as JSON to
``<out>/bench-<time>.json`` and appended to ``<out>/history.jsonl``. The broker is an
embedded one unless ``KAFKA_BOOTSTRAP_SERVERS`` is set. Results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import psutil
from confluent_kafka import Consumer, KafkaException, TopicPartition

from engine.broker.launcher import free_port
from engine.spi.errors import ConnectError
from perf import _raw, raw_client
from perf._report import save_report
from perf._util import (
    LineCounter,
    LoggedProcess,
    ProcessTree,
    Standalone,
    Topics,
    Watermark,
    ensure_bytecode,
    machine,
)
from perf.raw_client import RAW_PRODUCER

SCENARIOS_DIR = Path(__file__).resolve().parent / "scenarios"
DEFAULT_DATA = "perf.bench:make_values"
DEFAULT_RECORDS = 1_000_000
ENGINES = ("arrowsmith", "apache", "raw")
# Reading a process's PSS walks its page tables: ~1.5 ms for one of ours; every 0.1 s the
# sampler took ~6 % of a core from the engine (a cost a run on both cores pays).
SAMPLE_S = 0.2
LATENCY_POLL_S = 0.02
# How often a run looks for progress. A sink's output file is read from where it was
# (~7 µs a poll when nothing is new): every 10 ms, so the first record and the end are seen
# within 10 ms. A source's progress is the topic's offsets, a request to the broker: 50 ms.
SINK_POLL_S = 0.01
SOURCE_POLL_S = 0.05
Progress = Callable[[str], None]


# -- scenarios -------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    folder: Path
    description: str
    kind: str  # "source", "sink" or "e2e"
    partitions: int
    connectors: list[str]
    variants: dict[str, dict[str, str]]
    peers: list[str]
    compare: list[str] = field(default_factory=list)  # [variant, baseline variant]
    data: str = DEFAULT_DATA  # the generator of the values: "module:function" or "file.py:function"
    worker: Path = SCENARIOS_DIR / "worker.properties"

    @classmethod
    def load(cls, folder: Path) -> Scenario:
        where = folder / "scenario.json"
        try:
            spec = json.loads(where.read_text())
        except ValueError as e:
            raise ValueError(f"{where}: not JSON: {e}") from e
        missing = [k for k in REQUIRED_KEYS if k not in spec]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        if spec["kind"] not in ("source", "sink", "e2e"):
            raise ValueError(f"{where}: kind must be source, sink or e2e")
        for name in spec["connectors"]:
            if not (folder / name).is_file():
                raise ValueError(f"{where}: connectors: no file {name} in {folder}")
        data = str(spec.get("data", DEFAULT_DATA))
        if not re.fullmatch(r"[\w./-]+:[A-Za-z_]\w*", data):
            raise ValueError(f"{where}: data must be module:function or file.py:function, not {data!r}")
        return cls(
            name=folder.name,
            folder=folder,
            description=spec["description"],
            kind=spec["kind"],
            partitions=int(spec["partitions"]),
            connectors=list(spec["connectors"]),
            variants={k: {kk: str(vv) for kk, vv in v.items()} for k, v in spec["variants"].items()},
            peers=list(spec.get("peers", [])),
            compare=list(spec.get("compare", [])),
            data=data,
            worker=_worker_file(folder),
        )

    def generator(self) -> Callable[[int], Sequence[bytes]]:
        """The data generator ``data`` names (a ``.py`` file is read from the folder)."""
        where, _, function = self.data.rpartition(":")
        try:
            if where.endswith(".py"):
                import importlib.util

                path = (self.folder / where).resolve()
                spec = importlib.util.spec_from_file_location(f"bench_data_{self.name}", path)
                if spec is None or spec.loader is None or not path.is_file():
                    raise FileNotFoundError(f"no file {path}")
                module = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(module)
            else:
                import importlib

                module = importlib.import_module(where)
            fn = getattr(module, function)
        except (ImportError, OSError, AttributeError, SyntaxError) as e:
            raise ValueError(f"{self.folder / 'scenario.json'}: data {self.data!r}: {e}") from e
        if not callable(fn):
            raise ValueError(f"{self.folder / 'scenario.json'}: data {self.data!r} is not a function")
        return cast(Callable[[int], Sequence[bytes]], fn)


REQUIRED_KEYS = ("description", "kind", "partitions", "connectors", "variants")


def _worker_file(folder: Path) -> Path:
    """The scenario folder's own worker.properties, else the one beside it, else ours."""
    for w in (folder / "worker.properties", folder.parent / "worker.properties"):
        if w.is_file():
            return w
    return SCENARIOS_DIR / "worker.properties"


def scenarios(folder: Path = SCENARIOS_DIR) -> dict[str, Scenario]:
    """The scenario folders (those holding a ``scenario.json``) of ``folder``, by name."""
    if not folder.is_dir():
        raise ValueError(f"no scenario folder {folder}")
    return {d.name: Scenario.load(d) for d in sorted(folder.iterdir()) if (d / "scenario.json").is_file()}


_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")


def render(template: str, values: Mapping[str, str]) -> str:
    """``template`` with every ``${name}`` replaced; a name without a value is an error."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"no value for ${{{m.group(1)}}}")
        return values[m.group(1)]

    return _PLACEHOLDER.sub(sub, template)


def read_properties(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", "!")):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def write_properties(path: Path, props: Mapping[str, object]) -> Path:
    # Java's Properties reads a backslash as an escape: none of our values has one.
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


# -- data ------------------------------------------------------------------------------


def make_values(n: int) -> list[bytes]:
    """N JSON objects of 8 fields, 113 to 121 bytes each, deterministic (ids 0 to N-1)."""
    return _raw.make_values(n, first_id=0, note=True)


@dataclass
class Dataset:
    """One generator's N values and the input file holding them, one per line."""

    values: Sequence[bytes]
    input_file: Path
    payload_bytes: int  # the values' bytes, without line breaks

    @classmethod
    def make(cls, sc: Scenario, records: int, path: Path) -> Dataset:
        """The scenario's generator called with ``records``; its values checked (bytes, as
        many as asked, no line break: the sources read the input file line by line)."""
        generate = sc.generator()
        where = f"{sc.folder / 'scenario.json'}: data {sc.data!r}"
        try:
            values = generate(records)
        except Exception as e:  # the user's code: its own words, and where it came from
            raise ValueError(f"{where} failed: {type(e).__name__}: {e}") from e
        if not isinstance(values, Sequence) or len(values) != records:
            got = len(values) if isinstance(values, Sequence) else type(values).__name__
            raise ValueError(f"{where} returned {got} values for {records} records")
        try:
            text = b"\n".join(values)
        except TypeError as e:
            raise ValueError(f"{where} must return bytes values: {e}") from e
        if text.count(b"\n") != max(0, records - 1):
            raise ValueError(f"{where} returned a value with a line break")
        path.write_bytes(text + b"\n" if records else b"")
        return cls(values, path, len(text) - max(0, records - 1))


def produce(bootstrap: str, topic: str, values: Sequence[bytes]) -> None:
    """Produce ``values`` (no key) and wait for every acknowledgement."""
    raw_client.produce({"bootstrap.servers": bootstrap, **RAW_PRODUCER}, topic, values)


def topic_timestamps_ms(bootstrap: str, topic: str, n: int, timeout: float = 120.0) -> np.ndarray:
    """The timestamps of the first ``n`` records of partition 0, in offset order."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-ts-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    c.assign([TopicPartition(topic, 0, 0)])
    out = np.zeros(n, dtype=np.int64)
    got = 0
    deadline = time.monotonic() + timeout
    try:
        while got < n and time.monotonic() < deadline:
            for m in c.consume(10_000, 0.5):
                offset = m.offset()
                if m.error() is None and offset is not None and offset < n:
                    out[offset] = m.timestamp()[1]
                    got += 1
    finally:
        c.close()
    return out


# -- engines ---------------------------------------------------------------------------


class EngineProcess(Protocol):
    proc: Any
    tree: ProcessTree

    def log(self, tail: int = ...) -> str: ...
    def stop(self, timeout: float = ...) -> tuple[bool, float]: ...


def java_available() -> bool:
    return shutil.which("java") is not None and shutil.which("mvn") is not None


@dataclass
class Run:
    """One engine on one scenario variant. Times in seconds, CPU in CPU seconds."""

    scenario: str
    variant: str
    engine: str
    records: int
    delivered: int = 0
    payload_bytes: int = 0
    seconds: float = 0.0
    first_record_s: float = 0.0
    first_count: int = 0  # records seen at that first observation
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    # PSS MB of each process of the tree at the sample where the sum peaked ("control plane",
    # "worker process (pid)", "resource tracker", "jvm" …): where the peak goes
    peak_rss_by_process_mb: dict[str, float] = field(default_factory=dict)
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    complete: bool = False
    clean_stop: bool = True
    round: int = 0
    notes: str = ""

    @property
    def label(self) -> str:
        return f"{self.scenario}{'/' + self.variant if self.variant else ''}"

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.complete and self.seconds else 0.0

    @property
    def steady_records_per_s(self) -> float:
        """Records/s after the first ones were seen (0 when they all came at once)."""
        steady = self.seconds - self.first_record_s
        rest = self.records - self.first_count
        return rest / steady if self.complete and steady > 0 and rest > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.payload_bytes / 1e6 / self.seconds if self.complete and self.seconds else 0.0

    @property
    def cpu_per_million(self) -> float:
        return self.cpu_s / self.records * 1e6 if self.records else 0.0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("records_per_s", "steady_records_per_s", "mb_per_s", "cpu_per_million"):
            d[k] = round(getattr(self, k), 3)
        return d


class Sampler:
    """Samples the memory of a process tree every 0.2 s in a thread: the sum of the
    processes' proportional set sizes (PSS), i.e. their resident memory with each shared
    page split among the processes sharing it, so the tree's peak is not inflated by
    shared memory counted once per process."""

    def __init__(self, tree: ProcessTree) -> None:
        self.tree = tree
        self.peak_rss = 0
        self.peak_by_process: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(SAMPLE_S)

    def sample(self) -> None:
        self.tree.refresh()
        rss = 0
        by_process: dict[str, float] = {}
        for pid, p in list(self.tree.seen.items()):
            try:  # proportional: a shared page (the ring's memfd, libraries) counts once
                pss = p.memory_full_info().pss
            except psutil.Error:
                continue
            rss += pss
            by_process[f"{self.tree.names.get(pid, 'child')} ({pid})"] = round(pss / 2**20, 1)
        if rss > self.peak_rss:
            self.peak_rss, self.peak_by_process = rss, by_process

    def stop(self) -> float:
        """Stop sampling; the CPU seconds of the whole tree so far."""
        self._stop.set()
        self._thread.join()
        return self.tree.cpu()


class LineWatch(LineCounter):
    """Counts the lines of a growing file; with ``record``, when each count was reached."""

    def __init__(self, path: Path, record: bool = False) -> None:
        super().__init__(path)
        self.record = record
        self.times: list[float] = []  # time.time() of each poll that saw new lines
        self.counts: list[int] = []

    def count(self) -> int:
        lines = super().count()
        if self.record and (not self.counts or lines > self.counts[-1]):
            self.times.append(time.time())
            self.counts.append(lines)
        return lines

    def arrival_s(self, n: int) -> np.ndarray:
        """Wall-clock time at which line k (k < n) was first seen."""
        counts = np.asarray(self.counts, dtype=np.int64)
        idx = np.searchsorted(counts, np.arange(n), side="right")
        return np.asarray(self.times)[np.minimum(idx, len(counts) - 1)]


@dataclass
class Env:
    bootstrap: str
    work: Path
    records: int
    data: dict[str, Dataset]  # by generator (Scenario.data)
    topics: Topics
    timeout: float
    progress: Progress
    # (generator, partitions, round) → a topic holding that data
    prefilled: dict[tuple[str, int, int], str] = field(default_factory=dict)


# Connector keys only arrowsmith knows: left out of the JVM's copies.
ARROWSMITH_ONLY_CONNECTOR_KEYS = frozenset({"pipeline.processes"})


def start_engine(engine: str, work: Path, worker: Path, connectors: Sequence[Path]) -> EngineProcess:
    if engine == "arrowsmith":
        return Standalone(work, worker, *connectors, label="arrowsmith")
    from perf.apache_connect import ApacheConnectStandalone, java_worker_properties

    java_worker = write_properties(
        work / "java-worker.properties", java_worker_properties(read_properties(worker.read_text()))
    )
    java_connectors = [
        write_properties(
            work / f"java-{c.name}",
            {
                k: v
                for k, v in read_properties(c.read_text()).items()
                if k not in ARROWSMITH_ONLY_CONNECTOR_KEYS
            },
        )
        for c in connectors
    ]
    return ApacheConnectStandalone(work, java_worker, *java_connectors)


def start_raw(env: Env, sc: Scenario, work: Path, topic: str, output: Path) -> LoggedProcess:
    """The raw client (:mod:`perf.raw_client`) as a process of its own, launched and watched
    as the engines are: the source scenarios' producer reads the engines' input file, the
    sink scenarios' consumer appends to the output file the watcher counts."""
    if sc.kind == "source":
        config = {"bootstrap.servers": env.bootstrap, **RAW_PRODUCER}
        args = ["produce", json.dumps(config), topic, str(env.data[sc.data].input_file)]
    else:
        from engine.runtime.clients import CONSUMER_DEFAULTS

        config = {"bootstrap.servers": env.bootstrap, "group.id": f"bench-raw-{uuid.uuid4().hex[:8]}"}
        config.update(CONSUMER_DEFAULTS)
        args = ["consume", json.dumps(config), topic, str(sc.partitions), str(env.records), str(output)]
    return LoggedProcess(
        [sys.executable, "-m", "perf.raw_client", *args],
        work / "raw.log",
        cwd=Path(__file__).resolve().parent.parent,
        root_label="raw client",
    )


def run_engine(env: Env, sc: Scenario, variant: str, engine: str, rnd: int) -> Run:
    run_id = uuid.uuid4().hex[:8]
    work = env.work / f"{sc.name}-{variant or 'main'}-{engine}-{rnd}"
    work.mkdir(parents=True)
    data = env.data[sc.data]
    run = Run(sc.name, variant, engine, env.records, payload_bytes=data.payload_bytes, round=rnd)
    topic = prefilled_topic(env, sc, rnd) if sc.kind == "sink" else env.topics.create(sc.name, sc.partitions)
    output = work / "out.txt"
    values = {
        **sc.variants[variant],
        "bootstrap": env.bootstrap,
        "topic": topic,
        "input": str(data.input_file),
        "output": str(output),
        "work": str(work),
        "port": str(free_port()),
        "run": run_id,
    }
    worker = work / "worker.properties"
    worker.write_text(render(sc.worker.read_text(), values))
    conns = []
    for name in sc.connectors:
        path = work / name
        path.write_text(render((sc.folder / name).read_text(), values))
        conns.append(path)
    watch = LineWatch(output, record=sc.kind == "e2e")
    marks = Watermark(env.bootstrap, topic, sc.partitions) if sc.kind == "source" else None
    seen = 0

    def progress() -> int:
        nonlocal seen
        if marks is None:
            return watch.count()
        try:
            seen = marks.records()
        except KafkaException:  # a new topic's leaders may not be known yet: ask again
            pass
        return seen

    t0 = time.monotonic()
    if engine == "raw":
        proc: EngineProcess = start_raw(env, sc, work, topic, output)
    else:
        proc = start_engine(engine, work, worker, conns)
    sampler = Sampler(proc.tree)
    first: float | None = None
    done = 0
    deadline = t0 + env.timeout
    poll = {"e2e": LATENCY_POLL_S, "sink": SINK_POLL_S}.get(sc.kind, SOURCE_POLL_S)
    try:
        while time.monotonic() < deadline:
            done = progress()
            now = time.monotonic()
            if done and first is None:
                first, run.first_count = now, min(done, env.records)
            if done >= env.records:
                break
            if proc.proc.poll() is not None:
                run.notes = f"exited with {proc.proc.returncode}: {proc.log()[-2000:]}"
                break
            time.sleep(poll)
        end = time.monotonic()
    finally:
        run.cpu_s = sampler.stop()
        run.peak_rss_mb = sampler.peak_rss / 2**20
        run.peak_rss_by_process_mb = sampler.peak_by_process
        run.clean_stop, _ = proc.stop()
        if marks is not None:
            marks.close()
    run.delivered = done
    run.complete = done >= env.records
    run.seconds = end - t0
    run.first_record_s = (first or end) - t0
    if not run.complete and not run.notes:
        run.notes = f"timed out after {env.timeout:.0f} s with {done} of {env.records}: {proc.log()[-2000:]}"
    if run.complete and sc.kind == "e2e":
        stamps = topic_timestamps_ms(env.bootstrap, topic, env.records) / 1000.0
        latency = (watch.arrival_s(env.records) - stamps) * 1000.0
        run.latency_p50_ms = float(np.percentile(latency, 50))
        run.latency_p99_ms = float(np.percentile(latency, 99))
    if engine == "raw":
        run.notes = (
            "Producer: " + ", ".join(f"{k}={v}" for k, v in RAW_PRODUCER.items())
            if sc.kind == "source"
            else f"Consumer.consume({raw_client.CONSUME_BATCH}) loop over every partition, the sink task's "
            "fetch settings, each batch appended to the output file"
        ) + (f"; {run.notes}" if run.notes else "")
    if sc.kind != "sink":
        env.topics.delete(topic)
    return run


def prefilled_topic(env: Env, sc: Scenario, rnd: int) -> str:
    """A topic of the scenario's partitions holding its N values (made once per round)."""
    key = (sc.data, sc.partitions, rnd)
    if key not in env.prefilled:
        topic = env.topics.create(f"prefill-p{sc.partitions}", sc.partitions)
        env.progress(f"  producing {env.records:,} records into {topic}")
        produce(env.bootstrap, topic, env.data[sc.data].values)
        env.prefilled[key] = topic
    return env.prefilled[key]


# -- the run ---------------------------------------------------------------------------


def run_benchmark(
    bootstrap: str,
    names: Sequence[str] = (),
    records: int = DEFAULT_RECORDS,
    peers: Sequence[str] = ("raw", "apache"),
    repeat: int = 1,
    timeout: float | None = None,
    broker: str = "external",
    progress: Progress = print,
    work: Path | None = None,
    scenario_dir: Path = SCENARIOS_DIR,
) -> dict[str, Any]:
    """Every scenario of ``scenario_dir`` (or ``names``), on arrowsmith and on its
    ``peers``, ``repeat`` times; the report (see :func:`render_table`, :func:`write_results`)."""
    known = scenarios(scenario_dir)
    chosen = list(names) or list(known)
    for n in chosen:
        if n not in known:
            raise ValueError(f"unknown scenario {n!r}; choose from {', '.join(known)}")
    for p in peers:
        if p not in ("raw", "apache"):
            raise ValueError(f"unknown peer {p!r}; choose from raw, apache")
    if "apache" in peers and not java_available():
        progress("java or mvn is missing: the Apache Kafka Connect peer is left out")
        peers = [p for p in peers if p != "apache"]
    if "apache" in peers:
        from perf.apache_connect import fetch_apache_connect

        progress("Fetching Apache Kafka Connect's jars (once; cached)")
        fetch_apache_connect()  # before any timer starts
    ensure_bytecode()  # as installed: no module compiled inside a timed run
    started = dt.datetime.now(dt.UTC)
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="arrowsmith-bench-")) if work is None else work
    data: dict[str, Dataset] = {}
    try:
        for name in chosen:  # every generator once, before any timer starts
            sc = known[name]
            if sc.data not in data:
                file = work / ("in.txt" if not data else f"in-{len(data)}.txt")
                data[sc.data] = Dataset.make(sc, records, file)
    except BaseException:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
        raise
    env = Env(
        bootstrap,
        work,
        records,
        data,
        Topics(bootstrap, prefix="bench"),
        timeout if timeout is not None else 120 + records / 2_000,
        progress,
    )
    runs: list[Run] = []
    try:
        for rnd in range(repeat):
            if repeat > 1:
                progress(f"Round {rnd + 1} of {repeat}")
            for name in chosen:
                sc = known[name]
                for variant in sc.variants:
                    engines = ["arrowsmith"]
                    if sc.variants[variant].get("peers", "yes") != "none":  # a variant only we have
                        engines += [p for p in peers if p in sc.peers and p != "raw"]
                    for engine in engines:
                        progress(f"{name}{'/' + variant if variant else ''} on {engine}")
                        runs.append(_attempt(env, sc, variant, engine, rnd))
                        _say(progress, runs[-1])
                if "raw" in peers and "raw" in sc.peers:
                    progress(f"{name} raw")
                    runs.append(_attempt(env, sc, "", "raw", rnd))
                    _say(progress, runs[-1])
            env.topics.delete(*env.prefilled.values())
            env.prefilled.clear()
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "benchmark": "bench",
        "started": started.isoformat(timespec="seconds"),
        "records": records,
        "record_bytes_avg": _bytes_avg(list(data.values()), records),
        "scenarios": {
            n: {
                "description": known[n].description,
                "compare": known[n].compare,
                "data": known[n].data,
                "record_bytes_avg": _bytes_avg([data[known[n].data]], records),
            }
            for n in chosen
        },
        "peers": list(peers),
        "repeat": repeat,
        "broker": broker,
        "machine": machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "medians": [r.to_json() for r in medians(runs)],
        "ratios": ratios(medians(runs), {n: known[n].compare for n in chosen}),
        "runs": [r.to_json() for r in runs],
    }


def _bytes_avg(data: Sequence[Dataset], records: int) -> float:
    return round(sum(d.payload_bytes for d in data) / (records * len(data)), 1) if records and data else 0.0


def _attempt(env: Env, sc: Scenario, variant: str, engine: str, rnd: int) -> Run:
    try:
        return run_engine(env, sc, variant, engine, rnd)
    except Exception as e:  # a failed run is reported, the others go on
        return Run(sc.name, variant, engine, env.records, round=rnd, notes=f"FAILED: {type(e).__name__}: {e}")


def _say(progress: Progress, r: Run) -> None:
    if not r.complete:
        progress(f"  INCOMPLETE: {r.notes[-500:]}")
        return
    lat = f", latency p50 {r.latency_p50_ms:.0f} ms p99 {r.latency_p99_ms:.0f} ms" if r.latency_p50_ms else ""
    progress(
        f"  {r.records_per_s:,.0f} records/s (steady {r.steady_records_per_s:,.0f}), "
        f"{r.cpu_per_million:.2f} CPU s / 1M, peak RSS {r.peak_rss_mb:.0f} MB{lat}"
    )


def medians(runs: Sequence[Run]) -> list[Run]:
    """Per scenario/variant/engine, the run with the median records/s (the lower middle one)."""
    groups: dict[tuple[str, str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.scenario, r.variant, r.engine), []).append(r)
    out = []
    for rs in groups.values():
        ordered = sorted(rs, key=lambda r: r.records_per_s)
        out.append(ordered[(len(ordered) - 1) // 2])
    return out


def ratios(runs: Sequence[Run], compare: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """arrowsmith / peer per scenario variant: records/s (from launch and steady), CPU per
    record and peak RSS; and, where a scenario names two variants, the first over the second."""
    by = {(r.scenario, r.variant, r.engine): r for r in runs}
    out: list[dict[str, Any]] = []

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 3) if a and b else None

    for (sc, variant, engine), peer in by.items():
        if engine == "arrowsmith":
            continue
        # the raw client has one run per scenario: every variant of ours is compared with it
        mine = [v for (s, v, e) in by if s == sc and e == "arrowsmith"] if engine == "raw" else [variant]
        for v in mine:
            ours = by.get((sc, v, "arrowsmith"))
            if ours is None:
                continue
            out.append(
                {
                    "scenario": sc,
                    "variant": v,
                    "peer": engine,
                    "records_per_s": ratio(ours.records_per_s, peer.records_per_s),
                    "steady_records_per_s": ratio(ours.steady_records_per_s, peer.steady_records_per_s),
                    "cpu_per_record": ratio(ours.cpu_per_million, peer.cpu_per_million)
                    if ours.complete
                    else None,
                    "peak_rss": ratio(ours.peak_rss_mb, peer.peak_rss_mb) if engine != "raw" else None,
                }
            )
    for sc, pair in compare.items():
        if (
            len(pair) == 2
            and (a := by.get((sc, pair[0], "arrowsmith")))
            and (b := by.get((sc, pair[1], "arrowsmith")))
        ):
            out.append(
                {
                    "scenario": sc,
                    "variant": pair[0],
                    "peer": f"arrowsmith/{pair[1] or sc}",
                    "records_per_s": ratio(a.records_per_s, b.records_per_s),
                    "steady_records_per_s": ratio(a.steady_records_per_s, b.steady_records_per_s),
                    "cpu_per_record": ratio(a.cpu_per_million, b.cpu_per_million),
                    "peak_rss": ratio(a.peak_rss_mb, b.peak_rss_mb),
                }
            )
    return out


def _fmt(x: float | None, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def render_table(report: Mapping[str, Any]) -> str:
    """The median runs, then the ratios, as markdown."""
    rows = [
        "| scenario | engine | records/s | steady records/s | MB/s | CPU s / 1M | peak RSS MB "
        "| latency p50 / p99 ms | complete |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in report["medians"]:
        label = r["scenario"] + (f"/{r['variant']}" if r["variant"] else "")
        lat = (
            f"{r['latency_p50_ms']:.0f} / {r['latency_p99_ms']:.0f}"
            if r["latency_p50_ms"] is not None
            else "—"
        )
        rows.append(
            f"| {label} | {r['engine']} | {r['records_per_s']:,.0f} | {r['steady_records_per_s']:,.0f} "
            f"| {r['mb_per_s']:.1f} | {r['cpu_per_million']:.2f} | {r['peak_rss_mb']:.0f} | {lat} "
            f"| {'yes' if r['complete'] else 'NO'} |"
        )
    rows += [
        "",
        "| scenario | arrowsmith / … | records/s | steady records/s | CPU per record | peak RSS |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for q in report["ratios"]:
        label = q["scenario"] + (f"/{q['variant']}" if q["variant"] else "")
        rows.append(
            f"| {label} | {q['peer']} | {_fmt(q['records_per_s'], '.2f')} "
            f"| {_fmt(q['steady_records_per_s'], '.2f')} | {_fmt(q['cpu_per_record'], '.2f')} "
            f"| {_fmt(q['peak_rss'], '.2f')} |"
        )
    return "\n".join(rows)


def write_results(report: dict[str, Any], out: Path) -> Path:
    """``<out>/bench-<time>.json``, and a summary line in ``<out>/history.jsonl``."""
    keys = ("records_per_s", "cpu_per_million", "peak_rss_mb", "latency_p99_ms", "complete")
    results = {
        f"{r['scenario']}{'/' + r['variant'] if r['variant'] else ''}:{r['engine']}": {k: r[k] for k in keys}
        for r in report["medians"]
    }
    return save_report(report, out, {"results": results, "ratios": report["ratios"]})


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="arrowsmith bench", description=__doc__.split("\n")[0])
    p.add_argument("scenarios", nargs="*", help="scenario names (default: all; --list shows them)")
    p.add_argument(
        "--records", type=int, default=DEFAULT_RECORDS, help=f"records per run ({DEFAULT_RECORDS})"
    )
    p.add_argument("--peers", default="raw,apache", help="raw,apache (default both; '' for none)")
    p.add_argument("--repeat", type=int, default=1, help="rounds; the table shows the median run (1)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per run (120 + N/2000)")
    p.add_argument("--out", default="perf/results", help="directory for the JSON results")
    p.add_argument(
        "--scenario-dir",
        type=Path,
        default=SCENARIOS_DIR,
        help="the folder of scenario folders (default: the built-in perf/scenarios)",
    )
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = p.parse_args(argv)
    try:
        known = scenarios(args.scenario_dir)
        unknown = [n for n in args.scenarios if n not in known]
        if unknown:
            raise ValueError(f"unknown scenario {unknown[0]!r}; choose from {', '.join(known)}")
        if not args.list:  # a generator that cannot be found fails before a broker starts
            for name in args.scenarios or known:
                known[name].generator()
    except ValueError as e:  # a scenario folder that cannot run: say which, run nothing
        print(f"arrowsmith bench: error: {e}", file=sys.stderr)
        return 2
    if args.list:
        for name, sc in known.items():
            print(f"{name}: {sc.description}")
        return 0
    from perf.file_pipeline import broker_for_benchmark

    peers = [x.strip() for x in args.peers.split(",") if x.strip()]
    try:
        with broker_for_benchmark() as (bootstrap, desc, _pid):
            report = run_benchmark(
                bootstrap,
                args.scenarios,
                args.records,
                peers,
                args.repeat,
                args.timeout,
                desc,
                scenario_dir=args.scenario_dir,
            )
    except ConnectError as e:  # no broker: nothing was measured, nothing is written
        print(f"arrowsmith bench: error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:  # a data generator that failed or returned bad values
        print(f"arrowsmith bench: error: {e}", file=sys.stderr)
        return 2
    path = write_results(report, Path(args.out))
    m = report["machine"]
    print(f"\n{report['records']:,} records of ~{report['record_bytes_avg']} bytes; broker: {desc}")
    print(f"{m['nproc']} x {m['cpu_model']}; Python {m['python']}, pyarrow {m['pyarrow']}, git {m['git']}")
    print(f"median of {report['repeat']} round(s); load average {report['load_average']}\n")
    print(render_table(report))
    print(f"\nWrote {path}")
    return 0 if all(r["complete"] for r in report["medians"]) else 1


if __name__ == "__main__":
    sys.exit(main())
