"""The worker side of the control pipe: thread-safe sends and replies routed to waiters."""

from __future__ import annotations

import threading
from multiprocessing.connection import Connection
from typing import Any

from engine.runtime import secret_scrubber
from engine.runtime.messages import OffsetsWritten


class Channel:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._waiters: dict[tuple[str, int, int], tuple[threading.Event, list[OffsetsWritten]]] = {}
        self.closed = False

    def send(self, msg: Any) -> None:
        msg = secret_scrubber.scrub_message(msg)  # status traces leave the worker scrubbed
        with self._lock:
            if self.closed:
                return
            try:
                self._conn.send(msg)
            except (OSError, EOFError, BrokenPipeError):
                self.closed = True

    def expect_offsets(
        self, connector: str, task: int, seq: int
    ) -> tuple[threading.Event, list[OffsetsWritten]]:
        slot: tuple[threading.Event, list[OffsetsWritten]] = (threading.Event(), [])
        with self._lock:
            self._waiters[(connector, task, seq)] = slot
        return slot

    def forget_offsets(self, connector: str, task: int, seq: int) -> None:
        with self._lock:
            self._waiters.pop((connector, task, seq), None)

    def deliver(self, msg: OffsetsWritten) -> None:
        with self._lock:
            slot = self._waiters.pop((msg.connector, msg.task, msg.seq), None)
        if slot is not None:
            slot[1].append(msg)
            slot[0].set()
