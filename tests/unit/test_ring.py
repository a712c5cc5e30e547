"""The shared-memory ring within one process: writer and reader (threads) on one segment."""

from __future__ import annotations

import os
import pickle
import random
import threading
import time
from collections.abc import Callable, Iterator

import pyarrow as pa
import pytest

from engine.spi.errors import ConfigError
from engine.transport import (
    BatchTooLargeError,
    PeerGoneError,
    RingClosedError,
    RingFullError,
    RingReader,
    RingWriter,
    TransportError,
    create_ring,
    segment,
)
from engine.transport.ring import SLOT_HEADER_BYTES

Ring = tuple[RingWriter, RingReader]


@pytest.fixture
def make_ring() -> Iterator[Callable[[int], Ring]]:
    made: list[Ring] = []

    def make(size_bytes: int = 1 << 20) -> Ring:
        w_end, r_end = create_ring(size_bytes, name="test-ring")
        ring = (RingWriter(w_end), RingReader(r_end))
        made.append(ring)
        return ring

    yield make
    for writer, reader in made:
        writer.close()
        reader.close()


def numbers(n: int, start: int = 0) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "i": pa.array(range(start, start + n), pa.int64()),
            "s": pa.array([f"value-{k}" if k % 7 else None for k in range(start, start + n)]),
        }
    )


def nested(n: int) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "st": pa.array(
                [{"a": k, "b": [str(k)] * (k % 3)} if k % 5 else None for k in range(n)],
                pa.struct([("a", pa.int32()), ("b", pa.list_(pa.string()))]),
            ),
            "m": pa.array([[(str(k), k)] for k in range(n)], pa.map_(pa.string(), pa.int64())),
            "ll": pa.array([[[k % 100], []] for k in range(n)], pa.large_list(pa.list_(pa.int8()))),
            "d": pa.array([("red", "green", None)[k % 3] for k in range(n)]).dictionary_encode(),
            "ts": pa.array(range(n), pa.timestamp("ms", tz="UTC")),
            "bin": pa.array([bytes([k % 256]) * (k % 9) for k in range(n)], pa.large_binary()),
        }
    )


