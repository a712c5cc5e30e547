"""The sink task loop: consume → batch → convert → put → pre_commit → commit offsets.

Offsets are committed to the consumer group ``connect-<connector>`` only after the task
flushed what it was given (``pre_commit``), every ``offset.flush.interval.ms``, when the
task asks for it, before partitions are revoked and when the task stops.
"""

from __future__ import annotations

import logging
import operator
import threading
import time
from collections.abc import Mapping, Sequence
from itertools import repeat
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Message
from confluent_kafka import TopicPartition as KTopicPartition

from engine.runtime.clients import LIBRDKAFKA_LOG, consumer_config
from engine.runtime.pipeline import PipelinedSinkTask, pipelined
from engine.runtime.sink_delivery import SinkDelivery
from engine.runtime.worker_config import WORKER_BATCH_MAX_ROWS
from engine.runtime.worker_process import warm_numpy_ma
from engine.runtime.worker_task import WorkerTask
from engine.spi.connector import ErrantRecordReporter, SinkTask, SinkTaskContext
from engine.spi.errors import ConnectError
from engine.spi.record import BINARY_SCHEMA, HEADER_TYPE, TopicPartition

log = logging.getLogger(__name__)

_MS_NP = np.dtype("datetime64[ms]")  # the envelope's timestamp column, from numpy
# auto.offset.reset's values that name a position (librdkafka's synonyms too)
RESET_POSITIONS = {
    "earliest": OFFSET_BEGINNING,
    "smallest": OFFSET_BEGINNING,
    "beginning": OFFSET_BEGINNING,
    "latest": OFFSET_END,
    "largest": OFFSET_END,
    "end": OFFSET_END,
}
_second = operator.itemgetter(1)  # of Message.timestamp(): (type, ms)


class _Context(SinkTaskContext):
    def __init__(self, configs: Mapping[str, str]) -> None:
        self._configs = configs
        self.assigned: set[TopicPartition] = set()
        self.paused: set[TopicPartition] = set()
        self.commit_requested = False
        self.seeks: dict[TopicPartition, int] = {}
        self.backoff_ms = 0
        self.lock = threading.Lock()
        self.reporter: ErrantRecordReporter | None = None

    def configs(self) -> Mapping[str, str]:
        return self._configs

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(self.assigned)

    def pause(self, *partitions: TopicPartition) -> None:
        self.paused.update(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused.difference_update(partitions)

    def request_commit(self) -> None:
        self.commit_requested = True

    def offset(self, offsets: Mapping[TopicPartition, int]) -> None:
        with self.lock:
            self.seeks.update(offsets)

    def timeout(self, ms: int) -> None:
        self.backoff_ms = ms

    def errant_record_reporter(self) -> ErrantRecordReporter | None:
        return self.reporter


def messages_to_batch(
    msgs: Sequence[Any], topic: str | None = None, partition: int | None = None
) -> pa.RecordBatch:
    """Consumed messages → an envelope batch of binary keys and values.

    One C-level ``map`` of an unbound ``Message`` method per column (no bytecode per
    record), numbers straight into numpy. ``topic`` names the one topic of the consumer's
    assignment and ``partition`` its one partition, where there is only one (librdkafka
    hands out no message of a partition that is not assigned): those columns are then
    repeats, not read from every message (~70 of ~330 ns per record for a single
    partition). Without ``topic``, a batch from one topic still gets its topic column by
    repetition."""
    n = len(msgs)
    if topic is not None:
        topics: pa.Array = pa.repeat(pa.scalar(topic, pa.string()), n)
    else:
        names = list(map(Message.topic, msgs))
        first = names[0] if n else None
        topics = (
            pa.repeat(pa.scalar(first, pa.string()), n)
            if n and names.count(first) == n
            else pa.array(names, pa.string())
        )
    headers: list[Any] = list(map(Message.headers, msgs))
    return pa.RecordBatch.from_arrays(
        [
            topics,
            pa.array(
                np.full(n, partition, np.int32)
                if partition is not None
                else np.fromiter(map(Message.partition, msgs), np.int32, n)
            ),
            pa.array(np.fromiter(map(Message.offset, msgs), np.int64, n)),
            pa.array(np.fromiter(map(_second, map(Message.timestamp, msgs)), np.int64, n).view(_MS_NP)),
            pa.array(list(map(Message.key, msgs)), pa.binary()),
            pa.array(list(map(Message.value, msgs)), pa.binary()),
            pa.array(
                [None if h is None else [{"key": k, "value": v} for k, v in h] for h in headers], HEADER_TYPE
            )
            if headers.count(None) != n
            else pa.nulls(n, HEADER_TYPE),
        ],
        schema=BINARY_SCHEMA,
    )


def start_positions(committed: Sequence[KTopicPartition], reset: str) -> list[KTopicPartition] | None:
    """Where newly assigned partitions start: their committed offsets, and where one has none,
    the beginning or the end that ``auto.offset.reset`` names. Given to librdkafka up front,
    these save it a second offset fetch and, for a partition without a committed offset (a
    new connector's group), the fixed 100 ms it waits before it resets an unknown offset
    itself. None leaves the start to librdkafka: a policy that names no position
    (``error``), or an offset that could not be read."""
    logical = RESET_POSITIONS.get(reset.lower())
    if logical is None or any(c.error is not None for c in committed):
        return None
    return [_start(c, logical) for c in committed]


def _start(committed: KTopicPartition, logical: int) -> KTopicPartition:
    if committed.offset < 0:
        return KTopicPartition(committed.topic, committed.partition, logical)
    if committed.leader_epoch is None:  # the constructor takes an int or nothing
        return KTopicPartition(committed.topic, committed.partition, committed.offset)
    return KTopicPartition(
        committed.topic, committed.partition, committed.offset, leader_epoch=committed.leader_epoch
    )


def next_offsets(batch: pa.RecordBatch) -> dict[TopicPartition, int]:
    """The next offset to read per partition: last offset in the batch + 1."""
    topics, parts, offsets = batch.column("topic"), batch.column("partition"), batch.column("offset")
    first_topic, first_part = topics[0].as_py(), parts[0].as_py()
    if pc.all(pc.equal(parts, first_part)).as_py() and pc.all(pc.equal(topics, first_topic)).as_py():
        return {TopicPartition(first_topic, first_part): int(pc.max(offsets).as_py()) + 1}
    # Several partitions: the largest offset of each (topic, partition), by one numpy sort.
    # (Table.group_by would import pyarrow.acero, and with it pyarrow.dataset, Parquet and
    # the S3/GCS/Azure filesystems: ~13 MB more in every worker process.)
    encoded = pc.dictionary_encode(topics)
    names = encoded.dictionary.to_pylist()
    key = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64) << 32
    key |= parts.to_numpy(zero_copy_only=False).astype(np.int64)
    last = offsets.to_numpy(zero_copy_only=False)
    order = np.lexsort((last, key))
    key, last = key[order], last[order]
    ends = np.append(key[1:] != key[:-1], True)
    return {
        TopicPartition(names[k >> 32], k & 0xFFFFFFFF): o + 1
        for k, o in zip(key[ends].tolist(), last[ends].tolist(), strict=True)
    }


