"""A single-producer/single-consumer ring of Arrow IPC messages in shared memory.

::

    segment (memfd, size_bytes, populated by one side)
    ┌────────────┬──────────────┬──────────────┬─────────────────────────────────────────┐
    │ constants  │ writer line  │ reader line  │ data: capacity_bytes                    │
    │ magic, cap │ write_pos,   │ read_pos,    │ ┌──────┬─────────┐┌──────┬──────┐┌─────┐│
    │            │ write_seq,   │ read_seq,    │ │ slot │ payload ││ slot │ ...  ││ pad ││
    │            │ closed       │ closed       │ │ hdr  │ (IPC)   ││ hdr  │      ││     ││
    └────────────┴──────────────┴──────────────┴─┴──────┴─────────┘┴──────┴──────┘┴─────┘┘
      bytes 0      128            256            384 (every slot starts on 64 bytes)

Positions are byte counters that only grow (offset = position % capacity), so
``write_pos - read_pos`` is the space in use and nothing needs a wrap flag. Each field
has exactly one writing side; 8-byte aligned stores through a ``memoryview.cast("Q")``
compile to single moves, and x86-64 keeps stores in order, so a reader that sees a new
``write_pos`` also sees the slot behind it. (A weakly ordered CPU would need barriers.)

A slot is a 64-byte header (kind, slot bytes, payload bytes, sequence, schema id, offset
of the record batch message) and a payload holding one complete IPC stream: schema
message, dictionaries if any, record batch message, end-of-stream marker, written by
``pa.ipc.new_stream`` straight into the segment (one copy). The reader parses a schema
only when the schema id changes and otherwise reads just the record batch message with
``pa.ipc.read_record_batch`` (zero-copy). A slot that does not fit before the end of the
data area is preceded by a padding slot and goes to offset 0. A batch whose slot is
larger than the whole data area raises :class:`BatchTooLargeError` (it is not split: a
batch boundary may carry meaning, e.g. an offset to commit; slice it if you must).

Slots are freed in order, by reference: a batch read from the ring points into the
segment, and its slot goes back to the writer when the last Arrow buffer pointing into it
is dropped (a weak reference on the slot's memoryview tells). Nothing can be overwritten
while anything can still see it; a consumer that keeps a batch (or a column or a slice of
it) keeps its slot, and every slot after it, until it lets go. Copy out what must stay.

Error tree (each one pickles, see :mod:`engine.spi.errors`)::

    TransportError(ConnectError)
    ├── BatchTooLargeError(TransportError, ValueError)   a slot would exceed the ring
    ├── RingFullError(TransportError, TimeoutError)      no space before the write timeout
    ├── RingClosedError(TransportError, EOFError)        the other side closed the ring
    └── PeerGoneError(TransportError, ConnectionError)   the other side died without closing
"""

from __future__ import annotations

import abc
import logging
import mmap
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator
from multiprocessing import reduction
from types import TracebackType
from typing import Any, Literal, Self

import pyarrow as pa

from engine.spi.errors import ConfigError, ConnectError
from engine.transport import segment
from engine.transport.segment import Segment
from engine.transport.wakeup import Doorbell, Wake, pipe

