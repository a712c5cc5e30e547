"""The transform-chain benchmark runs on a small N: the report's shape, and that the vectorized
chain and the per-record chain give the same records (not speed: see docs/performance.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perf.transform_chain import (
    HEADER,
    MODES,
    VARIANTS,
    RecordChain,
    checks_passed,
    render_table,
    run_benchmark,
    strftime_pattern,
    write_results,
)

N = 2_000
BATCH_ROWS = 500
BAD = 20  # 1 % of N


@pytest.fixture(scope="module")
def report() -> dict[str, object]:
    return run_benchmark(records=N, batch_rows=BATCH_ROWS)


def test_every_variant_of_every_mode_ran(report: dict) -> None:
    assert [(r["mode"], r["variant"]) for r in report["runs"]] == [(m, v) for m in MODES for v in VARIANTS]
    for r in report["runs"]:
        bad = BAD if r["variant"].endswith("bad") else 0
        assert (r["records"], r["bad"], r["reported"]) == (N, bad, bad), r
        assert r["records_out"] == N - bad, r
        assert r["wall_s"] > 0 and r["cpu_s"] > 0 and r["records_per_s"] > 0, r
        if r["variant"] == "vectorized":
            assert r["batches_out"] == N // BATCH_ROWS, r


def test_vectorized_equals_per_record(report: dict) -> None:
    checks = report["checks"]
    for mode in MODES:
        assert checks[f"{mode}.vectorized_equals_per_record"], checks[
            f"{mode}.vectorized_equals_per_record_detail"
        ]


def test_bad_records_reported_and_the_good_ones_complete_in_order(report: dict) -> None:
    checks = report["checks"]
    for mode in MODES:
        assert checks[f"{mode}.vectorized_bad_complete_in_order"] is True
        assert checks[f"{mode}.per_record_bad_complete_in_order"] is True
    assert checks_passed(report)


def test_ratios_table_and_json(report: dict, tmp_path: Path) -> None:
    for mode in MODES:
        assert set(report["ratios"][mode]) == {
            "speedup_cpu",
            "speedup_wall",
            "vectorized_bad_cost_cpu",
            "vectorized_bad_cost_wall",
            "per_record_bad_cost_cpu",
        }
    assert len(report["verdicts"]) == 2 * len(MODES)
    table = render_table(report).splitlines()
    assert table[0] == HEADER
    assert len(table) == 2 + len(MODES) * len(VARIANTS)
    assert {row.count("|") for row in table} == {HEADER.count("|")}
    path = write_results(report, tmp_path)
    assert path.parent == tmp_path and path.name.startswith("transform_chain-")
    assert json.loads(path.read_text())["records"] == N


def test_the_per_record_chain_itself() -> None:
    assert strftime_pattern("yyyy-MM-dd'T'HH:mm:ss") == "%Y-%m-%dT%H:%M:%S"
    config = {
        "transforms": "cast,route",
        "transforms.cast.type": "org.apache.kafka.connect.transforms.Cast$Value",
        "transforms.cast.spec": "n:int32",
        "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.route.regex": "a-(.*)",
        "transforms.route.replacement": "b-$1",
    }
    bad: list[object] = []
    out = RecordChain(config, schemaless=True).apply(
        [
            {"topic": "a-x", "value": {"n": "7"}},
            {"topic": "a-y", "value": {"n": "x"}},
            {"topic": "c-a-z", "value": {"n": 2**31}},
        ],
        lambda rec, err: bad.append(rec["topic"]),
    )
    assert out == [{"topic": "b-x", "value": {"n": 7}}, {"topic": "c-a-z", "value": {"n": -(2**31)}}]
    assert bad == ["a-y"]
