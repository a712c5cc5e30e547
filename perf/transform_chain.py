"""Benchmark: a chain of five transforms, vectorized over Arrow batches vs record by record.

Run by hand (not a timed test)::

    python -m perf.transform_chain [--records 1000000] [--batch-rows 10000]
                                   [--modes schema,schemaless] [--bad-fraction 0.01]
                                   [--repeat 1] [--core C] [--out perf/results] [--profile]

The chain is a connector config (:data:`CHAIN`) with Kafka Connect's class names, resolved
through the plugin registry (a class whose entry point is not registered yet is registered
here under its Apache name)::

    InsertField$Value        timestamp.field=ingested_at, static.field=source, static.value=bench
    ReplaceField$Value       exclude=country, renames=user:username
    Cast$Value               spec=amount:float64            (amount is decimal text)
    TimestampConverter$Value field=ts, target.type=string, format=yyyy-MM-dd'T'HH:mm:ss
    RegexRouter              regex=(.*)-raw, replacement=$1-clean

over N records of a 6-field struct value (id int64, user string, amount string, country
string, active boolean, ts int64 epoch ms) on topic ``orders-raw``, in batches of R rows, with
a Connect schema (``schema``) and/or schemaless (``schemaless``, as JsonConverter with
``schemas.enable=false`` leaves it). Variants, per mode:

* ``vectorized``: :meth:`TransformChain.apply` on each batch.
* ``per-record``: :class:`RecordChain`, the same five transforms with the same semantics over
  Python dicts, one record at a time, as a per-record SMT engine runs them (a new record per
  step, a dict copy of the value, set/rename/delete keys, ``float()``, ``time.strftime``,
  ``re.fullmatch`` + ``re.sub`` on the topic), each record under a ``try`` (tolerance).
* ``vectorized-bad``: ``vectorized`` on the same data with ``--bad-fraction`` of the records
  malformed (``amount`` is ``n/a``), through :class:`ErrorHandler` with
  ``errors.tolerance=all`` and a reporter that collects the bad records (their rows, one
  Arrow ``take`` per report; made Python objects after the clock, for the checks), or a real
  dead-letter queue with ``--dlq`` and ``KAFKA_BOOTSTRAP_SERVERS``.
* ``per-record-bad``: ``per-record`` on the malformed data, the bad records collected.

Only the transformation is timed: the input batches (and, per-record, the input dicts, made
from the same batches) are built before, per batch, outside the clock; the outputs are
checked after. A warm-up batch runs first (schema caches, compiled regexes). Times are wall
(``time.perf_counter``) and CPU (``time.process_time``: every thread of the process) with
the process pinned to one core (``--core``, psutil) and Arrow's thread pool set to one
thread, so records/s is per core.

Checks (the report's ``checks``; the command exits 1 when one fails): ``vectorized`` equals
``per-record`` on a sample of records (the first and last batch and a random sample, whole
records: topic, offset, timestamp, value with its key order); the ``-bad`` variants
reported exactly the malformed records (``vectorized-bad``: with their data, ``amount`` still
``n/a``), and their good records are all there, in order —
``vectorized-bad`` equals ``vectorized`` with the bad rows left out, batch by batch.

Writes ``<out>/transform_chain-<UTC time>.json`` and prints a markdown table. Method and
results: docs/performance.md.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.plugins import PluginRegistry, PluginType
from engine.runtime.error_handler import ErrorHandler, ErrorPolicy
from engine.runtime.metrics import TaskMetrics
from engine.runtime.transform_chain import TransformChain
from engine.spi import record
from engine.spi import schema as cs
from engine.spi.errors import PluginError

DEFAULT_RECORDS = 1_000_000
DEFAULT_BATCH_ROWS = 10_000
DEFAULT_BAD_FRACTION = 0.01
SAMPLE_RECORDS = 1_000
TOPIC = "orders-raw"
BAD_AMOUNT = "n/a"
MODES = ("schema", "schemaless")
VARIANTS = ("vectorized", "per-record", "vectorized-bad", "per-record-bad")
TARGET_SPEEDUP = 20.0
TARGET_BAD_COST = 2.0

T = "org.apache.kafka.connect.transforms."
CHAIN: dict[str, str] = {
    "transforms": "insert,replace,cast,tsconv,route",
    "transforms.insert.type": T + "InsertField$Value",
    "transforms.insert.timestamp.field": "ingested_at",
    "transforms.insert.static.field": "source",
    "transforms.insert.static.value": "bench",
    "transforms.replace.type": T + "ReplaceField$Value",
    "transforms.replace.exclude": "country",
    "transforms.replace.renames": "user:username",
    "transforms.cast.type": T + "Cast$Value",
    "transforms.cast.spec": "amount:float64",
    "transforms.tsconv.type": T + "TimestampConverter$Value",
    "transforms.tsconv.field": "ts",
    "transforms.tsconv.target.type": "string",
    "transforms.tsconv.format": "yyyy-MM-dd'T'HH:mm:ss",
    "transforms.route.type": T + "RegexRouter",
    "transforms.route.regex": "(.*)-raw",
    "transforms.route.replacement": "$1-clean",
}

# Where each class lives, for registering it by hand when its entry point is missing.
BUILTINS: dict[str, str] = {
    T + "InsertField$Value": "engine.transforms.insert_field:InsertFieldValue",
    T + "ReplaceField$Value": "engine.transforms.replace_field:ReplaceFieldValue",
    T + "Cast$Value": "engine.transforms.cast:CastValue",
    T + "TimestampConverter$Value": "engine.transforms.timestamp_converter:TimestampConverterValue",
    T + "RegexRouter": "engine.transforms.regex_router:RegexRouter",
}


# ------------------------------------------------------------------------------ the registry


def chain_registry() -> tuple[PluginRegistry, list[str]]:
    """The installed plugins, plus any of the chain's classes not registered by entry point
    (registered here under its Apache name). Returns the registry and those names."""
    registry = PluginRegistry.discover()
    by_hand = []
    for name, target in BUILTINS.items():
        try:
            registry.resolve(name, PluginType.TRANSFORMATION)
            continue
        except PluginError:
            pass
        module, _, cls = target.partition(":")
        registry.register(
            getattr(importlib.import_module(module), cls), PluginType.TRANSFORMATION, names=[name]
        )
        by_hand.append(name)
    return registry, by_hand


# ------------------------------------------------------------------------------ the data


def value_field(schemaless: bool) -> pa.Field:
    struct = pa.struct(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("user", pa.string()),
            pa.field("amount", pa.string()),
            pa.field("country", pa.string()),
            pa.field("active", pa.bool_()),
            pa.field("ts", pa.int64()),
        ]
    )
    return cs.field(record.VALUE, struct, schemaless=schemaless)


_COUNTRIES = pa.array(["BE", "NL", "FR", "DE", "US", "JP"])


def make_input(start: int, rows: int, *, schemaless: bool, bad: np.ndarray | None) -> pa.RecordBatch:
    """Records ``start`` … ``start + rows - 1``; ``amount`` is ``n/a`` where ``bad`` is true."""
    idx = np.arange(start, start + rows, dtype=np.int64)
    user = pc.binary_join_element_wise("user-", pc.cast(pa.array(idx * 7919 % 1_000_003), pa.string()), "")
    amount = pc.cast(pa.array(np.round((idx * 37 % 1_000_000) * 0.01, 2)), pa.string())
    if bad is not None and bad.any():
        amount = pc.if_else(pa.array(bad), BAD_AMOUNT, amount)
    vf = value_field(schemaless)
    value = pa.StructArray.from_arrays(
        [
            pa.array(1_000_000 + idx),
            user,
            amount,
            _COUNTRIES.take(pa.array(idx % len(_COUNTRIES))),
            pa.array(idx % 3 != 0),
            pa.array(1_700_000_000_000 + idx * 1_337),
        ],
        fields=list(vf.type),
    )
    return record.make_batch(
        topic=TOPIC,
        value=value,
        partition=pa.array(np.zeros(rows, np.int32)),
        offset=pa.array(idx),
        timestamp=pa.array(1_699_000_000_000 + idx * 10).cast(pa.timestamp("ms")),
        value_field=vf,
    )


def to_records(batch: pa.RecordBatch) -> list[dict[str, Any]]:
    """The batch as a per-record engine holds it: one dict per record, timestamp in epoch ms."""
    cols = [
        batch.column(record.TOPIC).to_pylist(),
        batch.column(record.PARTITION).to_pylist(),
        batch.column(record.OFFSET).to_pylist(),
        batch.column(record.TIMESTAMP).cast(pa.int64()).to_pylist(),
        batch.column(record.KEY).to_pylist(),
        batch.column(record.VALUE).to_pylist(),
        batch.column(record.HEADERS).to_pylist(),
    ]
    return [dict(zip(record.COLUMNS, row, strict=True)) for row in zip(*cols, strict=True)]


# ------------------------------------------------------------------------------ record by record

Rec = dict[str, Any]
RecordStep = Callable[[Rec], Rec | None]
_EPOCH = datetime(1970, 1, 1)  # Arrow's timestamp[ms] reads back as a naive UTC datetime
_JAVA_DATE_TOKENS = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}


def strftime_pattern(java: str) -> str:
    """The few SimpleDateFormat letters this chain uses, as a ``strftime`` pattern."""
    out = []
    for token in re.finditer(r"'([^']*)'|([A-Za-z])\2*|[^A-Za-z']+", java):
        text = token.group(0)
        if token.group(1) is not None:
            out.append(token.group(1).replace("%", "%%") or "'")
        elif token.group(2) is not None:
            if text not in _JAVA_DATE_TOKENS:
                raise ValueError(f"date pattern letter {text!r} not supported here")
            out.append(_JAVA_DATE_TOKENS[text])
        else:
            out.append(text.replace("%", "%%"))
    return "".join(out)


def _insert_field(conf: Mapping[str, str], schemaless: bool) -> RecordStep:
    ts_field, static_field, static_value = conf["timestamp.field"], conf["static.field"], conf["static.value"]

    def with_schema(rec: Rec) -> Rec:
        value = rec["value"]
        if value is None:
            return rec
        out = dict(value)
        ts = rec["timestamp"]
        out[ts_field] = None if ts is None else _EPOCH + timedelta(milliseconds=ts)
        out[static_field] = static_value
        return {**rec, "value": out}

    def without(rec: Rec) -> Rec:
        value = rec["value"]
        if value is None:
            return rec
        out = dict(value)
        ts = rec["timestamp"]
        if ts is not None:
            out[ts_field] = ts
        out[static_field] = static_value
        return {**rec, "value": out}

    return without if schemaless else with_schema


def _replace_field(conf: Mapping[str, str]) -> RecordStep:
    exclude = frozenset(f.strip() for f in conf.get("exclude", "").split(",") if f.strip())
    renames = dict(r.strip().split(":") for r in conf.get("renames", "").split(",") if r.strip())

    def step(rec: Rec) -> Rec:
        value = rec["value"]
        if value is None:
            return rec
        out = {renames.get(k, k): v for k, v in value.items() if k not in exclude}
        return {**rec, "value": out}

    return step


def _java_int32(v: Any) -> int:
    if isinstance(v, str):
        n = int(v.strip())  # Integer.parseInt
        if not -(2**31) <= n < 2**31:
            raise ValueError(f"Value ({v}) was out of range for requested data type")
        return n
    return (int(v) + 2**31) % 2**32 - 2**31


_CASTS: dict[str, Callable[[Any], Any]] = {"float64": float, "int32": _java_int32}


def _cast(conf: Mapping[str, str]) -> RecordStep:
    casts = [
        (f.strip(), _CASTS[t.strip().lower()]) for f, t in (s.split(":") for s in conf["spec"].split(","))
    ]

    def step(rec: Rec) -> Rec:
        value = rec["value"]
        if value is None:
            return rec
        out = dict(value)
        for name, cast in casts:
            v = out.get(name)
            out[name] = None if v is None else cast(v)
        return {**rec, "value": out}

    return step


def _timestamp_converter(conf: Mapping[str, str]) -> RecordStep:
    name, fmt = conf["field"], strftime_pattern(conf["format"])
    assert conf["target.type"] == "string", "only target.type=string here"
    strftime, gmtime = time.strftime, time.gmtime

    def step(rec: Rec) -> Rec:
        value = rec["value"]
        if value is None:
            return rec
        out = dict(value)
        ms = out.get(name)
        out[name] = None if ms is None else strftime(fmt, gmtime(ms // 1000))
        return {**rec, "value": out}

    return step


def _regex_router(conf: Mapping[str, str]) -> RecordStep:
    pattern = re.compile(conf["regex"])
    replacement = re.sub(r"\$(\d+)", r"\\g<\1>", conf["replacement"])  # Java's $1 → \g<1>

    def step(rec: Rec) -> Rec:
        topic = rec["topic"]
        if topic is not None and pattern.fullmatch(topic):
            return {**rec, "topic": pattern.sub(replacement, topic, count=1)}
        return rec

    return step


class RecordChain:
    """The benchmark's chain record by record over dicts: what a per-record SMT engine does."""

    def __init__(self, config: Mapping[str, str], *, schemaless: bool) -> None:
        def own(alias: str) -> dict[str, str]:
            prefix = f"transforms.{alias}."
            return {k[len(prefix) :]: v for k, v in config.items() if k.startswith(prefix)}

        makers: dict[str, Callable[[dict[str, str]], RecordStep]] = {
            "InsertField$Value": lambda c: _insert_field(c, schemaless),
            "ReplaceField$Value": _replace_field,
            "Cast$Value": _cast,
            "TimestampConverter$Value": _timestamp_converter,
            "RegexRouter": _regex_router,
        }
        self.steps: list[RecordStep] = []
        for alias in config["transforms"].split(","):
            conf = own(alias.strip())
            self.steps.append(makers[conf["type"].rsplit(".", 1)[-1]](conf))

    def apply(self, records: list[Rec], report: Callable[[Rec, Exception], None]) -> list[Rec]:
        """The transformed records in order; a record a step fails on goes to ``report``."""
        steps = self.steps
        out: list[Rec] = []
        append = out.append
        for original in records:
            rec: Rec | None = original
            try:
                for step in steps:
                    rec = step(rec)  # type: ignore[arg-type]
                    if rec is None:
                        break
            except Exception as e:
                report(original, e)
                continue
            if rec is not None:
                append(rec)
        return out


