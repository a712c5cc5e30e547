"""Stage pipelining: a sink task's conversion, transforms and ``put`` run in a second
pinned process.

With ``pipeline.processes=2`` the task's own worker process consumes (stage one: the
consumer, the raw batch of bytes, offsets and commits) and hands each raw batch through a
shared-memory ring to a child process that owns the SinkTask and runs
:class:`engine.runtime.sink_delivery.SinkDelivery` on it: converters, transforms, the error
handler and dead-letter queue, ``put`` (stage two). So one ordered partition uses two cores;
the ring is FIFO, so order is kept. Control calls (``open``, ``close``, ``pre_commit``,
``stop``) go over a pipe and are answered only after every batch written before them was
delivered, so offsets are committed only for records the task has flushed (and whose
dead-lettered records are in their topic). The second stage sends its metrics (records
sent, errors, convert/transform/put timings) to the first, which reports them as the task's.

The work is shared: while the second stage has a batch waiting in the ring, the first
converts the next one itself and sends the converted key and value along with the raw bytes
(:func:`pack_converted`); when the second stage keeps up, batches go raw and it converts
them. A batch with a bad record always goes raw, and the second stage converts it under the
error handler as without pipelining: what is logged, dead-lettered or fails the task is the
same either way.
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

import pyarrow as pa

from engine.plugins import PluginRegistry
from engine.runtime.conversion import BatchConverter
from engine.runtime.messages import TaskSpec
from engine.runtime.metrics import HISTOGRAMS, Histogram, TaskMetrics
from engine.spi.connector import ErrantRecordReporter, SinkTask, SinkTaskContext, Task
from engine.spi.errors import ConnectError
from engine.spi.record import KEY, VALUE, TopicPartition
from engine.transport import BatchTooLargeError, RingEnd, RingReader, RingWriter, create_ring

log = logging.getLogger(__name__)

# A raw batch of 5 000 records of a few hundred bytes is ~1-2 MB: room for several, with
# the first stage's converted columns. Against 32 MiB (six alternated rounds of the bench's
# pipelined scenario): the same records/s and 16 MB less peak memory (docs/performance.md).
# A batch larger than PIECE_BYTES goes as several pieces.
RING_BYTES = 16 << 20
# The most Arrow bytes of raw records one ring slot carries (a put of more is sliced): with
# the converted key and value a slot is ~2-3 times its raw batch, so several fit.
PIECE_BYTES = RING_BYTES // 8
REPLY_TIMEOUT_S = 120.0
# Metrics the first stage keeps itself; the second stage's snapshot supplies the rest.
FIRST_STAGE_COUNTERS = frozenset(
    {"sink_record_read_total", "offset_commit_success_total", "offset_commit_failure_total"}
)
FIRST_STAGE_HISTOGRAMS = frozenset({"batch_size_records", "offset_commit_seconds"})
MetricsUpdate = tuple[dict[str, int], dict[str, Histogram]]
# The columns a first stage appends to a raw batch it converted: the converted key and value.
CONVERTED_KEY = "arrowsmith.converted.key"
CONVERTED_VALUE = "arrowsmith.converted.value"
CONVERT = "convert_batch_seconds"
# After a batch the first stage could not convert, it leaves the next ones to the second
# stage (whose error handler deals with bad records) rather than parse them twice.
SKIP_AFTER_FAILURE = 10


def pieces(batch: pa.RecordBatch, most_bytes: int) -> list[pa.RecordBatch]:
    """``batch`` as consecutive slices (zero-copy) of at most ``most_bytes`` Arrow bytes
    each, in order; a single record larger than that is a slice of its own."""
    size = batch.nbytes
    if size <= most_bytes or batch.num_rows <= 1:
        return [batch]
    count = min(batch.num_rows, -(-size // most_bytes))
    step = -(-batch.num_rows // count)
    out: list[pa.RecordBatch] = []
    for start in range(0, batch.num_rows, step):
        # records of uneven sizes: a slice still too large is cut again
        out.extend(pieces(batch.slice(start, step), most_bytes))
    return out


def pack_converted(raw: pa.RecordBatch, converted: Sequence[pa.RecordBatch]) -> pa.RecordBatch:
    """``raw`` with the converted key and value columns appended, when the conversion is one
    batch of all its rows (one topic, or topics of one schema); else ``raw`` alone."""
    if len(converted) != 1 or converted[0].num_rows != raw.num_rows:
        return raw
    c = converted[0]
    key, value = c.schema.field(KEY), c.schema.field(VALUE)
    schema = raw.schema.append(key.with_name(CONVERTED_KEY)).append(value.with_name(CONVERTED_VALUE))
    return pa.RecordBatch.from_arrays([*raw.columns, c.column(KEY), c.column(VALUE)], schema=schema)


def unpack_converted(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.RecordBatch | None]:
    """The raw batch and, when the first stage converted it, the converted batch (zero-copy)."""
    names = batch.schema.names
    if names[-1:] != [CONVERTED_VALUE]:
        return batch, None
    n = len(names) - 2
    raw = pa.RecordBatch.from_arrays(batch.columns[:n], schema=pa.schema(list(batch.schema)[:n]))
    cols = list(raw.columns)
    schema = raw.schema
    for name, converted_name in ((KEY, CONVERTED_KEY), (VALUE, CONVERTED_VALUE)):
        i = schema.get_field_index(name)
        cols[i] = batch.column(converted_name)
        schema = schema.set(i, batch.schema.field(converted_name).with_name(name))
    return raw, pa.RecordBatch.from_arrays(cols, schema=schema)


class _StageContext(SinkTaskContext):
    """The second stage's context: assignment as told by the first stage."""

    def __init__(self, configs: Mapping[str, str]) -> None:
        self._configs = configs
        self.assigned: set[TopicPartition] = set()
        self.backoff_ms = 0
        self.reporter: ErrantRecordReporter | None = None

    def configs(self) -> Mapping[str, str]:
        return self._configs

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(self.assigned)

    def pause(self, *partitions: TopicPartition) -> None:
        log.warning("pause() is not available to a pipelined sink task")

    def resume(self, *partitions: TopicPartition) -> None:
        log.warning("resume() is not available to a pipelined sink task")

    def request_commit(self) -> None:
        pass

    def offset(self, offsets: Mapping[TopicPartition, int]) -> None:
        log.warning("offset() is not available to a pipelined sink task")

    def timeout(self, ms: int) -> None:
        self.backoff_ms = ms

    def errant_record_reporter(self) -> ErrantRecordReporter | None:
        return self.reporter


