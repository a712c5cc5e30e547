"""Helpers of the benchmark harness: machine facts, CPU accounting, topics, processes."""

from __future__ import annotations

import os
import platform
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

TOPIC_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 60.0


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import confluent_kafka
    import pyarrow

    return {
        "nproc": os.cpu_count(),
        "usable_cores": len(psutil.Process().cpu_affinity() or []),
        "cpu_model": model or platform.processor(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pyarrow": pyarrow.__version__,
        "confluent_kafka": confluent_kafka.__version__,
        "librdkafka": confluent_kafka.libversion()[0],
        "git": _git_rev(),
    }


def _git_rev() -> str | None:
    """The commit measured, with ``+dirty`` when the work tree has changes."""

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=5, cwd=Path(__file__).parent, check=False
        )
        return out.stdout.strip()

    try:
        rev = git("rev-parse", "--short", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return (rev + ("+dirty" if dirty else "")) if rev else None


@dataclass
class ProcessTree:
    """CPU seconds (user + system) of a process and every descendant it ever had.

    Call :meth:`refresh` now and then so children that come and go are seen; a process
    that has exited keeps the last CPU time read from it.
    """

    root: int
    seen: dict[int, psutil.Process] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    root_label: str = "control plane"

    def refresh(self) -> None:
        try:
            root = self.seen.get(self.root) or psutil.Process(self.root)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for p in procs:
            if p.pid not in self.seen:
                self.seen[p.pid] = p
            if p.pid == self.root:
                self.names[p.pid] = self.root_label
            elif self.names.get(p.pid) in (None, "child", "fork server"):
                # a process forked by the fork server bears its name until it renames itself
                self.names[p.pid] = _label(p)

    def cpu(self) -> float:
        """Total CPU seconds so far (refreshes first)."""
        self.refresh()
        for pid, p in self.seen.items():
            try:
                t = p.cpu_times()
                self.last[pid] = t.user + t.system
            except psutil.Error:
                pass
        return sum(self.last.values())

    def by_process(self) -> dict[str, float]:
        return {f"{self.names[pid]} ({pid})": round(s, 3) for pid, s in sorted(self.last.items())}


def _label(p: psutil.Process) -> str:
    try:
        name, cmd = p.name(), " ".join(p.cmdline())
    except psutil.Error:
        return "child"
    # arrowsmith names the processes it forks (engine.runtime.worker_process.set_process_name)
    if name.startswith("as-worker"):
        return "worker process"
    if name.startswith("as-stage"):
        return "stage process"
    if name == "as-forkserver":
        return "fork server"
    if "resource_tracker" in cmd:
        return "resource tracker"
    if "multiprocessing" in cmd:
        return "worker process"
    return "child"


def machine_busy() -> float:
    """CPU seconds all processes of the machine have used (not idle, not waiting on I/O)."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def self_cpu() -> float:
    t = psutil.Process().cpu_times()
    return t.user + t.system


def pid_cpu(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system


def warm_group_coordinator(bootstrap: str, timeout: float = TOPIC_TIMEOUT_S) -> None:
    """Have the broker ready for consumer groups before any timer starts.

    A fresh broker creates its offsets topic (``__consumer_offsets``: 50 partitions by
    default, 10 on the project's own broker) when the first group asks for its coordinator:
    ~1 s on this kind of machine in which that group's consumer waits. Without this,
    whichever sink run of a benchmark came first on a new broker would be timed with that
    second in it."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "perf-warm-up"})
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                consumer.committed(
                    [TopicPartition("perf-warm-up", 0)], timeout=max(0.1, deadline - time.monotonic())
                )
                return
            except KafkaException as e:  # NOT_COORDINATOR while the topic's leaders are elected
                if not e.args[0].retriable() and e.args[0].code() != KafkaError.NOT_COORDINATOR:
                    raise
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no group coordinator within {timeout:.0f} s: {e}") from e
                time.sleep(0.05)
    finally:
        consumer.close()


class Topics:
    """Creates fresh topics on the benchmark's broker and deletes them afterwards. The
    broker is made ready for consumer groups first (:func:`warm_group_coordinator`)."""

    def __init__(self, bootstrap: str, prefix: str = "perf") -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.admin = AdminClient({"bootstrap.servers": bootstrap})
        warm_group_coordinator(bootstrap)

    def create(self, label: str, partitions: int = 1) -> str:
        name = f"{self.prefix}-{label}-{uuid.uuid4().hex[:8]}"
        fut = self.admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=-1)])
        fut[name].result(timeout=TOPIC_TIMEOUT_S)
        deadline = time.monotonic() + TOPIC_TIMEOUT_S
        while True:
            meta = self.admin.list_topics(topic=name, timeout=5.0).topics.get(name)
            if (
                meta is not None
                and meta.error is None
                and len(meta.partitions) == partitions
                and all(p.leader >= 0 for p in meta.partitions.values())
            ):
                return name
            if time.monotonic() > deadline:
                raise RuntimeError(f"topic {name} not ready within {TOPIC_TIMEOUT_S:.0f} s")
            time.sleep(0.05)

    def delete(self, *names: str) -> None:
        if not names:
            return
        for fut in self.admin.delete_topics(list(names), operation_timeout=10).values():
            try:
                fut.result(timeout=15)
            except Exception:  # best effort: cleaning up after a benchmark
                pass


