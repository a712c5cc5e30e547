"""Per-task metrics, counted per batch in the worker and sent to the control plane as
snapshots over the control pipe (the control plane serves them at ``GET /metrics``).

Counters and fixed-bucket histograms only: no per-record work, no locks on the hot path
(a task's metrics are touched by its own thread; the snapshot copies them).
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field

# Seconds: from 100 µs to 10 s.
LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    10.0,
)
# Records per batch.
SIZE_BUCKETS = (1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.count += 1

    def copy(self) -> Histogram:
        return Histogram(self.buckets, list(self.counts), self.total, self.count)

    def merged(self, other: Histogram) -> Histogram:
        """Both histograms' observations in one (same buckets)."""
        if other.buckets != self.buckets:
            raise ValueError("histograms with different buckets cannot be merged")
        counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        return Histogram(self.buckets, counts, self.total + other.total, self.count + other.count)


COUNTERS = (
    "source_record_poll_total",
    "source_record_write_total",
    "sink_record_read_total",
    "sink_record_send_total",
    "offset_commit_success_total",
    "offset_commit_failure_total",
    "task_errors_total",
    "records_skipped_total",
    "records_dead_lettered_total",
)
HISTOGRAMS = {
    "batch_size_records": SIZE_BUCKETS,
    "poll_batch_seconds": LATENCY_BUCKETS,
    "put_batch_seconds": LATENCY_BUCKETS,
    "convert_batch_seconds": LATENCY_BUCKETS,
    "transform_batch_seconds": LATENCY_BUCKETS,
    "offset_commit_seconds": LATENCY_BUCKETS,
}


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    connector: str
    task: int
    counters: dict[str, int]
    histograms: dict[str, Histogram]
    # consumer lag per (topic, partition), sink tasks only
    lag: dict[tuple[str, int], int]


class TaskMetrics:
    def __init__(self, connector: str, task: int) -> None:
        self.connector = connector
        self.task = task
        self.counters = dict.fromkeys(COUNTERS, 0)
        self.histograms = {name: Histogram(b) for name, b in HISTOGRAMS.items()}
        self.lag: dict[tuple[str, int], int] = {}
        self._last_sent = 0.0

    def add(self, counter: str, n: int = 1) -> None:
        self.counters[counter] += n

    def observe(self, histogram: str, value: float) -> None:
        self.histograms[histogram].observe(value)

    def due(self, interval_s: float = 1.0) -> bool:
        now = time.monotonic()
        if now - self._last_sent >= interval_s:
            self._last_sent = now
            return True
        return False

    def snapshot(self) -> MetricsSnapshot:
        return MetricsSnapshot(
            self.connector,
            self.task,
            dict(self.counters),
            {k: h.copy() for k, h in self.histograms.items()},
            dict(self.lag),
        )


class Timer:
    """``with Timer(metrics, "put_batch_seconds"): …``"""

    __slots__ = ("_metrics", "_name", "_start")

    def __init__(self, metrics: TaskMetrics, name: str) -> None:
        self._metrics = metrics
        self._name = name
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._metrics.observe(self._name, time.perf_counter() - self._start)
