"""Kafka client configurations for tasks: framework defaults < worker ``producer.*`` /
``consumer.*`` < connector ``producer.override.*`` / ``consumer.override.*``.

Keys are librdkafka's. Most Java client keys have the same name; those that exist only in
the Java client are dropped with a warning, and a few are translated.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

log = logging.getLogger(__name__)

# Java-client keys with no librdkafka meaning: dropped (with a warning).
_JAVA_ONLY = frozenset(
    {
        "key.serializer",
        "value.serializer",
        "key.deserializer",
        "value.deserializer",
        "buffer.memory",
        "max.block.ms",
        "interceptor.classes",
        "metric.reporters",
        "metrics.num.samples",
        "metrics.sample.window.ms",
        "metrics.recording.level",
        "partitioner.class",
        "default.api.timeout.ms",
        "exclude.internal.topics",
        "client.dns.lookup",
        "allow.auto.create.topics",
    }
)
# Java-client keys whose librdkafka name differs.
_RENAMED = {
    "max.partition.fetch.bytes": "max.partition.fetch.bytes",
    "fetch.max.wait.ms": "fetch.wait.max.ms",
    "retries": "message.send.max.retries",
}

PRODUCER_DEFAULTS: Mapping[str, str] = {
    # Idempotence keeps per-partition order with several requests in flight, where Kafka
    # Connect's own default (max.in.flight.requests.per.connection=1) serialises them.
    "enable.idempotence": "true",
    "acks": "all",
    "linger.ms": "20",
    "batch.size": "1000000",
    "batch.num.messages": "10000",
    "queue.buffering.max.messages": "1000000",
    "queue.buffering.max.kbytes": "1048576",
    "compression.type": "none",
}

CONSUMER_DEFAULTS: Mapping[str, str] = {
    "enable.auto.commit": "false",
    "auto.offset.reset": "earliest",
    "enable.partition.eof": "false",
    # Prefetch enough to keep a task busy, not more: librdkafka's defaults (100 000 messages
    # per partition, 64 MiB) cost ~100 MB of RSS on 8 partitions for no throughput.
    "queued.min.messages": "20000",
    "queued.max.messages.kbytes": "8192",
    "fetch.wait.max.ms": "100",
    "fetch.queue.backoff.ms": "100",
    "max.partition.fetch.bytes": "4194304",
}


def translate(props: Mapping[str, str]) -> dict[str, str]:
    """Map Java client keys onto librdkafka's; drop the ones it does not know."""
    out: dict[str, str] = {}
    for key, value in props.items():
        if key in _JAVA_ONLY:
            log.warning("Ignoring Java-only client setting %s (librdkafka has no such setting)", key)
            continue
        out[_RENAMED.get(key, key)] = str(value)
    return out


def producer_config(
    bootstrap: str,
    client_id: str,
    worker_props: Mapping[str, str],
    overrides: Mapping[str, str],
) -> dict[str, str]:
    conf = {"bootstrap.servers": bootstrap, "client.id": client_id, **PRODUCER_DEFAULTS}
    conf.update(translate(worker_props))
    conf.update(translate(overrides))
    return conf


def consumer_config(
    bootstrap: str,
    client_id: str,
    group_id: str,
    worker_props: Mapping[str, str],
    overrides: Mapping[str, str],
) -> tuple[dict[str, str], int | None]:
    """The consumer config, and ``max.poll.records`` if set (it sizes our batches)."""
    conf = {"bootstrap.servers": bootstrap, "client.id": client_id, "group.id": group_id, **CONSUMER_DEFAULTS}
    merged = {**worker_props, **overrides}
    max_poll = merged.pop("max.poll.records", None)
    conf.update(translate(merged))
    return conf, int(max_poll) if max_poll is not None else None


def prefixed(props: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The keys of ``props`` that start with ``prefix``, without it (``producer.acks`` → ``acks``)."""
    return {k[len(prefix) :]: v for k, v in props.items() if k.startswith(prefix)}
