"""The shared-memory ring between spawned processes, including one side being SIGKILLed."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Iterator
from multiprocessing.process import BaseProcess

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from engine.transport import (
    PeerGoneError,
    RingEnd,
    RingFullError,
    RingReader,
    RingWriter,
    create_ring,
)

pytestmark = [pytest.mark.processes, pytest.mark.timeout(60)]

SPAWN = mp.get_context("spawn")
RING_NAME = "test-ring-processes"


def batch_number(k: int) -> pa.RecordBatch:
    """Batch ``k`` of a deterministic stream: sizes vary from 1 to ~4000 rows."""
    n = 1 + (k * 7919) % 4000
    offset = np.arange(k * 10_000, k * 10_000 + n, dtype=np.int64)
    text = pc.cast(pa.array(offset), pa.string())
    value = pc.binary_join_element_wise(
        '{"id":', text, ',"tag":"t', pc.cast(pa.array(offset % 13), pa.string()), '"}', ""
    )
    lengths = offset % 4
    tags = pa.ListArray.from_arrays(
        pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32()),
        pa.array(["x0", "x1", "x2"]).take(pa.array(np.arange(lengths.sum()) % 3)),
    )
    return pa.record_batch(
        {
            "k": pa.array(np.full(n, k, dtype=np.int32)),
            "offset": pa.array(offset),
            "value": pc.if_else(pa.array(offset % 11 == 0), pa.scalar(None, pa.string()), value),
            "tags": tags,
        }
    )


def write_stream(end: RingEnd, count: int) -> None:
    """Child: write batches 0, 1, ... (forever if ``count`` < 0), then close the ring."""
    with RingWriter(end) as ring:
        k = 0
        while count < 0 or k < count:
            ring.write(batch_number(k), timeout=30)
            k += 1


def read_stream(end: RingEnd, count: int) -> None:
    """Child: read and check ``count`` batches and the end of the stream; exit 0 if all good."""
    with RingReader(end) as ring:
        k = 0
        for batch in ring:
            if not (batch.equals(batch_number(k)) and ring.is_zero_copy(batch)):
                raise SystemExit(f"batch {k} differs or was copied")
            k += 1
            del batch
    raise SystemExit(0 if k == count else f"{k} batches, expected {count}")


def read_and_hold(end: RingEnd) -> None:
    """Child: open the ring as its reader, read one batch, keep it, never read again."""
    ring = RingReader(end)
    held = ring.read(timeout=30)
    assert held is not None
    time.sleep(120)


@pytest.fixture(autouse=True)
def no_dev_shm_leftovers() -> Iterator[None]:
    before = sorted(os.listdir("/dev/shm"))
    yield
    assert sorted(os.listdir("/dev/shm")) == before
    assert not [p for p in _own_fd_links() if RING_NAME in p]
    with open("/proc/self/maps") as maps:
        assert RING_NAME not in maps.read()


def start(target: object, end: RingEnd, *args: object) -> BaseProcess:
    proc = SPAWN.Process(target=target, args=(end, *args), daemon=True)
    proc.start()
    end.close()  # the child has its own copy: now its death closes the last one
    return proc


def test_child_writes_parent_reads_everything_in_order() -> None:
    w_end, r_end = create_ring(2 << 20, name=RING_NAME)
    proc = start(write_stream, w_end, 300)
    with RingReader(r_end) as ring:
        k = 0
        for batch in ring:
            assert batch.equals(batch_number(k)), k
            assert ring.is_zero_copy(batch)
            k += 1
            del batch
    assert k == 300
    proc.join(10)
    assert proc.exitcode == 0


def test_parent_writes_child_reads_and_checks() -> None:
    w_end, r_end = create_ring(1 << 20, name=RING_NAME)
    proc = start(read_stream, r_end, 200)
    with RingWriter(w_end) as ring:
        for k in range(200):
            ring.write(batch_number(k), timeout=30)
    proc.join(30)
    assert proc.exitcode == 0


def test_reader_gets_a_clear_error_when_the_writer_is_killed() -> None:
    w_end, r_end = create_ring(1 << 20, name=RING_NAME)
    proc = start(write_stream, w_end, -1)
    with RingReader(r_end) as ring:
        for k in range(50):
            batch = ring.read(timeout=30)
            assert batch is not None and batch.equals(batch_number(k))
            del batch
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        t0 = time.monotonic()
        with pytest.raises(PeerGoneError, match="writer is gone"):
            k = 50
            while True:  # the batches it published before dying, then the error
                batch = ring.read(timeout=30)
                assert batch is not None and batch.equals(batch_number(k))
                k += 1
                del batch
        assert time.monotonic() - t0 < 5


def test_blocked_writer_gets_a_clear_error_when_the_reader_is_killed() -> None:
    w_end, r_end = create_ring(256 << 10, name=RING_NAME)
    proc = start(read_and_hold, r_end)
    with RingWriter(w_end) as ring:
        k = 0
        with pytest.raises(RingFullError):
            while True:  # fill the ring: the reader holds its first batch and reads no more
                ring.write(batch_number(k), timeout=10 if k == 0 else 0.5)
                k += 1
        assert proc.pid is not None
        killer = threading.Timer(0.3, os.kill, (proc.pid, signal.SIGKILL))
        killer.start()
        t0 = time.monotonic()
        with pytest.raises(PeerGoneError, match="reader is gone"):
            ring.write(batch_number(k))  # blocks without a timeout until the reader dies
        assert 0.3 <= time.monotonic() - t0 < 5
        killer.join()
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL


def _own_fd_links() -> list[str]:
    links = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            pass
    return links
