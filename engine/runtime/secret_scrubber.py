"""Known secret values, replaced by ``[hidden]`` in log lines, status traces and error messages.

Values are registered when a config is resolved (every value a config provider returned)
and when a connector config is started (the values of its PASSWORD-typed and secret-named
keys). :func:`install` makes every log record of the process pass through :func:`scrub`
(a log-record factory, so it covers every logger and handler, uvicorn's included) and
does the same for uncaught exceptions printed by ``sys.excepthook`` and
``threading.excepthook``. Task status traces are scrubbed where they leave the worker
process (:class:`engine.runtime.channel.Channel`) and again in the control plane.

Values shorter than :data:`MIN_LENGTH` characters are not registered: ``1`` or ``true``
would blank out every log line. A registered value stays registered for the life of the
process.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Final

from engine.spi.config import HIDDEN

MIN_LENGTH: Final = 4

_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None
_installed = False
_formatter = logging.Formatter()


def register(values: Iterable[str | None]) -> None:
    """Treat these values as secrets from now on (values shorter than MIN_LENGTH are ignored)."""
    global _pattern
    new = {v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH and v != HIDDEN}
    with _lock:
        if new <= _values:
            return
        _values.update(new)
        ordered = sorted(_values, key=len, reverse=True)  # the longest match wins
        _pattern = re.compile("|".join(re.escape(v) for v in ordered))


def register_config(config: Mapping[str, str], secret_keys: Iterable[str]) -> None:
    """Register the values of a config's secret keys."""
    register(config.get(k) for k in secret_keys)


def scrub(text: str) -> str:
    """``text`` with every registered secret value replaced by ``[hidden]``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(HIDDEN, text)


def scrub_optional(text: str | None) -> str | None:
    return None if text is None else scrub(text)


def scrub_message(msg: Any) -> Any:
    """A control-pipe message with the text it carries out of the worker scrubbed."""
    from engine.runtime.messages import PreviewDone, TaskStatus

    if _pattern is None:
        return msg
    if isinstance(msg, TaskStatus) and msg.trace:
        return dataclasses.replace(msg, trace=scrub(msg.trace))
    if isinstance(msg, PreviewDone) and msg.error:
        return dataclasses.replace(msg, error=scrub(msg.error))
    return msg


def clear() -> None:
    """Forget every registered value (tests)."""
    global _pattern
    with _lock:
        _values.clear()
        _pattern = None


def _scrub_record(record: logging.LogRecord) -> logging.LogRecord:
    if _pattern is None:
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it when the record is emitted
        return record
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and record.exc_info[0] is not None:
        text = _formatter.formatException(record.exc_info)
        clean = scrub(text)
        if clean != text:
            record.exc_text = clean
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
    return record


def install() -> None:
    """Scrub every log record created in this process, and uncaught exceptions (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _scrub_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)

    def excepthook(exc_type: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        sys.stderr.write(scrub("".join(traceback.format_exception(exc_type, value, tb))))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        name = args.thread.name if args.thread is not None else "?"
        text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
        sys.stderr.write(f"Exception in thread {name}:\n{scrub(text)}")

    sys.excepthook = excepthook
    threading.excepthook = thread_excepthook
