"""Error handling: retries, tolerance, the error log and the dead-letter queue (KIP-298).

A vectorized step (conversion, a transform) runs on a whole batch. When it fails, the
handler finds the bad records — the rows a ``DataError`` names, else by bisection — and,
with ``errors.tolerance=all``, reports them (log, dead-letter queue) and runs the step on
the good runs between them, in order; with ``none`` the task fails. Retriable failures are
retried with exponential back-off and jitter until ``errors.retry.timeout``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from engine.runtime.metrics import TaskMetrics
from engine.spi.errors import ConnectError, RetriableError

log = logging.getLogger(__name__)

Step = Callable[[pa.RecordBatch], list[pa.RecordBatch]]
Reporter = Callable[[pa.RecordBatch, list[int], str, str, BaseException], None]


@dataclass
class ErrorPolicy:
    tolerance_all: bool = False
    retry_timeout_ms: int = 0
    retry_delay_max_ms: int = 60000
    log_enable: bool = False
    log_include_messages: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, str]) -> ErrorPolicy:
        def flag(key: str) -> bool:
            return (config.get(key) or "false").strip().lower() == "true"

        return cls(
            tolerance_all=(config.get("errors.tolerance") or "none").strip().lower() == "all",
            retry_timeout_ms=int(config.get("errors.retry.timeout") or 0),
            retry_delay_max_ms=int(config.get("errors.retry.delay.max.ms") or 60000),
            log_enable=flag("errors.log.enable"),
            log_include_messages=flag("errors.log.include.messages"),
        )


class ToleranceExceeded(ConnectError):
    """``errors.tolerance=none`` and a record failed (Kafka's text)."""


@dataclass
class ErrorHandler:
    policy: ErrorPolicy
    task_name: str
    metrics: TaskMetrics
    reporters: list[Reporter] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def run(self, stage: str, class_name: str, step: Step, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        """``step(batch)``, with the bad records found, reported and left out (in order)."""
        try:
            return self._with_retries(step, batch)
        except Exception as e:
            first_error = e
        try:
            return self._recover(stage, class_name, step, batch, first_error)
        finally:
            # the error's traceback holds this frame and this frame the error: breaking the
            # cycle frees the error, its partial output and the batch now, not at the next
            # cyclic garbage collection (a batch's worth of Arrow memory each time)
            del first_error

    def _recover(
        self, stage: str, class_name: str, step: Step, batch: pa.RecordBatch, first_error: Exception
    ) -> list[pa.RecordBatch]:
        bad = self._bad_rows(step, batch, first_error)
        stage = getattr(first_error, "stage", stage)
        class_name = getattr(first_error, "class_name", class_name)
        if not self.policy.tolerance_all:
            where = f" (at {where_in(batch, bad[0])})" if bad else ""
            raise ToleranceExceeded(
                f"Tolerance exceeded in error handler: stage {stage}, class {class_name}: "
                f"{first_error}{where}"
            ) from first_error
        self._report(batch, bad, stage, class_name, first_error)
        keep = np.ones(batch.num_rows, dtype=bool)
        keep[bad] = False
        if not keep.any():
            return []
        partial = getattr(first_error, "partial", None)
        if (
            isinstance(partial, pa.RecordBatch)
            and partial.num_rows == batch.num_rows
            and bad == sorted(set(getattr(first_error, "rows", ())))
        ):
            # the step's own output for every row: its good rows are the answer
            return [partial.filter(pa.array(keep))]
        good = batch.filter(pa.array(keep))
        try:
            # one call on the good records (steps work record by record, so this equals
            # running the step on each run of good records, and keeps the batches large)
            return self._with_retries(step, good)
        except Exception:
            log.debug("The step failed again without its bad records; running it run by run")
        out: list[pa.RecordBatch] = []
        start = 0
        for row in [*bad, batch.num_rows]:
            if row > start:  # a run may hold bad records the step did not name: search it too
                out.extend(self.run(stage, class_name, step, batch.slice(start, row - start)))
            start = row + 1
        return out

    def report_rows(
        self, batch: pa.RecordBatch, rows: Sequence[int], stage: str, class_name: str, error: BaseException
    ) -> None:
        """Records a step (or a task, through its errant record reporter) found bad: reported
        and counted with ``errors.tolerance=all``; with ``none``, :class:`ToleranceExceeded`."""
        bad = sorted(set(rows))
        if not bad:
            return
        if not self.policy.tolerance_all:
            raise ToleranceExceeded(
                f"Tolerance exceeded in error handler: stage {stage}, class {class_name}: "
                f"{error} (at {where_in(batch, bad[0])})"
            ) from error
        self._report(batch, bad, stage, class_name, error)

    def transform_runner(self, step: Step, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        """For ``TransformChain.apply(batch, run=…)``: each transform under the handler."""
        return self.run("TRANSFORMATION", "", step, batch)

    def _with_retries(self, step: Step, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        deadline = None
        attempt = 0
        while True:
            try:
                return step(batch)
            except RetriableError as e:
                timeout = self.policy.retry_timeout_ms
                if timeout == 0:
                    raise
                now = time.monotonic()
                deadline = (
                    deadline if deadline is not None else (now + timeout / 1000 if timeout > 0 else None)
                )
                delay = backoff_ms(attempt, self.policy.retry_delay_max_ms) / 1000
                if deadline is not None:
                    if now >= deadline:
                        raise
                    delay = min(delay, deadline - now)
                log.warning("Retriable error (%s); retrying in %.0f ms", e, delay * 1000)
                if self.stopping.wait(delay):
                    raise
                attempt += 1

    def _bad_rows(self, step: Step, batch: pa.RecordBatch, error: BaseException) -> list[int]:
        rows = getattr(error, "rows", ())
        if rows and min(rows) >= 0 and max(rows) < batch.num_rows:
            return sorted(set(rows))
        return self._bisect(step, batch, 0)

    def _bisect(self, step: Step, batch: pa.RecordBatch, base: int) -> list[int]:
        try:
            self._with_retries(step, batch)
            return []
        except Exception:
            if batch.num_rows <= 1:
                return [base] if batch.num_rows == 1 else []
        half = batch.num_rows // 2
        return self._bisect(step, batch.slice(0, half), base) + self._bisect(
            step, batch.slice(half), base + half
        )

    def _report(
        self, batch: pa.RecordBatch, rows: list[int], stage: str, cls: str, error: BaseException
    ) -> None:
        self.metrics.add("records_skipped_total", len(rows))
        if self.policy.log_enable:
            for r in rows:
                where = (
                    f", where consumed record is {describe(batch, r)}"
                    if self.policy.log_include_messages
                    else ""
                )
                log.error(
                    "Error encountered in task %s. Executing stage '%s' with class '%s'%s.",
                    self.task_name,
                    stage,
                    cls,
                    where,
                    exc_info=error,
                )
        for reporter in self.reporters:
            reporter(batch, rows, stage, cls, error)


def backoff_ms(attempt: int, max_ms: int) -> float:
    """Kafka's: 300 ms << attempt, and past ``max_ms`` a random wait below it."""
    delay = 300 * (1 << min(attempt, 30))
    return random.uniform(0, max_ms) if delay > max_ms else float(delay)


def describe(batch: pa.RecordBatch, row: int) -> str:
    names = batch.schema.names
    get = {
        n: batch.column(n)[row].as_py() for n in ("topic", "partition", "offset", "timestamp") if n in names
    }
    ts = get.get("timestamp")
    ts_ms = int(ts.timestamp() * 1000) if ts is not None else -1
    return (
        f"{{topic='{get.get('topic')}', partition={get.get('partition')}, offset={get.get('offset')}, "
        f"timestamp={ts_ms}, timestampType=CreateTime}}"
    )


def where_in(batch: pa.RecordBatch, row: int) -> str:
    """``topic='…', partition=…, offset=…`` of a row, for error messages and traces."""
    names = batch.schema.names

    def cell(name: str) -> object:
        return batch.column(name)[row].as_py() if name in names else None

    return f"topic='{cell('topic')}', partition={cell('partition')}, offset={cell('offset')}"


def stack_trace(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def context_headers(
    batch: pa.RecordBatch,
    row: int,
    connector: str,
    task: int,
    stage: str,
    cls: str,
    error: BaseException,
    *,
    topic: str | None = None,
) -> list[tuple[str, bytes]]:
    """The ``__connect.errors.*`` headers of a dead-lettered record (``topic``: the one it
    was consumed from, when not the batch's)."""

    def cell(name: str) -> str:
        value = batch.column(name)[row].as_py() if name in batch.schema.names else None
        return "" if value is None else str(value)

    headers = [
        ("__connect.errors.topic", cell("topic") if topic is None else topic),
        ("__connect.errors.partition", cell("partition")),
        ("__connect.errors.offset", cell("offset")),
        ("__connect.errors.connector.name", connector),
        ("__connect.errors.task.id", str(task)),
        ("__connect.errors.stage", stage),
        ("__connect.errors.class.name", cls),
        ("__connect.errors.exception.class.name", _java_like_name(error)),
        ("__connect.errors.exception.message", str(error)),
        ("__connect.errors.exception.stacktrace", stack_trace(error)),
    ]
    return [(k, v.encode("utf-8")) for k, v in headers]


def _java_like_name(error: BaseException) -> str:
    cls = type(error)
    return f"{cls.__module__}.{cls.__qualname__}"


__all__ = ["ErrorHandler", "ErrorPolicy", "Sequence", "ToleranceExceeded", "backoff_ms", "context_headers"]
