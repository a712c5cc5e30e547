"""Sink connector offsets (KIP-875): the committed offsets of the connector's consumer group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka import TopicPartition as KTopicPartition
from confluent_kafka.admin import AdminClient

from engine.spi.errors import BadRequestError, ConnectError

TIMEOUT_S = 30.0


def group_of(config: Mapping[str, str]) -> str:
    return config.get("consumer.override.group.id") or f"connect-{config['name']}"


def _admin(bootstrap: str, admin_props: Mapping[str, str]) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, **admin_props})


def read(bootstrap: str, admin_props: Mapping[str, str], group: str) -> list[dict[str, Any]]:
    admin = _admin(bootstrap, admin_props)
    fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    try:
        result = fut.result(timeout=TIMEOUT_S)
    except KafkaException as e:
        if "GROUP_ID_NOT_FOUND" in str(e):
            return []
        raise ConnectError(f"Failed to read the offsets of consumer group {group}: {e}") from e
    out = []
    for tp in sorted(result.topic_partitions or [], key=lambda t: (t.topic, t.partition)):
        if tp.offset >= 0:
            out.append(
                {
                    "partition": {"kafka_topic": tp.topic, "kafka_partition": tp.partition},
                    "offset": {"kafka_offset": tp.offset},
                }
            )
    return out


def _int(value: Any, what: str, upper: int) -> int:
    """A non-negative integer (JSON number or numeric string) below ``upper``."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        value = None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if not 0 <= number < upper:
        raise BadRequestError(
            f"Failed to parse the following Kafka {what} value in the provided offsets: '{value}'. "
            f"The value for the '{what}' key should be a valid non-negative integer below {upper}"
        )
    return number


def parse(entries: list[dict[str, Any]]) -> list[tuple[str, int, int | None]]:
    """Validate sink offsets of a PATCH body: (topic, partition, offset or None to reset)."""
    out = []
    for e in entries:
        partition, offset = e.get("partition"), e.get("offset")
        if (
            not isinstance(partition, dict)
            or "kafka_topic" not in partition
            or "kafka_partition" not in partition
        ):
            raise BadRequestError(
                "The partition for a sink connector offset must contain the keys "
                "'kafka_topic' and 'kafka_partition'. This is not the case for the following "
                f"partition: {partition}"
            )
        if offset is not None and (not isinstance(offset, dict) or "kafka_offset" not in offset):
            raise BadRequestError(
                "The offset for a sink connector should either be null or contain the key "
                f"'kafka_offset'. This is not the case for the offset: {offset}"
            )
        topic = partition["kafka_topic"]
        if not isinstance(topic, str) or not topic:
            raise BadRequestError(
                f"The 'kafka_topic' of a sink connector offset must be a topic name, not {topic!r}"
            )
        out.append(
            (
                topic,
                _int(partition["kafka_partition"], "kafka_partition", 1 << 31),
                None if offset is None else _int(offset["kafka_offset"], "kafka_offset", 1 << 63),
            )
        )
    return out


def alter(
    bootstrap: str, admin_props: Mapping[str, str], group: str, offsets: list[tuple[str, int, int | None]]
) -> None:
    admin = _admin(bootstrap, admin_props)
    to_set = [KTopicPartition(t, p, o) for t, p, o in offsets if o is not None]
    to_delete = [KTopicPartition(t, p) for t, p, o in offsets if o is None]
    try:
        if to_set:
            admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, to_set)])[group].result(
                timeout=TIMEOUT_S
            )
        if to_delete:
            # librdkafka has no per-partition delete: reset those to the earliest offset instead
            admin.alter_consumer_group_offsets(
                [
                    ConsumerGroupTopicPartitions(
                        group, [KTopicPartition(t.topic, t.partition, 0) for t in to_delete]
                    )
                ]
            )[group].result(timeout=TIMEOUT_S)
    except KafkaException as e:
        raise ConnectError(f"Failed to alter consumer group offsets for connector group {group}: {e}") from e


def reset(bootstrap: str, admin_props: Mapping[str, str], group: str) -> None:
    admin = _admin(bootstrap, admin_props)
    try:
        admin.delete_consumer_groups([group])[group].result(timeout=TIMEOUT_S)
    except KafkaException as e:
        if "GROUP_ID_NOT_FOUND" in str(e):
            return
        raise ConnectError(f"Failed to delete consumer group {group}: {e}") from e
