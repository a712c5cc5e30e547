"""Sampling profiles of worker processes with py-spy (optional: ``pip install py-spy``).

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;frame count``);
:func:`summarize` turns them into the top self and inclusive costs.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any


class Spy:
    """``py-spy record`` attached to one process until :meth:`stop`."""

    def __init__(self, pid: int, out: Path, rate: int = 250, native: bool = False) -> None:
        exe = shutil.which("py-spy")
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.out = out
        cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw", "-o", str(out)]
        if native:
            cmd.append("--native")
        self.log = out.with_suffix(".log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)

    def stop(self, timeout: float = 30.0) -> Path | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.out if self.out.exists() else None


def _frame(f: str) -> str:
    """``func (path/to/module.py:123)`` → ``func (module.py)``."""
    name, _, where = f.partition(" (")
    file = where.rsplit(":", 1)[0].rstrip(")")
    return f"{name} ({file.rsplit('/', 1)[-1]})" if file else name


def summarize(path: Path, top: int = 15) -> dict[str, Any]:
    """Top functions by self samples and by inclusive samples, as shares of all samples."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        # py-spy puts the thread name (and "process ...") first; skip non-frames
        frames = [f for f in frames if "(" in f]
        if not frames:
            continue
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n

    def share(c: Counter[str]) -> list[tuple[str, float]]:
        return [(f, round(100.0 * n / total, 1)) for f, n in c.most_common(top)] if total else []

    return {"samples": total, "self_pct": share(own), "inclusive_pct": share(incl)}