class WorkerSinkTask(WorkerTask):
    def interrupt(self) -> None:
        """The loop sees ``stopping`` within one consume timeout; ``stop()`` runs on the task thread."""

    def execute(self) -> None:
        spec = self.spec
        self.ctx = _Context(spec.task_config)
        # With pipeline.processes=2 the first stage (this process) consumes, and converts a
        # batch itself while the second is behind; the second converts the rest, transforms
        # and puts (engine.runtime.pipeline).
        self.delivery: SinkDelivery | None = None
        if pipelined(spec.connector_config):
            task: SinkTask = PipelinedSinkTask(spec, self.metrics, self.registry)
            self.task = task
        else:
            plain = self.new_task()
            assert isinstance(plain, SinkTask)
            task = plain
            self.delivery = SinkDelivery(
                spec, self.registry, task, self.metrics, self.stopping, lambda: self.ctx.backoff_ms
            )
            self.ctx.reporter = self.delivery.reporter
        self.sink = task
        group = spec.connector_config.get("consumer.override.group.id") or f"connect-{spec.connector}"
        conf, max_poll = consumer_config(
            spec.worker_config,
            f"connector-consumer-{spec.connector}-{spec.task}",
            group,
            spec.connector_config,
            share=spec.process_share,
        )
        rows = spec.worker_config.get("worker.batch.max.rows", WORKER_BATCH_MAX_ROWS)
        self.batch_rows = max_poll or int(rows)
        self.offset_reset = conf.get("auto.offset.reset", "latest")
        # a cooperative or KIP-848 group hands out partitions incrementally
        self.incremental = "cooperative" in conf.get("partition.assignment.strategy", "") or (
            conf.get("group.protocol", "classic").lower() == "consumer"
        )
        flush_interval = int(spec.worker_config.get("offset.flush.interval.ms", "60000")) / 1000
        self.commit_timeout = int(spec.worker_config.get("offset.flush.timeout.ms", "5000")) / 1000
        self._last_warning = 0.0
        self.task_closed = False
        self.current: dict[TopicPartition, int] = {}
        self.last_committed: dict[TopicPartition, int] = {}
        self.auth_error: KafkaError | None = None
        consumer = Consumer(
            {
                **conf,
                "logger": LIBRDKAFKA_LOG,
                "on_commit": self._on_commit,
                "error_cb": self._on_error,
            }
        )
        self.consumer = consumer
        topics = [
            t.strip()
            for t in spec.task_config.get("topics", spec.connector_config.get("topics", "")).split(",")
            if t.strip()
        ]
        regex = spec.task_config.get("topics.regex", spec.connector_config.get("topics.regex", ""))
        subscription = ["^" + regex] if regex else topics
        # Subscribed before the task starts: librdkafka joins the group on its own threads
        # while start() runs (a pipelined task's start spawns its second stage), and hands
        # the assignment over only inside consume(), after start() (Kafka Connect starts the
        # task, then subscribes; its consumer joins at the first poll).
        consumer.subscribe(
            subscription, on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        try:
            task.initialize(self.ctx)
            task.start(spec.task_config)
        except BaseException:
            # A failed start is neither opened nor closed. As Kafka Connect does, stop() still
            # runs (it frees what start() took before it failed); the consumer leaves the group.
            self.task_closed = True
            try:
                task.stop()
            except Exception as e:
                log.warning("stop() after the failed start raised: %s", e)
            finally:
                consumer.close()
                if self.delivery is not None:
                    self.delivery.close()
            raise
        warm_numpy_ma()  # while librdkafka joins the group on its own threads
        self.report_target_state()
        last_commit = time.monotonic()
        was_paused = False
        try:
            while not self.stopping.is_set():
                if self.paused != was_paused:
                    self._set_paused(self.paused)
                    was_paused = self.paused
                    self.report_target_state()
                self._apply_seeks()
                msgs = consumer.consume(self.batch_rows, 0.1 if self.paused else 0.2)
                if self.auth_error is not None:
                    raise ConnectError(f"Kafka refused the consumer's login: {self.auth_error.str()}")
                if msgs:
                    # identity, not ``==``: KafkaError's comparison with None raises
                    if any(map(operator.is_not, map(Message.error, msgs), repeat(None))):
                        msgs = [m for m in msgs if self._ok(m)]
                    self._deliver(msgs)
                self.publish_metrics()
                if self.ctx.commit_requested or time.monotonic() - last_commit >= flush_interval:
                    self.ctx.commit_requested = False
                    self._commit(self.current, asynchronous=True)
                    last_commit = time.monotonic()
        finally:
            try:
                self._commit(self.current, asynchronous=False)
                task.close(sorted(self.ctx.assigned))
            finally:
                self.task_closed = True  # the revocation consumer.close() triggers is not the task's any more
                task.stop()
                consumer.close()
                if self.delivery is not None:
                    self.delivery.close()

    def _on_error(self, err: KafkaError) -> None:
        # a refused login is final, as for the Java client (librdkafka would retry forever)
        if err.code() == KafkaError._AUTHENTICATION:
            self.auth_error = err
        elif err.fatal():
            log.error("Consumer: %s", err.str())
        else:
            log.debug("Consumer: %s", err.str())

    def _ok(self, m: Any) -> bool:
        err = m.error()
        if err is None:
            return True
        if err.code() == KafkaError._PARTITION_EOF:
            return False
        if err.fatal():
            raise KafkaException(err)
        # librdkafka reports transient conditions (a topic not created yet, a broker
        # reconnecting) as messages and recovers by itself; Kafka Connect waits too.
        now = time.monotonic()
        if now - self._last_warning > 10:
            self._last_warning = now
            log.warning("Consumer: %s", err.str())
        return False

    def _deliver(self, msgs: list[Any]) -> None:
        if not msgs:
            return
        assigned = self.ctx.assigned
        topics = {tp.topic for tp in assigned}
        raw = messages_to_batch(
            msgs,
            topics.pop() if len(topics) == 1 else None,
            next(iter(assigned)).partition if len(assigned) == 1 else None,
        )
        msgs.clear()  # the batch holds copies: free the Message objects before the batch is delivered
        self.metrics.add("sink_record_read_total", raw.num_rows)
        self.metrics.observe("batch_size_records", raw.num_rows)
        if self.delivery is not None:
            self.delivery.deliver(raw)
        else:
            self.sink.put(raw)  # the pipeline's second stage delivers it
        advanced = next_offsets(raw)
        self.current.update(advanced)
        for tp, nxt in advanced.items():
            _, high = self.consumer.get_watermark_offsets(
                KTopicPartition(tp.topic, tp.partition), cached=True
            )
            if high >= 0:
                self.metrics.lag[(tp.topic, tp.partition)] = max(0, high - nxt)

    def _commit(self, offsets: Mapping[TopicPartition, int], asynchronous: bool) -> None:
        if not offsets:
            return
        if self.delivery is not None:
            # a record is in the DLQ before its offset is committed (the pipeline's second
            # stage does the same in its pre_commit)
            self.delivery.flush_dead_letters(self.commit_timeout)
        try:
            allowed = self.sink.pre_commit(dict(offsets))
        except Exception:
            log.exception("pre_commit failed; rewinding to the last committed offsets")
            self._rewind()
            return
        # An asynchronous commit still in flight may yet fail (e.g. in a rebalance), so
        # ``last_committed`` holds only confirmed commits, and a synchronous commit is
        # always sent.
        todo = {
            tp: o
            for tp, o in allowed.items()
            if tp in offsets and o <= offsets[tp] and (not asynchronous or self.last_committed.get(tp) != o)
        }
        if not todo:
            return
        ktps = [KTopicPartition(tp.topic, tp.partition, o) for tp, o in todo.items()]
        try:
            if asynchronous:
                self.consumer.commit(offsets=ktps, asynchronous=True)
            else:
                self._confirmed(self.consumer.commit(offsets=ktps, asynchronous=False) or [])
                self.metrics.add("offset_commit_success_total")
        except KafkaException as e:
            log.warning("Offset commit failed: %s", e)
            self.metrics.add("offset_commit_failure_total")

    def _on_commit(self, err: KafkaError | None, partitions: list[KTopicPartition]) -> None:
        if err is not None:
            log.warning("Asynchronous offset commit failed: %s", err)
            self.metrics.add("offset_commit_failure_total")
            return
        self.metrics.add("offset_commit_success_total")
        self._confirmed(partitions)

    def _confirmed(self, partitions: list[KTopicPartition]) -> None:
        for p in partitions:
            if p.error is None and p.offset >= 0:
                tp = TopicPartition(p.topic, p.partition)
                if tp in self.ctx.assigned:
                    self.last_committed[tp] = p.offset

    def _rewind(self) -> None:
        for tp in list(self.ctx.assigned):
            committed = self.last_committed.get(tp)
            if committed is not None:
                self.ctx.seeks[tp] = committed

    def _apply_seeks(self) -> None:
        with self.ctx.lock:
            seeks, self.ctx.seeks = self.ctx.seeks, {}
        for tp, off in seeks.items():
            try:
                self.consumer.seek(KTopicPartition(tp.topic, tp.partition, off))
            except KafkaException as e:
                log.warning("Seek of %s to %d failed: %s", tp, off, e)

    def _set_paused(self, paused: bool) -> None:
        parts = [KTopicPartition(tp.topic, tp.partition) for tp in self.ctx.assigned]
        if parts:
            (self.consumer.pause if paused else self.consumer.resume)(parts)

    def _on_assign(self, consumer: Consumer, partitions: list[KTopicPartition]) -> None:
        if self.task_closed:
            return
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        log.info("Assigned partitions: %s", ", ".join(f"{tp.topic}-{tp.partition}" for tp in tps))
        self.ctx.assigned.update(tps)
        self.note_topics({tp.topic for tp in tps})
        try:
            committed = consumer.committed(partitions, timeout=self.commit_timeout)
            start = start_positions(committed, self.offset_reset)
        except KafkaException as e:  # librdkafka reads them itself
            log.debug("Committed offsets not read at assignment (%s)", e)
            start = None
        if start is not None:
            # Assigned before the task's open(): the fetch starts while open() runs (a
            # pipelined task's is a round trip to its second process); records reach the
            # task only from the next consume(), after this callback.
            (consumer.incremental_assign if self.incremental else consumer.assign)(start)
        if self.paused:
            consumer.pause(partitions)
        self.sink.open(tps)

    def _on_revoke(self, consumer: Consumer, partitions: list[KTopicPartition]) -> None:
        if self.task_closed:
            return
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        log.info(
            "Revoked partitions: %s",
            ", ".join(f"{tp.topic}-{tp.partition}@{self.current.get(tp)}" for tp in tps),
        )
        self._commit({tp: o for tp, o in self.current.items() if tp in tps}, asynchronous=False)
        self.sink.close(tps)
        for tp in tps:
            self.ctx.assigned.discard(tp)
            self.current.pop(tp, None)
            self.last_committed.pop(tp, None)
            self.metrics.lag.pop((tp.topic, tp.partition), None)

    def _on_lost(self, consumer: Consumer, partitions: list[KTopicPartition]) -> None:
        if self.task_closed:
            return
        tps = [TopicPartition(p.topic, p.partition) for p in partitions]
        self.sink.close(tps)
        for tp in tps:
            self.ctx.assigned.discard(tp)
            self.current.pop(tp, None)
            self.last_committed.pop(tp, None)
            self.metrics.lag.pop((tp.topic, tp.partition), None)
