"""engine.broker.launcher: which broker directories belong to a live JVM, across clock jumps."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from engine.broker.launcher import BrokerState, _sweep_stale, is_broker_of, process_of


@pytest.fixture
def work(tmp_path: Path) -> Path:
    d = tmp_path / "arrowsmith-kafka-test"
    d.mkdir()
    (d / "server.properties").write_text("")
    return d


def _sleeper(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", *args])


@pytest.fixture
def jvm(work: Path) -> Iterator[psutil.Process]:
    """A stand-in for the broker's JVM: its arguments name the directory's server.properties."""
    popen = _sleeper(str(work / "server.properties"))
    proc = psutil.Process(popen.pid)
    try:
        # until the child has exec'd, its arguments are still this process's (a loaded machine)
        deadline = time.monotonic() + 30
        while str(work / "server.properties") not in proc.cmdline() and time.monotonic() < deadline:
            time.sleep(0.01)
        yield proc
    finally:
        popen.kill()
        popen.wait()


def _pid_file(work: Path, pid: int, created_at: float) -> None:
    (work / "broker.pid.json").write_text(json.dumps({"pid": pid, "created_at": created_at}))


def test_a_live_broker_survives_the_sweep_after_the_clock_jumped(work: Path, jvm: psutil.Process) -> None:
    # the start time recorded before the machine was paused for an hour no longer matches
    _pid_file(work, jvm.pid, jvm.create_time() - 3600)
    _sweep_stale(work.parent)
    assert (work / "server.properties").exists()
    assert is_broker_of(jvm, jvm.create_time() - 3600, work)


def test_a_reused_pid_is_not_the_broker(work: Path) -> None:
    other = _sleeper()  # the pid now names a process that is not the JVM
    try:
        proc = psutil.Process(other.pid)
        _pid_file(work, other.pid, proc.create_time() - 3600)
        assert not is_broker_of(proc, proc.create_time() - 3600, work)
        _sweep_stale(work.parent)
        assert not work.exists()
    finally:
        other.kill()
        other.wait()


def test_a_gone_broker_is_swept(work: Path) -> None:
    gone = _sleeper()
    gone.kill()
    gone.wait()
    _pid_file(work, gone.pid, 0.0)
    _sweep_stale(work.parent)
    assert not work.exists()


def test_process_of_finds_the_jvm_by_its_arguments_after_a_clock_jump(
    work: Path, jvm: psutil.Process
) -> None:
    state = BrokerState(
        pid=jvm.pid,
        created_at=jvm.create_time() - 3600,
        bootstrap_servers="127.0.0.1:1",
        controller="127.0.0.1:2",
        work_dir=str(work),
        log_file=str(work / "broker.log"),
        kafka_version="4.3.1",
    )
    found = process_of(state)
    assert found is not None and found.pid == jvm.pid
    elsewhere = BrokerState(**{**state.to_json(), "work_dir": str(work.parent / "arrowsmith-kafka-other")})
    assert process_of(elsewhere) is None
