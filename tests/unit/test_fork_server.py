"""engine.runtime.fork_server: processes forked from the control plane's image.

Each check runs in a fresh interpreter: the fork server refuses a process with threads,
and pytest's has some."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FORKED = textwrap.dedent(
    """
    import json, os, signal, sys, time
    import pyarrow, numpy  # the image the children share
    import engine.runtime.fork_server as fs
    from engine.runtime.worker_process import set_process_name

    def shared_anon_kb():
        # anonymous pages this process still shares with the image it was forked from
        total, anon = 0, False
        for line in open("/proc/self/smaps"):
            if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
                parts = line.split()
                anon = len(parts) < 6 or parts[5] in ("[heap]", "[anon]")
            elif anon and line.startswith(("Shared_Dirty:", "Shared_Clean:")):
                total += int(line.split()[1])
        return total

    def grandchild(conn):
        conn.send(os.getppid())
        conn.close()

    def child(conn):
        set_process_name("as-test-child")
        # a worker starts its pipeline stage through the same server
        ctx = fs.context()
        a, b = ctx.Pipe()
        g = ctx.Process(target=grandchild, args=(b,))
        g.start()
        b.close()
        conn.send({
            "ppid": os.getppid(),
            "marker": getattr(fs, "_marker", None),
            "pyarrow_loaded_at_start": "pyarrow.lib" in sys.modules,
            "preloaded_at_start": [m for m in fs.PRELOAD if m in sys.modules],
            "shared_anon_mb": shared_anon_kb() / 1024,
            "grandchild_ppid": a.recv(),
            "available": fs.available(),
            "method": ctx.get_start_method(),
            "sigterm_default": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
        })
        g.join(10)
        conn.close()

    if __name__ == "__main__":
        fs._marker = "set before the fork"
        assert fs.can_start(), "a fresh interpreter has no other thread"
        assert fs.start() and fs.start()  # the second call finds it running
        server = fs._server()._forkserver_pid
        ctx = fs.context()
        parent, end = ctx.Pipe()
        p = ctx.Process(target=child, args=(end,))
        p.start()
        end.close()
        info = parent.recv()
        p.join(10)
        import psutil
        os.kill(server, signal.SIGTERM)  # ignored: it outlives the processes it serves
        time.sleep(0.3)
        info["server_survives_sigterm"] = fs.available() and psutil.Process(server).is_running()
        info["preloaded_here"] = [m for m in fs.PRELOAD if m in sys.modules]
        info.update(server=server, me=os.getpid(), exitcode=p.exitcode,
                    server_parent=psutil.Process(server).ppid(), server_name=psutil.Process(server).name())
        print(json.dumps(info))
    """
)


def _run(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "check.py"
    path.write_text(script)
    return subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )


def test_processes_are_forked_from_the_image_and_share_its_memory(tmp_path: Path) -> None:
    out = _run(FORKED, tmp_path)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["exitcode"] == 0
    # the server is this process's child, named; the process it started is the server's child
    assert info["server_parent"] == info["me"]
    assert info["server_name"] == "as-forkserver"
    assert info["ppid"] == info["server"]
    # a copy of the image: state set before start() is there, pyarrow was never imported again
    assert info["marker"] == "set before the fork"
    assert info["pyarrow_loaded_at_start"] is True
    # the server imported the task loops (and confluent-kafka) for its children, not here
    assert info["preloaded_at_start"] == ["engine.runtime.source_runner", "engine.runtime.sink_runner"]
    assert info["preloaded_here"] == []
    # pyarrow's and numpy's import-time memory is still shared (~20 MB; a spawned child has ~0)
    assert info["shared_anon_mb"] > 5, info
    # a forked process reaches the same server for processes of its own (pipeline stages)
    assert info["available"] is True
    assert info["method"] == "forkserver"
    assert info["grandchild_ppid"] == info["server"]
    # the server ignores SIGTERM (it exits with the last of its clients); its children do not
    assert info["server_survives_sigterm"] is True
    assert info["sigterm_default"] is True


THREADED = textwrap.dedent(
    """
    import threading, time
    import engine.runtime.fork_server as fs

    def idle():
        time.sleep(30)

    threading.Thread(target=idle, daemon=True).start()
    ctx = fs.context()

    def child(conn):
        conn.send("ran")
        conn.close()

    if __name__ == "__main__":
        ok = fs.start()
        ctx = fs.context()
        a, b = ctx.Pipe()
        p = ctx.Process(target=child, args=(b,))
        p.start()
        b.close()
        print(fs.can_start(), ok, fs.available(), ctx.get_start_method(), a.recv())
        p.join(10)
    """
)


def test_a_process_with_threads_is_not_forked_and_spawns_instead(tmp_path: Path) -> None:
    out = _run(THREADED, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "False", "spawn", "ran"]


KILLED = textwrap.dedent(
    """
    import os, signal, time
    import engine.runtime.fork_server as fs

    def child(conn):
        conn.send(os.getppid())
        conn.close()

    if __name__ == "__main__":
        assert fs.start()
        server = fs._server()._forkserver_pid
        os.kill(server, signal.SIGKILL)
        time.sleep(0.5)
        ctx = fs.context()
        a, b = ctx.Pipe()
        p = ctx.Process(target=child, args=(b,))
        p.start()
        b.close()
        print(fs.available(), ctx.get_start_method(), a.recv() == os.getpid())
        p.join(10)
    """
)


def test_processes_are_spawned_once_the_server_is_gone(tmp_path: Path) -> None:
    out = _run(KILLED, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "spawn", "True"]
    assert "The fork server exited; worker processes are spawned from now on" in out.stderr


GONE = textwrap.dedent(
    """
    import os, time
    import engine.runtime.fork_server as fs

    if __name__ == "__main__":
        assert fs.start()
        print(fs._server()._forkserver_pid, flush=True)
        os._exit(0)
    """
)


def test_the_server_exits_with_the_last_process_that_can_ask(tmp_path: Path) -> None:
    import psutil

    out = _run(GONE, tmp_path)
    assert out.returncode == 0, out.stderr
    server = int(out.stdout.split()[0])
    try:
        psutil.Process(server).wait(10)  # raises TimeoutExpired if it lingers
    except psutil.NoSuchProcess:
        pass
    assert not psutil.pid_exists(server) or psutil.Process(server).status() == psutil.STATUS_ZOMBIE
