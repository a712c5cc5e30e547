"""Worker configuration: Kafka Connect's worker keys and defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import psutil

from engine.spi.config import (
    AbstractConfig,
    ConfigDef,
    Importance,
    Range,
    Type,
    ValidString,
)

COMMON = "Common"


def _usable_cores() -> int:
    try:
        return len(psutil.Process().cpu_affinity() or []) or (os.cpu_count() or 1)
    except (AttributeError, psutil.Error):
        return os.cpu_count() or 1


def common_worker_def() -> ConfigDef:
    """Keys shared by standalone and distributed workers."""
    return (
        ConfigDef()
        .define(
            "bootstrap.servers",
            Type.LIST,
            "localhost:9092",
            importance=Importance.HIGH,
            documentation="Kafka brokers to connect to, host:port, comma-separated.",
            group=COMMON,
        )
        .define(
            "key.converter",
            Type.CLASS,
            importance=Importance.HIGH,
            documentation="Converter for record keys, e.g. org.apache.kafka.connect.json.JsonConverter. "
            "Its own keys are set with the key.converter. prefix.",
            group=COMMON,
        )
        .define(
            "value.converter",
            Type.CLASS,
            importance=Importance.HIGH,
            documentation="Converter for record values. Its own keys take the value.converter. prefix.",
            group=COMMON,
        )
        .define(
            "header.converter",
            Type.CLASS,
            "org.apache.kafka.connect.storage.SimpleHeaderConverter",
            importance=Importance.LOW,
            documentation="Converter for header values.",
            group=COMMON,
        )
        .define(
            "offset.flush.interval.ms",
            Type.LONG,
            60000,
            Range.at_least(0),
            Importance.LOW,
            "How often source offsets are written and sink offsets committed.",
            group=COMMON,
        )
        .define(
            "offset.flush.timeout.ms",
            Type.LONG,
            5000,
            Range.at_least(0),
            Importance.LOW,
            "How long to wait for acknowledgements and the offset write before giving up this round.",
            group=COMMON,
        )
        .define(
            "task.shutdown.graceful.timeout.ms",
            Type.LONG,
            5000,
            Range.at_least(0),
            Importance.LOW,
            "How long to wait, in total, for tasks to stop gracefully.",
            group=COMMON,
        )
        .define(
            "plugin.path",
            Type.LIST,
            None,
            importance=Importance.LOW,
            documentation="Directories holding plugin packages (installed distributions with arrowsmith "
            "entry points), comma-separated.",
            group=COMMON,
        )
        .define(
            "listeners",
            Type.LIST,
            "http://:8083",
            importance=Importance.LOW,
            documentation="REST listeners, http://host:port, comma-separated.",
            group=COMMON,
        )
        .define(
            "rest.advertised.host.name",
            Type.STRING,
            None,
            importance=Importance.LOW,
            documentation="Host name given to other workers and shown as worker_id.",
            group=COMMON,
        )
        .define(
            "rest.advertised.port",
            Type.INT,
            None,
            importance=Importance.LOW,
            documentation="Port given to other workers and shown in worker_id.",
            group=COMMON,
        )
        .define(
            "connector.client.config.override.policy",
            Type.STRING,
            "All",
            ValidString.in_("None", "Principal", "All"),
            Importance.MEDIUM,
            "Which producer.override.*, consumer.override.* and admin.override.* keys connectors may set.",
            group=COMMON,
        )
        .define(
            "worker.processes",
            Type.INT,
            _usable_cores(),
            Range.at_least(1),
            Importance.MEDIUM,
            "Number of worker processes that run tasks (arrowsmith). Default: the cores this node may use.",
            group=COMMON,
        )
        .define(
            "worker.batch.max.rows",
            Type.INT,
            10000,
            Range.at_least(1),
            Importance.LOW,
            "Most records a sink task consumes into one batch (arrowsmith).",
            group=COMMON,
        )
    )


RESTARTS = "Automatic task restarts (arrowsmith)"
DISTRIBUTED = "Distributed"


def _restart_keys(d: ConfigDef, attempts: int) -> ConfigDef:
    """Restarts of FAILED tasks without an operator (Kafka Connect never does them)."""
    return (
        d.define(
            "task.restart.max.attempts",
            Type.INT,
            attempts,
            Range.at_least(0),
            Importance.MEDIUM,
            "How many times a FAILED task is restarted by itself before it stays FAILED; 0 = never "
            "(Kafka Connect's behaviour). A restart over REST resets the count.",
            group=RESTARTS,
        )
        .define(
            "task.restart.backoff.initial.ms",
            Type.LONG,
            1000,
            Range.at_least(0),
            Importance.LOW,
            "Wait before the first automatic restart; it doubles for each next one (±20 % jitter).",
            group=RESTARTS,
        )
        .define(
            "task.restart.backoff.max.ms",
            Type.LONG,
            60000,
            Range.at_least(0),
            Importance.LOW,
            "Longest wait between automatic restarts.",
            group=RESTARTS,
        )
    )


def standalone_worker_def() -> ConfigDef:
    d = common_worker_def().define(
        "offset.storage.file.filename",
        Type.STRING,
        importance=Importance.HIGH,
        documentation="File in which source connector offsets are stored.",
        group=COMMON,
    )
    return _restart_keys(d, 0)


def _topic_keys(d: ConfigDef, store: str, what: str, partitions: int | None) -> ConfigDef:
    d = d.define(
        f"{store}.storage.topic",
        Type.STRING,
        importance=Importance.HIGH,
        documentation=f"The compacted topic holding {what}.",
        group=DISTRIBUTED,
    ).define(
        f"{store}.storage.replication.factor",
        Type.SHORT,
        3,
        Range.at_least(-1),
        Importance.LOW,
        f"Replication factor of {store}.storage.topic when the worker creates it; -1 = the broker's default.",
        group=DISTRIBUTED,
    )
    if partitions is None:
        return d
    return d.define(
        f"{store}.storage.partitions",
        Type.INT,
        partitions,
        Range.at_least(-1),
        Importance.LOW,
        f"Partitions of {store}.storage.topic when the worker creates it; -1 = the broker's default.",
        group=DISTRIBUTED,
    )


def distributed_worker_def() -> ConfigDef:
    d = common_worker_def().define(
        "group.id",
        Type.STRING,
        importance=Importance.HIGH,
        documentation="The cluster this worker belongs to: the Kafka consumer group its workers join.",
        group=DISTRIBUTED,
    )
    d = _topic_keys(d, "config", "connector configs, task configs and target states (one partition)", None)
    d = _topic_keys(d, "offset", "source connector offsets", 25)
    d = _topic_keys(d, "status", "connector and task statuses", 5)
    for key, default, doc in (
        ("session.timeout.ms", 10000, "A worker that sends no heartbeat for this long leaves the group."),
        ("heartbeat.interval.ms", 3000, "How often a worker heartbeats to the group coordinator."),
        ("rebalance.timeout.ms", 60000, "How long a worker may take to hand over revoked work."),
        ("worker.sync.timeout.ms", 3000, "How long a worker waits to catch up on the config topic."),
        (
            "scheduled.rebalance.max.delay.ms",
            300000,
            "How long the connectors and tasks of a departed worker wait for it to come back before "
            "they move to the other workers; 0 = move them at once.",
        ),
    ):
        d = d.define(key, Type.INT, default, Range.at_least(0), Importance.MEDIUM, doc, group=DISTRIBUTED)
    d = d.define(
        "rest.advertised.listener",
        Type.STRING,
        None,
        None,
        Importance.LOW,
        "Scheme of the URL given to other workers (http or https); default: that of the first listener.",
        group=DISTRIBUTED,
    )
    return _restart_keys(d, 3)


class WorkerConfig(AbstractConfig):
    """A parsed worker configuration; the originals keep prefixed client and converter keys."""

    def __init__(self, props: Mapping[str, Any], definition: ConfigDef | None = None) -> None:
        super().__init__(definition or standalone_worker_def(), props)

    def client_props(self, prefix: str) -> dict[str, str]:
        """``producer.*`` / ``consumer.*`` / ``admin.*`` keys with the prefix removed."""
        return {k: str(v) for k, v in self.originals_with_prefix(prefix + ".").items()}
