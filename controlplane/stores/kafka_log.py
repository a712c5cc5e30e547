"""One compacted topic, written by a producer and tailed from the beginning (Kafka's KafkaBasedLog).

The consumer is assigned every partition of the topic from its first offset: no group
membership, no commits. A daemon thread hands each record to ``on_record`` in offset
order (per partition). State built by ``on_record`` is what the stores read: a write is
only applied once it has been read back, as in Kafka Connect.

``read_to_end`` asks the broker for the end offsets at call time and waits until the
reader's position has passed them, so it sees everything written before the call. The
consumer is used by the reader thread alone (a confluent-kafka consumer must not be called
from two threads at once); end offsets and metadata come from an admin client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    IsolationLevel,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec

from engine.spi.errors import ConnectError

log = logging.getLogger(__name__)

OnRecord = Callable[[bytes | None, bytes | None, int, int], None]

POLL_S = 0.2
BATCH_MAX = 500
STOP_FLUSH_S = 10.0
# murmur2_random: a key lands on the partition the Java client's default partitioner picks.
_PRODUCER_FORCED = {
    "acks": "all",
    "enable.idempotence": "true",
    "partitioner": "murmur2_random",
    "allow.auto.create.topics": "false",
}
_LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
_EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]
# Errors of metadata that has not caught up yet (a new topic, a moved leader): retried.
_TRANSIENT = frozenset(
    {
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.OFFSET_NOT_AVAILABLE,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError._TRANSPORT,
    }
)
_CONSUMER_FORCED = {
    "enable.auto.commit": "false",
    "enable.auto.offset.store": "false",
    "auto.offset.reset": "earliest",
    "enable.partition.eof": "false",
}


class KafkaLog:
    """A compacted topic read from the beginning by a background thread."""

    def __init__(
        self,
        topic: str,
        client_props: Mapping[str, str],
        on_record: OnRecord,
        *,
        name: str,
    ) -> None:
        self.topic = topic
        self.name = name
        self._props = dict(client_props)
        # End offsets are read as the consumer reads: by default up to the last stable offset.
        self._isolation = (
            IsolationLevel.READ_UNCOMMITTED
            if self._props.get("isolation.level") == "read_uncommitted"
            else IsolationLevel.READ_COMMITTED
        )
        self._on_record = on_record
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self._admin: AdminClient | None = None
        self._partitions: list[int] = []
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._cond = threading.Condition()
        self._positions: dict[int, int] = {}  # next offset to hand to on_record, per partition
        self._reader_failure: str | None = None
        self._failures: list[str] = []  # delivery failures not yet reported by flush()
        self._failures_lock = threading.Lock()
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, timeout_s: float = 30.0) -> None:
        """Start tailing and return once everything present at start has been read."""
        if self._thread is not None or self._stopped:
            raise ConnectError(f"The log of topic {self.topic} cannot be started twice")
        deadline = time.monotonic() + timeout_s
        self._producer = Producer(self._producer_config())
        self._consumer = Consumer(self._consumer_config())
        # An admin client is a producer to librdkafka, which would auto-create a missing topic.
        self._admin = AdminClient(
            {**self._props, "client.id": f"{self.name}-admin", "allow.auto.create.topics": "false"}
        )
        try:
            self._partitions = self._discover_partitions(deadline)
            self._consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in self._partitions])
            self._thread = threading.Thread(target=self._run, name=f"{self.name}-reader", daemon=True)
            self._thread.start()
            self.read_to_end(max(0.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        log.info("Started reading topic %s (%d partitions)", self.topic, len(self._partitions))

    def stop(self) -> None:
        """Stop the reader and close both clients. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        if self._producer is not None:
            left = self._producer.flush(STOP_FLUSH_S)
            if left:
                log.warning("Closing the producer of topic %s with %d records unsent", self.topic, left)
            self._producer = None
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None
        self._admin = None
        log.info("Stopped reading topic %s", self.topic)

    # -- writing ---------------------------------------------------------------------------------

    def send(self, key: bytes, value: bytes | None) -> None:
        """Produce one record (``value`` None is a tombstone); ``flush`` reports its failure."""
        producer = self._producer
        if producer is None or self._stopped:
            raise ConnectError(f"Cannot write to topic {self.topic}: its log is not running")
        while True:
            try:
                producer.produce(self.topic, value, key)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                producer.poll(0.1)
            except KafkaException as e:
                raise ConnectError(f"Cannot write to topic {self.topic}: {e}") from e
        producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every record sent so far is acknowledged; raise if any was not."""
        producer = self._producer
        if producer is None or self._stopped:
            raise ConnectError(f"Cannot flush topic {self.topic}: its log is not running")
        left = producer.flush(timeout_s)
        with self._failures_lock:
            failures, self._failures = self._failures, []
        if failures:
            raise ConnectError(
                f"Failed to write {len(failures)} record(s) to topic {self.topic}: {failures[0]}"
            )
        if left:
            raise ConnectError(
                f"Timed out after {timeout_s:g} s writing to topic {self.topic}: "
                f"{left} record(s) unacknowledged"
            )

    # -- reading ---------------------------------------------------------------------------------

    def read_to_end(self, timeout_s: float = 30.0) -> None:
        """Block until every record written before the call has been passed to ``on_record``."""
        if threading.current_thread() is self._thread:
            raise ConnectError(f"read_to_end of topic {self.topic} called from its own reader thread")
        deadline = time.monotonic() + timeout_s
        targets = self._end_offsets(deadline)
        with self._cond:
            reached = self._cond.wait_for(
                lambda: (
                    self._stopping.is_set()
                    or self._reader_failure is not None
                    or all(self._positions.get(p, 0) >= end for p, end in targets.items())
                ),
                timeout=max(0.0, deadline - time.monotonic()),
            )
            if self._reader_failure is not None:
                raise ConnectError(f"The reader of topic {self.topic} failed: {self._reader_failure}")
            if self._stopping.is_set():
                raise ConnectError(f"The log of topic {self.topic} was stopped")
            if not reached:
                behind = {
                    p: (self._positions.get(p, 0), end)
                    for p, end in targets.items()
                    if self._positions.get(p, 0) < end
                }
                raise ConnectError(
                    f"Timed out after {timeout_s:g} s reading topic {self.topic} to its end "
                    f"(partition: (position, end) {behind})"
                )

    def _end_offsets(self, deadline: float) -> dict[int, int]:
        """Partition → end offset, for the partitions that hold records to read."""
        admin = self._admin
        if admin is None or self._stopped:
            raise ConnectError(f"Cannot read topic {self.topic}: its log is not running")
        while True:
            timeout = max(0.1, deadline - time.monotonic())
            try:
                ends = self._list_offsets(admin, _LATEST, timeout)
                starts = self._list_offsets(admin, _EARLIEST, timeout)
                return {p: end for p, end in ends.items() if end > starts.get(p, 0)}
            except KafkaException as e:
                # e.g. NOT_LEADER_FOR_PARTITION while leadership moves or metadata propagates
                err: KafkaError = e.args[0]
                transient = err.retriable() or err.code() in _TRANSIENT
                if not transient or time.monotonic() >= deadline:
                    raise ConnectError(f"Cannot read the end offsets of topic {self.topic}: {e}") from e
                log.debug("Retrying to read the end offsets of topic %s: %s", self.topic, e)
            except TimeoutError:
                raise ConnectError(f"Timed out reading the end offsets of topic {self.topic}") from None
            time.sleep(0.1)

    def _list_offsets(self, admin: AdminClient, spec: OffsetSpec, timeout: float) -> dict[int, int]:
        futures = admin.list_offsets(
            {TopicPartition(self.topic, p): spec for p in self._partitions},
            isolation_level=self._isolation,
            request_timeout=timeout,
        )
        return {tp.partition: future.result(timeout=timeout).offset for tp, future in futures.items()}

    def _run(self) -> None:
        consumer = self._consumer
        assert consumer is not None
        assigned = [TopicPartition(self.topic, p) for p in self._partitions]
        try:
            while not self._stopping.is_set():
                first = consumer.poll(POLL_S)
                batch = [first] if first is not None else []
                if first is not None:
                    batch.extend(consumer.consume(num_messages=BATCH_MAX - 1, timeout=0))
                read = self._deliver(batch)
                # The position also moves past records the consumer skips (transaction markers).
                positions = {tp.partition: tp.offset for tp in consumer.position(assigned) if tp.offset >= 0}
                with self._cond:
                    for p, nxt in (*positions.items(), *read.items()):
                        if nxt > self._positions.get(p, 0):
                            self._positions[p] = nxt
                    self._cond.notify_all()
        except Exception as e:  # the reader must report, not vanish
            log.exception("The reader of topic %s failed", self.topic)
            with self._cond:
                self._reader_failure = str(e) or type(e).__name__
                self._cond.notify_all()

    def _deliver(self, batch: list[Any]) -> dict[int, int]:
        read: dict[int, int] = {}
        for msg in batch:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise ConnectError(f"Fatal consumer error: {err}")
                log.warning("Error reading topic %s: %s", self.topic, err)
                continue
            partition, offset = msg.partition(), msg.offset()
            try:
                self._on_record(msg.key(), msg.value(), partition, offset)
            except Exception:
                log.exception("Failed to apply the record at %s-%d offset %d", self.topic, partition, offset)
            read[partition] = offset + 1
        return read

    # -- clients ---------------------------------------------------------------------------------

    def _producer_config(self) -> dict[str, Any]:
        return {
            **self._props,
            **_PRODUCER_FORCED,
            "client.id": f"{self.name}-producer",
            "delivery.report.only.error": True,
            "on_delivery": self._on_delivery,
            "error_cb": self._on_client_error,
        }

    def _consumer_config(self) -> dict[str, Any]:
        return {
            "isolation.level": "read_committed",
            **self._props,
            **_CONSUMER_FORCED,
            # librdkafka requires a group id; it is never joined (assign, no commits).
            "group.id": f"{self.name}-unused",
            "client.id": f"{self.name}-consumer",
            "error_cb": self._on_client_error,
        }

    def _discover_partitions(self, deadline: float) -> list[int]:
        admin = self._admin
        assert admin is not None
        while True:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                meta = admin.list_topics(self.topic, timeout=remaining).topics.get(self.topic)
            except KafkaException as e:
                meta, error = None, str(e)
            else:
                error = str(meta.error) if meta is not None and meta.error is not None else "no metadata"
            if meta is not None and meta.error is None and meta.partitions:
                return sorted(meta.partitions)
            if time.monotonic() >= deadline:
                raise ConnectError(f"Cannot read the partitions of topic {self.topic}: {error}")
            time.sleep(0.1)

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            log.error("Failed to write a record to topic %s: %s", self.topic, err)
            with self._failures_lock:
                self._failures.append(str(err))

    def _on_client_error(self, err: KafkaError) -> None:
        if err.fatal():
            log.error("Fatal client error on topic %s: %s", self.topic, err)
            with self._failures_lock:
                self._failures.append(str(err))
        else:
            log.warning("Client error on topic %s: %s", self.topic, err)
