"""Distributed mode's stores: the config, offsets and status topics, each a compacted topic
tailed from the beginning (:mod:`controlplane.stores.kafka_log`), in the record formats of
Apache Kafka Connect so that a cluster's state can be carried over.
"""

from __future__ import annotations

from controlplane.stores.config_store import ConfigEvent, ConfigSnapshot, KafkaConfigStore
from controlplane.stores.kafka_log import KafkaLog
from controlplane.stores.offset_store import KafkaOffsetStore
from controlplane.stores.status_store import KafkaStatusStore
from controlplane.stores.topics import TopicSpec, ensure_topics, internal_topic_specs

__all__ = [
    "ConfigEvent",
    "ConfigSnapshot",
    "KafkaConfigStore",
    "KafkaLog",
    "KafkaOffsetStore",
    "KafkaStatusStore",
    "TopicSpec",
    "ensure_topics",
    "internal_topic_specs",
]
