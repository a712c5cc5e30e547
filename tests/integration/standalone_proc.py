"""Run ``connect-standalone`` as a real process in tests, and wait on files it writes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import psutil


def write_props(path: Path, props: Mapping[str, object]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


class Standalone:
    """A ``python -m controlplane standalone|distributed …`` process whose output goes to a log file."""

    def __init__(self, work: Path, worker: Path, *connectors: Path, mode: str = "standalone") -> None:
        self.log_path = work / f"{mode}-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "controlplane", mode, str(worker), *map(str, connectors)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def wait_for(self, cond: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"standalone exited ({self.proc.returncode}) before {what}:\n{self.log()[-5000:]}"
                )
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log()[-5000:]}")

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def kill(self) -> list[psutil.Process]:
        kids = self.children()
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()
        return kids

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for k in self.children():
            k.kill()
        if not self._log.closed:
            self._log.close()


def processes_named(pid: int, prefix: str) -> list[psutil.Process]:
    """The processes under control plane ``pid`` whose name starts with ``prefix``:
    ``as-worker-`` for worker processes, ``as-stage`` for pipeline stages, ``as-forkserver``
    (they name themselves; forked ones share the control plane's command line)."""
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    named = []
    for c in kids:
        try:
            if c.name().startswith(prefix):
                named.append(c)
        except psutil.NoSuchProcess:
            pass
    return named


def count_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0