# ------------------------------------------------------------------------------ runs


@dataclass
class Run:
    mode: str
    variant: str
    records: int
    bad: int
    records_out: int = 0
    reported: int = 0
    batches_out: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    round: int = 0

    @property
    def records_per_s(self) -> float:
        return self.records / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_per_million(self) -> float:
        return self.cpu_s / self.records * 1e6 if self.records else 0.0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["records_per_s"] = round(self.records_per_s)
        d["cpu_s_per_million"] = round(self.cpu_per_million, 3)
        return d


@dataclass
class Clock:
    """Wall and CPU seconds accumulated over the timed calls only."""

    wall_s: float = 0.0
    cpu_s: float = 0.0

    def call(self, fn: Callable[[Any], Any], arg: Any) -> Any:
        w, c = time.perf_counter(), time.process_time()
        out = fn(arg)
        self.cpu_s += time.process_time() - c
        self.wall_s += time.perf_counter() - w
        return out


@dataclass
class Data:
    """One mode's input: batch bounds, the malformed rows, the sample positions."""

    records: int
    batch_rows: int
    schemaless: bool
    bad: np.ndarray  # bool per record
    sample: np.ndarray  # sorted record positions compared between variants

    def bounds(self) -> Iterator[tuple[int, int]]:
        for start in range(0, self.records, self.batch_rows):
            yield start, min(self.batch_rows, self.records - start)

    def batch(self, start: int, rows: int, *, with_bad: bool) -> pa.RecordBatch:
        bad = self.bad[start : start + rows] if with_bad else None
        return make_input(start, rows, schemaless=self.schemaless, bad=bad)


