"""Shared-memory transport: record batches between processes without pickling.

A single-producer/single-consumer ring of Arrow IPC messages in a memfd segment, read
zero-copy on the other side (:mod:`engine.transport.ring`), with pipe wake-ups in both
directions (:mod:`engine.transport.wakeup`). See ``docs/transport.md``.

::

    writer_end, reader_end = create_ring(size_bytes=64 << 20)
    child = spawn_ctx.Process(target=consume, args=(reader_end,))
    child.start()
    reader_end.close()                       # the child holds the reader's descriptors now
    with RingWriter(writer_end) as ring:
        for batch in batches:
            ring.write(batch, timeout=30.0)  # blocks while the ring is full

    def consume(end: RingEnd) -> None:
        with RingReader(end) as ring:
            for batch in ring:               # until the writer closes the ring
                handle(batch)                # batch's buffers live in the ring
                del batch                    # its slot is free once nothing points into it
"""

from __future__ import annotations

from engine.transport.ring import (
    BatchTooLargeError,
    PeerGoneError,
    RingClosedError,
    RingEnd,
    RingFullError,
    RingReader,
    RingWriter,
    TransportError,
    create_ring,
)

__all__ = [
    "BatchTooLargeError",
    "PeerGoneError",
    "RingClosedError",
    "RingEnd",
    "RingFullError",
    "RingReader",
    "RingWriter",
    "TransportError",
    "create_ring",
]
