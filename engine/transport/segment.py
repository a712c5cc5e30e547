"""A shared-memory segment: an anonymous memfd, sized once, pre-faulted, mapped by each side.

Nothing is ever created in ``/dev/shm``: a memfd has no name in any filesystem, so there is
nothing to unlink and nothing a SIGKILL can leave behind. The kernel frees the memory when
the last file descriptor and the last mapping of it are gone. A memfd is not limited by the
size of the ``/dev/shm`` mount (Docker's default is 64 MB); it is still charged to the
memory cgroup.

:func:`create` allocates and touches every page once (first touch costs ~3.4 µs per 4 KiB
page in a VM, perf.md §3.4), :func:`attach` maps it with ``MAP_POPULATE`` so the second
process does not take a page fault per page on its first batches either. The descriptor is
closed as soon as the mapping exists: the mapping alone keeps the memory alive.
"""

from __future__ import annotations

import logging
import mmap
import os

import pyarrow as pa

from engine.spi.errors import ConfigError

__all__ = ["PAGE_BYTES", "Segment", "create", "page_align"]

log = logging.getLogger(__name__)

PAGE_BYTES = mmap.PAGESIZE


def page_align(size: int) -> int:
    """``size`` rounded up to a whole number of pages."""
    return -(-size // PAGE_BYTES) * PAGE_BYTES


def create(size_bytes: int, name: str) -> int:
    """A new memfd of ``size_bytes`` (a whole number of pages), every page already allocated.

    Returns the descriptor (close-on-exec; hand it to another process with
    :func:`multiprocessing.reduction.DupFd`). ``name`` only shows in ``/proc/<pid>/fd``.
    """
    if size_bytes <= 0 or size_bytes % PAGE_BYTES:
        raise ConfigError(f"segment size must be a positive multiple of {PAGE_BYTES} bytes, got {size_bytes}")
    fd = os.memfd_create(name, os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, size_bytes)
        with mmap.mmap(fd, size_bytes) as mm:
            view = memoryview(mm)
            try:
                view[::PAGE_BYTES] = bytes(size_bytes // PAGE_BYTES)  # one write per page
            finally:
                view.release()
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
    def attach(cls, fd: int) -> Segment:
        """Map the whole memfd ``fd`` (read/write, shared, pre-populated); ``fd`` stays open."""
        size = os.fstat(fd).st_size
        mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)
        return cls(mm, size)

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
