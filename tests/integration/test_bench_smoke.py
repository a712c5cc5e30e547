"""``arrowsmith bench`` runs every scenario end to end on a small N: the report's shape and
that every record arrived (not speed: full runs are by hand, see docs/performance.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from perf.bench import make_values, render_table, run_benchmark, scenarios, write_results

pytestmark = [pytest.mark.kafka, pytest.mark.processes, pytest.mark.slow]

N = 3_000
LABELS = [
    ("e2e", "", "arrowsmith"),
    ("pipelined", "single", "arrowsmith"),
    ("pipelined", "split", "arrowsmith"),
    ("scale", "tasks1", "arrowsmith"),
    ("scale", "tasks2", "arrowsmith"),
    ("scale", "tasks4", "arrowsmith"),
    ("sink-json", "", "arrowsmith"),
    ("sink-json", "", "raw"),
    ("source-json", "", "arrowsmith"),
    ("source-json", "split", "arrowsmith"),
    ("source-json", "", "raw"),
]


def test_the_scenarios_are_the_documented_ones() -> None:
    assert list(scenarios()) == ["e2e", "pipelined", "scale", "sink-json", "source-json"]
    values = make_values(1000)
    assert values[7] == (
        b'{"id":7,"user":"user-055433","amount":10007.07,"country":"SE","active":true,'
        b'"ts":1700000000007,"note":"n000000007"}'
    )
    assert all(100 <= len(v) <= 125 for v in values)
    assert [json.loads(v)["id"] for v in values] == list(range(1000))


@pytest.mark.timeout(900)
def test_every_scenario_runs_on_a_small_n(tmp_path: Path, kafka_bootstrap: str) -> None:
    log: list[str] = []
    work = tmp_path / "work"
    work.mkdir()
    report = run_benchmark(
        kafka_bootstrap, records=N, peers=["raw"], timeout=120, progress=log.append, work=work
    )

    medians = report["medians"]
    assert [(r["scenario"], r["variant"], r["engine"]) for r in medians] == LABELS, log
    for r in medians:
        assert r["complete"], f"{r['scenario']}/{r['variant']} {r['engine']}: {r['notes']}"
        assert r["delivered"] == N
        assert r["records_per_s"] > 0 and r["mb_per_s"] > 0
        assert r["clean_stop"], r  # the raw client too: it waits for SIGTERM, then exits 0
        assert 0 < r["first_record_s"] <= r["seconds"], r  # every engine is timed from its launch
        if r["engine"] == "arrowsmith":  # the raw client's CPU over 3000 records may read 0.00 s
            assert r["cpu_per_million"] > 0
            assert r["peak_rss_mb"] > 20, r  # a control plane and its worker processes
    e2e = medians[0]
    assert 0 < e2e["latency_p50_ms"] <= e2e["latency_p99_ms"] < 120_000
    assert all(r["latency_p50_ms"] is None for r in medians[1:])

    # every record arrived, in order, and the sinks wrote one line per record
    e2e_dir = next(work.glob("e2e-main-arrowsmith-0"))
    assert (e2e_dir / "out.txt").read_bytes() == (work / "in.txt").read_bytes()
    for d in work.glob("*-arrowsmith-0"):
        if not d.name.startswith("source-json"):
            assert len((d / "out.txt").read_bytes().splitlines()) == N, d
    # the raw client is a process of its own, watched as the engines are: its consumer wrote
    # every record it read as a line of the output file
    raw_out = (work / "sink-json-main-raw-0" / "out.txt").read_bytes().splitlines()
    assert sorted(raw_out) == sorted((work / "in.txt").read_bytes().splitlines())
    assert "linger.ms=20" in medians[-1]["notes"]
    # the transform chain ran (InsertField, ReplaceField, Cast, TimestampConverter)
    first = json.loads((work / "sink-json-main-arrowsmith-0" / "out.txt").read_text().splitlines()[0])
    assert first["pipeline"] == "bench" and "note" not in first and "user_id" in first
    assert isinstance(first["amount"], float) and isinstance(first["id"], str)
    assert first["ts"].startswith("2023-11-14T")

    ratios = {(q["scenario"], q["variant"], q["peer"]): q for q in report["ratios"]}
    assert set(ratios) == {
        ("sink-json", "", "raw"),
        ("source-json", "", "raw"),
        ("source-json", "split", "raw"),
        ("pipelined", "split", "arrowsmith/single"),
        ("source-json", "split", "arrowsmith/source-json"),
    }
    assert all(q["records_per_s"] > 0 for q in ratios.values())
    assert ratios[("pipelined", "split", "arrowsmith/single")]["cpu_per_record"] > 0

    table = render_table(report).splitlines()
    assert len(table) == 2 + len(LABELS) + 1 + 2 + len(ratios)
    out = tmp_path / "results"
    path = write_results(report, out)
    assert json.loads(path.read_text())["medians"] == medians
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert len(history) == 1 and len(history[0]["results"]) == len(LABELS)


def test_the_cli_lists_the_scenarios() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "controlplane", "bench", "--list"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert [line.split(":")[0] for line in out.stdout.splitlines()] == list(scenarios())


@pytest.mark.timeout(900)
def test_apache_kafka_connect_runs_the_same_scenarios(tmp_path: Path, kafka_bootstrap: str) -> None:
    """The JVM peer on the same files: it needs java and mvn (CI has both); without them
    the harness leaves it out, and this test fails."""
    log: list[str] = []
    work = tmp_path / "work"
    work.mkdir()
    report = run_benchmark(
        kafka_bootstrap,
        ["e2e", "sink-json"],
        records=N,
        peers=["apache"],
        timeout=180,
        progress=log.append,
        work=work,
    )
    assert report["peers"] == ["apache"], log
    medians = {(r["scenario"], r["engine"]): r for r in report["medians"]}
    assert set(medians) == {(s, e) for s in ("e2e", "sink-json") for e in ("arrowsmith", "apache")}
    for r in medians.values():
        assert r["complete"] and r["delivered"] == N, r["notes"]
        assert r["clean_stop"] and r["cpu_per_million"] > 0 and r["peak_rss_mb"] > 20, r
    assert medians[("e2e", "apache")]["latency_p99_ms"] is not None
    # the JVM wrote the same lines for e2e, and one line per record through its chain
    assert (work / "e2e-main-apache-0" / "out.txt").read_bytes() == (work / "in.txt").read_bytes()
    java_lines = (work / "sink-json-main-apache-0" / "out.txt").read_text().splitlines()
    assert len(java_lines) == N and "pipeline=bench" in java_lines[0] and "note=" not in java_lines[0]
    assert "pipeline.processes" not in (work / "sink-json-main-apache-0" / "java-sink.properties").read_text()
    ratios = {(q["scenario"], q["peer"]) for q in report["ratios"]}
    assert ratios == {("e2e", "apache"), ("sink-json", "apache")}


def test_an_unreachable_broker_stops_the_bench_before_any_scenario(tmp_path: Path) -> None:
    from engine.broker.launcher import free_port

    port = free_port()  # nothing listens there
    args = ["source-json", "--records", "100", "--peers", "", "--out", str(tmp_path / "results")]
    out = subprocess.run(
        [sys.executable, "-m", "controlplane", "bench", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"},
    )
    assert out.returncode == 1
    assert out.stderr.startswith(
        f"arrowsmith bench: error: Could not reach Kafka at bootstrap.servers=127.0.0.1:{port} within 10s"
    )
    assert "source-json" not in out.stdout  # no scenario ran
    assert not (tmp_path / "results").exists()  # and nothing was written


@pytest.mark.timeout(300)
def test_a_scenario_dir_of_ones_own(tmp_path: Path, kafka_bootstrap: str) -> None:
    """A user's folder: a sink scenario with its own worker file (StringConverter, so the
    CSV lines its generator makes go through untouched; the built-in worker's JsonConverter
    would read only each line's leading number, as Jackson does) and its own generator."""
    folder = tmp_path / "scenarios" / "csv-sink"
    folder.mkdir(parents=True)
    (folder / "scenario.json").write_text(
        json.dumps(
            {
                "description": "CSV lines → StringConverter → FileStreamSink",
                "data": "rows.py:csv_rows",
                "kind": "sink",
                "partitions": 1,
                "connectors": ["sink.properties"],
                "variants": {"": {"processes": "1"}},
            }
        )
    )
    (folder / "rows.py").write_text(
        "def csv_rows(n):\n    return [b'%d,item-%d,%d.5' % (i, i % 7, i) for i in range(n)]\n"
    )
    (folder / "worker.properties").write_text(
        "bootstrap.servers=${bootstrap}\n"
        "key.converter=org.apache.kafka.connect.storage.StringConverter\n"
        "value.converter=org.apache.kafka.connect.storage.StringConverter\n"
        "offset.storage.file.filename=${work}/connect.offsets\n"
        "listeners=http://127.0.0.1:${port}\n"
        "worker.processes=${processes}\n"
    )
    (folder / "sink.properties").write_text(
        "name=csv-${run}\nconnector.class=FileStreamSink\ntasks.max=1\ntopics=${topic}\nfile=${output}\n"
        "errors.tolerance=none\n"
    )
    work = tmp_path / "work"
    work.mkdir()
    n = 2_000
    report = run_benchmark(
        kafka_bootstrap, records=n, peers=[], timeout=120, work=work, scenario_dir=tmp_path / "scenarios"
    )
    [run] = report["medians"]
    assert (run["scenario"], run["engine"], run["complete"], run["delivered"]) == (
        "csv-sink",
        "arrowsmith",
        True,
        n,
    )
    assert report["scenarios"]["csv-sink"]["data"] == "rows.py:csv_rows"
    expected = [b"%d,item-%d,%d.5" % (i, i % 7, i) for i in range(n)]
    assert report["record_bytes_avg"] == round(sum(map(len, expected)) / n, 1)
    assert (work / "csv-sink-main-arrowsmith-0" / "out.txt").read_bytes().splitlines() == expected
