"""``arrowsmith bench`` scenario folders: what a folder may hold (its own worker file, its
own data generator) and the clear errors for one that cannot run. No broker needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from perf.bench import SCENARIOS_DIR, Dataset, Scenario, main, make_values, scenarios


def scenario_folder(root: Path, name: str = "mine", **spec: object) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "sink.properties").write_text("name=x\n")
    base: dict[str, object] = {
        "description": "a test scenario",
        "kind": "sink",
        "partitions": 2,
        "connectors": ["sink.properties"],
        "variants": {"": {}},
    }
    (folder / "scenario.json").write_text(json.dumps({**base, **spec}))
    return folder


def test_every_built_in_scenario_names_its_data_and_uses_the_shared_worker() -> None:
    for sc in scenarios().values():
        assert sc.data == "perf.bench:make_values"
        assert sc.generator() is make_values
        assert sc.worker == SCENARIOS_DIR / "worker.properties"


def test_a_folder_of_its_own_worker_and_generator(tmp_path: Path) -> None:
    folder = scenario_folder(tmp_path, data="gen.py:rows")
    (folder / "gen.py").write_text("def rows(n):\n    return [b'row-%d' % i for i in range(n)]\n")
    sc = Scenario.load(folder)
    assert sc.worker == SCENARIOS_DIR / "worker.properties"  # none beside it: ours
    (tmp_path / "worker.properties").write_text("bootstrap.servers=${bootstrap}\n")
    assert Scenario.load(folder).worker == tmp_path / "worker.properties"  # the folders' shared one
    (folder / "worker.properties").write_text("bootstrap.servers=${bootstrap}\n")
    assert Scenario.load(folder).worker == folder / "worker.properties"  # its own first

    data = Dataset.make(sc, 3, tmp_path / "in.txt")
    assert list(data.values) == [b"row-0", b"row-1", b"row-2"]
    assert (tmp_path / "in.txt").read_bytes() == b"row-0\nrow-1\nrow-2\n"
    assert data.payload_bytes == 15


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "both"}, "kind must be source, sink or e2e"),
        ({"connectors": ["nope.properties"]}, "connectors: no file nope.properties"),
        ({"data": "no function"}, "data must be module:function or file.py:function, not 'no function'"),
    ],
)
def test_a_bad_scenario_json_names_the_file_and_the_key(tmp_path: Path, spec: dict, message: str) -> None:
    folder = scenario_folder(tmp_path, **spec)
    with pytest.raises(ValueError) as e:
        Scenario.load(folder)
    assert str(e.value).startswith(f"{folder / 'scenario.json'}: ")
    assert message in str(e.value)


def test_a_scenario_json_without_a_required_key(tmp_path: Path) -> None:
    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "scenario.json").write_text('{"description": "d", "kind": "sink"}')
    with pytest.raises(ValueError, match=r"scenario.json: missing partitions, connectors, variants$"):
        Scenario.load(folder)
    (folder / "scenario.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"scenario.json: not JSON: "):
        Scenario.load(folder)


@pytest.mark.parametrize(
    ("data", "body", "message"),
    [
        ("gen.py:rows", "def other(n):\n    return []\n", "has no attribute 'rows'"),
        ("missing.py:rows", None, "no file"),
        ("no_such_module_here:rows", None, "No module named 'no_such_module_here'"),
        ("gen.py:rows", "def rows(n):\n    return [b'x'] * (n - 1)\n", "returned 2 values for 3 records"),
        ("gen.py:rows", "def rows(n):\n    return ['x'] * n\n", "must return bytes values"),
        ("gen.py:rows", "def rows(n):\n    return [b'a\\nb'] * n\n", "returned a value with a line break"),
        ("gen.py:rows", "rows = 3\n", "is not a function"),
        ("gen.py:rows", "def rows(n):\n    raise OSError('no data here')\n", "failed: OSError: no data here"),
    ],
)
def test_a_generator_that_cannot_give_the_data(
    tmp_path: Path, data: str, body: str | None, message: str
) -> None:
    folder = scenario_folder(tmp_path, data=data)
    if body is not None:
        (folder / "gen.py").write_text(body)
    with pytest.raises(ValueError) as e:
        Dataset.make(Scenario.load(folder), 3, tmp_path / "in.txt")
    assert str(e.value).startswith(f"{folder / 'scenario.json'}: data {data!r}")
    assert message in str(e.value)


def test_the_cli_lists_a_scenario_dir_and_refuses_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario_folder(tmp_path, "alpha", description="first")
    scenario_folder(tmp_path, "beta", description="second")
    (tmp_path / "not-a-scenario").mkdir()
    assert main(["--scenario-dir", str(tmp_path), "--list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["alpha: first", "beta: second"]

    assert main(["--scenario-dir", str(tmp_path), "gamma", "--list"]) == 2
    assert capsys.readouterr().err == (
        "arrowsmith bench: error: unknown scenario 'gamma'; choose from alpha, beta\n"
    )
    (tmp_path / "beta" / "scenario.json").write_text('{"kind": "sink"}')
    assert main(["--scenario-dir", str(tmp_path), "--list"]) == 2
    assert "beta/scenario.json: missing description" in capsys.readouterr().err
    assert main(["--scenario-dir", str(tmp_path / "nowhere"), "--list"]) == 2
    assert capsys.readouterr().err == f"arrowsmith bench: error: no scenario folder {tmp_path / 'nowhere'}\n"


def test_the_cli_runs_nothing_when_a_generator_cannot_be_found(tmp_path: Path) -> None:
    """Generators are looked up before the broker starts: a missing one stops the bench
    with exit code 2, and nothing is written."""
    folder = scenario_folder(tmp_path / "dir", data="gen.py:rows")
    (folder / "gen.py").write_text("def other(n):\n    return []\n")
    args = ["--scenario-dir", str(tmp_path / "dir"), "--peers", "", "--out", str(tmp_path / "results")]
    out = subprocess.run(
        [sys.executable, "-m", "controlplane", "bench", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"arrowsmith bench: error: {folder / 'scenario.json'}: data 'gen.py:rows': ")
    assert "has no attribute 'rows'" in out.stderr
    assert not (tmp_path / "results").exists()
