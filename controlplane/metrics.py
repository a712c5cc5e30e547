"""``GET /metrics``: Prometheus text format, from the task snapshots the workers send and
from psutil readings of the worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import psutil
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.runtime.metrics import COUNTERS, HISTOGRAMS

if TYPE_CHECKING:
    from controlplane.herder import StandaloneHerder

STATES = ("UNASSIGNED", "RUNNING", "PAUSED", "FAILED", "RESTARTING", "STOPPED")
PREFIX = "arrowsmith_"
_DOCS = {
    "source_record_poll_total": "Records returned by the source task's poll()",
    "source_record_write_total": "Records handed to the producer after conversion",
    "sink_record_read_total": "Records consumed from Kafka by the sink task",
    "sink_record_send_total": "Records handed to the sink task's put()",
    "offset_commit_success_total": "Successful offset commits",
    "offset_commit_failure_total": "Failed or timed-out offset commits",
    "task_errors_total": "Task failures",
    "records_skipped_total": "Records skipped by the error handler",
    "records_dead_lettered_total": "Records sent to the dead-letter queue",
    "batch_size_records": "Records per batch",
    "poll_batch_seconds": "Time in the source task's poll()",
    "put_batch_seconds": "Time in the sink task's put()",
    "convert_batch_seconds": "Time converting a batch",
    "transform_batch_seconds": "Time transforming a batch",
    "offset_commit_seconds": "Time to commit offsets",
}


class HerderCollector(Collector):
    def __init__(self, herder: StandaloneHerder) -> None:
        self.herder = herder

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        h = self.herder
        conn = GaugeMetricFamily(
            PREFIX + "connector_status", "1 for the connector's current state", labels=["connector", "state"]
        )
        task = GaugeMetricFamily(
            PREFIX + "task_status", "1 for the task's current state", labels=["connector", "task", "state"]
        )
        for name, entry in sorted(h.connectors.items()):
            for st in STATES:
                conn.add_metric([name, st], 1.0 if entry.status.state == st else 0.0)
            for tid, status in sorted(entry.tasks.items()):
                for st in STATES:
                    task.add_metric([name, str(tid), st], 1.0 if status.state == st else 0.0)
        yield conn
        yield task
        snaps = sorted(h.task_metrics.items())
        for counter in COUNTERS:
            fam = CounterMetricFamily(
                PREFIX + counter.removesuffix("_total"), _DOCS[counter], labels=["connector", "task"]
            )
            for (c, t), snap in snaps:
                fam.add_metric([c, str(t)], float(snap.counters.get(counter, 0)))
            yield fam
        for hist, buckets in HISTOGRAMS.items():
            hfam = HistogramMetricFamily(PREFIX + hist, _DOCS[hist], labels=["connector", "task"])
            for (c, t), snap in snaps:
                data = snap.histograms[hist]
                cumulative, acc = [], 0
                for bound, n in zip([*map(str, buckets), "+Inf"], data.counts, strict=True):
                    acc += n
                    cumulative.append((bound, float(acc)))
                hfam.add_metric([c, str(t)], cumulative, data.total)
            yield hfam
        lag = GaugeMetricFamily(
            PREFIX + "consumer_lag_records",
            "High watermark minus the next offset to read",
            labels=["connector", "task", "topic", "partition"],
        )
        for (c, t), snap in snaps:
            for (topic, part), value in sorted(snap.lag.items()):
                lag.add_metric([c, str(t), topic, str(part)], float(value))
        yield lag
        auto = CounterMetricFamily(
            PREFIX + "task_auto_restarts",
            "Times arrowsmith restarted a failed task by itself (task.restart.max.attempts)",
            labels=["connector", "task"],
        )
        for (c, t), n in sorted(h.restarter.total.items()):
            auto.add_metric([c, str(t)], float(n))
        yield auto
        cpu = CounterMetricFamily(
            PREFIX + "worker_cpu_seconds", "CPU time of a worker process", labels=["worker"]
        )
        rss = GaugeMetricFamily(
            PREFIX + "worker_rss_bytes", "Resident memory of a worker process", labels=["worker"]
        )
        restarts = CounterMetricFamily(
            PREFIX + "worker_restarts", "Times a worker process was replaced", labels=["worker"]
        )
        for w in h.supervisor.workers:
            label = [str(w.index)]
            restarts.add_metric(label, float(w.restarts))
            try:
                proc = psutil.Process(w.pid)
                times = proc.cpu_times()
                cpu.add_metric(label, times.user + times.system)
                rss.add_metric(label, float(proc.memory_info().rss))
            except (psutil.Error, ValueError):
                continue
        yield cpu
        yield rss
        yield restarts


async def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics_registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def registry_for(herder: StandaloneHerder) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HerderCollector(herder))
    return registry


ROUTES = [Route("/metrics", metrics, methods=["GET"])]
