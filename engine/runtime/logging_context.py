"""Log lines tagged by the runtime with ``[connector|task-N]`` and the pid.

Plugin code logs with a plain module logger; the runtime sets the context of the thread
that runs a task, and a filter adds it to every record.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys

from engine.runtime import secret_scrubber

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
    """Send log lines to stderr in the house format (idempotent); secrets are scrubbed."""
    secret_scrubber.install()
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


# Kafka Connect's level names (log4j) and Python's.
LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "OFF": logging.CRITICAL + 10,
}


def set_level(namespace: str, level: int) -> list[str]:
    """Set the level of a logger and of its descendants; return the affected names, sorted."""
    affected = []
    if namespace == "root":
        logging.getLogger().setLevel(level)
        affected.append("root")
        namespace = ""
    for name, lg in list(logging.Logger.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger) and (
            not namespace or name == namespace or name.startswith(namespace + ".")
        ):
            lg.setLevel(level)
            affected.append(name)
    if namespace and namespace not in affected:
        logging.getLogger(namespace).setLevel(level)
        affected.append(namespace)
    return sorted(affected)