def test_batches_arrive_in_order_with_contents(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(1 << 20)
    sent = [numbers(10 + k, start=k * 100) for k in range(20)]
    for b in sent:
        writer.write(b, timeout=0)
    for b in sent:
        got = reader.read(timeout=0)
        assert got is not None and got.equals(b)
    assert reader.read(timeout=0) is None


def test_wrap_around_with_variable_sizes(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(64 << 10)
    rng = random.Random(7)
    sizes = [rng.choice([0, 1, 50, 400, 1500]) for _ in range(400)]
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            for k, n in enumerate(sizes):
                writer.write(numbers(n, start=k), timeout=10)
            writer.close()
        except BaseException as e:
            errors.append(e)

    written = sum(SLOT_HEADER_BYTES + pa.ipc.get_record_batch_size(numbers(n)) for n in sizes)
    assert written > 20 * writer.capacity_bytes  # so the ring wraps many times
    t = threading.Thread(target=produce)
    t.start()
    got = []
    for b in reader:  # the ring holds two of the largest batches only if the loop lets go
        got.append((b.num_rows, b.column(0)[0].as_py() if b.num_rows else None))
        del b
    t.join(10)
    assert errors == []
    assert got == [(n, k if n else None) for k, n in enumerate(sizes)]


def test_slots_are_freed_in_order_when_references_drop(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(8192)  # data area 7808 bytes: two of these slots fit, not three
    batch = numbers(150)
    writer.write(batch, timeout=0)
    writer.write(batch, timeout=0)
    first, second = reader.read(0), reader.read(0)
    assert reader.held_batches == 2
    with pytest.raises(RingFullError):
        writer.write(batch, timeout=0)
    del second  # out of order: the first still holds the ring
    assert reader.held_batches == 1
    with pytest.raises(RingFullError):
        writer.write(batch, timeout=0.01)
    column = first.column(1).slice(3, 5)  # a slice of a column keeps the slot too
    del first
    assert reader.held_batches == 1
    del column
    assert reader.held_batches == 0
    writer.write(batch, timeout=0)
    writer.write(batch, timeout=0)


def test_backpressure_blocks_without_spinning(make_ring: Callable[[int], Ring]) -> None:
    batch = numbers(2000)
    writer, reader = make_ring(3 * pa.ipc.get_record_batch_size(batch) + 8192)
    seen: list[int] = []

    def slow_reader() -> None:
        for b in reader:
            seen.append(b.column(0)[0].as_py())
            del b
            time.sleep(0.02)

    t = threading.Thread(target=slow_reader)
    t.start()
    wall, cpu = time.monotonic(), time.thread_time()
    for k in range(25):
        writer.write(numbers(2000, start=k), timeout=5)
    wall, cpu = time.monotonic() - wall, time.thread_time() - cpu
    writer.close()
    t.join(10)
    assert seen == list(range(25))
    assert wall > 0.3  # the writer had to wait for the reader ...
    assert cpu < 0.25 * wall  # ... asleep, not spinning


def test_write_times_out_with_a_clear_error(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(8192)
    writer.write(numbers(300), timeout=0)
    held = reader.read(0)
    t0 = time.monotonic()
    with pytest.raises(RingFullError, match="0 written batches are unread and 1 read but not freed") as e:
        writer.write(numbers(300), timeout=0.1)
    assert 0.1 <= time.monotonic() - t0 < 2
    assert isinstance(e.value, TimeoutError) and isinstance(e.value, TransportError)
    del held
    writer.write(numbers(300), timeout=0)


def test_batch_larger_than_the_ring_is_refused(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(8192)
    with pytest.raises(BatchTooLargeError, match="data area is 7808 bytes") as e:
        writer.write(numbers(5000), timeout=0)
    assert isinstance(e.value, ValueError)
    writer.write(numbers(3), timeout=0)  # the ring is still usable
    got = reader.read(0)
    assert got is not None and got.equals(numbers(3))


def test_largest_batch_that_fits_uses_the_whole_ring(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(1 << 16)
    lo, hi = 1, 10_000  # the most rows whose slot still fits (schema and rounding: < 1 KiB)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        fits = SLOT_HEADER_BYTES + pa.ipc.get_record_batch_size(numbers(mid)) + 1024 <= writer.capacity_bytes
        lo, hi = (mid, hi) if fits else (lo, mid - 1)
    n = lo
    t = threading.Thread(target=lambda: [writer.write(numbers(n, start=k), timeout=5) for k in range(5)])
    t.start()
    for k in range(5):  # each one wraps to offset 0 behind a padding slot
        got = reader.read(timeout=5)
        assert got is not None and got.equals(numbers(n, start=k))
        del got
    t.join(5)


def test_reads_are_zero_copy(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(1 << 20)
    writer.write(nested(100), timeout=0)
    writer.write(numbers(1000), timeout=0)
    a, b = reader.read(0), reader.read(0)
    assert a is not None and b is not None
    assert reader.is_zero_copy(a) and reader.is_zero_copy(b)
    assert not reader.is_zero_copy(numbers(1000))
    mapped = _mapped_ranges("test-ring")  # what the kernel says, not what the ring says
    buffers = [buf for batch in (a, b) for col in batch.columns for buf in col.buffers() if buf is not None]
    assert len(buffers) > 10
    assert all(any(lo <= buf.address < hi for lo, hi in mapped) for buf in buffers)


def test_empty_batches(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(1 << 16)
    empties = [numbers(0), nested(0), pa.RecordBatch.from_pydict({})]
    for b in empties:
        writer.write(b, timeout=0)
    for b in empties:
        got = reader.read(0)
        assert got is not None and got.equals(b) and got.schema.equals(b.schema)


def test_nested_dictionary_and_sliced_batches(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(1 << 20)
    sent = [nested(50), nested(200).slice(17, 60), numbers(100).slice(33), nested(7)]
    for b in sent:
        writer.write(b, timeout=0)
    for b in sent:
        got = reader.read(0)
        assert got is not None and got.equals(b)
        assert got.to_pylist() == b.to_pylist()


def test_schema_changes_between_batches(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(1 << 20)
    other = pa.record_batch({"x": pa.array([1.5, None])})
    tagged = numbers(3).replace_schema_metadata({"source": "a"})
    sent = [numbers(3), other, numbers(4), tagged, numbers(5), nested(3), numbers(2), other]
    for b in sent:
        writer.write(b, timeout=0)
    for b in sent:
        got = reader.read(0)
        assert got is not None and got.equals(b) and got.schema.equals(b.schema, check_metadata=True)


def test_end_of_stream_after_the_writer_closes(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(1 << 16)
    writer.write(numbers(5), timeout=0)
    writer.close()
    assert reader.read(0) is not None
    with pytest.raises(RingClosedError, match="end of stream"):
        reader.read(0)
    with pytest.raises(RingClosedError):
        writer.write(numbers(5))


def test_closing_the_writer_wakes_a_blocked_reader(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(1 << 16)
    rows: list[int] = []
    t = threading.Thread(target=lambda: rows.extend(b.num_rows for b in reader))
    t.start()
    time.sleep(0.05)
    writer.write(numbers(5))
    writer.close()
    t.join(5)
    assert rows == [5] and not t.is_alive()


def test_read_timeout_returns_none(make_ring: Callable[[int], Ring]) -> None:
    _, reader = make_ring(1 << 16)
    t0 = time.monotonic()
    assert reader.read(timeout=0.05) is None
    assert 0.05 <= time.monotonic() - t0 < 1


def test_a_readable_interrupt_descriptor_ends_the_wait(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(1 << 16)
    r, w = os.pipe()
    try:
        results: list[pa.RecordBatch | None] = []
        t = threading.Thread(target=lambda: results.append(reader.read(timeout=None, interrupt=r)))
        t.start()
        time.sleep(0.05)
        os.write(w, b"call")  # e.g. a control message on the stage's pipe
        t.join(10)
        assert not t.is_alive() and results == [None]
        assert os.read(r, 16) == b"call"  # left for its owner to read
        # a batch in the ring comes first, readable descriptor or not
        os.write(w, b"again")
        writer.write(numbers(3), timeout=0)
        batch = reader.read(timeout=None, interrupt=r)
        assert batch is not None and batch.equals(numbers(3))
        del batch
        assert reader.read(timeout=None, interrupt=r) is None
    finally:
        os.close(r)
        os.close(w)


def _shmem_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("RssShmem:"))


@pytest.mark.parametrize("madvise", [True, False], ids=["madvise", "reading-each-page"])
def test_pages_are_allocated_by_the_side_that_populates_or_prefaults(
    madvise: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not madvise:  # a kernel without MADV_POPULATE_WRITE
        monkeypatch.setattr(segment, "_madvise", None)
    else:
        assert segment._madvise is not None
    size = 8 << 20
    w_end, r_end = create_ring(size, name="test-ring-populate")
    before = _shmem_kb()
    writer = RingWriter(w_end, populate=False)
    lazy = _shmem_kb() - before
    reader = RingReader(r_end, populate=False)
    try:
        assert lazy < 1024  # mapped, nothing allocated: the header page at most
        writer.write(numbers(50), timeout=0)
        reader.prefault()  # changes no byte, so it is safe beside the writer
        assert _shmem_kb() - before >= size // 1024 - 4
        batch = reader.read(0)
        assert batch is not None and batch.equals(numbers(50))
        del batch
    finally:
        writer.close()
        reader.close()
    w_end, r_end = create_ring(size, name="test-ring-populate")
    before = _shmem_kb()
    writer = RingWriter(w_end)  # populate (the default): every page now
    try:
        assert _shmem_kb() - before >= size // 1024 - 4
    finally:
        writer.close()
        r_end.close()


def test_writing_after_the_reader_closed(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(1 << 16)
    reader.close()
    with pytest.raises(RingClosedError, match="reader closed"):
        writer.write(numbers(5), timeout=0)


def test_a_vanished_writer_is_reported_after_its_batches(make_ring: Callable[[int], Ring]) -> None:
    writer, reader = make_ring(1 << 16)
    writer.write(numbers(5), timeout=0)
    writer._bell.close()  # what the kernel does when the writer's process dies
    assert reader.read(timeout=1) is not None
    with pytest.raises(PeerGoneError, match="without closing"):
        reader.read(timeout=1)


def test_batches_outlive_the_reader() -> None:
    w_end, r_end = create_ring(1 << 16, name="test-ring-outlive")
    writer, reader = RingWriter(w_end), RingReader(r_end)
    writer.write(numbers(100), timeout=0)
    batch = reader.read(0)
    reader.close()
    writer.close()
    assert batch is not None and batch.equals(numbers(100))
    assert _mappings("test-ring-outlive") == 1  # kept mapped for the batch ...
    del batch
    assert _mappings("test-ring-outlive") == 0  # ... and unmapped once it is gone


def test_closing_leaves_no_mapping_descriptor_or_shm_entry() -> None:
    shm_before = sorted(os.listdir("/dev/shm"))
    w_end, r_end = create_ring(1 << 20, name="test-ring-close")
    with RingWriter(w_end) as writer, RingReader(r_end) as reader:
        writer.write(numbers(10))
        assert reader.read(0) is not None
        assert _mappings("test-ring-close") == 2
        assert sorted(os.listdir("/dev/shm")) == shm_before
    assert _mappings("test-ring-close") == 0
    assert not [fd for fd in os.listdir("/proc/self/fd") if "test-ring-close" in _link(fd)]


def test_ring_end_misuse() -> None:
    w_end, r_end = create_ring(1 << 16)
    with pytest.raises(ValueError, match="needs the reader end"):
        RingReader(w_end)
    reader = RingReader(r_end)
    with pytest.raises(RingClosedError, match="already opened"):
        RingReader(r_end)
    reader.close()
    w_end.close()
    with pytest.raises(ConfigError, match="at least"):
        create_ring(100)
    with pytest.raises(ConfigError, match="free memory"):
        create_ring(1 << 50)


@pytest.mark.parametrize(
    "error",
    [RingFullError("full"), RingClosedError("closed"), PeerGoneError("gone"), BatchTooLargeError("big")],
)
def test_errors_pickle(error: TransportError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error)


def _mappings(name: str) -> int:
    return len(_mapped_ranges(name))


def _mapped_ranges(name: str) -> list[tuple[int, int]]:
    with open("/proc/self/maps") as f:
        lines = [line for line in f if f"memfd:{name} " in line]
    return [(int(lo, 16), int(hi, 16)) for lo, hi in (line.split()[0].split("-") for line in lines)]


def _link(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""