def make_data(records: int, batch_rows: int, schemaless: bool, bad_fraction: float, seed: int = 7) -> Data:
    rng = np.random.default_rng(seed)
    bad = np.zeros(records, bool)
    bad[rng.choice(records, size=round(records * bad_fraction), replace=False)] = True
    edges = np.r_[0 : min(batch_rows, records), max(0, records - batch_rows) : records]
    sample = np.unique(np.r_[edges, rng.choice(records, size=min(SAMPLE_RECORDS, records), replace=False)])
    return Data(records, batch_rows, schemaless, bad, sample)


@dataclass
class Outcome:
    """What a run produced, kept for the checks."""

    run: Run
    sample: dict[int, Rec] = field(default_factory=dict)  # offset → output record
    offsets: list[int] = field(default_factory=list)  # output offsets, in order
    reported: list[int] = field(default_factory=list)  # offsets of the reported records
    reported_intact: bool = True  # vectorized: every reported record carries its bad amount
    batches: list[list[pa.RecordBatch]] = field(default_factory=list)  # vectorized: per input batch


def run_vectorized(data: Data, registry: PluginRegistry, mode: str, *, bad: bool, dlq: Any = None) -> Outcome:
    chain = TransformChain(registry, CHAIN)
    kept: list[pa.RecordBatch] = []

    def collect(batch: pa.RecordBatch, rows: list[int], stage: str, cls: str, error: BaseException) -> None:
        """The collecting reporter: the failed records' data, copied out of the batch with one
        ``take`` per call (the batch is the step's, and goes away). That is what a reporter
        must do on the task's clock; what it then writes is its own format's cost: a real
        dead-letter queue (``--dlq``, timed, flush included) turns each record into Kafka
        bytes. Here the rows become Python objects after the clock, for the checks: pyarrow's
        ``to_pylist`` costs ~10 µs per record of this shape, about as much as all the rest of
        a bad record's handling, and is no part of what a reporter has to do."""
        kept.append(batch.take(pa.array(rows, pa.int64())))

    reporters = [collect] + ([dlq.report] if dlq is not None else [])
    errors = ErrorHandler(ErrorPolicy(tolerance_all=True), "bench", TaskMetrics("bench", 0), reporters)

    def step(batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        return chain.apply(batch, errors.transform_runner) if bad else chain.apply(batch)

    variant = "vectorized-bad" if bad else "vectorized"
    out = Outcome(Run(mode, variant, data.records, int(data.bad.sum()) if bad else 0))
    step(data.batch(0, min(data.batch_rows, data.records), with_bad=False))  # warm-up
    clock = Clock()
    for start, rows in data.bounds():
        batch = data.batch(start, rows, with_bad=bad)
        out.batches.append(clock.call(step, batch))
    if dlq is not None:
        clock.call(dlq.flush, 60.0)
    chain.close()
    out.run.wall_s, out.run.cpu_s = clock.wall_s, clock.cpu_s
    out.run.records_out = sum(b.num_rows for bs in out.batches for b in bs)
    out.run.batches_out = sum(len(bs) for bs in out.batches)
    reported = [r for t in kept for r in t.to_pylist()]  # after the clock: see collect()
    out.reported = [r[record.OFFSET] for r in reported]
    out.reported_intact = all(r[record.VALUE]["amount"] == BAD_AMOUNT for r in reported)
    out.run.reported = len(reported)
    table = pa.Table.from_batches([b for bs in out.batches for b in bs])
    offsets = table.column(record.OFFSET).to_numpy()
    keep = np.flatnonzero(np.isin(offsets, data.sample))
    out.sample = {r[record.OFFSET]: r for r in table.take(pa.array(keep)).to_pylist()}
    out.offsets = offsets.tolist()
    return out


def run_per_record(data: Data, mode: str, *, bad: bool) -> Outcome:
    chain = RecordChain(CHAIN, schemaless=data.schemaless)
    reported: list[int] = []

    def collect(rec: Rec, error: Exception) -> None:
        reported.append(rec[record.OFFSET])

    def step(records: list[Rec]) -> list[Rec]:
        return chain.apply(records, collect)

    variant = "per-record-bad" if bad else "per-record"
    out = Outcome(Run(mode, variant, data.records, int(data.bad.sum()) if bad else 0))
    step(to_records(data.batch(0, min(data.batch_rows, data.records), with_bad=False)))  # warm-up
    wanted = set(data.sample.tolist())
    clock = Clock()
    for start, rows in data.bounds():
        records = to_records(data.batch(start, rows, with_bad=bad))
        gc.collect()  # the last batch's garbage, outside the clock
        results = clock.call(step, records)
        out.offsets.extend(r[record.OFFSET] for r in results)
        out.sample.update((r[record.OFFSET], r) for r in results if r[record.OFFSET] in wanted)
        del records, results
    out.run.wall_s, out.run.cpu_s = clock.wall_s, clock.cpu_s
    out.run.records_out = len(out.offsets)
    out.reported = reported
    out.run.reported = len(reported)
    return out


# ------------------------------------------------------------------------------ checks


def canonical(value: Any) -> Any:
    """Datetimes as epoch ms, dicts as (key, value) lists (key order counts)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(aware.timestamp() * 1000)
    if isinstance(value, dict):
        return [(k, canonical(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def same_sample(a: Outcome, b: Outcome, offsets: Sequence[int]) -> tuple[bool, str]:
    for off in offsets:
        ra, rb = a.sample.get(off), b.sample.get(off)
        if ra is None or rb is None or canonical(ra) != canonical(rb):
            return False, f"record {off}: {a.run.variant} {ra!r} != {b.run.variant} {rb!r}"
    return True, f"{len(offsets)} records equal"


def check_mode(data: Data, got: Mapping[str, Outcome]) -> dict[str, Any]:
    """The equalities the module docstring lists, for one mode's runs (one round)."""
    checks: dict[str, Any] = {}
    all_offsets = np.arange(data.records)
    good = all_offsets[~data.bad].tolist()
    bad = all_offsets[data.bad].tolist()
    vec, rec = got.get("vectorized"), got.get("per-record")
    if vec is not None and rec is not None:
        complete = vec.offsets == all_offsets.tolist() == rec.offsets
        ok, why = same_sample(vec, rec, data.sample.tolist())
        checks["vectorized_equals_per_record"] = ok and complete
        checks["vectorized_equals_per_record_detail"] = why if complete else "record counts/order differ"
    vbad = got.get("vectorized-bad")
    if vbad is not None:
        ok = vbad.offsets == good and sorted(vbad.reported) == bad and vbad.reported_intact
        if ok and vec is not None:
            ok = _equal_without_bad(data, vec, vbad)
        checks["vectorized_bad_complete_in_order"] = ok
    rbad = got.get("per-record-bad")
    if rbad is not None:
        ok = rbad.offsets == good and rbad.reported == bad
        if ok and rec is not None:
            ok, _ = same_sample(rbad, rec, sorted(set(data.sample.tolist()) - set(bad)))
        checks["per_record_bad_complete_in_order"] = ok
    return checks


def _equal_without_bad(data: Data, clean: Outcome, dirty: Outcome) -> bool:
    for (start, rows), c, d in zip(data.bounds(), clean.batches, dirty.batches, strict=True):
        keep = pa.array(~data.bad[start : start + rows])
        want = pa.Table.from_batches(c).filter(keep)
        have = pa.Table.from_batches(d) if d else want.slice(0, 0)
        if not have.equals(want.cast(have.schema) if have.schema != want.schema else want):
            return False
    return True


# ------------------------------------------------------------------------------ the report


def ratios(runs: Sequence[Run]) -> dict[str, dict[str, float]]:
    """Per mode: vectorized over per-record (CPU and wall), and the 1%-bad cost over clean."""
    by = {(r.mode, r.variant): r for r in runs}
    out: dict[str, dict[str, float]] = {}
    for mode in dict.fromkeys(r.mode for r in runs):
        vec, rec = by.get((mode, "vectorized")), by.get((mode, "per-record"))
        vbad, rbad = by.get((mode, "vectorized-bad")), by.get((mode, "per-record-bad"))
        m: dict[str, float] = {}
        if vec and rec and vec.cpu_s and vec.wall_s:
            m["speedup_cpu"] = round(rec.cpu_s / vec.cpu_s, 2)
            m["speedup_wall"] = round(rec.wall_s / vec.wall_s, 2)
        if vec and vbad and vec.cpu_s and vec.wall_s:
            m["vectorized_bad_cost_cpu"] = round(vbad.cpu_s / vec.cpu_s, 2)
            m["vectorized_bad_cost_wall"] = round(vbad.wall_s / vec.wall_s, 2)
        if rec and rbad and rec.cpu_s:
            m["per_record_bad_cost_cpu"] = round(rbad.cpu_s / rec.cpu_s, 2)
        out[mode] = m
    return out


HEADER = (
    "| mode | variant | records | bad | records out | batches out | s | records/s | CPU s / 1M records "
    "| x per-record (CPU) | x clean (CPU) |"
)


def render_table(report: Mapping[str, Any]) -> str:
    rows = [HEADER, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in report["runs"]:
        m = report["ratios"].get(r["mode"], {})
        speed = f"{m['speedup_cpu']:.1f}x" if r["variant"] == "vectorized" and "speedup_cpu" in m else ""
        key = {"vectorized-bad": "vectorized_bad_cost_cpu", "per-record-bad": "per_record_bad_cost_cpu"}
        cost = f"{m[key[r['variant']]]:.2f}x" if key.get(r["variant"]) in m else ""
        rows.append(
            f"| {r['mode']} | {r['variant']} | {r['records']:,} | {r['bad']:,} | {r['records_out']:,} "
            f"| {r['batches_out']:,} | {r['wall_s']:.2f} | {r['records_per_s']:,} "
            f"| {r['cpu_s_per_million']:.2f} | {speed} | {cost} |"
        )
    return "\n".join(rows)


def verdicts(report: Mapping[str, Any]) -> list[str]:
    lines = []
    for mode, m in report["ratios"].items():
        if "speedup_cpu" in m:
            met = "met" if m["speedup_cpu"] >= TARGET_SPEEDUP else "NOT met"
            lines.append(
                f"{mode}: vectorized / per-record = {m['speedup_cpu']:.1f}x CPU, "
                f"{m['speedup_wall']:.1f}x wall (target >= {TARGET_SPEEDUP:.0f}x: {met})"
            )
        if "vectorized_bad_cost_cpu" in m:
            met = "met" if m["vectorized_bad_cost_cpu"] < TARGET_BAD_COST else "NOT met"
            lines.append(
                f"{mode}: vectorized with bad records / clean = {m['vectorized_bad_cost_cpu']:.2f}x CPU, "
                f"{m['vectorized_bad_cost_wall']:.2f}x wall (target < {TARGET_BAD_COST:.0f}x: {met})"
            )
    return lines


def median_runs(runs: Sequence[Run]) -> list[Run]:
    """Per (mode, variant), the run with the median CPU time (the lower middle one)."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.mode, r.variant), []).append(r)
    return [sorted(g, key=lambda r: r.cpu_s)[(len(g) - 1) // 2] for g in groups.values()]


def run_benchmark(
    *,
    records: int = DEFAULT_RECORDS,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    modes: Sequence[str] = MODES,
    variants: Sequence[str] = VARIANTS,
    bad_fraction: float = DEFAULT_BAD_FRACTION,
    repeat: int = 1,
    dlq: Any = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Every variant of every mode, ``repeat`` rounds; the report (see :func:`write_results`)."""
    registry, by_hand = chain_registry()
    all_runs: list[Run] = []
    checks: dict[str, Any] = {}
    for mode in modes:
        data = make_data(records, batch_rows, mode == "schemaless", bad_fraction)
        for rnd in range(repeat):
            got: dict[str, Outcome] = {}
            for variant in variants:
                gc.collect()
                if variant.startswith("vectorized"):
                    o = run_vectorized(data, registry, mode, bad=variant.endswith("bad"), dlq=dlq)
                else:
                    o = run_per_record(data, mode, bad=variant.endswith("bad"))
                o.run.round = rnd
                got[variant] = o
                all_runs.append(o.run)
                progress(
                    f"{mode} {variant} round {rnd}: {o.run.records_per_s:,.0f} records/s, "
                    f"{o.run.cpu_per_million:.2f} CPU s / 1M"
                )
            found = check_mode(data, got)
            for k, v in found.items():  # a check fails if it failed in any round
                key = f"{mode}.{k}"
                checks[key] = (checks.get(key, True) and v) if isinstance(v, bool) else v
            del got
    chosen = median_runs(all_runs)
    report: dict[str, Any] = {
        "benchmark": "transform_chain",
        "records": records,
        "batch_rows": batch_rows,
        "bad_fraction": bad_fraction,
        "repeat": repeat,
        "modes": list(modes),
        "chain": CHAIN,
        "registered_by_hand": by_hand,
        "reporter": "dead-letter queue" if dlq is not None else "collecting reporter",
        "runs": [r.to_json() for r in chosen],
        "all_runs": [r.to_json() for r in all_runs],
        "ratios": ratios(chosen),
        "checks": checks,
    }
    report["verdicts"] = verdicts(report)
    return report


def checks_passed(report: Mapping[str, Any]) -> bool:
    return all(v for v in report["checks"].values() if isinstance(v, bool))


def write_results(report: Mapping[str, Any], out: Path, stamp: str | None = None) -> Path:
    """``<out>/transform_chain-<stamp>.json`` (stamp: the UTC time by default)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"transform_chain-{stamp or time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return path


# ------------------------------------------------------------------------------ the command


def pin(core: int | None) -> int | None:
    """Pin this process to one core (the last allowed one by default); Arrow to one thread."""
    import psutil

    pa.set_cpu_count(1)
    proc = psutil.Process()
    allowed = proc.cpu_affinity() or []
    if not allowed:
        return None
    chosen = core if core is not None else allowed[-1]
    proc.cpu_affinity([chosen])
    return chosen


def profile(records: int, batch_rows: int, bad_fraction: float, out: Path, stamp: str) -> dict[str, str]:
    """pyinstrument over one pass of each vectorized variant (schema mode); the text reports."""
    from pyinstrument import Profiler

    registry, _ = chain_registry()
    data = make_data(records, batch_rows, False, bad_fraction)
    paths = {}
    for bad in (False, True):
        profiler = Profiler(interval=0.0005)
        profiler.start()
        run_vectorized(data, registry, "schema", bad=bad)
        profiler.stop()
        name = "vectorized-bad" if bad else "vectorized"
        path = out / f"transform_chain-{stamp}-profile-{name}.txt"
        path.write_text(profiler.output_text(unicode=True, color=False))
        paths[name] = str(path)
    return paths


def open_dlq() -> Any:
    from engine.runtime.dead_letter import DeadLetterQueue, typed_original

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        raise SystemExit("--dlq needs KAFKA_BOOTSTRAP_SERVERS")
    config = {
        "errors.deadletterqueue.topic.name": f"perf-transform-chain-dlq-{os.getpid()}",
        "errors.deadletterqueue.topic.replication.factor": "1",
        "errors.deadletterqueue.context.headers.enable": "true",
    }
    conf = {"bootstrap.servers": bootstrap}
    return DeadLetterQueue(config, "bench", 0, conf, TaskMetrics("bench", 0), typed_original)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m perf.transform_chain", description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=DEFAULT_RECORDS, help="records per variant (1000000)")
    p.add_argument("--batch-rows", type=int, default=DEFAULT_BATCH_ROWS, help="rows per batch (10000)")
    p.add_argument("--modes", default=",".join(MODES), help="schema,schemaless (default both)")
    p.add_argument("--variants", default=",".join(VARIANTS), help=f"subset of {','.join(VARIANTS)}")
    p.add_argument("--bad-fraction", type=float, default=DEFAULT_BAD_FRACTION, help="malformed share (0.01)")
    p.add_argument("--repeat", type=int, default=1, help="rounds; the table shows the median (by CPU)")
    p.add_argument("--core", type=int, default=None, help="core to pin to (default: the last allowed)")
    p.add_argument("--out", default="perf/results", help="directory for the JSON results")
    p.add_argument("--profile", action="store_true", help="also pyinstrument the vectorized variants")
    p.add_argument(
        "--dlq", action="store_true", help="report to a dead-letter queue (KAFKA_BOOTSTRAP_SERVERS)"
    )
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not set(modes) <= set(MODES) or not set(variants) <= set(VARIANTS):
        p.error(f"modes are {MODES}, variants {VARIANTS}")

    from perf._util import machine

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())  # names the JSON and the profiles
    facts = machine()  # before pinning: usable_cores is the machine's, not the pinned process's
    core = pin(args.core)
    dlq = open_dlq() if args.dlq else None
    report = run_benchmark(
        records=args.records,
        batch_rows=args.batch_rows,
        modes=modes,
        variants=variants,
        bad_fraction=args.bad_fraction,
        repeat=args.repeat,
        dlq=dlq,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    report["command"] = "python -m perf.transform_chain " + " ".join(sys.argv[1:] if argv is None else argv)
    report["machine"] = facts
    report["pinned_core"] = core
    report["arrow_cpu_count"] = pa.cpu_count()
    report["load_average"] = list(os.getloadavg())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.profile:
        report["profiles"] = profile(args.records, args.batch_rows, args.bad_fraction, out, stamp)
    if dlq is not None:
        dlq.close()
    path = write_results(report, out, stamp)
    print(render_table(report))
    print()
    for line in report["verdicts"]:
        print(f"* {line}")
    print(f"\nchecks: {json.dumps(report['checks'])}")
    print(f"results: {path}")
    return 0 if checks_passed(report) else 1


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["CHAIN", "HEADER", "RecordChain", "render_table", "run_benchmark", "write_results"]