def _metrics_update(metrics: TaskMetrics) -> MetricsUpdate:
    snap = metrics.snapshot()
    return (
        {k: v for k, v in snap.counters.items() if k not in FIRST_STAGE_COUNTERS},
        {k: h for k, h in snap.histograms.items() if k not in FIRST_STAGE_HISTOGRAMS},
    )


def stage_setup(cpu: int | None) -> None:
    """A second stage process's set-up: pinned to ``cpu``, Arrow's lean pool, its own
    process group (a signal to the worker's group does not reach it twice), logging."""
    import psutil

    from engine.runtime import logging_context
    from engine.runtime.worker_process import lean_memory_pool, set_process_name

    set_process_name("as-stage")
    if cpu is not None:
        psutil.Process().cpu_affinity([cpu])
    lean_memory_pool()
    os.setpgid(0, 0)
    logging_context.configure(os.environ.get("ARROWSMITH_LOG_LEVEL"))


def send_failure(conn: Connection, e: BaseException) -> None:
    """Tell the first stage why this stage ends (its trace), if it still listens."""
    try:
        conn.send(("error", "".join(traceback.format_exception(e))))
    except OSError:
        pass


def stage_pins(spec: TaskSpec) -> dict[str, str]:
    """The plugin classes a stage process for ``spec`` needs, resolved here (see
    :class:`engine.plugins.PinnedRegistry`)."""
    from engine.plugins import plugin_names
    from engine.runtime.worker_process import registry_for

    registry = registry_for(spec.worker_config.get("plugin.path", ""))
    return registry.pins(plugin_names(spec.worker_config, spec.connector_config, spec.task_config))


