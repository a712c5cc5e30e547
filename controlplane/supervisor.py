"""Spawns the worker processes, pins each to a core, carries control messages, restarts
a process that dies.

Worker processes come from the fork server (:mod:`engine.runtime.fork_server`: forked from
the control plane's single-threaded image, sharing its imports) where the CLI started it,
else they are spawned; never is a process that may hold librdkafka threads forked. Each
pins itself to its core first thing.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import psutil

from engine.runtime import fork_server, worker_process
from engine.runtime.messages import Shutdown, WorkerReady

log = logging.getLogger(__name__)


@dataclass
class WorkerHandle:
    index: int
    cpu: int | None
    process: BaseProcess
    conn: Connection
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    pid: int = 0
    tasks: set[str] = field(default_factory=set)
    restarts: int = 0
    resume: asyncio.Task[None] | None = None


# Worker processes started by :func:`prespawn` before the control plane is up, by index.
_prespawned: dict[int, tuple[BaseProcess, Connection, tuple[str, str]]] = {}
# The thread that asks the fork server for them (see prespawn), joined before they are used.
_prespawning: list[threading.Thread] = []


def _launch(index: int, cpu: int | None, log_level: str, plugin_path: str) -> tuple[BaseProcess, Connection]:
    ctx = fork_server.context()
    parent, child = ctx.Pipe(duplex=True)
    proc = ctx.Process(
        target=worker_process.main,
        args=(child, index, cpu, log_level, plugin_path),
        name=f"arrowsmith-worker-{index}",
        # not daemonic: a worker may start a pipeline stage process of its own; a worker
        # whose control plane dies exits by itself when its control pipe closes
        daemon=False,
    )
    proc.start()
    child.close()
    return proc, parent


def prespawn(processes: int, log_level: str, plugin_path: str) -> None:
    """Start the worker processes now, while the control plane imports, discovers plugins
    and starts its REST server; the next :class:`Supervisor` with the same settings adopts
    them (start-up ~0.5-1 s shorter). Unadopted ones exit when this process does."""
    if not _prespawned and not _prespawning:
        atexit.register(abandon_prespawned)
    _prespawn_done()
    cores = usable_cores()

    def launch() -> None:
        for index in range(processes):
            if index not in _prespawned:
                cpu = cores[index % len(cores)] if cores else None
                try:
                    proc, conn = _launch(index, cpu, log_level, plugin_path)
                except Exception as e:  # the supervisor starts it when it needs it
                    log.warning("Could not start worker process %d early: %s", index, e)
                    return
                _prespawned[index] = (proc, conn, (log_level, plugin_path))

    if fork_server.available():
        # The fork server answers once it has imported the task loops (fork_server.PRELOAD,
        # ~50 ms): a thread waits for it while the control plane goes on.
        thread = threading.Thread(target=launch, name="arrowsmith-prespawn", daemon=True)
        _prespawning.append(thread)
        thread.start()
    else:
        launch()


def _prespawn_done() -> None:
    """Wait for the workers :func:`prespawn` asked for (a failure to start one is logged:
    the supervisor starts it again)."""
    while _prespawning:
        _prespawning.pop().join()


def abandon_prespawned() -> None:
    """Stop the pre-spawned workers no supervisor adopted (say the config was invalid):
    multiprocessing would otherwise wait for them at exit."""
    _prespawn_done()
    while _prespawned:
        _, (proc, conn, _settings) = _prespawned.popitem()
        conn.close()  # the worker exits when its control pipe closes
        proc.join(5)
        if proc.is_alive():
            proc.kill()


def usable_cores() -> list[int]:
    try:
        return sorted(psutil.Process().cpu_affinity() or [])
    except (AttributeError, psutil.Error):
        return []


class Supervisor:
    """Owns the worker processes. Messages from workers go to ``on_message(index, msg)``;
    a dead worker is reported to ``on_death(index, task_names)`` after it is replaced."""

    def __init__(
        self,
        processes: int,
        on_message: Callable[[int, object], None],
        on_death: Callable[[int, set[str]], None],
        log_level: str = "INFO",
        plugin_path: str = "",
    ) -> None:
        self.count = processes
        self.plugin_path = plugin_path
        self.on_message = on_message
        self.on_death = on_death
        self.log_level = log_level
        self.workers: list[WorkerHandle] = []
        self._cores = usable_cores()
        self._stopping = False
        self._background: set[asyncio.Task[None]] = set()

    def _cpu_for(self, index: int) -> int | None:
        return self._cores[index % len(self._cores)] if self._cores else None

    def _spawn(self, index: int) -> WorkerHandle:
        cpu = self._cpu_for(index)
        _prespawn_done()
        early = _prespawned.pop(index, None)
        if early is not None and early[2] == (self.log_level, self.plugin_path) and early[0].is_alive():
            proc, parent = early[0], early[1]
        else:
            if early is not None:
                early[1].close()  # its worker exits when the pipe closes
            proc, parent = _launch(index, cpu, self.log_level, self.plugin_path)
        handle = WorkerHandle(index, cpu, proc, parent)
        asyncio.get_running_loop().add_reader(parent.fileno(), self._readable, handle)
        return handle

    async def start(self, timeout: float = 60.0) -> None:
        self.workers = [self._spawn(i) for i in range(self.count)]
        await asyncio.wait_for(asyncio.gather(*(w.ready.wait() for w in self.workers)), timeout)
        log.info("Started %d worker processes: %s", self.count, [(w.pid, w.cpu) for w in self.workers])

    def _readable(self, handle: WorkerHandle) -> None:
        try:
            while handle.conn.poll():
                msg = handle.conn.recv()
                if isinstance(msg, WorkerReady):
                    handle.pid = msg.pid
                    handle.ready.set()
                else:
                    self.on_message(handle.index, msg)
        except (EOFError, OSError):
            self._lost(handle)

    def _lost(self, handle: WorkerHandle) -> None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(handle.conn.fileno())
        handle.conn.close()
        handle.process.join(0.1)
        if self._stopping:
            return
        log.error(
            "Worker process %d (pid %s) died with exit code %s; restarting it",
            handle.index,
            handle.pid,
            handle.process.exitcode,
        )
        if handle.resume is not None:
            handle.resume.cancel()  # it died before it was ready: its tasks move on again
        replacement = self._spawn(handle.index)
        replacement.restarts = handle.restarts + 1
        replacement.tasks = set(handle.tasks)  # placed here until the herder relaunches them
        self.workers[handle.index] = replacement
        tasks = set(handle.tasks)

        async def _resume() -> None:
            await replacement.ready.wait()
            replacement.resume = None
            self.on_death(handle.index, tasks)

        t = loop.create_task(_resume())
        replacement.resume = t
        self._background.add(t)
        t.add_done_callback(self._background.discard)

    def place(self, task: str) -> int:
        """The worker index for a new task: the least loaded process."""
        for w in self.workers:
            if task in w.tasks:
                return w.index
        best = min(self.workers, key=lambda w: (len(w.tasks), w.index))
        best.tasks.add(task)
        return best.index

    def colocated(self, task: str) -> int:
        """How many tasks of ``task``'s connector are placed in its worker process (itself
        included; 1 if it is not placed)."""
        connector = task.rsplit("-", 1)[0]
        for w in self.workers:
            if task in w.tasks:
                return sum(1 for t in w.tasks if t.rsplit("-", 1)[0] == connector)
        return 1

    def release(self, task: str) -> None:
        for w in self.workers:
            w.tasks.discard(task)

    def send(self, index: int, msg: object) -> None:
        handle = self.workers[index]
        try:
            handle.conn.send(msg)
        except (OSError, EOFError):
            log.warning("Could not send %s to worker %d", type(msg).__name__, index)

    async def stop(self, timeout_ms: int) -> None:
        self._stopping = True
        for w in self.workers:
            try:
                w.conn.send(Shutdown(timeout_ms))
            except (OSError, EOFError):
                pass
        deadline = asyncio.get_running_loop().time() + timeout_ms / 1000 + 5
        for w in self.workers:
            while w.process.is_alive() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            if w.process.is_alive():
                log.warning("Worker %d did not stop in time; killing it", w.index)
                w.process.kill()
                w.process.join(2)
            try:
                asyncio.get_running_loop().remove_reader(w.conn.fileno())
            except (OSError, ValueError):
                pass
            w.conn.close()
