"""The worker process: pinned to a core, runs tasks in threads, obeys the control pipe.

It pins itself before anything creates a Kafka client (librdkafka's threads inherit the
affinity of the thread that creates them), reports ready, then serves control messages.
When the pipe closes (the control plane died) it stops its tasks and exits.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.context
import os
import signal
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from engine.runtime import logging_context
from engine.runtime.channel import Channel
from engine.runtime.config_transform import resolved_spec
from engine.runtime.messages import (
    OffsetsWritten,
    Preview,
    PreviewDone,
    SetLogLevel,
    SetTargetState,
    Shutdown,
    StartTask,
    StopTask,
    TaskSpec,
    TaskStatus,
    WorkerReady,
    task_name,
)
from engine.runtime.worker_task import WorkerTask

if TYPE_CHECKING:
    from engine.plugins import PluginRegistry

log = logging.getLogger(__name__)

_registries: dict[tuple[str, ...], PluginRegistry] = {}
_registry_lock = threading.Lock()


def registry_for(plugin_path: str) -> PluginRegistry:
    """The plugins of a ``plugin.path`` value, discovered once per process (as Kafka Connect
    scans its plugin path once, at start-up)."""
    from engine.plugins import PluginRegistry

    path = _path_key(plugin_path)
    with _registry_lock:
        registry = _registries.get(path)
        if registry is None:
            registry = _registries[path] = PluginRegistry.discover(list(path))
        return registry


def remember_registry(plugin_path: str, registry: PluginRegistry) -> None:
    """Keep ``registry`` as the one of ``plugin_path``: processes forked from here (see
    :mod:`engine.runtime.fork_server`) find it instead of discovering the plugins again."""
    with _registry_lock:
        _registries[_path_key(plugin_path)] = registry


def _path_key(plugin_path: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in plugin_path.split(",") if p.strip())


def set_process_name(name: str) -> None:
    """Name this process as ``ps``, ``top`` and psutil show it (Linux; 15 bytes at most):
    processes forked from the control plane share its command line."""
    if sys.platform != "linux":
        return
    import ctypes

    try:
        ctypes.CDLL(None).prctl(_PR_SET_NAME, name.encode()[:15], 0, 0, 0)
    except (OSError, AttributeError):
        pass


_PR_SET_NAME = 15  # <linux/prctl.h>


def pin(cpu: int | None) -> list[int]:
    """Pin this process to one core; return the cores it may use."""
    import psutil

    proc = psutil.Process()
    if cpu is not None:
        try:
            proc.cpu_affinity([cpu])
        except (psutil.Error, ValueError, OSError) as e:
            log.warning("Could not pin worker to core %d: %s", cpu, e)
    return list(proc.cpu_affinity() or [])


def warm_numpy_ma() -> None:
    """Import ``numpy.ma`` now, while the task waits anyway. pyarrow imports it the first
    time it converts a numpy array (``pa.array(ndarray)`` checks for masked arrays), ~70 ms
    (numpy.ma reads builtin signatures, which compiles the tokenizer's regular expressions)
    that would otherwise fall on the first batch. A sink task calls this while its consumer
    joins the group, a pipeline's second stage while it waits for its first batch; the fork
    server does not preload it, since a source's path does not need it."""
    import numpy.ma  # noqa: F401


def lean_memory_pool() -> str:
    """Make jemalloc Arrow's default allocator in this process, unless the user chose one
    with ``ARROW_DEFAULT_MEMORY_POOL`` (or this pyarrow has no jemalloc); the pool's name.

    With pyarrow's default (mimalloc) a sink worker's peak RSS was ~35 MB higher at the same
    records/s (arrowsmith bench sink-json, 1M records; docs/performance.md).
    """
    import pyarrow as pa

    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        try:
            pa.set_memory_pool(pa.jemalloc_memory_pool())
        except (NotImplementedError, pa.ArrowNotImplementedError):
            pass
    return str(pa.default_memory_pool().backend_name)


_M_ARENA_MAX = -8  # glibc's <malloc.h>


def spawn_context() -> multiprocessing.context.SpawnContext:
    """multiprocessing's ``spawn`` context, without its resource tracker process.

    Starting a process with ``spawn`` first starts a *resource tracker*: one more Python
    process (~9 MB, a tenth of a worker process) that unlinks named semaphores and
    ``/dev/shm`` segments a crashed process leaves behind. arrowsmith creates neither —
    worker and stage processes talk through pipes and anonymous memfd rings, which the
    kernel frees with their last descriptor — so the tracker is given a write-only
    ``/dev/null`` instead: it looks alive, every process spawned from here inherits it,
    and no tracker process is ever started. Where the stdlib's internals differ from
    what this expects (another Python), the tracker is left as it is.
    """
    from multiprocessing import resource_tracker

    tracker = getattr(resource_tracker, "_resource_tracker", None)
    with _TRACKER_LOCK:
        if tracker is not None and getattr(tracker, "_fd", 0) is None and hasattr(tracker, "_check_alive"):
            tracker._fd = os.open(os.devnull, os.O_WRONLY)
    return multiprocessing.get_context("spawn")


_TRACKER_LOCK = threading.Lock()


def lean_malloc(cores: int) -> int | None:
    """Cap glibc malloc's arenas in this process at ``cores`` (the cores it may use), unless
    the user set ``MALLOC_ARENA_MAX``; the cap, or None where there is none to set (not glibc).

    glibc gives threads that allocate at the same time arenas of their own, up to 8 per core,
    and each arena keeps the memory freed into it. librdkafka runs ~5 threads per consumer or
    producer, so a worker process with two sink tasks spread its fetch buffers and messages
    over a dozen arenas; pinned to one core, no two of those threads ever run at once, so
    more arenas than cores only hold memory (arrowsmith bench scale/tasks4, two processes:
    15 to 25 MB less with the larger consumer prefetch of before, within the noise since;
    same records/s; docs/performance.md). Arenas made before the call stay (a thread started
    while importing may have made one): threads started later share them.
    """
    if os.environ.get("MALLOC_ARENA_MAX") or not _glibc():
        return None
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    arenas = max(1, cores)
    return arenas if mallopt(_M_ARENA_MAX, arenas) == 1 else None


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION") is not None
    except (ValueError, OSError):
        return False


def _make_task(spec: TaskSpec, channel: Channel) -> WorkerTask:
    from engine.runtime.sink_runner import WorkerSinkTask
    from engine.runtime.source_runner import WorkerSourceTask
    from engine.spi.connector import SinkConnector

    registry = registry_for(spec.worker_config.get("plugin.path", ""))
    connector_cls = registry.resolve(spec.connector_config["connector.class"])
    runner = WorkerSinkTask if issubclass(connector_cls, SinkConnector) else WorkerSourceTask
    return runner(spec, channel, registry)


class WorkerProcess:
    def __init__(self, conn: Connection, index: int) -> None:
        self.conn = conn
        self.index = index
        self.channel = Channel(conn)
        self.tasks: dict[str, WorkerTask] = {}
        self.parent = os.getppid()

    def serve(self) -> None:
        while True:
            try:
                if not self.conn.poll(0.5):
                    if os.getppid() != self.parent:
                        raise EOFError("control plane is gone")
                    self._reap()
                    continue
                msg = self.conn.recv()
            except (EOFError, OSError):
                log.warning("Control pipe closed; stopping tasks and exiting")
                self.channel.closed = True
                self._stop_all(10.0)  # let sink tasks commit and leave their consumer groups
                return
            if isinstance(msg, Shutdown):
                self._stop_all(msg.timeout_ms / 1000)
                return
            self._dispatch(msg)

    def _dispatch(self, msg: object) -> None:
        if isinstance(msg, StartTask):
            self._start(msg.spec)
        elif isinstance(msg, StopTask):
            t = self.tasks.get(task_name(msg.connector, msg.task))
            if t is not None:
                t.request_stop()
        elif isinstance(msg, SetTargetState):
            t = self.tasks.get(task_name(msg.connector, msg.task))
            if t is not None:
                t.set_target_state(msg.state)
        elif isinstance(msg, OffsetsWritten):
            self.channel.deliver(msg)
        elif isinstance(msg, Preview):
            threading.Thread(
                target=self._preview, args=(msg,), name=f"preview-{msg.request_id}", daemon=True
            ).start()
        elif isinstance(msg, SetLogLevel):
            logging_context.set_level(msg.logger, logging_context.LEVELS[msg.level])
        else:
            log.error("Unknown control message %r", msg)

    def _start(self, spec: TaskSpec) -> None:
        old = self.tasks.get(spec.name)
        if old is not None and old.is_alive():
            old.request_stop()
            old.join(5)
        try:
            spec = resolved_spec(spec, registry_for(spec.worker_config.get("plugin.path", "")))
            t = _make_task(spec, self.channel)
        except Exception as e:
            import traceback

            self.channel.send(
                TaskStatus(
                    spec.connector, spec.task, "FAILED", "".join(traceback.format_exception(e)), os.getpid()
                )
            )
            return
        self.tasks[spec.name] = t
        t.start()

    def _preview(self, msg: Preview) -> None:
        from engine.runtime.preview import run_preview

        logging_context.set_context(msg.spec.connector)
        try:
            registry = registry_for(msg.spec.worker_config.get("plugin.path", ""))
            rows = run_preview(
                resolved_spec(msg.spec, registry), registry, msg.max_records, msg.timeout_s, msg.ring
            )
            self.channel.send(PreviewDone(msg.request_id, rows))
        except Exception as e:
            log.warning("Preview failed: %s", e)
            self.channel.send(PreviewDone(msg.request_id, 0, f"{type(e).__name__}: {e}"))

    def _reap(self) -> None:
        for name in [n for n, t in self.tasks.items() if not t.is_alive()]:
            del self.tasks[name]

    def _stop_all(self, timeout: float) -> None:
        for t in self.tasks.values():
            t.request_stop()
        deadline = time.monotonic() + timeout
        for t in self.tasks.values():
            t.join(max(0.0, deadline - time.monotonic()))


def main(conn: Connection, index: int, cpu: int | None, log_level: str, plugin_path: str = "") -> None:
    """Entry point of a worker process (spawned by the control plane's supervisor).

    Plugins are discovered in the background right after start-up, so the first task
    does not wait for it."""
    set_process_name(f"as-worker-{index}")
    cpus = pin(cpu)
    lean_malloc(len(cpus) or os.cpu_count() or 1)
    lean_memory_pool()
    # Signals sent to the control plane's process group (Ctrl-C, `timeout`, a service
    # manager) must not reach the workers: the control plane drives their shutdown, and a
    # closed control pipe stops them if the control plane dies.
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging_context.configure(log_level)
    worker = WorkerProcess(conn, index)
    worker.channel.send(WorkerReady(index, os.getpid(), cpus))
    threading.Thread(target=registry_for, args=(plugin_path,), name="plugin-discovery", daemon=True).start()
    try:
        worker.serve()
    finally:
        conn.close()
