"""Previews: run sample records through a connector's converters in a worker process,
commit nothing, write nowhere, and hand the rows to the control plane through the
shared-memory ring.

* Source connectors: a fresh task instance polls (from the stored offsets, as the real
  task would) until it has ``max_records`` or the time is up; the records go through the
  key/value converters, and the preview shows what would be produced.
* Sink connectors: a consumer in a throwaway group reads the connector's topics from the
  earliest offset, without committing; the records go through the converters, and the
  preview shows what ``put()`` would get.
"""

from __future__ import annotations

import logging
import time
import uuid

import pyarrow as pa
from confluent_kafka import Consumer

from engine.plugins import PluginRegistry
from engine.runtime.clients import consumer_config
from engine.runtime.conversion import BatchConverter
from engine.runtime.messages import TaskSpec
from engine.runtime.sink_runner import messages_to_batch
from engine.runtime.source_runner import _Context, _OffsetReader
from engine.runtime.transform_chain import TransformChain
from engine.runtime.worker_task import load_task_class
from engine.spi.connector import SinkConnector, SourceTask
from engine.transport import RingEnd, RingWriter

log = logging.getLogger(__name__)


def _concat(batches: list[pa.RecordBatch], limit: int) -> pa.RecordBatch | None:
    if not batches:
        return None
    table = pa.Table.from_batches(batches).slice(0, limit).combine_chunks()
    if table.num_rows == 0:
        return pa.RecordBatch.from_pylist([], schema=table.schema)
    return table.to_batches()[0]


def _source(spec: TaskSpec, registry: PluginRegistry, n: int, deadline: float) -> pa.RecordBatch | None:
    task = load_task_class(spec.task_config["task.class"])()
    assert isinstance(task, SourceTask)
    converter = BatchConverter(registry, spec.worker_config, spec.connector_config)
    chain = TransformChain(registry, spec.connector_config)
    task.initialize(_Context(spec.task_config, _OffsetReader(spec.offsets)))
    task.start(spec.task_config)
    out: list[pa.RecordBatch] = []
    rows = 0
    try:
        while rows < n and time.monotonic() < deadline:
            batch = task.poll()
            if batch is None or batch.records.num_rows == 0:
                continue
            for part in (
                chain.apply(batch.records.slice(0, n - rows)) if chain else [batch.records.slice(0, n - rows)]
            ):
                out.append(converter.serialize(part))
                rows += part.num_rows
    finally:
        task.stop()
        task.poll()  # lets a task that releases resources in poll() do so
        converter.close()
    return _concat(out, n)


def _sink(spec: TaskSpec, registry: PluginRegistry, n: int, deadline: float) -> pa.RecordBatch | None:
    converter = BatchConverter(registry, spec.worker_config, spec.connector_config)
    chain = TransformChain(registry, spec.connector_config)
    conf, _ = consumer_config(
        spec.worker_config,
        f"connector-preview-{spec.connector}",
        f"arrowsmith-preview-{spec.connector}-{uuid.uuid4().hex[:8]}",
        spec.connector_config,
    )
    consumer = Consumer({**conf, "auto.offset.reset": "earliest", "enable.auto.commit": "false"})
    topics = [t.strip() for t in spec.connector_config.get("topics", "").split(",") if t.strip()]
    regex = spec.connector_config.get("topics.regex", "")
    consumer.subscribe(["^" + regex] if regex else topics)
    out: list[pa.RecordBatch] = []
    rows = 0
    try:
        while rows < n and time.monotonic() < deadline:
            msgs = [m for m in consumer.consume(n - rows, 0.2) if m.error() is None]
            if msgs:
                for b in converter.deserialize(messages_to_batch(msgs)):
                    out.extend(chain.apply(b) if chain else [b])
                rows += len(msgs)
    finally:
        consumer.close()
        converter.close()
    return _concat(out, n)


def run_preview(spec: TaskSpec, registry: PluginRegistry, n: int, timeout_s: float, ring: RingEnd) -> int:
    """Write the preview batch into the ring; the number of rows."""
    deadline = time.monotonic() + timeout_s
    cls = registry.resolve(spec.connector_config["connector.class"])
    with RingWriter(ring) as writer:
        batch = (_sink if issubclass(cls, SinkConnector) else _source)(spec, registry, n, deadline)
        if batch is None:
            return 0
        writer.write(batch, timeout=timeout_s)
        return int(batch.num_rows)
