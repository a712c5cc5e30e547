"""A fork server forked from the control plane, so worker and stage processes share its memory.

A process started with ``spawn`` is a fresh interpreter: it imports pyarrow, numpy,
confluent-kafka and every plugin again (~1 s on a 2-core machine, ~30 MB of private
memory each). The control plane has already imported all of them. :func:`start` forks it,
once, at start-up, while it is still single-threaded, into a small server that forks every
later worker and pipeline-stage process on request — multiprocessing's own ``forkserver``
protocol, with the control plane as the image instead of a fresh interpreter:

* the modules, the plugin registry and everything else imported before :func:`start` are
  shared copy-on-write by the control plane, the server and all their processes (counted
  once in their summed PSS instead of once per process), and ``gc.freeze()`` keeps the
  collector from dirtying those pages;
* a new process is ready in milliseconds instead of after a second of imports.

Nothing that holds threads is ever forked: :func:`start` refuses (and the callers keep
``spawn``) when the process runs any other thread but jemalloc's (fork-safe), and the
server itself only forks; the children run :func:`multiprocessing.spawn._main` exactly as a forkserver child
does (pickled process object, descriptors passed over a Unix socket). A worker process
reaches the same server to start its pipeline stage. Where it cannot be reached (not
started, or gone), processes are spawned as before.
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import multiprocessing.context
import os
import signal
import socket
import sys
import threading
import warnings
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()

# Imported by the server once it runs, before it forks anything: what every task needs and
# the control plane does not: the task loops with confluent-kafka (~40 ms), and numpy.ma,
# which pyarrow imports the first time it converts a numpy array (~70 ms: numpy.ma reads the
# signatures of builtins, which compiles the tokenizer's regular expressions). Importing
# them there takes them off the control plane's start-up and off every worker's and stage's
# first batch, and shares them between those processes; the server does it on the other core
# while the control plane goes on (a fork request waits meanwhile).
PRELOAD = ("engine.runtime.source_runner", "engine.runtime.sink_runner")


# Threads that may run while the fork happens: jemalloc's (pyarrow starts its background
# purging thread at import) registers fork handlers that hold its locks across the fork and
# restart it lazily in the child.
_FORK_SAFE_THREADS = frozenset({"jemalloc_bg_thd"})


def _threads() -> int:
    """The threads of this process that would make a fork unsafe: all but the calling one
    and the fork-safe ones above (native threads count: OpenBLAS, librdkafka, Arrow's pools)."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return threading.active_count()
    count = 0
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue  # it ended
        if int(tid) != threading.get_native_id() and name not in _FORK_SAFE_THREADS:
            count += 1
    return count


def _server() -> Any:
    """multiprocessing's fork server client state (``forkserver._forkserver``), which the
    stdlib's forkserver children also set up in themselves."""
    from multiprocessing import forkserver

    return forkserver._forkserver


def available() -> bool:
    """Whether processes started through :func:`context` come from the fork server: it was
    started here or in an ancestor this process was forked from, and it is still there."""
    fs = _server()
    address = getattr(fs, "_forkserver_address", None)
    if not getattr(fs, "_arrowsmith", False) or not isinstance(address, str):
        return False
    pid = getattr(fs, "_forkserver_pid", None)
    if pid is not None:  # this process started it: is it still there?
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                fs._forkserver_pid = None
                fs._arrowsmith = False
                log.warning("The fork server exited; worker processes are spawned from now on")
                return False
        except ChildProcessError:
            pass
    return address.startswith("\0") or os.path.exists(address)  # an abstract socket has no file


def fork_safe() -> bool:
    """Whether this process can fork now: Linux-like and no other thread (but fork-safe ones)."""
    return hasattr(os, "fork") and _threads() == 0


def can_start() -> bool:
    """Whether :func:`start` would fork now: Linux-like, no other thread, not started yet."""
    return (
        hasattr(socket, "AF_UNIX")
        and "forkserver" in multiprocessing.get_all_start_methods()
        and fork_safe()
        and not available()
    )


def start() -> bool:
    """Fork this process into the fork server (see the module's doc); True if it runs now.

    Call it after the imports the workers need and before anything starts a thread."""
    from multiprocessing import connection, forkserver, util

    from engine.runtime.worker_process import set_process_name, spawn_context

    with _lock:
        if available():
            return True
        if not can_start():
            log.debug("Not starting a fork server (%d other threads); processes are spawned", _threads())
            return False
        spawn_context()  # the resource tracker's /dev/null, inherited by everything forked
        fs = _server()
        address = connection.arbitrary_address("AF_UNIX")  # type: ignore[attr-defined]
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(address)
        os.chmod(address, 0o600)
        listener.listen()
        alive_r, alive_w = os.pipe()
        # Set before the fork, so that the server and every process forked from it know it.
        # None of them may launch a server of its own (the stdlib's ensure_running would).
        fs._forkserver_address = address
        fs._arrowsmith = True
        fs.ensure_running = _running
        sys.stdout.flush()
        sys.stderr.flush()
        # Objects made so far stay put: the collector never writes to their pages. No
        # collection first: it would cost ~25 ms of start-up here, find next to nothing after
        # the imports, and leave freed holes in pages the children share (Python's gc docs).
        gc.freeze()
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns of any other thread; the only one here is jemalloc's
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
        except OSError:
            fs._arrowsmith = False
            del fs.ensure_running
            listener.close()
            os.close(alive_r)
            os.close(alive_w)
            gc.unfreeze()
            raise
        if pid == 0:  # the server: serves fork requests until every process that can ask has exited
            code = 0
            try:
                os.close(alive_w)
                set_process_name("as-forkserver")
                # A SIGTERM sent to every process (a service manager stopping the group) must
                # not end it before the control plane has stopped its workers: it exits when
                # they all have. What it forks gets the default back (see _default_sigterm).
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                util.register_after_fork(_AFTER_FORK, _default_sigterm)
                _preload()
                forkserver.main(listener.fileno(), alive_r, [])
            except SystemExit:
                pass
            except BaseException:
                code = 1
                sys.excepthook(*sys.exc_info())
            finally:
                os._exit(code)
        listener.close()
        os.close(alive_r)
        fs._forkserver_alive_fd = alive_w
        fs._forkserver_pid = pid
        log.debug("Fork server %d at %s", pid, address)
        return True


def _preload() -> None:
    """The server's imports (:data:`PRELOAD`), frozen like the rest of the image; one that
    fails is left to the worker that needs it, which reports it as its task's failure."""
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as e:  # pragma: no cover - the worker imports it again and fails
            log.warning("Fork server: could not preload %s: %s", name, e)
    gc.freeze()


class _AfterFork:
    """A key for multiprocessing's after-fork registry (it holds its keys weakly)."""


_AFTER_FORK = _AfterFork()


def _default_sigterm(_key: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _running() -> None:
    """Stands in for ``ForkServer.ensure_running``: the server lives while anyone can ask."""
    if not available():
        raise ConnectionRefusedError("arrowsmith's fork server is gone")


def context() -> multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext:
    """The context worker and stage processes are started with: the fork server's where it
    is available, else ``spawn`` (without a resource tracker)."""
    from engine.runtime.worker_process import spawn_context

    if available():
        ctx = multiprocessing.get_context("forkserver")
        assert isinstance(ctx, multiprocessing.context.ForkServerContext)
        return ctx
    return spawn_context()