def stage_main(
    ring: RingEnd, conn: Connection, spec_and_pins: tuple[TaskSpec, dict[str, str]], cpu: int | None
) -> None:
    """The second stage's process: deliver every raw batch from the ring (convert, transform,
    put), answer control calls in order, send metrics to the first stage. It imports the
    plugins the first stage resolved for it, rather than discovering them all again."""
    import threading

    from engine.plugins import PinnedRegistry
    from engine.runtime.sink_delivery import SinkDelivery
    from engine.runtime.worker_task import load_task_class

    spec, pins = spec_and_pins
    stage_setup(cpu)
    delivery: SinkDelivery | None = None
    reader: RingReader | None = None
    warm: threading.Thread | None = None
    delivered = 0
    try:
        # The ring is mapped without allocating its pages (~15-35 ms for 16 MiB): a thread
        # allocates them (without the GIL, Segment.prefault) and imports numpy.ma, while
        # this one starts the task, answers the first calls and delivers the first batches.
        reader = RingReader(ring, populate=False)
        warm = threading.Thread(target=_warm, args=(reader,), name="stage-warm", daemon=True)
        warm.start()
        plugin_path = spec.worker_config.get("plugin.path", "")
        registry = PinnedRegistry(pins, [p.strip() for p in plugin_path.split(",") if p.strip()])
        task = load_task_class(spec.task_config["task.class"])()
        assert isinstance(task, SinkTask)
        ctx = _StageContext(spec.task_config)
        metrics = TaskMetrics(spec.connector, spec.task)
        delivery = SinkDelivery(spec, registry, task, metrics, threading.Event(), lambda: ctx.backoff_ms)
        ctx.reporter = delivery.reporter
        task.initialize(ctx)
        task.start(spec.task_config)
        conn.send(("ready", None))
        while True:
            if conn.poll(0):
                op, seq, arg = conn.recv()
                while delivered < seq:  # every batch written before this call is delivered first
                    batch = reader.read(REPLY_TIMEOUT_S)
                    if batch is None:
                        raise ConnectError("pipeline stage: timed out waiting for a batch")
                    delivery.deliver(*unpack_converted(batch))
                    del batch
                    delivered += 1
                result = _call(task, ctx, delivery, op, arg)
                conn.send(("metrics", _metrics_update(metrics)))
                conn.send(("ok", result))
                if op == "stop":
                    return
                continue
            batch = reader.read(0.05, interrupt=conn.fileno())  # a control call ends the wait
            if batch is not None:
                delivery.deliver(*unpack_converted(batch))
                del batch
                delivered += 1
            if metrics.due():
                conn.send(("metrics", _metrics_update(metrics)))
    except BaseException as e:
        send_failure(conn, e)
    finally:
        if warm is not None:
            warm.join()
        if reader is not None:
            reader.close()
        if delivery is not None:
            delivery.close()
        conn.close()


def _warm(reader: RingReader) -> None:
    """A second stage's warm-up, on a thread of its own: numpy.ma imported (see
    :func:`engine.runtime.worker_process.warm_numpy_ma`) and the ring's pages allocated."""
    from engine.runtime.worker_process import warm_numpy_ma

    warm_numpy_ma()
    reader.prefault()


def _call(task: SinkTask, ctx: _StageContext, delivery: Any, op: str, arg: Any) -> Any:
    if op == "open":
        ctx.assigned.update(arg)
        task.open(arg)
        return None
    if op == "close":
        ctx.assigned.difference_update(arg)
        task.close(arg)
        return None
    if op == "pre_commit":
        delivery.flush_dead_letters(REPLY_TIMEOUT_S)
        return dict(task.pre_commit(arg))
    if op == "flush":
        task.flush(arg)
        return None
    if op == "stop":
        task.stop()
        return None
    raise ConnectError(f"unknown pipeline call {op}")


def next_core() -> int | None:
    """A core other than the one this (pinned) process runs on."""
    import psutil

    mine = psutil.Process().cpu_affinity() or []
    allowed = sorted(set(range(os.cpu_count() or 1)))
    others = [c for c in allowed if c not in mine]
    return others[0] if others else (mine[0] if mine else None)


def start_stage(
    target: Callable[..., None], arg: Any, ring_bytes: int, name: str
) -> tuple[Any, Connection, RingWriter]:
    """Spawn a second stage process ``target(ring reader end, pipe end, arg, core)`` on
    another core; its process, this side's pipe end and the ring's writer."""
    from engine.runtime import fork_server

    ctx = fork_server.context()
    writer_end, reader_end = create_ring(ring_bytes, name=name)
    conn, child = ctx.Pipe()
    proc = ctx.Process(
        target=target, args=(reader_end, child, arg, next_core()), name=f"{name}-stage", daemon=True
    )
    proc.start()
    reader_end.close()
    child.close()
    # The stage allocates the ring's pages on its own core while this process goes on (a
    # sink's stage prefaults on a thread, a source's producing process populates as it
    # maps); this side maps each page at its first write.
    return proc, conn, RingWriter(writer_end, populate=False)


def end_stage(proc: Any, conn: Connection, writer: RingWriter) -> None:
    """Close the ring and the pipe once the stage was told to stop; kill it if it lingers."""
    writer.close()
    proc.join(10)
    if proc.is_alive():
        proc.kill()
    conn.close()


