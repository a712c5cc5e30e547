"""Distributed mode's Kafka-topic stores against a real broker: the tailed log, the internal
topics, and the config, offset and status stores in Apache Kafka Connect's record format."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType

from controlplane.stores import (
    ConfigEvent,
    ConfigSnapshot,
    KafkaConfigStore,
    KafkaLog,
    KafkaOffsetStore,
    KafkaStatusStore,
    TopicSpec,
    ensure_topics,
)
from engine.spi.errors import ConfigError, ConnectError
from engine.testing.pytest_kafka import TopicFactory

pytestmark = pytest.mark.kafka

Raw = tuple[int, int, bytes | None, bytes | None]  # partition, offset, key, value
COMPACT = {"cleanup.policy": "compact"}


# -- helpers ------------------------------------------------------------------------------------------


def produce_raw(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    """Write records as another worker would (the Java client's default partitioner)."""
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "acks": "all"})
    for key, value in records:
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0


def read_raw(bootstrap: str, topic: str) -> list[Raw]:
    """Every record of the topic, sorted by (partition, offset), read by a plain consumer."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": "false"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        out: list[Raw] = []
        position: dict[int, int] = {}
        deadline = time.monotonic() + 30
        while any(position.get(p, 0) < end for p, end in ends.items()):
            assert time.monotonic() < deadline, f"read {out} of {ends}"
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            out.append((msg.partition(), msg.offset(), msg.key(), msg.value()))
            position[msg.partition()] = msg.offset() + 1
        return sorted(out)
    finally:
        consumer.close()


def murmur2(data: bytes) -> int:
    """Kafka's org.apache.kafka.common.utils.Utils.murmur2, as a signed 32-bit int."""
    length, m = len(data), 0x5BD1E995
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = (int.from_bytes(data[i : i + 4], "little") * m) & 0xFFFFFFFF
        k = ((k ^ (k >> 24)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail, rem = length & ~3, length % 4
    if rem == 3:
        h ^= data[tail + 2] << 16
    if rem >= 2:
        h ^= data[tail + 1] << 8
    if rem >= 1:
        h = ((h ^ data[tail]) * m) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h >= 1 << 31 else h


def java_partition(key: bytes, partitions: int) -> int:
    """The Java client's default partitioner for a keyed record: toPositive(murmur2(key)) % n."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Recorder:
    """Collects callback arguments (from the reader thread)."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._lock = threading.Lock()
        self._fail_first = fail_first

    def __call__(self, *args: Any) -> None:
        with self._lock:
            self.calls.append(args)
            if self._fail_first and len(self.calls) == 1:
                raise RuntimeError("handler bug")

    def take(self) -> list[tuple[Any, ...]]:
        with self._lock:
            calls, self.calls = self.calls, []
        return calls


@pytest.fixture
def props(kafka_bootstrap: str) -> dict[str, str]:
    return {"bootstrap.servers": kafka_bootstrap}


@pytest.fixture
def admin(kafka_bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": kafka_bootstrap})


@pytest.fixture
def topic_names(admin: AdminClient) -> Iterator[Callable[[], str]]:
    """Unique names for topics the code under test creates; deleted afterwards."""
    names: list[str] = []

    def make() -> str:
        names.append(f"stores-{uuid.uuid4().hex[:12]}")
        return names[-1]

    yield make
    existing = [n for n in names if n in admin.list_topics(timeout=10).topics]
    if existing:
        for future in admin.delete_topics(existing, operation_timeout=10).values():
            future.result(timeout=15)


def test_murmur2_matches_kafkas_test_vectors() -> None:
    # Values from Kafka's UtilsTest.testMurmur2.
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


# -- KafkaLog -----------------------------------------------------------------------------------------


def test_log_reads_what_was_there_then_tails_own_and_foreign_writes(
    kafka_bootstrap: str, new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(3, config=COMPACT)
    produce_raw(kafka_bootstrap, topic, [(f"k{i}".encode(), f"v{i}".encode()) for i in range(6)])
    seen = Recorder()
    log = KafkaLog(topic, props, seen, name="test-log")
    log.start(timeout_s=30)
    try:
        before = read_raw(kafka_bootstrap, topic)
        assert len(before) == 6
        assert sorted((p, o, k, v) for k, v, p, o in seen.take()) == before

        log.send(b"a", b"1")
        log.send(b"a", None)  # tombstone
        log.flush()
        log.read_to_end()
        pa = java_partition(b"a", 3)
        ends = {p: max((o + 1 for q, o, _, _ in before if q == p), default=0) for p in range(3)}
        assert seen.take() == [(b"a", b"1", pa, ends[pa]), (b"a", None, pa, ends[pa] + 1)]

        produce_raw(kafka_bootstrap, topic, [(b"other", b"writer")])
        log.read_to_end()  # no sleep: the broker's end offsets say what to wait for
        po = java_partition(b"other", 3)
        offset = ends[po] + (2 if po == pa else 0)
        assert seen.take() == [(b"other", b"writer", po, offset)]
        assert sorted((p, o, k, v) for p, o, k, v in read_raw(kafka_bootstrap, topic)) == sorted(
            [
                *before,
                (pa, ends[pa], b"a", b"1"),
                (pa, ends[pa] + 1, b"a", None),
                (po, offset, b"other", b"writer"),
            ]
        )
    finally:
        log.stop()


def test_log_handler_errors_do_not_stop_the_reader(
    kafka_bootstrap: str, new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(1, config=COMPACT)
    produce_raw(kafka_bootstrap, topic, [(b"x", b"1"), (b"y", b"2")])
    seen = Recorder(fail_first=True)
    log = KafkaLog(topic, props, seen, name="test-log")
    log.start()
    try:
        log.send(b"z", b"3")
        log.flush()
        log.read_to_end()
        assert seen.take() == [(b"x", b"1", 0, 0), (b"y", b"2", 0, 1), (b"z", b"3", 0, 2)]
    finally:
        log.stop()


def test_log_start_on_a_missing_topic_and_use_after_stop(kafka_bootstrap: str, props: dict[str, str]) -> None:
    missing = f"missing-{uuid.uuid4().hex[:12]}"
    log = KafkaLog(missing, props, Recorder(), name="test-log")
    with pytest.raises(ConnectError, match=f"Cannot read the partitions of topic {missing}"):
        log.start(timeout_s=1.5)
    log.stop()  # idempotent
    with pytest.raises(ConnectError, match=f"Cannot write to topic {missing}: its log is not running"):
        log.send(b"k", b"v")
    with pytest.raises(ConnectError, match=f"Cannot read topic {missing}: its log is not running"):
        log.read_to_end(1)


def test_log_stop_is_idempotent(new_topic: TopicFactory, props: dict[str, str]) -> None:
    topic = new_topic(1, config=COMPACT)
    log = KafkaLog(topic, props, Recorder(), name="test-log")
    log.start()
    log.stop()
    log.stop()
    with pytest.raises(ConnectError, match="its log is not running"):
        log.flush(1)


# -- internal topics ----------------------------------------------------------------------------------


def describe(admin: AdminClient, topic: str) -> tuple[int, dict[str, str]]:
    partitions = len(admin.list_topics(topic=topic, timeout=10).topics[topic].partitions)
    resource = ConfigResource(ResourceType.TOPIC, topic)
    entries = admin.describe_configs([resource])[resource].result(timeout=10)
    return partitions, {name: entry.value for name, entry in entries.items()}


def test_ensure_topics_creates_them_compacted_and_is_idempotent(
    props: dict[str, str], admin: AdminClient, topic_names: Callable[[], str]
) -> None:
    config, offsets, status = topic_names(), topic_names(), topic_names()
    specs = [
        TopicSpec("config.storage.topic", config, 1, 1, {}),
        TopicSpec(
            "offset.storage.topic", offsets, 25, 1, {"min.insync.replicas": "1", "segment.ms": "600000"}
        ),
        TopicSpec("status.storage.topic", status, 5, -1, {"cleanup.policy": "delete"}),
    ]
    ensure_topics(props, specs)
    for name, partitions, extra in [
        (config, 1, {}),
        (offsets, 25, {"min.insync.replicas": "1", "segment.ms": "600000"}),
        (status, 5, {}),
    ]:
        count, settings = describe(admin, name)
        assert count == partitions
        assert settings["cleanup.policy"] == "compact"
        assert {k: settings[k] for k in extra} == extra
    ensure_topics(props, specs)  # all exist now: checked, unchanged
    assert describe(admin, offsets)[0] == 25


def test_ensure_topics_when_another_worker_creates_them_concurrently(
    props: dict[str, str], admin: AdminClient, topic_names: Callable[[], str]
) -> None:
    specs = [TopicSpec("status.storage.topic", topic_names(), 3, 1, {})]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            ensure_topics(props, specs)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert describe(admin, specs[0].name)[0] == 3


@pytest.mark.parametrize("policy", ["delete", "compact,delete"])
def test_ensure_topics_rejects_a_topic_that_is_not_only_compacted(
    new_topic: TopicFactory, props: dict[str, str], policy: str
) -> None:
    topic = new_topic(2, config={"cleanup.policy": policy})
    with pytest.raises(ConfigError) as info:
        ensure_topics(props, [TopicSpec("offset.storage.topic", topic, 25, 1, {})])
    assert info.value.key == "offset.storage.topic"
    assert str(info.value) == (
        f"Topic '{topic}' supplied via the 'offset.storage.topic' property is required to have "
        "'cleanup.policy=compact' to guarantee consistency and durability of source connector offsets, "
        f"but found the topic currently has 'cleanup.policy={policy}'. Continuing would likely result in "
        "eventually losing source connector offsets and problems restarting this Connect cluster in the "
        "future. Change the 'offset.storage.topic' property in the Connect worker configurations to use a "
        "topic with 'cleanup.policy=compact'."
    )


def test_ensure_topics_rejects_a_config_topic_with_two_partitions(
    new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(2, config=COMPACT)
    with pytest.raises(ConfigError) as info:
        ensure_topics(props, [TopicSpec("config.storage.topic", topic, 1, 1, {})])
    assert info.value.key == "config.storage.topic"
    assert str(info.value) == (
        f"Topic '{topic}' supplied via the 'config.storage.topic' property is required to have a single "
        "partition in order to guarantee consistency of connector configurations, but found 2 partitions."
    )


def test_ensure_topics_reports_a_replication_factor_the_cluster_cannot_meet(
    props: dict[str, str], topic_names: Callable[[], str]
) -> None:
    name = topic_names()
    with pytest.raises(ConfigError, match=f"Unable to create topic '{name}'") as info:
        ensure_topics(props, [TopicSpec("status.storage.topic", name, 5, 3, {})])
    assert info.value.key == "status.storage.replication.factor"


# -- config store -------------------------------------------------------------------------------------


def config_store(props: dict[str, str], topic: str, events: Recorder | None = None) -> KafkaConfigStore:
    store = KafkaConfigStore(topic, props, on_event=events)
    store.start()
    return store


def test_config_store_connector_lifecycle_in_kafka_connects_format(
    kafka_bootstrap: str, new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(1, config=COMPACT)
    events = Recorder()
    store = config_store(props, topic, events)
    try:
        assert store.snapshot() == ConfigSnapshot()
        store.put_connector_config(
            "my-conn", {"connector.class": "FileStreamSource", "file": "/a"}, "STOPPED"
        )
        snap = store.snapshot()
        assert (snap.offset, snap.connectors, snap.targets) == (
            1,
            {"my-conn": {"connector.class": "FileStreamSource", "file": "/a"}},
            {"my-conn": "STOPPED"},
        )
        store.put_connector_config("my-conn", {"connector.class": "FileStreamSource", "file": "/b"})
        store.put_target_state("my-conn", "PAUSED")
        store.put_target_state("my-conn", "STARTED")
        snap = store.snapshot()
        assert (snap.offset, snap.connectors["my-conn"]["file"], snap.targets) == (
            4,
            "/b",
            {"my-conn": "STARTED"},
        )
        store.remove_connector("my-conn")
        assert store.snapshot() == ConfigSnapshot(offset=6)
        assert [e for (e,) in events.take()] == [
            ConfigEvent("target", "my-conn", {}),
            ConfigEvent("connector", "my-conn", {}),
            ConfigEvent("connector", "my-conn", {}),
            ConfigEvent("target", "my-conn", {}),
            ConfigEvent("target", "my-conn", {}),
            ConfigEvent("deleted", "my-conn", {}),
            ConfigEvent("target", "my-conn", {}),
        ]
    finally:
        store.stop()
    assert read_raw(kafka_bootstrap, topic) == [
        (0, 0, b"target-state-my-conn", b'{"state":"PAUSED","state.v2":"STOPPED"}'),
        (0, 1, b"connector-my-conn", b'{"properties":{"connector.class":"FileStreamSource","file":"/a"}}'),
        (0, 2, b"connector-my-conn", b'{"properties":{"connector.class":"FileStreamSource","file":"/b"}}'),
        (0, 3, b"target-state-my-conn", b'{"state":"PAUSED","state.v2":"PAUSED"}'),
        (0, 4, b"target-state-my-conn", b'{"state":"STARTED","state.v2":"STARTED"}'),
        (0, 5, b"connector-my-conn", None),
        (0, 6, b"target-state-my-conn", None),
    ]


def test_config_store_reads_records_written_by_kafka_connect(
    kafka_bootstrap: str, new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(1, config=COMPACT)
    produce_raw(
        kafka_bootstrap,
        topic,
        [
            (
                b"session-key",
                b'{"key":"c2VjcmV0","algorithm":"HmacSHA256","creation-timestamp":1700000000000}',
            ),
            (
                b"connector-file-src",
                b'{"properties":{"connector.class":"FileStreamSource","file":"/tmp/x","topic":"t"}}',
            ),
            (b"target-state-file-src", b'{"state":"PAUSED"}'),  # V0
            (
                b"task-file-src-0",
                b'{"properties":{"connector.class":"FileStreamSource","task.class":"T",'
                b'"file":"/tmp/x","topic":"t"}}',
            ),
            (b"commit-file-src", b'{"tasks":1}'),
            (b"connector-broken", b'{"properties":'),  # malformed: skipped
            (b"tasks-fencing-file-src", b'{"task-count":1}'),
            (b"connector-sink-1", b'{"properties":{"connector.class":"FileStreamSink","topics":"t"}}'),
            (b"target-state-sink-1", b'{"state":"PAUSED","state.v2":"STOPPED"}'),
        ],
    )  # fmt: skip
    store = config_store(props, topic)
    try:
        assert store.snapshot() == ConfigSnapshot(
            offset=8,
            connectors={
                "file-src": {"connector.class": "FileStreamSource", "file": "/tmp/x", "topic": "t"},
                "sink-1": {"connector.class": "FileStreamSink", "topics": "t"},
            },
            targets={"file-src": "PAUSED", "sink-1": "STOPPED"},
            tasks={
                "file-src": [
                    {"connector.class": "FileStreamSource", "task.class": "T", "file": "/tmp/x", "topic": "t"}
                ]
            },
            inconsistent=set(),
            assignment=None,
        )
    finally:
        store.stop()


def test_config_store_applies_task_configs_only_at_their_commit(
    kafka_bootstrap: str, new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(1, config=COMPACT)
    events = Recorder()
    store = config_store(props, topic, events)
    try:
        store.put_connector_config("c", {"k": "v"})
        produce_raw(
            kafka_bootstrap,
            topic,
            [(b"task-c-0", b'{"properties":{"t":"0"}}'), (b"task-c-1", b'{"properties":{"t":"1"}}')],
        )
        store.read_to_end()
        assert (store.snapshot().offset, store.snapshot().tasks) == (2, {})
        assert [e for (e,) in events.take()] == [ConfigEvent("connector", "c", {})]
        produce_raw(kafka_bootstrap, topic, [(b"commit-c", b'{"tasks":2}')])
        store.read_to_end()
        assert store.snapshot().tasks == {"c": [{"t": "0"}, {"t": "1"}]}
        assert [e for (e,) in events.take()] == [ConfigEvent("tasks", "c", {})]

        store.put_task_configs("c", [{"t": "new"}])
        assert store.snapshot().tasks == {"c": [{"t": "new"}]}
        assert [e for (e,) in events.take()] == [ConfigEvent("tasks", "c", {})]
    finally:
        store.stop()
    assert read_raw(kafka_bootstrap, topic)[-2:] == [
        (0, 4, b"task-c-0", b'{"properties":{"t":"new"}}'),
        (0, 5, b"commit-c", b'{"tasks":1}'),
    ]


def test_config_store_marks_a_connector_with_missing_task_configs_inconsistent(
    kafka_bootstrap: str, new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(1, config=COMPACT)
    produce_raw(
        kafka_bootstrap,
        topic,
        [
            (b"connector-c", b'{"properties":{}}'),
            (b"task-c-0", b'{"properties":{"t":"0"}}'),
            (b"commit-c", b'{"tasks":1}'),
            (b"task-c-0", b'{"properties":{"t":"0b"}}'),
            (b"commit-c", b'{"tasks":2}'),  # task-c-1 lost
        ],
    )
    store = config_store(props, topic)
    try:
        snap = store.snapshot()
        assert (snap.tasks, snap.inconsistent) == ({"c": []}, {"c"})
        store.put_task_configs("c", [{"t": "x"}, {"t": "y"}])
        snap = store.snapshot()
        assert (snap.tasks, snap.inconsistent) == ({"c": [{"t": "x"}, {"t": "y"}]}, set())
    finally:
        store.stop()


def test_config_store_restart_requests_assignment_and_a_second_worker(
    new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(1, config=COMPACT)
    events, other_events = Recorder(), Recorder()
    store = config_store(props, topic, events)
    other = None
    try:
        store.put_connector_config("a-b", {"x": "1"}, "PAUSED")
        store.put_task_configs("a-b", [{"t": "0"}, {"t": "1"}])
        store.put_restart_request("a-b", include_tasks=True, only_failed=False)
        doc = {
            "generation": 4,
            "leader": "w1",
            "assignments": {"w1": {"connectors": ["a-b"], "tasks": ["a-b-0"]}},
        }
        store.put_assignment(doc)
        assert [e for (e,) in events.take()] == [
            ConfigEvent("target", "a-b", {}),
            ConfigEvent("connector", "a-b", {}),
            ConfigEvent("tasks", "a-b", {}),
            ConfigEvent("restart", "a-b", {"include_tasks": True, "only_failed": False}),
            ConfigEvent("assignment", "", doc),
        ]
        expected = ConfigSnapshot(
            offset=6,
            connectors={"a-b": {"x": "1"}},
            targets={"a-b": "PAUSED"},
            tasks={"a-b": [{"t": "0"}, {"t": "1"}]},
            inconsistent=set(),
            assignment=doc,
        )
        assert store.snapshot() == expected

        # A second worker rebuilds the same state; replayed records raise no events.
        other = config_store(props, topic, other_events)
        assert other.snapshot() == expected
        assert other_events.take() == []
        # ... and each sees the other's writes.
        other.put_restart_request("a-b", include_tasks=False, only_failed=True)
        store.read_to_end()
        assert [e for (e,) in events.take()] == [
            ConfigEvent("restart", "a-b", {"include_tasks": False, "only_failed": True})
        ]
        assert store.snapshot() == other.snapshot() == ConfigSnapshot(**{**expected.__dict__, "offset": 7})
    finally:
        store.stop()
        if other is not None:
            other.stop()


# -- offset store -------------------------------------------------------------------------------------


def test_offset_store_round_trip_and_tombstones(
    kafka_bootstrap: str, new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(5, config=COMPACT)
    store = KafkaOffsetStore(topic, props)
    store.load()
    other = None
    try:
        store.put(
            "file-src", [({"filename": "/tmp/a"}, {"position": 1}), ({"filename": "/tmp/b"}, {"position": 2})]
        )
        store.put("other", [({"p": 0}, {"o": 9})])
        assert sorted(store.offsets("file-src"), key=str) == [
            ({"filename": "/tmp/a"}, {"position": 1}),
            ({"filename": "/tmp/b"}, {"position": 2}),
        ]
        store.save()
        store.put("file-src", [({"filename": "/tmp/a"}, None), ({"filename": "/tmp/b"}, {"position": 3})])
        assert store.offsets("file-src") == [({"filename": "/tmp/b"}, {"position": 3})]
        store.save()
        store.read_to_end()
        assert store.offsets("file-src") == [({"filename": "/tmp/b"}, {"position": 3})]

        other = KafkaOffsetStore(topic, props)
        other.load()
        assert other.offsets("file-src") == [({"filename": "/tmp/b"}, {"position": 3})]
        assert other.offsets("other") == [({"p": 0}, {"o": 9})]
        assert other.offsets("nothing") == []
    finally:
        store.stop()
        if other is not None:
            other.stop()
    key_a, key_b = b'["file-src",{"filename":"/tmp/a"}]', b'["file-src",{"filename":"/tmp/b"}]'
    records = [(k, v) for _, _, k, v in read_raw(kafka_bootstrap, topic) if k in (key_a, key_b)]
    assert sorted(records, key=repr) == sorted(
        [(key_a, b'{"position":1}'), (key_b, b'{"position":2}'), (key_a, None), (key_b, b'{"position":3}')],
        key=repr,
    )


def test_offset_store_reads_and_rewrites_keys_written_by_kafka_connect(
    kafka_bootstrap: str, new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(25, config=COMPACT)
    java_key = b'["jdbc-src", {"table":"orders","db":"shop"}]'  # a space, keys not sorted
    produce_raw(
        kafka_bootstrap,
        topic,
        [
            (b'["file-src",{"filename":"/tmp/test.txt"}]', b'{"position":1234}'),
            (java_key, b'{"ts":5,"id":10}'),
            (b'"not-an-array"', b'{"x":1}'),
            (b'["jdbc-src"]', b'{"x":1}'),
            (b'["jdbc-src",{"table":"broken"}]', b'"not-an-object"'),
        ],
    )
    store = KafkaOffsetStore(topic, props)
    store.load()
    try:
        assert store.offsets("file-src") == [({"filename": "/tmp/test.txt"}, {"position": 1234})]
        assert store.offsets("jdbc-src") == [({"table": "orders", "db": "shop"}, {"ts": 5, "id": 10})]
        store.put("jdbc-src", [({"db": "shop", "table": "orders"}, {"ts": 6, "id": 11})])
        store.save()
        store.put("jdbc-src", [({"table": "orders", "db": "shop"}, None)])
        store.save()
        store.read_to_end()
        assert store.offsets("jdbc-src") == []
    finally:
        store.stop()
    ours = [(p, k, v) for p, _, k, v in read_raw(kafka_bootstrap, topic) if k == java_key]
    # rewritten under the Java bytes: same partition, so compaction and the tombstone replace it
    partition = java_partition(java_key, 25)
    assert ours == [
        (partition, java_key, b'{"ts":5,"id":10}'),
        (partition, java_key, b'{"ts":6,"id":11}'),
        (partition, java_key, None),
    ]


def test_offset_store_keys_land_where_javas_partitioner_puts_them(
    kafka_bootstrap: str, new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(25, config=COMPACT)
    store = KafkaOffsetStore(topic, props)
    store.load()
    try:
        store.put("file-src", [({"filename": f"/var/log/app-{i}.log"}, {"position": i}) for i in range(40)])
        store.save()
    finally:
        store.stop()
    records = read_raw(kafka_bootstrap, topic)
    assert len(records) == 40
    placed = {k: p for p, _, k, _ in records}
    assert placed == {
        f'["file-src",{{"filename":"/var/log/app-{i}.log"}}]'.encode(): java_partition(
            f'["file-src",{{"filename":"/var/log/app-{i}.log"}}]'.encode(), 25
        )
        for i in range(40)
    }
    assert len(set(placed.values())) > 10  # spread over the partitions


# -- status store -------------------------------------------------------------------------------------


def status(state: str, worker: str, generation: int, trace: str | None = None) -> dict[str, Any]:
    return {"state": state, "trace": trace, "worker_id": worker, "generation": generation}


def test_status_store_put_read_delete_and_rebuild(
    kafka_bootstrap: str, new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(5, config=COMPACT)
    events = Recorder()
    store = KafkaStatusStore(topic, props, on_event=events)
    store.start()
    other = None
    try:
        store.put_connector("my-conn", "RUNNING", None, "w1:8083", 1)
        store.put_task("my-conn", 0, "RUNNING", None, "w1:8083", 1)
        store.put_task("my-conn", 10, "FAILED", "Traceback: boom", "w1:8083", 1)
        store.put_task("my", 1, "PAUSED", None, "w1:8083", 1)
        # shown at once
        assert store.connector("my-conn") == status("RUNNING", "w1:8083", 1)
        assert store.task("my-conn", 10) == status("FAILED", "w1:8083", 1, "Traceback: boom")
        assert store.tasks("my-conn") == {
            0: status("RUNNING", "w1:8083", 1),
            10: status("FAILED", "w1:8083", 1, "Traceback: boom"),
        }
        assert store.tasks("my") == {1: status("PAUSED", "w1:8083", 1)}
        assert (store.connector("my"), store.task("my-conn", 1)) == (None, None)
        store.flush()
        store.read_to_end()
        assert sorted(events.take(), key=repr) == sorted(
            [
                ("connector", "my-conn", None),
                ("task", "my-conn", 0),
                ("task", "my-conn", 10),
                ("task", "my", 1),
            ],
            key=repr,
        )

        other = KafkaStatusStore(topic, props)
        other.start()
        assert other.connector("my-conn") == status("RUNNING", "w1:8083", 1)
        assert other.tasks("my-conn") == store.tasks("my-conn")
        assert other.tasks("my") == {1: status("PAUSED", "w1:8083", 1)}

        store.delete_connector("my-conn", 11)
        assert (store.connector("my-conn"), store.tasks("my-conn")) == (None, {})
        store.flush()
        other.read_to_end()
        assert (other.connector("my-conn"), other.tasks("my-conn"), other.tasks("my")) == (
            None,
            {},
            {1: status("PAUSED", "w1:8083", 1)},
        )
    finally:
        store.stop()
        if other is not None:
            other.stop()
    records = {(k, v) for _, _, k, v in read_raw(kafka_bootstrap, topic)}
    assert (
        b"status-connector-my-conn",
        b'{"state":"RUNNING","trace":null,"worker_id":"w1:8083","generation":1}',
    ) in records
    assert (
        b"status-task-my-conn-10",
        b'{"state":"FAILED","trace":"Traceback: boom","worker_id":"w1:8083","generation":1}',
    ) in records
    tombstones = {k for k, v in records if v is None}
    assert tombstones == {b"status-connector-my-conn"} | {
        f"status-task-my-conn-{i}".encode() for i in range(11)
    }


def test_status_store_keeps_a_newer_generation_over_another_workers_stale_write(
    kafka_bootstrap: str, new_topic: TopicFactory, props: dict[str, str]
) -> None:
    topic = new_topic(1, config=COMPACT)
    events = Recorder()
    store = KafkaStatusStore(topic, props, on_event=events)
    store.start()

    def write(key: bytes, value: dict[str, Any] | None) -> None:
        produce_raw(kafka_bootstrap, topic, [(key, None if value is None else json.dumps(value).encode())])
        store.read_to_end()

    try:
        key = b"status-task-a-b-c-2"
        write(key, status("RUNNING", "w1", 5))
        assert (store.task("a-b-c", 2), events.take()) == (status("RUNNING", "w1", 5), [("task", "a-b-c", 2)])
        write(key, status("FAILED", "w2", 4))  # stale, other worker: ignored
        assert (store.task("a-b-c", 2), events.take()) == (status("RUNNING", "w1", 5), [])
        write(key, status("UNASSIGNED", "w2", 6))
        assert (store.task("a-b-c", 2), events.take()) == (
            status("UNASSIGNED", "w2", 6),
            [("task", "a-b-c", 2)],
        )
        write(key, status("PAUSED", "w2", 3))  # same worker: applied
        assert store.task("a-b-c", 2) == status("PAUSED", "w2", 3)
        write(key, status("RUNNING", "w1", 3))  # same generation, other worker: applied
        assert store.task("a-b-c", 2) == status("RUNNING", "w1", 3)
        write(
            b"status-topic-orders:connector-a-b-c",
            {"topic": {"name": "orders", "connector": "a-b-c", "task": 2, "discoverTimestamp": 1}},
        )
        write(b"status-task-a-b-c-x", status("RUNNING", "w9", 99))  # malformed key: ignored
        write(b"status-connector-a-b-c", {"state": "RUNNING"})  # malformed value: ignored
        assert (store.connector("a-b-c"), store.tasks("a-b-c")) == (None, {2: status("RUNNING", "w1", 3)})
        write(key, None)
        assert (store.tasks("a-b-c"), events.take()[-1]) == ({}, ("task", "a-b-c", 2))

        # Our own write with an older generation than another worker's is not produced.
        write(b"status-connector-a-b-c", status("RUNNING", "w2", 8))
        before = len(read_raw(kafka_bootstrap, topic))
        store.put_connector("a-b-c", "FAILED", "late", "w1", 7)
        store.flush()
        assert store.connector("a-b-c") == status("RUNNING", "w2", 8)
        assert len(read_raw(kafka_bootstrap, topic)) == before
    finally:
        store.stop()
