"""Wake-ups between the two sides of a ring: one pipe in each direction, no busy loop.

Each side holds the read end of the pipe its peer signals on and the write end of the pipe
it signals its peer on. A signal is one byte written without blocking (a full pipe already
holds a pending wake-up, so ``EAGAIN`` is dropped); a wait is ``poll()`` on the read end,
then a drain of whatever bytes are there. Wake-ups are hints: the waiter always re-checks
the ring's indices afterwards, so a stale byte only costs one extra look.

Pipes rather than an eventfd because a pipe tells each side when the other is gone: once
every copy of the peer's write end is closed — on a clean close, on exit, or when the
kernel reaps a SIGKILLed process — ``poll()`` reports EOF, and a write to a dead reader
fails with ``EPIPE``. An eventfd is shared by both sides and never reports either.
For that to work each descriptor must live in exactly one process: after handing a side
to a child, the parent closes its copy (:meth:`engine.transport.ring.RingEnd.close`).
"""

from __future__ import annotations

import enum
import math
import os
import select
import time

__all__ = ["Doorbell", "Wake", "pipe"]

_DRAIN_BYTES = 65536


class Wake(enum.Enum):
    """What ended a :meth:`Doorbell.wait`."""

    SIGNALLED = "signalled"
    TIMEOUT = "timeout"
    PEER_GONE = "peer gone"
    OTHER = "other descriptor readable"


def pipe() -> tuple[int, int]:
    """A non-blocking, close-on-exec pipe: ``(read_fd, write_fd)``."""
    return os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)


class Doorbell:
    """One side's pair of pipe ends: :meth:`ring` the peer, :meth:`wait` to be rung.

    Owns both descriptors; :meth:`close` closes them, which the peer sees as EOF.
    """

    __slots__ = ("_poll", "notify_fd", "peer_gone", "wait_fd")

    def __init__(self, wait_fd: int, notify_fd: int) -> None:
        self.wait_fd = wait_fd
        self.notify_fd = notify_fd
        #: Set once a ring found the peer's read end closed (``EPIPE``) or a wait saw EOF.
        self.peer_gone = False
        self._poll = select.poll()
        self._poll.register(wait_fd, select.POLLIN)

    def ring(self) -> None:
        """Wake the peer (never blocks; a dead peer only sets :attr:`peer_gone`)."""
        if self.notify_fd < 0:
            return
        try:
            os.write(self.notify_fd, b"\x01")
        except BlockingIOError:
            pass  # the pipe is full of wake-ups the peer has not drained yet
        except BrokenPipeError:
            self.peer_gone = True

    def wait(self, deadline: float | None, also: int = -1) -> Wake:
        """Block until rung, the peer is gone, ``time.monotonic()`` passes ``deadline``, or
        (when ``also`` is a descriptor) ``also`` is readable: :attr:`Wake.OTHER`, which
        leaves ``also`` as it is for its owner to read.

        ``None`` waits without a time limit (a dead peer still ends the wait).
        """
        if deadline is None:
            timeout_ms = -1
        else:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Wake.TIMEOUT
            timeout_ms = max(1, math.ceil(remaining * 1000))
        poller = self._poll
        if also >= 0:
            poller = select.poll()
            poller.register(self.wait_fd, select.POLLIN)
            poller.register(also, select.POLLIN)
        ready = poller.poll(timeout_ms)
        if not ready:
            return Wake.TIMEOUT
        if all(fd == also for fd, _ in ready):
            return Wake.OTHER
        try:
            data = os.read(self.wait_fd, _DRAIN_BYTES)
        except BlockingIOError:
            return Wake.SIGNALLED  # someone else drained it: re-check anyway
        if not data:
            self.peer_gone = True
            return Wake.PEER_GONE
        return Wake.SIGNALLED

    def close(self) -> None:
        """Close both ends (idempotent); the peer's next wait sees EOF."""
        if self.wait_fd >= 0:
            self._poll.unregister(self.wait_fd)
        for fd in (self.wait_fd, self.notify_fd):
            if fd >= 0:
                os.close(fd)
        self.wait_fd = self.notify_fd = -1