class PipelinedSinkTask(SinkTask):
    """Stands in for the real task in the first stage; the real one runs in the child.
    Converts what it can before the batch goes (see the module's docstring)."""

    def __init__(self, spec: TaskSpec, metrics: TaskMetrics, registry: PluginRegistry) -> None:
        self.spec = spec
        self.metrics = metrics
        self.registry = registry
        self.seq = 0
        self.proc: Any = None
        self.converter: BatchConverter | None = None
        self._skip = 0  # batches left to the second stage after a failed conversion
        # conversion times: this stage's own, and the second stage's last report of its own
        self._converted = Histogram(HISTOGRAMS[CONVERT])
        self._converted_there = Histogram(HISTOGRAMS[CONVERT])

    def start(self, props: Mapping[str, str]) -> None:
        self.converter = BatchConverter(self.registry, self.spec.worker_config, self.spec.connector_config)
        self.proc, self.conn, self.writer = start_stage(
            stage_main, (self.spec, stage_pins(self.spec)), RING_BYTES, "arrowsmith-pipeline"
        )
        # Not waiting for "ready": the child imports and starts the task while the consumer
        # joins its group; batches wait in the ring, and a failed start surfaces at the next
        # put or call.

    def _reply(self, what: str) -> Any:
        while True:
            if not self.conn.poll(REPLY_TIMEOUT_S):
                raise ConnectError(f"pipeline stage did not answer {what} within {REPLY_TIMEOUT_S:.0f}s")
            if (reply := self._receive()) is not None:
                return reply[0]

    def _receive(self) -> tuple[Any] | None:
        """One message from the second stage: a reply as ``(value,)``, or None for metrics
        and the start-up notice."""
        try:
            kind, value = self.conn.recv()
        except EOFError as e:
            raise ConnectError(f"pipeline stage process died (exit code {self.proc.exitcode})") from e
        if kind == "error":
            raise ConnectError(f"pipeline stage failed:\n{value}")
        if kind == "ready":
            return None
        if kind == "metrics":
            counters, histograms = value
            self.metrics.counters.update(counters)
            self.metrics.histograms.update(histograms)
            self._converted_there = histograms.get(CONVERT, self._converted_there)
            self.metrics.histograms[CONVERT] = self._converted_there.merged(self._converted)
            return None
        return (value,)

    def _call(self, op: str, arg: Any = None) -> Any:
        self._check()
        self.conn.send((op, self.seq, arg))
        return self._reply(op)

    def _check(self) -> None:
        while self.conn.poll(0):
            self._receive()

    def put(self, batch: pa.RecordBatch) -> None:
        self._check()
        for piece in pieces(batch, PIECE_BYTES):
            try:
                self.writer.write(self._convert(piece), timeout=REPLY_TIMEOUT_S)
            except BatchTooLargeError as e:
                raise ConnectError(
                    f"pipeline.processes=2: a record of {piece.nbytes} bytes (with its conversion) does not "
                    f"fit the {RING_BYTES >> 20} MiB ring between the two processes; run this "
                    "connector with pipeline.processes=1"
                ) from e
            self.seq += 1

    def _convert(self, raw: pa.RecordBatch) -> pa.RecordBatch:
        """``raw`` with its converted key and value while the second stage is behind (a batch
        unread in the ring); else, or when a record does not convert (and for the
        :data:`SKIP_AFTER_FAILURE` batches after that), ``raw`` alone: the second stage
        converts it, under the error handler."""
        if self.converter is None or self.writer.unread_batches < 1:
            return raw
        if self._skip:
            self._skip -= 1
            return raw
        started = time.perf_counter()
        try:
            converted = self.converter.deserialize(raw)
        except Exception as e:  # reported (or retried) where the error handler is
            log.debug("first stage: batch not converted (%s); the second stage converts it", e)
            self._skip = SKIP_AFTER_FAILURE
            return raw
        self._converted.observe(time.perf_counter() - started)
        self.metrics.histograms[CONVERT] = self._converted_there.merged(self._converted)
        return pack_converted(raw, converted)

    def open(self, partitions: Sequence[TopicPartition]) -> None:
        self._call("open", list(partitions))

    def close(self, partitions: Sequence[TopicPartition]) -> None:
        self._call("close", list(partitions))

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._call("flush", dict(offsets))

    def pre_commit(self, offsets: Mapping[TopicPartition, int]) -> Mapping[TopicPartition, int]:
        result: Mapping[TopicPartition, int] = self._call("pre_commit", dict(offsets))
        return result

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.is_alive():
                self._call("stop")
        finally:
            end_stage(self.proc, self.conn, self.writer)
            self.proc = None
            if self.converter is not None:
                self.converter.close()


def pipelined(spec_connector_config: Mapping[str, str]) -> bool:
    return int(spec_connector_config.get("pipeline.processes", "1")) > 1


__all__ = [
    "PipelinedSinkTask",
    "Task",
    "end_stage",
    "next_core",
    "pack_converted",
    "pipelined",
    "send_failure",
    "stage_main",
    "stage_setup",
    "start_stage",
    "unpack_converted",
]
