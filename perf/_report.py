"""The benchmark's results: one :class:`Result` per scenario, the table, the files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Result:
    """One scenario. Times in seconds from the scenario's start; CPU in CPU seconds."""

    scenario: str
    kind: str  # "raw" or "ours"
    direction: str  # "source" (into Kafka) or "sink" (out of Kafka)
    records: int
    delivered: int
    payload_bytes: int
    seconds: float
    startup_s: float
    steady_records: int
    steady_s: float
    cpu_s: float
    steady_cpu_s: float
    converter: str | None = None
    processes: int | None = None
    broker_cpu_s: float | None = None
    machine_busy_cpu_s: float | None = None  # every process on the machine, in the window
    harness_cpu_s: float = 0.0  # this benchmark process, in the window (the raw rows: = cpu_s)
    round: int = 0
    complete: bool = True
    clean_stop: bool = True
    stop_s: float = 0.0
    cpu_by_process: dict[str, float] = field(default_factory=dict)
    topic: str = ""
    notes: str = ""
    profile: dict[str, Any] | None = None

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.payload_bytes / 1e6 / self.seconds if self.seconds else 0.0

    @property
    def steady_records_per_s(self) -> float:
        return self.steady_records / self.steady_s if self.steady_s > 0 else 0.0

    @property
    def cpu_per_million(self) -> float:
        return self.cpu_s / self.records * 1e6 if self.records else 0.0

    @property
    def steady_cpu_per_million(self) -> float:
        return self.steady_cpu_s / self.steady_records * 1e6 if self.steady_records else 0.0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("records_per_s", "mb_per_s", "steady_records_per_s", "cpu_per_million"):
            d[k] = round(getattr(self, k), 3)
        d["steady_cpu_per_million"] = round(self.steady_cpu_per_million, 3)
        d["others_cpu_s"] = None
        if self.machine_busy_cpu_s is not None:
            ours = self.harness_cpu_s + (self.cpu_s if self.kind == "ours" else 0.0)
            d["others_cpu_s"] = round(self.machine_busy_cpu_s - ours - (self.broker_cpu_s or 0.0), 2)
        return d


def medians(results: Sequence[Result]) -> list[Result]:
    """Per scenario (in first-seen order), the run with the median records/s (the lower
    one of the middle two for an even count; a failed run counts as 0 records/s)."""
    runs: dict[str, list[Result]] = {}
    for r in results:
        runs.setdefault(r.scenario, []).append(r)
    out = []
    for group in runs.values():
        ranked = sorted(group, key=lambda r: r.records_per_s if r.complete else 0.0)
        out.append(ranked[(len(ranked) - 1) // 2])
    return out


def summary(r: Result, results: Sequence[Result], all_runs: Sequence[Result] = ()) -> dict[str, Any]:
    """``r`` as JSON, with its ratios to the raw ceiling of its direction in ``results``
    and the records/s of every run of the same scenario in ``all_runs``."""
    d = r.to_json()
    d["runs_records_per_s"] = [round(x.records_per_s) for x in all_runs if x.scenario == r.scenario]
    raw = next((x for x in results if x.kind == "raw" and x.direction == r.direction), None)
    if raw is None or r.kind != "ours":
        return d
    # a ratio is left out when the raw run has no such figure (too few records to time)
    for key, ours, base, digits in (
        ("ours_raw", r.records_per_s, raw.records_per_s, 3),
        ("steady_ours_raw", r.steady_records_per_s, raw.steady_records_per_s, 3),
        ("steady_cpu_ours_raw", r.steady_cpu_per_million, raw.steady_cpu_per_million, 2),
    ):
        if base:
            d[key] = round(ours / base, digits)
    return d


HEADER = (
    "| scenario | records/s | MB/s | CPU s / 1M records | ours/raw | steady records/s "
    "| steady CPU s / 1M | steady ours/raw | CPU ours/raw | start-up s | others' CPU % | complete |"
)


def render_table(report: dict[str, Any]) -> str:
    """The report as a markdown table (raw rows first per direction). "others' CPU %" is
    the share of the machine's cores that other processes (not ours, not the broker, not
    this harness) used during the run: how noisy the measurement was."""
    rows = [HEADER, "|" + "---|" * (HEADER.count("|") - 1)]
    cores = report["machine"].get("nproc") or 1
    order = sorted(report["scenarios"], key=lambda s: (s["direction"] != "source", s["kind"] != "raw"))
    for s in order:
        raw = s["kind"] == "raw"
        ratio = "1" if raw else f"{s['ours_raw']:.2f}" if "ours_raw" in s else ""
        sratio = "1" if raw else f"{s['steady_ours_raw']:.2f}" if "steady_ours_raw" in s else ""
        cratio = "1" if raw else f"{s['steady_cpu_ours_raw']:.1f}" if "steady_cpu_ours_raw" in s else ""
        others = (
            ""
            if s.get("others_cpu_s") is None or not s["seconds"]
            else (f"{max(0.0, 100 * s['others_cpu_s'] / (s['seconds'] * cores)):.0f}")
        )
        rows.append(
            f"| {s['scenario']} | {s['records_per_s']:,.0f} | {s['mb_per_s']:.1f} "
            f"| {s['cpu_per_million']:.2f} | {ratio} | {s['steady_records_per_s']:,.0f} "
            f"| {s['steady_cpu_per_million']:.2f} | {sratio} | {cratio} | {s['startup_s']:.2f} "
            f"| {others} | {'yes' if s['complete'] else 'NO'} |"
        )
    return "\n".join(rows)


def save_report(report: dict[str, Any], out: Path, summary: dict[str, Any]) -> Path:
    """``<out>/<benchmark>-<time>.json`` with everything, and ``summary`` (plus the run's
    identity) as a line of ``<out>/history.jsonl``."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = report["started"].replace(":", "").replace("-", "").replace("+0000", "Z")
    path = out / f"{report['benchmark']}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    line = {
        "benchmark": report["benchmark"],
        "started": report["started"],
        "records": report["records"],
        "git": report["machine"].get("git"),
        "nproc": report["machine"].get("nproc"),
        "cpu_model": report["machine"].get("cpu_model"),
        **summary,
        "file": path.name,
    }
    with open(out / "history.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(line) + "\n")
    return path


def write_results(report: dict[str, Any], out: Path) -> Path:
    """``<out>/file_pipeline-<time>.json`` with everything, plus a line in history.jsonl."""
    keys = (
        "records_per_s",
        "steady_records_per_s",
        "cpu_per_million",
        "steady_cpu_per_million",
        "ours_raw",
        "steady_cpu_ours_raw",
        "complete",
    )
    results = {s["scenario"]: {k: s[k] for k in keys if k in s} for s in report["scenarios"]}
    return save_report(report, out, {"results": results})