__all__ = [
    "HEADER_BYTES",
    "MIN_RING_BYTES",
    "SLOT_HEADER_BYTES",
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

log = logging.getLogger(__name__)


class TransportError(ConnectError):
    """Root of the shared-memory transport's errors."""


class BatchTooLargeError(TransportError, ValueError):
    """A batch needs a slot larger than the ring's data area."""


class RingFullError(TransportError, TimeoutError):
    """The ring stayed too full for the batch until the write timeout."""


class RingClosedError(TransportError, EOFError):
    """The other side closed the ring (for a reader: end of stream), or this side is closed."""


class PeerGoneError(TransportError, ConnectionError):
    """The other side went away without closing the ring: its process died or was killed."""


# ----------------------------------------------------------------------------- layout
_MAGIC = int.from_bytes(b"ARROWRNG", "little")
_VERSION = 1
ALIGN = 64
HEADER_BYTES = 384
SLOT_HEADER_BYTES = 64
MIN_RING_BYTES = segment.PAGE_BYTES
_EOS_BYTES = 8  # IPC end-of-stream marker
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions()  # no compression: a memcpy is cheaper (perf.md §3.2)

# header, in 8-byte words: constants; then one 128-byte line per side (no false sharing)
_H_MAGIC, _H_VERSION, _H_CAPACITY = 0, 1, 2
_H_WRITE_POS, _H_WRITE_SEQ, _H_WRITER_CLOSED = 16, 17, 18
_H_READ_POS, _H_READ_SEQ, _H_READER_CLOSED, _H_TAKEN_SEQ = 32, 33, 34, 35
# slot header, in 8-byte words from the slot's start
_S_KIND, _S_SLOT_BYTES, _S_PAYLOAD_BYTES, _S_SEQ, _S_SCHEMA_ID, _S_BATCH_OFFSET = range(6)
_PAD, _BATCH, _STREAM = 1, 2, 3  # _STREAM: has dictionaries, read it as a stream


def _align(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def create_ring(size_bytes: int, *, name: str = "arrowsmith-ring") -> tuple[RingEnd, RingEnd]:
    """Allocate a ring of ``size_bytes`` of shared memory, header included.

    Returns ``(writer_end, reader_end)``: open one with :class:`RingWriter` and the other
    with :class:`RingReader`, in this process or in a spawned one (a :class:`RingEnd`
    pickles into ``Process(args=...)``). The size is rounded up to whole pages; the data
    area is ``size - HEADER_BYTES``. The pages are allocated by the first side that maps
    the ring with ``populate`` (see :mod:`engine.transport.segment`).
    """
    if size_bytes < MIN_RING_BYTES:
        raise ConfigError(f"ring size must be at least {MIN_RING_BYTES} bytes, got {size_bytes}")
    size = segment.page_align(size_bytes)
    available = os.sysconf("SC_AVPHYS_PAGES") * segment.PAGE_BYTES
    if size > available:
        raise ConfigError(f"a ring of {size} bytes does not fit in the {available} bytes of free memory")
    seg_fd = segment.create(size, name)
    try:
        _init_header(seg_fd, size - HEADER_BYTES)
        data_r, data_w = pipe()
        space_r, space_w = pipe()
    except BaseException:
        os.close(seg_fd)
        raise
    writer = RingEnd("writer", os.dup(seg_fd), space_r, data_w)
    reader = RingEnd("reader", seg_fd, data_r, space_w)
    return writer, reader


def _init_header(fd: int, capacity: int) -> None:
    with mmap.mmap(fd, HEADER_BYTES) as mm:
        words = memoryview(mm).cast("Q")
        words[_H_CAPACITY] = capacity
        words[_H_VERSION] = _VERSION
        words[_H_MAGIC] = _MAGIC
        words.release()


class RingEnd:
    """One side of a ring as file descriptors, before it is opened.

    Pickles into a process started with the ``spawn`` context (the descriptors travel
    with :func:`multiprocessing.reduction.DupFd`, like a ``Connection``). After
    ``Process.start()`` the parent must :meth:`close` its copy: a side is only seen to
    die when every copy of its descriptors is closed.
    """

    __slots__ = ("_fds", "role")

    def __init__(
        self, role: Literal["writer", "reader"], segment_fd: int, wait_fd: int, notify_fd: int
    ) -> None:
        self.role = role
        self._fds: tuple[int, int, int] | None = (segment_fd, wait_fd, notify_fd)

    def __reduce__(self) -> tuple[Any, ...]:
        if self._fds is None:
            raise RingClosedError(f"ring {self.role} end already opened or closed")
        return (_rebuild_end, (self.role, *(reduction.DupFd(fd) for fd in self._fds)))

    def _take(self, role: str) -> tuple[int, int, int]:
        if self.role != role:
            raise ValueError(f"a Ring{role.title()} needs the {role} end, got the {self.role} end")
        if self._fds is None:
            raise RingClosedError(f"ring {self.role} end already opened or closed")
        fds, self._fds = self._fds, None
        return fds

    def close(self) -> None:
        """Close this copy of the descriptors (idempotent)."""
        fds, self._fds = self._fds, None
        for fd in fds or ():
            os.close(fd)

    def __repr__(self) -> str:
        return f"RingEnd({self.role}, fds={self._fds})"


def _rebuild_end(role: Literal["writer", "reader"], *dup_fds: Any) -> RingEnd:
    seg_fd, wait_fd, notify_fd = (d.detach() for d in dup_fds)
    return RingEnd(role, seg_fd, wait_fd, notify_fd)


class _Side(abc.ABC):
    """What a writer and a reader share: the mapping, the header words, the doorbell."""

    def __init__(self, end: RingEnd, role: Literal["writer", "reader"], populate: bool) -> None:
        seg_fd, wait_fd, notify_fd = end._take(role)
        self._bell = Doorbell(wait_fd, notify_fd)
        try:
            self._seg = Segment.attach(seg_fd, populate)
        except BaseException:
            self._bell.close()
            raise
        finally:
            os.close(seg_fd)  # the mapping keeps the memory alive
        self._words = self._seg.view.cast("Q")
        if self._words[_H_MAGIC] != _MAGIC or self._words[_H_VERSION] != _VERSION:
            self._words.release()
            self._seg.close()
            self._bell.close()
            raise TransportError("not an arrowsmith ring segment (bad magic or version)")
        self.capacity_bytes: int = self._words[_H_CAPACITY]
        self._closed = False

    def prefault(self) -> None:
        """Allocate and map every page of a ring mapped with ``populate=False`` now
        (:meth:`engine.transport.segment.Segment.prefault`); safe beside the other side's
        writes and reads."""
        self._seg.prefault()

    def _deadline(self, timeout: float | None) -> float | None:
        if self._closed:
            raise RingClosedError(f"this {type(self).__name__} is closed")
        return None if timeout is None else time.monotonic() + timeout

    def _shut(self, closed_word: int) -> None:
        self._closed = True
        self._words[closed_word] = 1
        self._bell.ring()
        self._bell.close()
        self._words.release()
        self._seg.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @abc.abstractmethod
    def close(self) -> None:
        """Close this side (idempotent)."""


class RingWriter(_Side):
    """The producing side: :meth:`write` copies a batch into the ring once and publishes it.

    ``populate=False`` maps the ring without allocating its pages now (see
    :mod:`engine.transport.segment`): for a writer whose reader, just spawned, populates them."""

    def __init__(self, end: RingEnd, populate: bool = True) -> None:
        super().__init__(end, "writer", populate)
        self._pos: int = self._words[_H_WRITE_POS]
        self._seq: int = self._words[_H_WRITE_SEQ]
        self._schema: pa.Schema | None = None
        self._schema_id = 0
        self._schema_bytes = 0
        self._dictionaries = False

    def write(self, batch: pa.RecordBatch, timeout: float | None = None) -> None:
        """Append ``batch``; wait (without spinning) while the ring is too full.

        ``timeout`` (seconds; ``None`` = no limit) bounds the wait for space and raises
        :class:`RingFullError`. Raises :class:`BatchTooLargeError` for a batch that can
        never fit, :class:`RingClosedError` once the reader closed the ring and
        :class:`PeerGoneError` once the reader's process is gone.
        """
        deadline = self._deadline(timeout)
        kind, payload, batch_offset = self._frame(batch)
        need = SLOT_HEADER_BYTES + _align(payload)
        if need > self.capacity_bytes:
            raise BatchTooLargeError(
                f"batch of {batch.num_rows} rows needs a {need}-byte slot ({payload}-byte IPC stream + "
                f"{SLOT_HEADER_BYTES}-byte header) but the ring's data area is {self.capacity_bytes} bytes: "
                "make the ring larger or the batches smaller"
            )
        start = self._reserve(need, deadline, timeout)
        self._encode(batch, start + SLOT_HEADER_BYTES, payload)
        self._seq += 1
        w = start // 8
        words = self._words
        words[w + _S_PAYLOAD_BYTES] = payload
        words[w + _S_SEQ] = self._seq
        words[w + _S_SCHEMA_ID] = self._schema_id
        words[w + _S_BATCH_OFFSET] = batch_offset
        self._publish(w, kind, need)
        self._check_reader()

    @property
    def unread_batches(self) -> int:
        """Batches written that the reader has not taken yet: how far behind it is."""
        return int(self._seq - self._words[_H_TAKEN_SEQ])

    def _frame(self, batch: pa.RecordBatch) -> tuple[int, int, int]:
        """(slot kind, payload bytes, offset of the record batch message) for ``batch``."""
        schema = batch.schema
        if self._schema is None or not schema.equals(self._schema, check_metadata=True):
            self._schema = schema
            self._schema_id += 1
            self._schema_bytes = schema.serialize().size
            self._dictionaries = _has_dictionary(schema)
        if self._dictionaries:
            sink = pa.MockOutputStream()
            with pa.ipc.new_stream(sink, schema, options=_WRITE_OPTIONS) as w:
                w.write_batch(batch)
            return _STREAM, sink.size(), 0
        payload = self._schema_bytes + pa.ipc.get_record_batch_size(batch) + _EOS_BYTES
        return _BATCH, payload, self._schema_bytes

    def _reserve(self, need: int, deadline: float | None, timeout: float | None) -> int:
        """Wait for ``need`` contiguous bytes; the byte offset of the slot in the segment."""
        words = self._words
        while True:
            self._check_reader()
            offset = self._pos % self.capacity_bytes
            tail = self.capacity_bytes - offset
            free = self.capacity_bytes - (self._pos - words[_H_READ_POS])
            if need <= min(tail, free):
                return HEADER_BYTES + offset
            if tail < need and tail <= free:  # pad to the end, go on at offset 0
                self._publish((HEADER_BYTES + offset) // 8, _PAD, tail)
                continue
            if self._bell.wait(deadline) is Wake.TIMEOUT:
                raise self._full(need, free, timeout)

    def _full(self, need: int, free: int, timeout: float | None) -> RingFullError:
        words = self._words
        unread = self._seq - words[_H_TAKEN_SEQ]
        held = words[_H_TAKEN_SEQ] - words[_H_READ_SEQ]
        hint = (
            "the reader still references batches it has read: a slot is freed only when the "
            "last reference to its batch (or a column or slice of it) is dropped; a "
            "`for batch in reader` loop holds the previous batch while it waits for the next, "
            "so size the ring for two of the largest batches or `del batch` in the loop"
            if held
            else "the reader is not keeping up"
        )
        return RingFullError(
            f"ring full for {timeout}s: the batch needs {need} contiguous bytes, {free} of "
            f"{self.capacity_bytes} are free; {unread} written batches are unread and {held} read "
            f"but not freed; {hint}"
        )

    def _publish(self, w: int, kind: int, slot_bytes: int) -> None:
        words = self._words
        words[w + _S_KIND] = kind
        words[w + _S_SLOT_BYTES] = slot_bytes
        self._pos += slot_bytes
        words[_H_WRITE_SEQ] = self._seq
        words[_H_WRITE_POS] = self._pos  # the publication point
        self._bell.ring()

    def _encode(self, batch: pa.RecordBatch, start: int, size: int) -> None:
        sink = pa.FixedSizeBufferWriter(pa.py_buffer(self._seg.view[start : start + size]))
        with pa.ipc.new_stream(sink, batch.schema, options=_WRITE_OPTIONS) as w:
            w.write_batch(batch)
        if sink.tell() != size:
            raise AssertionError(f"IPC stream is {sink.tell()} bytes, {size} were reserved")

    def _check_reader(self) -> None:
        if self._words[_H_READER_CLOSED]:
            raise RingClosedError("the reader closed the ring")
        if self._bell.peer_gone:
            raise PeerGoneError(
                f"the ring's reader is gone without closing it (process died?); {self._seq} batches written"
            )

    def close(self) -> None:
        """Mark the end of the stream and let go of the ring (idempotent).

        The reader still gets every batch already written, then :class:`RingClosedError`.
        """
        if not self._closed:
            self._shut(_H_WRITER_CLOSED)
            log.debug("ring writer closed after %d batches", self._seq)


class _Slot:
    """A slot the reader has handed out (or skipped), in ring order."""

    __slots__ = ("end", "freed", "reader", "ref", "seq")

    def __init__(self, reader: weakref.ref[RingReader], end: int, seq: int) -> None:
        self.reader = reader
        self.end = end
        self.seq = seq
        self.freed = False
        self.ref: weakref.ref[memoryview] | None = None

    def on_free(self, _ref: object) -> None:
        """The slot's memoryview died: no Arrow buffer points into the slot any more."""
        self.freed = True
        reader = self.reader()
        if reader is not None:
            reader._advance()


class RingReader(_Side):
    """The consuming side: :meth:`read` returns batches whose buffers live in the ring.

    ``populate``: as for :class:`RingWriter`."""

    def __init__(self, end: RingEnd, populate: bool = True) -> None:
        super().__init__(end, "reader", populate)
        self._next: int = self._words[_H_READ_POS]
        self._seq: int = self._words[_H_READ_SEQ]
        self._held: deque[_Slot] = deque()
        self._lock = threading.RLock()  # slots are freed from whichever thread drops a batch
        self._self_ref = weakref.ref(self)
        self._freed_pos = self._next
        self._freed_seq = self._seq
        self._schema: pa.Schema | None = None
        self._schema_id = 0

    def read(self, timeout: float | None = None, interrupt: int = -1) -> pa.RecordBatch | None:
        """The next batch, zero-copy; ``None`` if none came within ``timeout`` seconds, or
        as soon as the descriptor ``interrupt`` (when given) is readable: a process that
        also waits for messages on a pipe answers them without waiting out the timeout.

        ``timeout=None`` waits without a limit. Raises :class:`RingClosedError` once the
        writer has closed the ring and every batch has been read (end of stream), and
        :class:`PeerGoneError` once the writer died and every published batch was read.
        """
        deadline = self._deadline(timeout)
        words = self._words
        while True:
            if self._next < words[_H_WRITE_POS]:
                batch = self._take()
                if batch is not None:
                    return batch
                continue
            if words[_H_WRITER_CLOSED] and self._next == words[_H_WRITE_POS]:
                raise RingClosedError(f"end of stream: the writer closed the ring after {self._seq} batches")
            wake = self._bell.wait(deadline, interrupt)
            if wake is Wake.TIMEOUT or wake is Wake.OTHER:
                return None
            if wake is Wake.PEER_GONE and self._next == words[_H_WRITE_POS] and not words[_H_WRITER_CLOSED]:
                raise PeerGoneError(
                    f"the ring's writer is gone without closing it (process died?) after {self._seq} batches"
                )

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        """Every batch until the writer closes the ring (blocking)."""
        while True:
            try:
                batch = self.read()
            except RingClosedError:
                return
            if batch is not None:
                yield batch
                del batch  # do not hold the slot while waiting for the next one

    def _take(self) -> pa.RecordBatch | None:
        """Read the slot at the read position; ``None`` if it was padding."""
        start = HEADER_BYTES + self._next % self.capacity_bytes
        w = start // 8
        words = self._words
        kind, slot_bytes = words[w + _S_KIND], words[w + _S_SLOT_BYTES]
        self._next += slot_bytes
        if kind == _PAD:
            slot = _Slot(self._self_ref, self._next, 0)
            slot.freed = True
            self._hold(slot)
            self._advance()
            return None
        seq = words[w + _S_SEQ]
        if seq != self._seq + 1 or kind not in (_BATCH, _STREAM):
            raise TransportError(f"corrupt ring: slot kind {kind}, sequence {seq} after {self._seq}")
        self._seq = seq
        words[_H_TAKEN_SEQ] = seq
        payload = words[w + _S_PAYLOAD_BYTES]
        view = self._seg.view[start + SLOT_HEADER_BYTES : start + SLOT_HEADER_BYTES + payload]
        slot = _Slot(self._self_ref, self._next, seq)
        slot.ref = weakref.ref(view, slot.on_free)
        self._hold(slot)
        buf = pa.py_buffer(view)
        del view  # from here on, only Arrow buffers keep the slot
        if kind == _STREAM:
            return pa.ipc.open_stream(buf).read_next_batch()
        schema_id = words[w + _S_SCHEMA_ID]
        if schema_id != self._schema_id:
            self._schema = pa.ipc.read_schema(buf)
            self._schema_id = schema_id
        return pa.ipc.read_record_batch(buf.slice(words[w + _S_BATCH_OFFSET]), self._schema)

    def _hold(self, slot: _Slot) -> None:
        with self._lock:
            self._held.append(slot)

    def _advance(self) -> None:
        """Give the writer every freed slot at the head of the held ones (in order)."""
        with self._lock:
            if self._closed:
                return
            held = self._held
            if not held or not held[0].freed:
                return
            while held and held[0].freed:
                slot = held.popleft()
                self._freed_pos = slot.end
                if slot.seq:
                    self._freed_seq = slot.seq
            words = self._words
            words[_H_READ_SEQ] = self._freed_seq
            words[_H_READ_POS] = self._freed_pos
            self._bell.ring()

    @property
    def held_batches(self) -> int:
        """Batches read and still referenced (their slots are not free yet)."""
        with self._lock:
            return sum(1 for s in self._held if not s.freed)

    def is_zero_copy(self, batch: pa.RecordBatch) -> bool:
        """Whether every non-empty buffer of ``batch`` lies inside this ring's mapping."""
        return all(
            self._seg.contains(b.address, b.size)
            for col in batch.columns
            for b in col.buffers()
            if b is not None and b.size
        )

    def close(self) -> None:
        """Let go of the ring (idempotent); the writer's next write raises RingClosedError.

        Batches still referenced stay valid: the mapping is unmapped after the last goes.
        """
        with self._lock:
            if not self._closed:
                held = sum(1 for s in self._held if not s.freed)
                self._shut(_H_READER_CLOSED)
                log.debug("ring reader closed after %d batches, %d still referenced", self._seq, held)


def _has_dictionary(t: pa.DataType | pa.Schema) -> bool:
    if isinstance(t, pa.Schema):
        return any(_has_dictionary(f.type) for f in t)
    if isinstance(t, pa.BaseExtensionType):
        return _has_dictionary(t.storage_type)
    if pa.types.is_dictionary(t):
        return True
    return any(_has_dictionary(t.field(i).type) for i in range(t.num_fields))
