"""The internal topics of distributed mode: their specs from the worker config, and creating
or checking them at startup.

As in Kafka Connect, a missing topic is created compacted (``cleanup.policy=compact`` wins
over any prefixed setting), an existing one must be compacted and nothing else, and the
config topic must have exactly one partition.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewTopic

from engine.spi.errors import ConfigError, ConnectError

log = logging.getLogger(__name__)

CONFIG_TOPIC_KEY = "config.storage.topic"
OFFSET_TOPIC_KEY = "offset.storage.topic"
STATUS_TOPIC_KEY = "status.storage.topic"
BROKER_DEFAULT = -1

# worker key prefix → (topic key, default partitions (None: always 1), purpose in messages)
_STORES: tuple[tuple[str, int | None, str], ...] = (
    ("config.storage.", None, "connector configurations"),
    ("offset.storage.", 25, "source connector offsets"),
    ("status.storage.", 5, "connector and task statuses"),
)
_DEFAULT_REPLICATION_FACTOR = 3
# Worker keys under the prefixes that are not topic-level settings.
_NOT_TOPIC_SETTINGS = frozenset({"topic", "partitions", "replication.factor", "file.filename"})


@dataclass(frozen=True, slots=True)
class TopicSpec:
    key: str  # the worker key naming the topic, e.g. "config.storage.topic"
    name: str
    partitions: int  # -1: the broker's default
    replication_factor: int  # -1: the broker's default
    extra_config: Mapping[str, str] = field(default_factory=dict)


def internal_topic_specs(worker_props: Mapping[str, str]) -> list[TopicSpec]:
    """The config, offset and status topic specs named by a distributed worker config."""
    specs = []
    for prefix, default_partitions, _ in _STORES:
        topic_key = prefix + "topic"
        name = (worker_props.get(topic_key) or "").strip()
        if topic_key not in worker_props:
            raise ConfigError(
                f'Missing required configuration "{topic_key}" which has no default value.', topic_key
            )
        if not name:
            raise ConfigError(
                f"Invalid value {worker_props[topic_key]} for configuration {topic_key}: "
                "String must be non-empty",
                topic_key,
            )
        partitions = 1
        if default_partitions is not None:
            partitions = _count(
                worker_props, prefix + "partitions", default_partitions, "Number of partitions"
            )
        replication = _count(
            worker_props, prefix + "replication.factor", _DEFAULT_REPLICATION_FACTOR, "Replication factor"
        )
        specs.append(
            TopicSpec(topic_key, name, partitions, replication, _topic_settings(worker_props, prefix))
        )
    return specs


def _count(props: Mapping[str, str], key: str, default: int, what: str) -> int:
    raw = props.get(key)
    if raw is None or not str(raw).strip():
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        kind = "SHORT" if key.endswith("replication.factor") else "INT"
        raise ConfigError(
            f"Invalid value {raw} for configuration {key}: Not a number of type {kind}", key
        ) from None
    if value < 1 and value != BROKER_DEFAULT:
        extra = (
            " and not larger than the number of brokers in the Kafka cluster"
            if what.startswith("Repl")
            else ""
        )
        raise ConfigError(
            f"Invalid value {raw} for configuration {key}: {what} must be positive{extra}, "
            "or -1 to use the broker's default",
            key,
        )
    return value


def _topic_settings(props: Mapping[str, str], prefix: str) -> dict[str, str]:
    settings = {}
    for key, value in props.items():
        if not key.startswith(prefix):
            continue
        setting = key[len(prefix) :]
        if setting == "partitions" and prefix == "config.storage.":
            log.warning("Ignoring '%s=%s' setting, since config topic partitions is always 1", key, value)
        elif setting == "cleanup.policy":
            log.warning("Ignoring '%s=%s' setting, since compaction is always used", key, value)
        elif setting not in _NOT_TOPIC_SETTINGS:
            settings[setting] = str(value)
    return settings


def ensure_topics(
    admin_props: Mapping[str, str], specs: Sequence[TopicSpec], timeout_s: float = 30.0
) -> None:
    """Create the missing topics compacted; check that the existing ones are usable."""
    deadline = time.monotonic() + timeout_s
    # (a metadata request for one topic must not create it: librdkafka's producer default)
    admin = AdminClient({**admin_props, "allow.auto.create.topics": "false"})
    try:
        existing = set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as e:
        raise ConnectError(f"Cannot list the topics of the Kafka cluster: {e}") from e
    created = _create(admin, [s for s in specs if s.name not in existing], deadline)
    for spec in specs:
        partitions = _wait_ready(admin, spec.name, deadline)
        if spec.name not in created:
            _check_cleanup_policy(admin, spec, deadline)
            _check_partitions(spec, partitions)


def _create(admin: AdminClient, specs: Sequence[TopicSpec], deadline: float) -> set[str]:
    """Create ``specs``; return the names this call created (not those another worker did)."""
    if not specs:
        return set()
    new = [
        NewTopic(
            s.name,
            num_partitions=s.partitions,
            replication_factor=s.replication_factor,
            config={**s.extra_config, "cleanup.policy": "compact"},
        )
        for s in specs
    ]
    timeout = max(1.0, deadline - time.monotonic())
    futures = admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout)
    created = set()
    for spec in specs:
        try:
            futures[spec.name].result(timeout=max(1.0, deadline - time.monotonic()))
        except KafkaException as e:
            err: KafkaError = e.args[0]
            if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                log.info("Topic %s was created by another worker meanwhile", spec.name)
                continue
            raise _creation_error(spec, err) from e
        log.info(
            "Created topic %s (%s) with %d partitions, replication factor %d",
            spec.name,
            spec.key,
            spec.partitions,
            spec.replication_factor,
        )
        created.add(spec.name)
    return created


def _creation_error(spec: TopicSpec, err: KafkaError) -> ConnectError:
    prefix = spec.key.removesuffix("topic")
    message = f"Unable to create topic '{spec.name}' supplied via the '{spec.key}' property: {err.str()}"
    if err.code() == KafkaError.INVALID_REPLICATION_FACTOR:
        return ConfigError(message, prefix + "replication.factor")
    if err.code() == KafkaError.INVALID_PARTITIONS:
        return ConfigError(message, prefix + "partitions")
    if err.code() == KafkaError.INVALID_CONFIG:
        return ConfigError(message, spec.key)
    return ConnectError(message)


def _wait_ready(admin: AdminClient, topic: str, deadline: float) -> int:
    """Until every partition of ``topic`` has a leader; return the partition count."""
    while True:
        try:
            meta = admin.list_topics(topic=topic, timeout=max(1.0, deadline - time.monotonic())).topics.get(
                topic
            )
        except KafkaException as e:
            meta, problem = None, str(e)
        else:
            problem = str(meta.error) if meta is not None and meta.error is not None else "no partitions"
        if (
            meta is not None
            and meta.error is None
            and meta.partitions
            and all(p.leader >= 0 for p in meta.partitions.values())
        ):
            return len(meta.partitions)
        if time.monotonic() >= deadline:
            raise ConnectError(f"Topic {topic} is not ready: {problem}")
        time.sleep(0.1)


def _check_cleanup_policy(admin: AdminClient, spec: TopicSpec, deadline: float) -> None:
    resource = ConfigResource(ResourceType.TOPIC, spec.name)
    try:
        timeout = max(1.0, deadline - time.monotonic())
        entries = admin.describe_configs([resource], request_timeout=timeout)[resource].result(
            timeout=timeout
        )
        raw = entries["cleanup.policy"].value or ""
    except (KafkaException, KeyError) as e:
        log.info(
            "Unable to verify that the cleanup policy of topic %s is 'compact' (%s): the broker may be "
            "older or the principal may lack permission to describe topic configurations",
            spec.name,
            e,
        )
        return
    policies = {p.strip().lower() for p in raw.split(",") if p.strip()}
    if policies != {"compact"}:
        purpose = _purpose(spec.key)
        found = ",".join(sorted(policies))
        raise ConfigError(
            f"Topic '{spec.name}' supplied via the '{spec.key}' property is required to have "
            f"'cleanup.policy=compact' to guarantee consistency and durability of {purpose}, but found "
            f"the topic currently has 'cleanup.policy={found}'. Continuing would likely result in "
            f"eventually losing {purpose} and problems restarting this Connect cluster in the future. "
            f"Change the '{spec.key}' property in the Connect worker configurations to use a topic with "
            "'cleanup.policy=compact'.",
            spec.key,
        )


def _check_partitions(spec: TopicSpec, partitions: int) -> None:
    if spec.key == CONFIG_TOPIC_KEY and partitions != 1:
        raise ConfigError(
            f"Topic '{spec.name}' supplied via the '{CONFIG_TOPIC_KEY}' property is required to have a "
            "single partition in order to guarantee consistency of connector configurations, but found "
            f"{partitions} partitions.",
            CONFIG_TOPIC_KEY,
        )


def _purpose(key: str) -> str:
    for prefix, _, purpose in _STORES:
        if key == prefix + "topic":
            return purpose
    return "the data it holds"
