"""The dead-letter queue: failed records go to ``errors.deadletterqueue.topic.name``.

Sink tasks send the original consumed bytes (key, value, headers, timestamp), as Kafka
Connect does; source tasks (arrowsmith only) send the record as JSON text, since it never
had bytes. With ``errors.deadletterqueue.context.headers.enable`` the ``__connect.errors.*``
headers say where and why it failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from engine.runtime.clients import security_only
from engine.runtime.error_handler import context_headers
from engine.runtime.metrics import TaskMetrics
from engine.spi.errors import ConnectError

log = logging.getLogger(__name__)

# (batch, row) → (key bytes, value bytes, headers, timestamp ms) of the record as consumed
Original = Callable[
    [pa.RecordBatch, int], tuple[bytes | None, bytes | None, list[tuple[str, bytes]], int | None]
]


def ensure_topic(admin: AdminClient, topic: str, replication_factor: int) -> None:
    if topic in admin.list_topics(timeout=30).topics:
        return
    fut = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=replication_factor)])[
        topic
    ]
    try:
        fut.result(timeout=30)
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise ConnectError(f"Could not create the dead-letter queue topic {topic}: {e}") from e


def as_json_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def typed_original(
    batch: pa.RecordBatch, row: int
) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]], int | None]:
    """A typed (source) record as bytes for the DLQ: key and value as JSON text."""
    rec = batch.slice(row, 1).to_pylist()[0]
    ts = rec.get("timestamp")
    headers = [(h["key"], h["value"]) for h in rec.get("headers") or []]
    return (
        as_json_bytes(rec.get("key")),
        as_json_bytes(rec.get("value")),
        headers,
        (int(ts.timestamp() * 1000) if ts is not None else None),
    )


class DeadLetterQueue:
    def __init__(
        self,
        config: Mapping[str, str],
        connector: str,
        task: int,
        producer_conf: Mapping[str, Any],
        metrics: TaskMetrics,
        original: Original,
        consumed_topic: Callable[[pa.RecordBatch, int], str] | None = None,
    ) -> None:
        self.topic = config["errors.deadletterqueue.topic.name"].strip()
        self.context = (
            config.get("errors.deadletterqueue.context.headers.enable") or "false"
        ).lower() == "true"
        self.connector, self.task = connector, task
        self.metrics = metrics
        self.original = original
        # the topic a (sink) record was consumed from, when a transform may have renamed it
        self.consumed_topic = consumed_topic
        rf = int(config.get("errors.deadletterqueue.topic.replication.factor") or 3)
        admin = AdminClient(security_only(producer_conf))  # the producer's servers and security
        ensure_topic(admin, self.topic, rf)
        self.failure: KafkaError | None = None
        self.producer = Producer(
            {
                **producer_conf,
                "client.id": f"connector-dlq-producer-{connector}-{task}",
                "delivery.report.only.error": True,
                "on_delivery": self._on_delivery,
            }
        )

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            self.failure = err

    def report(
        self, batch: pa.RecordBatch, rows: list[int], stage: str, cls: str, error: BaseException
    ) -> None:
        for r in rows:
            key, value, headers, ts = self.original(batch, r)
            if self.context:
                topic = self.consumed_topic(batch, r) if self.consumed_topic is not None else None
                headers = headers + context_headers(
                    batch, r, self.connector, self.task, stage, cls, error, topic=topic
                )
            kwargs: dict[str, Any] = {"key": key, "headers": headers}
            if ts is not None:
                kwargs["timestamp"] = ts
            self.producer.produce(self.topic, value, **kwargs)
        self.metrics.add("records_dead_lettered_total", len(rows))
        self.producer.poll(0)

    def flush(self, timeout_s: float) -> None:
        """Before offsets are committed: every reported record is in the DLQ."""
        if self.producer.flush(timeout_s) != 0:
            raise ConnectError(f"Timed out writing to the dead-letter queue {self.topic}")
        if self.failure is not None:
            raise ConnectError(f"Could not write to the dead-letter queue {self.topic}: {self.failure}")

    def close(self) -> None:
        self.producer.flush(5)
