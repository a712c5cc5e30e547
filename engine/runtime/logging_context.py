"""Log lines tagged by the runtime with ``[connector|task-N]`` and the pid.

Plugin code logs with a plain module logger; the runtime sets the context of the thread
that runs a task, and a filter adds it to every record.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys

_context: contextvars.ContextVar[str] = contextvars.ContextVar("arrowsmith_log_context", default="")

FORMAT = "[%(asctime)s] %(levelname)s %(ctx)s%(message)s (%(name)s) pid=%(process)d"


def set_context(connector: str | None, task: int | None = None) -> None:
    if connector is None:
        _context.set("")
    elif task is None:
        _context.set(f"[{connector}] ")
    else:
        _context.set(f"[{connector}|task-{task}] ")


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.ctx = _context.get()
        return True


def configure(level: str | int | None = None) -> None:
    """Send log lines to stderr in the house format (idempotent)."""
    root = logging.getLogger()
    lvl = level or os.environ.get("ARROWSMITH_LOG_LEVEL", "INFO")
    root.setLevel(lvl)
    for h in root.handlers:
        if getattr(h, "_arrowsmith", False):
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(ContextFilter())
    handler._arrowsmith = True  # type: ignore[attr-defined]
    root.addHandler(handler)
