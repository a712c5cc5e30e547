"""Our own writes that the tail has not read back yet.

Stores that update their in-memory view when they write (offsets, statuses) must not let
the tail's echo of an *older* write of ours undo a newer one: while a key has writes in
flight, the tail only applies the echo of the last of them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from typing import Protocol

from engine.spi.errors import ConnectError


class _Flushable(Protocol):
    def flush(self, timeout_s: float = ...) -> None: ...


class PendingWrites:
    """Values written per key, oldest first. Not thread-safe: the store holds a lock."""

    def __init__(self) -> None:
        self._pending: dict[Hashable, deque[bytes | None]] = {}

    def add(self, key: Hashable, value: bytes | None) -> None:
        self._pending.setdefault(key, deque()).append(value)

    def read_back(self, key: Hashable, value: bytes | None) -> bool:
        """A record for ``key`` was read: True if the view should take it.

        An echo of our oldest pending write is consumed, and applies only if it was our last
        one. A record that is not our echo while writes are pending was written before
        them (same key, same partition): the view keeps our newer value.
        """
        queue = self._pending.get(key)
        if not queue:
            return True
        if queue[0] != value:
            return False
        queue.popleft()
        if queue:
            return False
        del self._pending[key]
        return True

    def clear(self) -> None:
        """After a failed flush: some echoes will never come."""
        self._pending.clear()


def flush_writes(log: _Flushable, pending: PendingWrites, lock: threading.Lock, timeout_s: float) -> None:
    """Wait until every write sent to ``log`` is acknowledged; after a failure, forget the
    pending echoes (some will never come) and raise."""
    try:
        log.flush(timeout_s)
    except ConnectError:
        with lock:
            pending.clear()
        raise
