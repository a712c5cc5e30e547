"""The file-pipeline benchmark runs end to end on a small N: the report's shape and that
every record arrived (not speed: the numbers are measured by hand, see docs/performance.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perf.file_pipeline import HEADER, render_table, run_benchmark, write_results

pytestmark = [pytest.mark.kafka, pytest.mark.processes, pytest.mark.slow]

N = 20_000
SCENARIOS = [
    "raw-produce",
    "raw-consume",
    "source-json-p1",
    "source-string-p1",
    "sink-json-p1",
    "sink-string-p1",
]


@pytest.mark.timeout(600)
def test_file_pipeline_benchmark_small(tmp_path: Path, kafka_bootstrap: str) -> None:
    log: list[str] = []
    report = run_benchmark(
        kafka_bootstrap,
        records=N,
        converters=("json", "string"),
        processes=(1,),
        work=tmp_path / "work",
        timeout=120,
        progress=log.append,
    )

    assert [s["scenario"] for s in report["scenarios"]] == SCENARIOS
    assert report["records"] == N
    assert 90 <= report["line_bytes_avg"] <= 110
    assert report["machine"]["nproc"] >= 1
    for s in report["scenarios"]:
        assert s["complete"], f"{s['scenario']}: {s['delivered']} of {N}\n{s['notes']}"
        assert s["delivered"] == N
        assert s["records_per_s"] > 0 and s["mb_per_s"] > 0
        assert s["cpu_per_million"] > 0
        if s["kind"] == "ours":
            assert s["ours_raw"] > 0
            assert s["clean_stop"], s["scenario"]
            assert any(k.startswith("worker process") for k in s["cpu_by_process"]), s["cpu_by_process"]
    assert len(report["prefills"]) == 2 and all(p["complete"] for p in report["prefills"])

    table = render_table(report).splitlines()
    assert table[0] == HEADER
    assert len(table) == 2 + len(SCENARIOS)
    assert {row.count("|") for row in table} == {HEADER.count("|")}

    out = tmp_path / "results"
    path = write_results(report, out)
    assert json.loads(path.read_text())["scenarios"] == report["scenarios"]
    write_results(report, out)
    history = (out / "history.jsonl").read_text().splitlines()
    assert len(history) == 2
    assert set(json.loads(history[0])["results"]) == set(SCENARIOS)
