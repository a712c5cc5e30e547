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
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
from confluent_kafka import KafkaError, KafkaException, Producer

from engine.runtime.clients import LIBRDKAFKA_LOG, producer_config, request_producer_id_soon
from engine.runtime.conversion import BatchConverter, class_path
from engine.runtime.dead_letter import DeadLetterQueue, typed_original
from engine.runtime.error_handler import ErrorHandler, ErrorPolicy, backoff_ms
from engine.runtime.messages import CommitOffsets
from engine.runtime.metrics import Timer
from engine.runtime.pipeline import pipelined
from engine.runtime.produce import produce_records, record_topics
from engine.runtime.source_pipeline import PipelinedProducer
from engine.runtime.transform_chain import TransformChain
from engine.runtime.worker_task import WorkerTask
from engine.spi.connector import OffsetStorageReader, SourceTask, SourceTaskContext
from engine.spi.errors import ConnectError, RetriableError
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
        self.delivery_error: KafkaError | str | None = None
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
        producer: Producer | PipelinedProducer
        if pipelined(spec.connector_config):
            # beyond Kafka Connect: produce() in a second pinned process (engine.runtime.source_pipeline)
            producer = PipelinedProducer(conf, self._on_stage_error)
        conf["delivery.report.only.error"] = True  # a Python-client option: it takes a bool
        conf["on_delivery"] = self._on_delivery
        conf["error_cb"] = self._on_error
        conf["logger"] = LIBRDKAFKA_LOG
        if not pipelined(spec.connector_config):
            producer = Producer(conf)
            request_producer_id_soon(producer)  # while the task starts and polls its first batch
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
                                self._send(producer, binary)
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
                if isinstance(producer, PipelinedProducer):
                    producer.close(self.flush_timeout)
                else:
                    producer.flush(self.flush_timeout)
                converter.close()
                chain.close()
                if self.dlq is not None:
                    self.dlq.close()

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None and self.delivery_error is None:
            self.delivery_error = err

    def _on_stage_error(self, err: str) -> None:
        if self.delivery_error is None:
            self.delivery_error = err

    def _on_error(self, err: KafkaError) -> None:
        # a refused login is final, as for the Java client (librdkafka would retry forever)
        if err.fatal() or err.code() == KafkaError._AUTHENTICATION:
            self.delivery_error = err
        else:
            log.warning("Producer: %s", err)

    def _check_delivery(self) -> None:
        if self.delivery_error is not None:
            err = self.delivery_error
            cause = KafkaException(err) if isinstance(err, KafkaError) else None
            raise ConnectError(
                f"Unrecoverable exception from producer send callback: {self.delivery_error}"
            ) from cause

    def _commit(self, producer: Producer | PipelinedProducer, task: SourceTask) -> None:
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

    def _send(self, producer: Producer | PipelinedProducer, batch: pa.RecordBatch) -> None:
        """Hand a converted batch to the producer (or the producing process), in order."""
        topics = record_topics(batch)
        self.note_topics(topics)
        if isinstance(producer, PipelinedProducer):
            producer.write(batch)
        else:
            produce_records(producer, batch, topics)
