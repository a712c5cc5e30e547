"""What a sink task does with a consumed batch: convert → transform → put.

:class:`SinkDelivery` takes the raw batch (bytes as consumed) and runs the converters and
the transform chain under the error handler (log, dead-letter queue), then hands the result
to the task's ``put``, redelivering it after a ``RetriableError``. It also gives the task its
errant record reporter (``context.errant_record_reporter()``), so a sink can report the
records it cannot write while it writes the rest.

It runs in the task's worker process, or, with ``pipeline.processes=2``, in the second
stage process (:mod:`engine.runtime.pipeline`), while the first stage only consumes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import pyarrow as pa

from engine.plugins import PluginRegistry
from engine.runtime.clients import producer_config
from engine.runtime.conversion import BatchConverter, class_path
from engine.runtime.dead_letter import DeadLetterQueue
from engine.runtime.error_handler import ErrorHandler, ErrorPolicy, backoff_ms
from engine.runtime.messages import TaskSpec
from engine.runtime.metrics import TaskMetrics, Timer
from engine.runtime.transform_chain import TransformChain
from engine.spi.connector import ErrantRecordReporter, SinkTask
from engine.spi.errors import RetriableError

log = logging.getLogger(__name__)

Original = tuple[bytes | None, bytes | None, list[tuple[str, bytes]], int | None]


class SinkRecordReporter(ErrantRecordReporter):
    """``context.errant_record_reporter()`` of a sink task: rows of a ``put`` batch the task
    could not write go to the error handler (stage ``TASK_PUT``): logged and dead-lettered
    with ``errors.tolerance=all``, a task failure with ``none``."""

    def __init__(self, errors: ErrorHandler, class_name: str) -> None:
        self.errors = errors
        self.class_name = class_name

    def report(self, batch: pa.RecordBatch, rows: Sequence[int], error: BaseException) -> None:
        self.errors.report_rows(batch, rows, "TASK_PUT", self.class_name, error)


class SinkDelivery:
    def __init__(
        self,
        spec: TaskSpec,
        registry: PluginRegistry,
        sink: SinkTask,
        metrics: TaskMetrics,
        stopping: threading.Event,
        backoff: Callable[[], int],
    ) -> None:
        self.sink = sink
        self.metrics = metrics
        self.stopping = stopping
        self._backoff = backoff
        self.converter = BatchConverter(registry, spec.worker_config, spec.connector_config)
        self.chain = TransformChain(registry, spec.connector_config)
        self.converter_name = class_path(self.converter.value)
        self.errors = ErrorHandler(
            ErrorPolicy.from_config(spec.connector_config), spec.name, metrics, stopping=stopping
        )
        self.reporter = SinkRecordReporter(self.errors, class_path(sink))
        self._raw: pa.RecordBatch | None = None
        self._index: dict[tuple[str, int, int], int] | None = None
        self._by_position: dict[tuple[int, int], int] = {}
        self.dlq: DeadLetterQueue | None = None
        if (spec.connector_config.get("errors.deadletterqueue.topic.name") or "").strip():
            self.dlq = DeadLetterQueue(
                spec.connector_config,
                spec.connector,
                spec.task,
                producer_config(
                    spec.worker_config,
                    f"connector-dlq-producer-{spec.connector}-{spec.task}",
                    spec.connector_config,
                ),
                metrics,
                self._original,
                self._consumed_topic,
            )
            self.errors.reporters.append(self.dlq.report)

    def deliver(self, raw: pa.RecordBatch, converted: pa.RecordBatch | None = None) -> None:
        """Convert, transform and put one consumed batch (its bad records to the error
        handler); ``converted`` is the batch already converted (by a pipeline's first stage)."""
        self._raw, self._index = raw, None
        if converted is not None:
            batches = [converted]
        else:
            with Timer(self.metrics, "convert_batch_seconds"):
                batches = self.errors.run(
                    "VALUE_CONVERTER", self.converter_name, self.converter.deserialize, raw
                )
        if self.chain:
            with Timer(self.metrics, "transform_batch_seconds"):
                batches = [t for b in batches for t in self.chain.apply(b, self.errors.transform_runner)]
        for b in batches:
            with Timer(self.metrics, "put_batch_seconds"):
                self._put(b)
            self.metrics.add("sink_record_send_total", b.num_rows)

    def _original(self, batch: pa.RecordBatch, row: int) -> Original:
        """The consumed bytes of a record of the current batch (for the dead-letter queue)."""
        raw = self._raw
        assert raw is not None
        rec = raw.slice(self._raw_row(batch, row), 1).to_pylist()[0]
        headers = [(h["key"], h["value"]) for h in rec["headers"] or []]
        ts = rec["timestamp"]
        return rec["key"], rec["value"], headers, int(ts.timestamp() * 1000) if ts is not None else None

    def _consumed_topic(self, batch: pa.RecordBatch, row: int) -> str:
        assert self._raw is not None
        topic: str = self._raw.column("topic")[self._raw_row(batch, row)].as_py()
        return topic

    def _raw_row(self, batch: pa.RecordBatch, row: int) -> int:
        """The row of the consumed batch a record came from: by topic, partition and offset,
        or, when a transform renamed the topic (a router), by partition and offset."""
        raw = self._raw
        assert raw is not None
        if self._index is None:
            keys = list(
                zip(
                    raw.column("topic").to_pylist(),
                    raw.column("partition").to_pylist(),
                    raw.column("offset").to_pylist(),
                    strict=True,
                )
            )
            self._index = {k: i for i, k in enumerate(keys)}
            positions: dict[tuple[int, int], int] = {}
            for i, (_, p, o) in enumerate(keys):
                positions[(p, o)] = -1 if (p, o) in positions else i
            self._by_position = positions
        topic = batch.column("topic")[row].as_py()
        part = batch.column("partition")[row].as_py()
        offset = batch.column("offset")[row].as_py()
        i = self._index.get((topic, part, offset), self._by_position.get((part, offset), -1))
        if i < 0:
            raise LookupError(f"no consumed record {topic}-{part}@{offset} in the current batch")
        return i

    def _put(self, batch: pa.RecordBatch) -> None:
        """``put``, redelivering the same batch after a ``RetriableError``: back-off of
        ``context.timeout(ms)`` when the task set one, else exponential with jitter up to
        ``errors.retry.delay.max.ms``; with ``errors.retry.timeout`` > 0 the task fails after
        that long (by default, as in Kafka Connect, it retries for as long as it takes)."""
        policy = self.errors.policy
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                self.sink.put(batch)
                return
            except RetriableError as e:
                if (
                    policy.retry_timeout_ms > 0
                    and (time.monotonic() - started) * 1000 >= policy.retry_timeout_ms
                ):
                    raise
                delay_ms = self._backoff() or backoff_ms(attempt, policy.retry_delay_max_ms)
                attempt += 1
                log.warning("put() asked to retry (%s); redelivering the batch in %.0f ms", e, delay_ms)
                if self.stopping.wait(delay_ms / 1000):
                    raise

    def flush_dead_letters(self, timeout_s: float) -> None:
        """Before offsets are committed: every dead-lettered record is in its topic."""
        if self.dlq is not None:
            self.dlq.flush(timeout_s)

    def close(self) -> None:
        self.converter.close()
        self.chain.close()
        if self.dlq is not None:
            self.dlq.close()


__all__ = ["SinkDelivery", "SinkRecordReporter"]
