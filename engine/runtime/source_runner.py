"""The source task loop: poll → convert → produce → acknowledged → offsets committed.

Acknowledgements are counted, not called back per record: the producer reports only
failed deliveries, and when its queue is empty every record produced so far was
acknowledged, so the offsets of every batch handed over so far become committable.
At each offset flush the producer is flushed (bounded by ``offset.flush.timeout.ms``)
before the committable offsets are sent to the control plane's offset store.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Iterator, Mapping
from itertools import repeat
from operator import length_hint
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import KafkaError, KafkaException, Producer

from engine.runtime.clients import producer_config
from engine.runtime.conversion import BatchConverter, class_path
from engine.runtime.dead_letter import DeadLetterQueue, typed_original
from engine.runtime.error_handler import ErrorHandler, ErrorPolicy, backoff_ms
from engine.runtime.messages import CommitOffsets
from engine.runtime.metrics import Timer
from engine.runtime.transform_chain import TransformChain
from engine.runtime.worker_task import WorkerTask
from engine.spi.connector import OffsetStorageReader, SourceTask, SourceTaskContext
from engine.spi.errors import ConnectError, DataError, RetriableError
from engine.spi.record import SourceBatch, SourceOffset, SourcePartition

log = logging.getLogger(__name__)


def partition_key(partition: Mapping[str, Any]) -> str:
    return json.dumps(partition, sort_keys=True, separators=(",", ":"))


class _OffsetReader(OffsetStorageReader):
    def __init__(self, offsets: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        self._offsets = {partition_key(p): o for p, o in offsets}

    def offset(self, partition: SourcePartition) -> SourceOffset | None:
        return self._offsets.get(partition_key(partition))

    def stored(self, offsets: list[tuple[SourcePartition, SourceOffset]]) -> None:
        """Offsets just written: later reads see them (as Kafka Connect's reader reads the store)."""
        for p, o in offsets:
            self._offsets[partition_key(p)] = dict(o)


class _Context(SourceTaskContext):
    def __init__(self, configs: Mapping[str, str], reader: OffsetStorageReader) -> None:
        self._configs = configs
        self._reader = reader

    def configs(self) -> Mapping[str, str]:
        return self._configs

    @property
    def offset_storage_reader(self) -> OffsetStorageReader:
        return self._reader


class WorkerSourceTask(WorkerTask):
    def execute(self) -> None:
        spec = self.spec
        self.delivery_error: KafkaError | None = None
        task = self.new_task()
        assert isinstance(task, SourceTask)
        converter = BatchConverter(self.registry, spec.worker_config, spec.connector_config)
        chain = TransformChain(self.registry, spec.connector_config)
        conv_name = class_path(converter.value)
        self.errors = ErrorHandler(
            ErrorPolicy.from_config(spec.connector_config), spec.name, self.metrics, stopping=self.stopping
        )
        conf: dict[str, Any] = producer_config(
            spec.worker_config, f"connector-producer-{spec.connector}-{spec.task}", spec.connector_config
        )
        conf["delivery.report.only.error"] = True  # a Python-client option: it takes a bool
        conf["on_delivery"] = self._on_delivery
        conf["error_cb"] = self._on_error
        conf["logger"] = logging.getLogger("librdkafka")
        producer = Producer(conf)
        self.dlq: DeadLetterQueue | None = None
        if (spec.connector_config.get("errors.deadletterqueue.topic.name") or "").strip():
            # beyond Kafka Connect: source records that fail transformation or conversion
            base = {k: v for k, v in conf.items() if k not in {"on_delivery", "error_cb", "logger"}}
            self.dlq = DeadLetterQueue(
                spec.connector_config, spec.connector, spec.task, base, self.metrics, typed_original
            )
            self.errors.reporters.append(self.dlq.report)
        self.flush_interval = int(spec.worker_config.get("offset.flush.interval.ms", "60000")) / 1000
        self.flush_timeout = int(spec.worker_config.get("offset.flush.timeout.ms", "5000")) / 1000
        self.pending: dict[str, tuple[SourcePartition, SourceOffset]] = {}
        self.committable: dict[str, tuple[SourcePartition, SourceOffset]] = {}
        self.committed: dict[str, SourceOffset] = {}
        self.seq = 0
        self._poll_failures = 0
        self.reader = _OffsetReader(spec.offsets)
        task.initialize(_Context(spec.task_config, self.reader))
        task.start(spec.task_config)
        self.report_target_state()
        last_flush = time.monotonic()
        try:
            while not self.stopping.is_set():
                if self.paused:
                    self.report_target_state()
                    producer.poll(0.1)
                    continue
                self.report_target_state()
                with Timer(self.metrics, "poll_batch_seconds"):
                    batch = self._poll(task)
                if batch is not None:
                    rows = batch.records.num_rows
                    if rows:
                        self.metrics.add("source_record_poll_total", rows)
                        self.metrics.observe("batch_size_records", rows)
                        with Timer(self.metrics, "transform_batch_seconds"):
                            parts = (
                                chain.apply(batch.records, self.errors.transform_runner)
                                if chain
                                else [batch.records]
                            )
                        for part in parts:
                            with Timer(self.metrics, "convert_batch_seconds"):
                                binaries = self.errors.run(
                                    "VALUE_CONVERTER", conv_name, lambda b: [converter.serialize(b)], part
                                )
                            for binary in binaries:
                                self._produce(producer, binary)
                                self.metrics.add("source_record_write_total", binary.num_rows)
                    for p, o in batch.offsets:
                        self.pending[partition_key(p)] = (p, o)
                producer.poll(0)
                self._check_delivery()
                if len(producer) == 0 and self.pending:
                    self.committable.update(self.pending)
                    self.pending.clear()
                if time.monotonic() - last_flush >= self.flush_interval:
                    self._commit(producer, task)
                    last_flush = time.monotonic()
                self.publish_metrics()
        finally:
            try:
                if self.delivery_error is None:
                    self._commit(producer, task)
            finally:
                task.stop()
                producer.flush(self.flush_timeout)
                converter.close()
                chain.close()
                if self.dlq is not None:
                    self.dlq.close()

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None and self.delivery_error is None:
            self.delivery_error = err

    def _on_error(self, err: KafkaError) -> None:
        # a refused login is final, as for the Java client (librdkafka would retry forever)
        if err.fatal() or err.code() == KafkaError._AUTHENTICATION:
            self.delivery_error = err
        else:
            log.warning("Producer: %s", err)

    def _check_delivery(self) -> None:
        if self.delivery_error is not None:
            raise ConnectError(
                f"Unrecoverable exception from producer send callback: {self.delivery_error}"
            ) from KafkaException(self.delivery_error)

    def _commit(self, producer: Producer, task: SourceTask) -> None:
        """Flush, then write every offset whose records were all acknowledged."""
        if self.dlq is not None:
            self.dlq.flush(self.flush_timeout)
        remaining = producer.flush(self.flush_timeout)
        self._check_delivery()
        if remaining == 0:
            self.committable.update(self.pending)
            self.pending.clear()
        changed = [(p, o) for k, (p, o) in self.committable.items() if self.committed.get(k) != o]
        if not changed:
            return
        self.seq += 1
        started = time.perf_counter()
        event, reply = self.channel.expect_offsets(self.spec.connector, self.spec.task, self.seq)
        self.channel.send(
            CommitOffsets(
                self.spec.connector, self.spec.task, self.seq, [(dict(p), dict(o)) for p, o in changed]
            )
        )
        if not event.wait(self.flush_timeout) or reply[0].error:
            self.channel.forget_offsets(self.spec.connector, self.spec.task, self.seq)
            log.warning("Offset commit failed or timed out: %s", reply[0].error if reply else "timeout")
            self.metrics.add("offset_commit_failure_total")
            return
        self.metrics.add("offset_commit_success_total")
        self.metrics.observe("offset_commit_seconds", time.perf_counter() - started)
        for p, o in changed:
            self.committed[partition_key(p)] = o
        self.reader.stored(changed)
        task.commit()

    def _poll(self, task: SourceTask) -> SourceBatch | None:
        """``task.poll()``; a ``RetriableError`` is logged and the poll retried, as Kafka
        Connect does, after a back-off (exponential with jitter up to
        ``errors.retry.delay.max.ms``) that resets once a poll succeeds."""
        try:
            batch = task.poll()
        except RetriableError as e:
            delay_ms = backoff_ms(self._poll_failures, self.errors.policy.retry_delay_max_ms)
            self._poll_failures += 1
            log.warning("Failed to poll records from the task (%s); retrying in %.0f ms", e, delay_ms)
            self.stopping.wait(delay_ms / 1000)
            return None
        self._poll_failures = 0
        return batch

    def _produce(self, producer: Producer, batch: pa.RecordBatch) -> None:
        n = batch.num_rows
        topics = batch.column("topic")
        values = batch.column("value").to_pylist()
        keys_col = batch.column("key")
        keys = None if keys_col.null_count == n else keys_col.to_pylist()
        ts = batch.column("timestamp")
        parts_col = batch.column("partition")
        parts = None if parts_col.null_count == n else parts_col.to_pylist()
        hdr_col = batch.column("headers")
        headers = None if hdr_col.null_count == n else hdr_col.to_pylist()
        single = topics.null_count == 0 and (n == 1 or topics.unique().__len__() == 1)
        topic_list = None if single else topics.to_pylist()
        topic0 = topics[0].as_py()
        if topic0 is None or (topic_list is not None and None in topic_list):
            raise DataError(
                "Source record has no topic", [i for i, t in enumerate(topics.to_pylist()) if t is None]
            )
        self.note_topics({topic0} if topic_list is None else set(topic_list))
        if topic_list is None and parts is None and headers is None and ts.null_count in (0, n):
            _produce_values(producer, topic0, values, _stamps(ts), keys)
            return
        stamps = None if ts.null_count == n else ts.cast(pa.int64()).to_pylist()
        produce = producer.produce
        for i in range(n):
            kw: dict[str, Any] = {}
            if keys is not None and keys[i] is not None:
                kw["key"] = keys[i]
            if stamps is not None and stamps[i] is not None:
                kw["timestamp"] = stamps[i]
            if parts is not None and parts[i] is not None:
                kw["partition"] = parts[i]
            if headers is not None and headers[i]:
                kw["headers"] = [(h["key"], h["value"]) for h in headers[i]]
            t = topic0 if topic_list is None else topic_list[i]
            while True:
                try:
                    produce(t, values[i], **kw)
                    break
                except BufferError:
                    producer.poll(0.05)


def _stamps(ts: pa.Array) -> list[int] | int | None:
    """A timestamp column for the producer: None (all null), one int (all equal, as a source
    stamps a whole poll), or one int per record."""
    if ts.null_count == len(ts):
        return None
    millis = ts.cast(pa.int64())
    bounds = pc.min_max(millis)
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    if low == high:
        return int(low)
    stamps: list[int] = millis.to_pylist()
    return stamps


def _produce_values(
    producer: Producer,
    topic: str,
    values: list[bytes],
    stamps: list[int] | int | None,
    keys: list[bytes | None] | None = None,
) -> None:
    """Enqueue values and keys (no partition or headers) in order, without bytecode per
    record: ``map`` calls ``produce`` with positional arguments (topic, value, key,
    partition, on_delivery, callback, timestamp; keyword parsing costs ~0.35 µs per call)
    and a zero-length deque drains it. When the queue is full, the record that did not fit
    is retried after a ``poll`` and the rest follow from where the iterators stopped."""
    produce = producer.produce
    rest = iter(values)
    args: tuple[Iterator[Any], ...] = (repeat(topic), rest)
    if keys is not None or stamps is not None:
        args += (iter(keys) if keys is not None else repeat(None),)
    if stamps is not None:
        each = repeat(stamps) if isinstance(stamps, int) else iter(stamps)
        args += (repeat(-1), repeat(None), repeat(None), each)
    while True:
        try:
            deque(map(produce, *args), 0)
            return
        except BufferError:
            i = len(values) - length_hint(rest) - 1  # map took it from ``rest``; produce refused it
            stamp = stamps[i] if isinstance(stamps, list) else stamps
            key = keys[i] if keys is not None else None
            while True:
                producer.poll(0.05)
                try:
                    if stamp is None:
                        produce(topic, values[i], key)
                    else:
                        produce(topic, values[i], key, -1, None, None, stamp)
                    break
                except BufferError:
                    continue
