"""Cluster membership through Kafka's group coordinator.

Every distributed worker runs one Kafka consumer in the group named by ``group.id``,
subscribed to the config topic. The broker's group coordinator does the rest: heartbeats
(``heartbeat.interval.ms``), liveness (``session.timeout.ms``), and, on every join or
departure, a rebalance in which the config topic's single partition goes to exactly one
member. That member is the leader. The consumer never reads from the partition (it is
paused): the config topic is tailed by the config store.

Each member's client id carries its REST URL (``arrowsmith-worker <url>``), so that the
leader learns the members and their URLs from ``AdminClient.describe_consumer_groups``
(Kafka Connect puts the URL in its join metadata, which librdkafka does not let us set).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from engine.spi.errors import ConnectError

log = logging.getLogger(__name__)

CLIENT_ID_PREFIX = "arrowsmith-worker "
POLL_S = 0.1


def worker_id_of(url: str) -> str:
    """Kafka Connect's worker id: the advertised ``host:port``."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


class Membership:
    """Joins the group; ``on_change(leader, rebalancing)`` is called from the membership thread
    at the start (rebalancing=True) and at the end (rebalancing=False) of every rebalance."""

    def __init__(
        self,
        group_props: Mapping[str, str],
        config_topic: str,
        url: str,
        on_change: Callable[[bool, bool], None],
    ) -> None:
        self.url = url
        self.topic = config_topic
        self.group_id = group_props["group.id"]
        self._props = {
            **group_props,
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "auto.offset.reset": "latest",
        }
        self._admin_props = {
            k: v for k, v in group_props.items() if k.startswith(("bootstrap.", "security.", "ssl.", "sasl."))
        }
        self._on_change = on_change
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.leader = False
        self.rebalancing = True  # until the first assignment
        self.member_id = ""

    def start(self) -> None:
        consumer = Consumer({**self._props, "client.id": CLIENT_ID_PREFIX + self.url})
        consumer.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked)
        self._consumer = consumer
        self._thread = threading.Thread(target=self._run, name="arrowsmith-membership", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self._consumer is not None
        while not self._stopping.is_set():
            try:
                self._consumer.poll(POLL_S)
            except KafkaException as e:
                log.warning("Group membership poll failed: %s", e)
            except RuntimeError:
                return  # closed

    def _assigned(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        if partitions:
            consumer.pause(partitions)
        self.member_id = consumer.memberid() or ""
        self.leader = any(p.partition == 0 for p in partitions)
        self.rebalancing = False
        log.info("Joined group %s as %s%s", self.group_id, self.member_id, " (leader)" if self.leader else "")
        self._on_change(self.leader, False)

    def _revoked(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.rebalancing = True
        self.leader = False
        log.info("Group %s is rebalancing", self.group_id)
        self._on_change(False, True)

    def members(self, timeout_s: float = 10.0) -> dict[str, str]:
        """Worker id → REST URL of every member of the group now (blocking: call it in a thread)."""
        admin = AdminClient(dict(self._admin_props))
        try:
            desc = admin.describe_consumer_groups([self.group_id], request_timeout=timeout_s)[
                self.group_id
            ].result(timeout=timeout_s)
        except KafkaException as e:
            raise ConnectError(f"Could not describe worker group {self.group_id}: {e}") from e
        out: dict[str, str] = {}
        for m in desc.members:
            if m.client_id.startswith(CLIENT_ID_PREFIX):
                url = m.client_id[len(CLIENT_ID_PREFIX) :]
                out[worker_id_of(url)] = url
            else:
                log.warning(
                    "Ignoring member %s of group %s: not an arrowsmith worker", m.client_id, self.group_id
                )
        return out

    def stop(self) -> None:
        """Leave the group at once (the others rebalance without waiting for a session timeout)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._consumer is not None:
            try:
                self._consumer.close()
            except (KafkaException, RuntimeError) as e:
                log.warning("Leaving group %s: %s", self.group_id, e)
            self._consumer = None
