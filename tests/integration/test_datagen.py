"""Datagen through the real runtime into real Kafka: exact reproducibility across
connectors, exact iteration counts, and a stop/resume that continues the same stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer
from confluent_kafka import TopicPartition as KTP

from connectors.datagen.generator import RecordGenerator
from connectors.datagen.quickstarts import QUICKSTARTS
from tests.integration.rest_client import RestClient, rest_worker, unique, wait_until
from tests.integration.standalone_proc import Standalone

pytestmark = [pytest.mark.kafka, pytest.mark.processes]


@pytest.fixture(scope="module")
def worker(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str
) -> Iterator[tuple[Standalone, RestClient]]:
    gen = rest_worker(
        tmp_path_factory.mktemp("datagen"),
        kafka_bootstrap,
        **{
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "true",
        },
    )
    proc, client = next(gen)
    try:
        yield proc, client
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()


def read_topic(bootstrap: str, topic: str, n: int, timeout: float = 60) -> list[tuple[bytes, bytes]]:
    """Exactly the first ``n`` records (and a check that there are no more)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("reader"), "enable.auto.commit": False})
    c.assign([KTP(topic, 0, 0)])
    got: list[Any] = []
    try:
        wait_until(
            lambda: got.extend(m for m in c.consume(5000, 0.2) if m.error() is None) or len(got) >= n,
            timeout,
            f"{n} records in {topic}",
        )
        _, high = c.get_watermark_offsets(KTP(topic, 0), timeout=10)
    finally:
        c.close()
    assert high == n, f"{topic} holds {high} records, expected {n}"
    return [(m.key(), m.value()) for m in got]


def datagen(client: RestClient, name: str, topic: str, **extra: str) -> None:
    client.create(
        name,
        {
            "connector.class": "io.confluent.kafka.connect.datagen.DatagenConnector",
            "kafka.topic": topic,
            "tasks.max": "1",
            **extra,
        },
    )


def committed_iteration(client: RestClient, name: str) -> int | None:
    offsets = client.ok("GET", f"/connectors/{name}/offsets")["offsets"]
    return offsets[0]["offset"]["current.iteration"] if offsets else None


def test_same_seed_same_records_in_kafka(
    worker: tuple[Standalone, RestClient], kafka_bootstrap: str, new_topic
) -> None:  # type: ignore[no-untyped-def]
    _, client = worker
    topics = [new_topic(1) for _ in range(3)]
    names = [unique("dg") for _ in range(3)]
    n = 3000
    for name, topic, seed in zip(names, topics, ("42", "42", "43"), strict=True):
        datagen(
            client,
            name,
            topic,
            quickstart="users",
            iterations=str(n),
            **{"max.interval": "0", "random.seed": seed},
        )
    try:
        for name in names:
            wait_until(lambda name=name: committed_iteration(client, name) == n, 60, f"{name} done")
        a, b, c = (read_topic(kafka_bootstrap, t, n) for t in topics)
    finally:
        for name in names:
            client.delete_quietly(name)
    assert a == b
    assert [v for _, v in a] != [v for _, v in c]
    doc = json.loads(a[0][1])
    assert doc["schema"]["name"] == "ksql.users"
    assert [f["field"] for f in doc["schema"]["fields"]] == ["registertime", "userid", "regionid", "gender"]
    expected = RecordGenerator(*QUICKSTARTS["users"], seed=42).records(0, n)[1].to_pylist()
    assert [json.loads(v)["payload"] for _, v in a] == expected
    assert [k.decode() for k, _ in a] == [r["userid"] for r in expected]


def test_stop_and_resume_continue_the_stream(
    worker: tuple[Standalone, RestClient], kafka_bootstrap: str, new_topic
) -> None:  # type: ignore[no-untyped-def]
    _, client = worker
    topic, name, n = new_topic(1), unique("dg-restart"), 4000
    datagen(
        client,
        name,
        topic,
        quickstart="pageviews",
        iterations=str(n),
        **{"max.interval": "1", "random.seed": "7"},
    )
    try:
        wait_until(lambda: (committed_iteration(client, name) or 0) >= 500, 60, "some records")
        assert client.put(f"/connectors/{name}/stop").status == 204
        client.wait_states(name, "STOPPED", [])
        stopped_at = committed_iteration(client, name)
        assert stopped_at is not None and 500 <= stopped_at < n
        assert client.put(f"/connectors/{name}/resume").status == 202
        wait_until(lambda: committed_iteration(client, name) == n, 60, "the rest of the records")
        got = read_topic(kafka_bootstrap, topic, n)
    finally:
        client.delete_quietly(name)
    expected = RecordGenerator(*QUICKSTARTS["pageviews"], seed=7).records(0, n)[1].to_pylist()
    assert [json.loads(v)["payload"] for _, v in got] == expected  # no gap, no repeat, same stream
    assert [int(k) for k, _ in got] == list(range(1, 10 * n, 10))
