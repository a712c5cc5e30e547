"""A cluster of distributed workers (``python -m controlplane distributed``) for tests.

Each worker has its own REST port, fixed for the cluster's life so that a worker restarted
on the same port comes back as the same worker id. Workers share a group id and the
three internal topics, unique per cluster.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka.admin import AdminClient

from engine.broker.launcher import free_port
from tests.integration.rest_client import START_TIMEOUT_S, Response, RestClient, wait_until
from tests.integration.standalone_proc import Standalone, write_props


class Cluster:
    def __init__(self, work: Path, bootstrap: str, size: int, **extra: object) -> None:
        tag = uuid.uuid4().hex[:8]
        self.work = work
        self.group = f"connect-cluster-{tag}"
        self.topics = {
            "config.storage.topic": f"connect-configs-{tag}",
            "offset.storage.topic": f"connect-offsets-{tag}",
            "status.storage.topic": f"connect-status-{tag}",
        }
        self.common: dict[str, object] = {
            "bootstrap.servers": bootstrap,
            "group.id": self.group,
            **self.topics,
            "config.storage.replication.factor": 1,
            "offset.storage.replication.factor": 1,
            "status.storage.replication.factor": 1,
            "key.converter": "org.apache.kafka.connect.storage.StringConverter",
            "value.converter": "org.apache.kafka.connect.storage.StringConverter",
            "offset.flush.interval.ms": 200,
            "worker.processes": 1,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 1000,
            "scheduled.rebalance.max.delay.ms": 3000,
            **extra,
        }
        self.ports = [free_port() for _ in range(size)]
        self.procs: dict[int, Standalone] = {}
        self.clients = [RestClient(f"http://127.0.0.1:{p}") for p in self.ports]

    def worker_id(self, i: int) -> str:
        return f"127.0.0.1:{self.ports[i]}"

    def start(self, i: int, wait: bool = True) -> None:
        d = self.work / f"worker-{i}"
        d.mkdir(parents=True, exist_ok=True)
        props = write_props(
            d / "worker.properties", {**self.common, "listeners": f"http://127.0.0.1:{self.ports[i]}"}
        )
        self.procs[i] = Standalone(d, props, mode="distributed")
        if wait:
            self.wait_healthy(i)

    def wait_healthy(self, i: int) -> None:
        proc, client = self.procs[i], self.clients[i]

        def healthy() -> bool:
            try:
                return client.get("/health").status == 200
            except OSError:
                return False

        proc.wait_for(healthy, START_TIMEOUT_S, f"worker {i} to join the cluster")

    def kill(self, i: int) -> None:
        for child in self.procs[i].kill():
            try:
                child.kill()
            except Exception:
                pass

    def terminate(self, i: int) -> int:
        return self.procs[i].terminate()

    def live(self) -> list[int]:
        return [i for i, p in self.procs.items() if p.proc.poll() is None]

    def stop_all(self) -> None:
        for p in self.procs.values():
            p.stop()

    def logs(self) -> str:
        return "\n".join(f"--- worker {i}\n{p.log()[-4000:]}" for i, p in self.procs.items())

    def write(self, i: int, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Response:
        """A write through worker ``i``, retried while it answers 409 (a rebalance is under way),
        as Kafka Connect's clients do."""
        client = self.clients[i]
        deadline = time.monotonic() + timeout
        while True:
            r = client.request(method, path, body)
            if r.status != 409 or time.monotonic() > deadline or "already exists" in r.body.decode():
                return r
            time.sleep(0.2)

    def create(self, i: int, name: str, config: dict[str, Any]) -> Any:
        r = self.write(i, "POST", "/connectors", {"name": name, "config": config})
        assert r.status == 201, (r.status, r.body)
        return r.json()

    def leader(self, timeout: float = 60.0) -> int:
        """Index of the leader: the worker whose group member holds the config topic's partition."""
        admin = AdminClient({"bootstrap.servers": str(self.common["bootstrap.servers"])})

        def find() -> tuple[int] | None:  # a tuple: index 0 is a leader too
            desc = admin.describe_consumer_groups([self.group])[self.group].result()
            for m in desc.members:
                if any(p.partition == 0 for p in m.assignment.topic_partitions):
                    return (self.ports.index(int(m.client_id.rstrip("/").rsplit(":", 1)[1])),)
            return None

        return wait_until(find, timeout, "a leader", 0.1)[0]

    def task_workers(self, client: RestClient, name: str) -> dict[int, tuple[str, str]]:
        """Task id → (state, worker_id) as a worker's status shows it."""
        status = client.status(name)
        return {t["id"]: (t["state"], t["worker_id"]) for t in status["tasks"]}

    def wait_running_on(
        self, name: str, tasks: int, workers: set[str], timeout: float = 60.0, *, balanced: bool = False
    ) -> dict[int, str]:
        """Wait until every task of ``name`` is RUNNING on one of ``workers``; task id → worker id.

        ``balanced``: also wait until the tasks are spread evenly over all of ``workers``.
        """
        client = self.clients[self.live()[0]]

        def placed() -> dict[int, str] | None:
            try:
                seen = self.task_workers(client, name)
            except (AssertionError, OSError):
                return None
            if len(seen) != tasks or any(s != "RUNNING" or w not in workers for s, w in seen.values()):
                return None
            if balanced:
                counts = [sum(w == worker for _, w in seen.values()) for worker in workers]
                if max(counts) - min(counts) > 1:
                    return None
            return {i: w for i, (_, w) in seen.items()}

        try:
            return wait_until(placed, timeout, f"{tasks} tasks of {name} RUNNING on {sorted(workers)}", 0.1)
        except AssertionError as e:
            raise AssertionError(
                f"{e}\nlast status: {client.get(f'/connectors/{name}/status').body!r}\n{self.logs()}"
            ) from e


# Data topics get a suffix unique to this test run: a broker named by KAFKA_BOOTSTRAP_SERVERS
# outlives the run and still holds the records of earlier ones.
RUN_TAG = uuid.uuid4().hex[:8]


def data_topic(name: str) -> str:
    return f"{name}-{RUN_TAG}"


def seq_config(work: Path, topic: str, tasks: int, records: int, **extra: Any) -> dict[str, Any]:
    return {
        "connector.class": "engine.testing.seq_source.SeqSource",
        "tasks.max": tasks,
        "topic": data_topic(topic),
        "records": records,
        "starts.file": str(work / f"starts-{topic}.txt"),
        **extra,
    }


def starts(work: Path, topic: str) -> dict[int, int]:
    """Task index → how many times it started."""
    out: dict[int, int] = {}
    path = work / f"starts-{topic}.txt"
    for line in path.read_text().split() if path.exists() else []:
        out[int(line)] = out.get(int(line), 0) + 1
    return out


@contextmanager
def cluster(work: Path, bootstrap: str, size: int, **extra: object) -> Iterator[Cluster]:
    c = Cluster(work, bootstrap, size, **extra)
    try:
        yield c
    finally:
        c.stop_all()
