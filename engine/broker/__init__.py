"""A real single-node KRaft Apache Kafka broker, launched from jars fetched from Maven Central.

See ``docs/broker.md``. :class:`KafkaBroker` runs one in a child JVM;
:func:`bootstrap_from_env` names an existing cluster to use instead.
"""

from __future__ import annotations

from engine.broker.launcher import BrokerState, KafkaBroker, bootstrap_from_env
from engine.broker.maven import DEFAULT_KAFKA_VERSION, cache_dir, fetch_artifacts, fetch_kafka_broker

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "BrokerState",
    "KafkaBroker",
    "bootstrap_from_env",
    "cache_dir",
    "fetch_artifacts",
    "fetch_kafka_broker",
]
