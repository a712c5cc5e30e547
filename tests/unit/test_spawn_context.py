"""Processes spawned through ``spawn_context`` start no resource tracker process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import os, psutil
    from multiprocessing import resource_tracker
    from engine.runtime.worker_process import spawn_context

    def child(conn):
        from multiprocessing import resource_tracker as rt
        conn.send((os.getpid(), rt._resource_tracker._fd is not None))
        conn.close()

    if __name__ == "__main__":
        ctx = spawn_context()
        parent, end = ctx.Pipe()
        p = ctx.Process(target=child, args=(end,))
        p.start()
        end.close()
        pid, child_has_fd = parent.recv()
        # while the child lives: the only Python children of this process are the spawned one
        children = [c.pid for c in psutil.Process().children(recursive=True)]
        p.join(10)
        grandchild_ctx = spawn_context()  # a second call changes nothing
        assert grandchild_ctx is ctx or grandchild_ctx.get_start_method() == "spawn"
        print(p.exitcode, children == [pid], child_has_fd, resource_tracker._resource_tracker._pid)
    """
)


def test_spawning_starts_no_resource_tracker(tmp_path: Path) -> None:
    script = tmp_path / "spawn_check.py"
    script.write_text(SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert out.returncode == 0, out.stderr
    # the child ran and exited 0, it was this process's only child (no tracker process),
    # it inherited a tracker descriptor (so it starts none either), and none was started here
    assert out.stdout.split() == ["0", "True", "True", "None"]
