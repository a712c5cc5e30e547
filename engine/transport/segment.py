"""A shared-memory segment: an anonymous memfd, sized once, populated by one side, mapped by each.

Nothing is ever created in ``/dev/shm``: a memfd has no name in any filesystem, so there is
nothing to unlink and nothing a SIGKILL can leave behind. The kernel frees the memory when
the last file descriptor and the last mapping of it are gone. A memfd is not limited by the
size of the ``/dev/shm`` mount (Docker's default is 64 MB); it is still charged to the
memory cgroup.

:func:`create` only sizes the memfd. :meth:`Segment.attach` maps it with ``MAP_POPULATE``:
the first side to map it allocates and zeroes every page (~30 ms for 32 MiB in a VM, where
a first touch costs ~3.4 µs per 4 KiB page, perf.md §3.4), the other side's populate only
maps them, so neither side takes a page fault per page on its first batches. A side that
should not wait for that (a process that has just spawned the other side, which populates
on its own core meanwhile) maps with ``populate=False`` and maps each page at its first
touch. The descriptor is closed as soon as the mapping exists: the mapping alone keeps the
memory alive.
"""

from __future__ import annotations

import ctypes
import logging
import mmap
import os
import sys
from collections.abc import Callable
from typing import cast

import pyarrow as pa

from engine.spi.errors import ConfigError

__all__ = ["PAGE_BYTES", "Segment", "create", "page_align"]

log = logging.getLogger(__name__)

PAGE_BYTES = mmap.PAGESIZE
_MADV_POPULATE_WRITE = 23  # linux/mman.h


def _libc_madvise() -> Callable[[int, int, int], int] | None:
    try:
        f = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    f.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    f.restype = ctypes.c_int
    return cast(Callable[[int, int, int], int], f)


_madvise = _libc_madvise() if sys.platform == "linux" else None


def page_align(size: int) -> int:
    """``size`` rounded up to a whole number of pages."""
    return -(-size // PAGE_BYTES) * PAGE_BYTES


def create(size_bytes: int, name: str) -> int:
    """A new memfd of ``size_bytes`` (a whole number of pages); its pages are allocated by
    the first :meth:`Segment.attach` that populates them.

    Returns the descriptor (close-on-exec; hand it to another process with
    :func:`multiprocessing.reduction.DupFd`). ``name`` only shows in ``/proc/<pid>/fd``.
    """
    if size_bytes <= 0 or size_bytes % PAGE_BYTES:
        raise ConfigError(f"segment size must be a positive multiple of {PAGE_BYTES} bytes, got {size_bytes}")
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, size_bytes)
    except BaseException:
        os.close(fd)
        raise
    log.debug("created memfd segment %r of %d bytes (fd %d)", name, size_bytes, fd)
    return fd


class Segment:
    """One process's mapping of a memfd; owns the mapping, not the descriptor."""

    __slots__ = ("_mm", "address", "size", "view")

    def __init__(self, mm: mmap.mmap, size: int) -> None:
        self._mm: mmap.mmap | None = mm
        self.size = size
        self.view = memoryview(mm)
        self.address = _address_of(self.view)

    @classmethod
    def attach(cls, fd: int, populate: bool = True) -> Segment:
        """Map the whole memfd ``fd`` (read/write, shared; with ``populate`` every page is
        allocated and mapped now, see the module's docstring); ``fd`` stays open."""
        size = os.fstat(fd).st_size
        flags = mmap.MAP_SHARED | (mmap.MAP_POPULATE if populate else 0)
        mm = mmap.mmap(fd, size, flags=flags)
        return cls(mm, size)

    def prefault(self) -> None:
        """Allocate the pages no side has yet and map them all here, writable, without
        changing a byte, so it may run while the other side writes.

        ``madvise(MADV_POPULATE_WRITE)`` (Linux 5.14) through ctypes, which lets go of the
        GIL for the call: the 16 MiB of a pipelined sink's ring take 15-35 ms, which a
        warm-up thread holding the GIL took from the stage's first batch. Where the kernel
        refuses it, a byte of every page is read instead (with the GIL)."""
        if _madvise is not None and _madvise(self.address, self.size, _MADV_POPULATE_WRITE) == 0:
            return
        self.view[::PAGE_BYTES].tobytes()

    def contains(self, address: int, size: int = 0) -> bool:
        """Whether ``[address, address + size)`` lies inside this mapping."""
        return self.address <= address and address + size <= self.address + self.size

    def close(self) -> bool:
        """Unmap now if nothing exported from :attr:`view` is still alive.

        Returns ``False`` when buffers made from the view (record batches read zero-copy)
        are still referenced: the mapping then stays until the last of them is dropped,
        and is unmapped by the garbage collector. Never raises ``BufferError``.
        """
        mm, self._mm = self._mm, None
        if mm is None:
            return True
        self.view.release()
        try:
            mm.close()
        except BufferError:
            log.debug("segment still exported by live buffers: unmapped when they are dropped")
            return False
        return True


def _address_of(view: memoryview) -> int:
    return int(pa.py_buffer(view).address)
