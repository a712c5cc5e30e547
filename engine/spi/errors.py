"""The one error tree of arrowsmith.

::

    ConnectError(Exception)
    ├── ConfigError(ConnectError, ValueError)      bad configuration; names the key
    ├── DataError(ConnectError, ValueError)        a record cannot be converted or transformed;
    │                                              ``rows`` names the bad rows of the batch when known
    ├── RetriableError(ConnectError)               transient: retry the same operation later
    ├── NotFoundError(ConnectError, LookupError)   unknown connector, task, plugin, logger
    ├── AlreadyExistsError(ConnectError)           a connector of that name exists
    ├── BadRequestError(ConnectError, ValueError)  a malformed request that is not a config error
    ├── ConflictError(ConnectError)                the operation conflicts with the current state
    └── PluginError(ConnectError, ImportError)     a plugin class cannot be found or loaded

Every error pickles, so it can cross the worker → control-plane pipe: an unpicklable
cause is replaced by its text (see :func:`picklable`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ConnectError(Exception):
    """Root of every error arrowsmith raises on purpose."""

    retriable: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.args, _state_of(self)))


def _state_of(err: BaseException) -> dict[str, Any]:
    return {k: v for k, v in getattr(err, "__dict__", {}).items() if not k.startswith("__")}


def _rebuild(cls: type[ConnectError], args: tuple[Any, ...], state: dict[str, Any]) -> ConnectError:
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class ConfigError(ConnectError, ValueError):
    """A configuration value is missing or invalid. ``key`` names it when known."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class DataError(ConnectError, ValueError):
    """Records cannot be read, converted or transformed.

    ``rows`` holds the indices (within the batch handed to the failing step) of the bad
    records when the step can tell; empty when it cannot, in which case the runtime
    searches for them. A one-record-in, one-record-out step that names ``rows`` may also
    give ``partial``: its output for the whole batch, row for row, where only the bad rows'
    values are meaningless; the runtime then keeps its good rows instead of running the
    step again on them.
    """

    def __init__(self, message: str, rows: Sequence[int] = (), partial: Any = None) -> None:
        super().__init__(message)
        self.rows = tuple(rows)
        self.partial = partial


class RetriableError(ConnectError):
    """A transient failure: the same operation may succeed later."""

    retriable = True


class NotFoundError(ConnectError, LookupError):
    """An unknown connector, task, plugin or logger."""


class AlreadyExistsError(ConnectError):
    """An entity of that name already exists."""


class BadRequestError(ConnectError, ValueError):
    """A request that is malformed in a way other than its config values."""


class ConflictError(ConnectError):
    """The operation conflicts with the current state (e.g. a rebalance)."""


class PluginError(ConnectError, ImportError):
    """A plugin class cannot be found or loaded."""


def picklable(err: BaseException) -> BaseException:
    """Return ``err`` if it survives pickling, else a ConnectError carrying its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(err))
    except Exception:
        return ConnectError(f"{type(err).__name__}: {err}")
    return err