class Watermark:
    """The high watermark of a topic's partitions (the number of records in a fresh topic)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = 1) -> None:
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"perf-watch-{uuid.uuid4().hex[:8]}"}
        )
        self.tps = [TopicPartition(topic, p) for p in range(partitions)]

    def records(self) -> int:
        return sum(self.consumer.get_watermark_offsets(tp, timeout=5.0, cached=False)[1] for tp in self.tps)

    def close(self) -> None:
        self.consumer.close()


class LineCounter:
    """Counts the ``\\n`` in a growing file, reading only what was appended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pos = 0
        self.lines = 0

    def count(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                while chunk := f.read(1 << 22):
                    self.lines += chunk.count(b"\n")
                    self.pos += len(chunk)
        except FileNotFoundError:
            pass
        return self.lines


def write_props(path: Path, props: Mapping[str, object]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


class LoggedProcess:
    """``command`` as a child process, its stdout and stderr going to the file ``log_path``.

    ``tree`` follows the CPU of the process and its descendants. The log file is emptied,
    then opened for appending (``O_APPEND``), so a program that appends its own log to the
    same file (a JVM's log4j2) interleaves whole writes with that output.
    """

    def __init__(
        self,
        command: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        root_label: str = "control plane",
    ) -> None:
        self.command = [str(c) for c in command]
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log.truncate(0)
        try:
            self.proc = subprocess.Popen(
                self.command, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=cwd
            )
        except BaseException:
            self._log.close()
            raise
        self.tree = ProcessTree(self.proc.pid, root_label=root_label)

    def log(self, tail: int = 6000) -> str:
        """The last ``tail`` characters of the log."""
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def check(self) -> None:
        """Raise with the log's tail when the process exited."""
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.log_path.stem} exited with {self.proc.returncode}:\n{self.log()}")

    def task_failed(self) -> bool:
        text = self.log(200_000)
        return "unrecoverable exception" in text or "FAILED" in text

    def exited_cleanly(self, returncode: int) -> bool:
        """Whether the process ended well, having exited with ``returncode`` (SIGTERM or not)."""
        return returncode == 0

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> tuple[bool, float]:
        """SIGTERM, wait; kill the tree if it does not exit. (clean, seconds it took)"""
        t0 = time.monotonic()
        clean = True
        if self.proc.poll() is None:
            kids = self.tree.seen.values()
            self.proc.send_signal(signal.SIGTERM)
            try:
                clean = self.exited_cleanly(self.proc.wait(timeout))
            except subprocess.TimeoutExpired:
                clean = False
                self.proc.kill()
                self.proc.wait(10)
            for k in kids:
                if k.pid != self.proc.pid:
                    try:
                        k.wait(5)
                    except psutil.TimeoutExpired:
                        clean = False
                        k.kill()
                    except psutil.Error:
                        pass
        else:
            clean = self.exited_cleanly(self.proc.returncode)
        if not self._log.closed:
            self._log.close()
        return clean, time.monotonic() - t0


_BYTECODE_READY = False
PACKAGES = ("engine", "controlplane", "connectors")


def ensure_bytecode() -> None:
    """Compile arrowsmith's modules to ``__pycache__`` once, before anything is timed.

    An installed arrowsmith has its bytecode compiled by pip at install time; a checkout
    installed with ``pip install -e`` compiles each module in every new process whenever
    bytecode caching is off (``PYTHONDONTWRITEBYTECODE``, as on these machines): ~0.6 s of
    each process's start-up (control plane, every worker and stage process). Timing that
    would measure the checkout, not arrowsmith; cached bytecode is read even when writing
    it is off."""
    global _BYTECODE_READY
    if _BYTECODE_READY:
        return
    import compileall

    root = Path(__file__).resolve().parent.parent
    for package in PACKAGES:
        compileall.compile_dir(root / package, quiet=1, workers=1)
    _BYTECODE_READY = True


class Standalone(LoggedProcess):
    """``python -m controlplane standalone worker.properties conn.properties``, logging to
    ``<work>/<label>.log``."""

    def __init__(self, work: Path, worker: Path, *connectors: Path, label: str = "standalone") -> None:
        ensure_bytecode()
        super().__init__(
            [sys.executable, "-m", "controlplane", "standalone", str(worker), *map(str, connectors)],
            work / f"{label}.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=Path(__file__).resolve().parent.parent,
        )
