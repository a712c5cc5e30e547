"""Distributed mode against the real broker: several worker processes in one cluster."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.cluster import Cluster, cluster, data_topic, seq_config, starts
from tests.integration.rest_client import wait_until
from tests.integration.standalone_proc import Standalone, write_props

pytestmark = [pytest.mark.kafka, pytest.mark.processes, pytest.mark.slow]


def topic_values(bootstrap: str, name: str, expect: int, timeout: float = 60.0) -> list[str]:
    """Every value in the data topic ``name``, once at least ``expect`` have been read (or the
    timeout passed)."""
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
        }
    )
    c.subscribe([data_topic(name)])
    out: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and len(out) < expect:
            for m in c.consume(1000, 0.5):
                if m.error() is None:
                    out.append(m.value().decode())
        end = time.monotonic() + 1.0  # and whatever follows shortly
        while time.monotonic() < end:
            out.extend(m.value().decode() for m in c.consume(1000, 0.2) if m.error() is None)
    finally:
        c.close()
    return out


def expected(tasks: int, records: int) -> set[str]:
    return {f"t{i}-{n}" for i in range(tasks) for n in range(records)}


@pytest.fixture
def three(tmp_path: Path, kafka_bootstrap: str) -> Iterator[Cluster]:
    with cluster(tmp_path, kafka_bootstrap, 3) as c:
        for i in range(3):
            c.start(i, wait=False)
        for i in range(3):
            c.wait_healthy(i)
        yield c


def test_connectors_are_created_through_any_worker_and_tasks_spread_evenly(
    three: Cluster, tmp_path: Path, kafka_bootstrap: str
) -> None:
    c = three
    cfg = seq_config(tmp_path, "spread", 6, 10)
    created = c.create(2, "seq", cfg)
    assert created["name"] == "seq" and created["type"] == "source"
    placed = c.wait_running_on("seq", 6, {c.worker_id(i) for i in range(3)})
    per_worker = sorted(list(placed.values()).count(c.worker_id(i)) for i in range(3))
    assert per_worker == [2, 2, 2]
    for client in c.clients:  # every worker answers from the same state
        assert wait_until(lambda cl=client: cl.names() == ["seq"], 10, "the connector everywhere")
        assert client.ok("GET", "/connectors/seq/config")["records"] == "10"
    assert c.clients[1].request("POST", "/connectors", {"name": "seq", "config": cfg}).error == (
        409,
        "Connector seq already exists",
    )
    # an update through another worker: the tasks restart with the new config
    r = c.write(0, "PUT", "/connectors/seq/config", {**cfg, "records": "20", "tasks.max": "6"})
    assert r.status == 200, r.body
    wait_until(
        lambda: (
            sorted(c.clients[1].ok("GET", "/connectors/seq/tasks")[i]["config"]["records"] for i in range(6))
            == ["20"] * 6
        ),
        30,
        "new task configs",
    )
    c.wait_running_on("seq", 6, {c.worker_id(i) for i in range(3)})
    # pause and resume on any worker
    assert c.clients[1].put("/connectors/seq/pause").status == 202
    wait_until(lambda: c.clients[2].states("seq") == ("PAUSED", ["PAUSED"] * 6), 30, "paused")
    assert c.clients[2].put("/connectors/seq/resume").status == 202
    wait_until(lambda: c.clients[0].states("seq") == ("RUNNING", ["RUNNING"] * 6), 30, "resumed")
    values = topic_values(kafka_bootstrap, "spread", 120)
    assert set(values) == expected(6, 20)
    # delete through a worker: gone everywhere
    assert c.write(1, "DELETE", "/connectors/seq").status == 204
    for client in c.clients:
        wait_until(lambda cl=client: cl.names() == [], 10, "the connector gone")
        assert client.get("/connectors/seq/status").status == 404


def test_a_killed_worker_s_tasks_move_after_the_delay_and_no_record_is_lost(
    three: Cluster, tmp_path: Path, kafka_bootstrap: str
) -> None:
    c = three
    records = 300
    c.create(0, "seq", seq_config(tmp_path, "failover", 6, records, **{"interval.s": "0.3"}))
    sink_file = tmp_path / "failover.sink.txt"
    c.create(
        0,
        "sink",
        {"connector.class": "FileStreamSink", "topics": data_topic("failover"), "file": str(sink_file)},
    )
    placed = c.wait_running_on("seq", 6, {c.worker_id(i) for i in range(3)})
    c.wait_running_on("sink", 1, {c.worker_id(i) for i in range(3)})
    leader = c.leader()
    victim = next(i for i in range(3) if i != leader)
    moved = {t for t, w in placed.items() if w == c.worker_id(victim)}
    assert len(moved) == 2
    time.sleep(1.0)  # let some records flow first
    c.kill(victim)
    killed_at = time.monotonic()
    survivors = {c.worker_id(i) for i in range(3) if i != victim}
    after = c.wait_running_on("seq", 6, survivors, timeout=90)
    took = time.monotonic() - killed_at
    # session.timeout.ms (6 s) to notice the departure, then scheduled.rebalance.max.delay.ms (3 s)
    assert took >= 3.0, took
    assert {t: w for t, w in after.items() if t not in moved} == {
        t: w for t, w in placed.items() if t not in moved
    }  # the others did not move
    c.wait_running_on("sink", 1, survivors)
    want = expected(6, records)
    lines = wait_until(
        lambda: (got := set(sink_file.read_text().split())) >= want and got,
        120,
        "every record in the sink file",
        0.5,
    )
    assert lines == want
    values = topic_values(kafka_bootstrap, "failover", len(want))
    assert set(values) == want
    per_task = {i: [int(v.split("-")[1]) for v in values if v.startswith(f"t{i}-")] for i in range(6)}
    for i, ns in per_task.items():
        firsts = list(dict.fromkeys(ns))
        assert firsts == list(range(records)), f"task {i} out of order"


def test_a_joining_worker_takes_only_what_balance_needs(tmp_path: Path, kafka_bootstrap: str) -> None:
    with cluster(tmp_path, kafka_bootstrap, 3) as c:
        c.start(0)
        c.start(1)
        c.create(0, "seq", seq_config(tmp_path, "join", 6, 100000, **{"interval.s": "0.5"}))
        before = c.wait_running_on("seq", 6, {c.worker_id(0), c.worker_id(1)})
        assert sorted(list(before.values()).count(c.worker_id(i)) for i in range(2)) == [3, 3]
        assert starts(tmp_path, "join") == dict.fromkeys(range(6), 1)
        c.start(2)
        after = c.wait_running_on("seq", 6, {c.worker_id(i) for i in range(3)}, balanced=True)
        assert sorted(list(after.values()).count(c.worker_id(i)) for i in range(3)) == [2, 2, 2]
        moved = {t for t in range(6) if after[t] != before[t]}
        assert len(moved) == 2
        assert {after[t] for t in moved} == {c.worker_id(2)}
        counts = starts(tmp_path, "join")
        assert counts == {t: 2 if t in moved else 1 for t in range(6)}


def test_a_new_leader_takes_over_and_config_writes_keep_working(
    three: Cluster, tmp_path: Path, kafka_bootstrap: str
) -> None:
    c = three
    leader = c.leader()
    c.kill(leader)
    others = [i for i in range(3) if i != leader]

    def created() -> bool:
        r = c.clients[others[0]].request(
            "POST", "/connectors", {"name": "after", "config": seq_config(tmp_path, "leader", 2, 5)}
        )
        return r.status == 201

    wait_until(created, 60, "a config write after the leader died", 0.5)
    new_leader = c.leader()
    assert new_leader in others
    c.wait_running_on("after", 2, {c.worker_id(i) for i in others})
    assert set(topic_values(kafka_bootstrap, "leader", 10)) == expected(2, 5)


def test_a_config_written_while_a_worker_is_down_is_applied_when_it_returns(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    with cluster(tmp_path, kafka_bootstrap, 2, **{"scheduled.rebalance.max.delay.ms": 0}) as c:
        c.start(0)
        c.start(1)
        cfg = seq_config(tmp_path, "down", 2, 5)
        c.create(1, "seq", cfg)
        c.wait_running_on("seq", 2, {c.worker_id(0), c.worker_id(1)})
        assert c.terminate(1) == 0
        assert c.write(0, "PUT", "/connectors/seq/config", {**cfg, "records": "7"}).status == 200
        c.create(0, "later", seq_config(tmp_path, "down2", 1, 3))
        c.start(1)
        assert c.clients[1].ok("GET", "/connectors/seq/config")["records"] == "7"
        assert c.clients[1].names() == ["later", "seq"]
        c.wait_running_on("seq", 2, {c.worker_id(0), c.worker_id(1)})
        assert set(topic_values(kafka_bootstrap, "down", 14)) == expected(2, 7)


def test_the_whole_cluster_restarted_resumes_from_stored_offsets(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    with cluster(tmp_path, kafka_bootstrap, 2) as c:
        c.start(0)
        c.start(1)
        c.create(0, "seq", seq_config(tmp_path, "restart", 2, 50, **{"interval.s": "0.01"}))
        c.wait_running_on("seq", 2, {c.worker_id(0), c.worker_id(1)})
        assert sorted(topic_values(kafka_bootstrap, "restart", 100)) == sorted(expected(2, 50))
        time.sleep(0.6)  # > offset.flush.interval.ms: the last offsets are written
        assert c.terminate(0) == 0 and c.terminate(1) == 0
        c.start(0)
        c.start(1)
        c.wait_running_on("seq", 2, {c.worker_id(0), c.worker_id(1)})
        # each task started again (a task may also move once while the workers rejoin)
        assert all(n >= 2 for n in starts(tmp_path, "restart").values())
        time.sleep(1.0)
        values = topic_values(kafka_bootstrap, "restart", 100)
        assert sorted(values) == sorted(expected(2, 50))  # nothing sent again


def test_source_offsets_written_by_apache_kafka_connect_are_picked_up(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    with cluster(tmp_path, kafka_bootstrap, 1) as c:
        offsets = c.topics["offset.storage.topic"]
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        admin.create_topics([NewTopic(offsets, 25, 1, config={"cleanup.policy": "compact"})])[
            offsets
        ].result()
        p = Producer({"bootstrap.servers": kafka_bootstrap, "partitioner": "murmur2_random"})
        # byte for byte what a Java worker writes (JsonConverter, schemas.enable=false)
        p.produce(offsets, key=b'["seq",{"task":0}]', value=b'{"n":90}')
        p.produce(offsets, key=b'["seq",{"task":1}]', value=b'{"n":95}')
        p.flush(10)
        c.start(0)
        c.create(0, "seq", seq_config(tmp_path, "apache", 2, 100))
        c.wait_running_on("seq", 2, {c.worker_id(0)})
        values = topic_values(kafka_bootstrap, "apache", 15)
        assert sorted(values) == sorted(
            {f"t0-{n}" for n in range(90, 100)} | {f"t1-{n}" for n in range(95, 100)}
        )
        got = c.clients[0].ok("GET", "/connectors/seq/offsets")
        assert sorted(got["offsets"], key=lambda o: o["partition"]["task"]) == [
            {"partition": {"task": 0}, "offset": {"n": 100}},
            {"partition": {"task": 1}, "offset": {"n": 100}},
        ]


def test_offsets_api_and_stop_through_a_follower(
    three: Cluster, tmp_path: Path, kafka_bootstrap: str
) -> None:
    c = three
    f = (c.leader() + 1) % 3
    follower = c.clients[f]
    c.create(f, "seq", seq_config(tmp_path, "offs", 1, 20, **{"interval.s": "0.01"}))
    c.wait_running_on("seq", 1, {c.worker_id(i) for i in range(3)})
    assert len(topic_values(kafka_bootstrap, "offs", 20)) == 20
    wait_until(
        lambda: (
            follower.ok("GET", "/connectors/seq/offsets")["offsets"]
            == [{"partition": {"task": 0}, "offset": {"n": 20}}]
        ),
        30,
        "offsets written",
    )
    alter = {"offsets": [{"partition": {"task": 0}, "offset": {"n": 15}}]}
    r = c.write(f, "PATCH", "/connectors/seq/offsets", alter)
    assert r.error == (
        400,
        "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for "
        "the specified connector by issuing a 'PUT' request to the '/connectors/seq/stop' endpoint",
    )
    assert c.write(f, "PUT", "/connectors/seq/stop").status == 204
    wait_until(lambda: follower.states("seq") == ("STOPPED", []), 30, "stopped")
    r = c.write(f, "PATCH", "/connectors/seq/offsets", alter)
    assert r.status == 200, r.body
    for client in c.clients:
        got = client.ok("GET", "/connectors/seq/offsets")
        assert got == {"offsets": [{"partition": {"task": 0}, "offset": {"n": 15}}]}
    assert c.write(f, "PUT", "/connectors/seq/resume").status == 202
    c.wait_running_on("seq", 1, {c.worker_id(i) for i in range(3)})
    values = topic_values(kafka_bootstrap, "offs", 25)
    assert sorted(values) == sorted([f"t0-{n}" for n in range(20)] + [f"t0-{n}" for n in range(15, 20)])


def test_forward_false_on_a_follower_is_a_conflict(
    three: Cluster, kafka_bootstrap: str, tmp_path: Path
) -> None:
    c = three
    f = (c.leader() + 1) % 3
    body = {"name": "x", "config": seq_config(tmp_path, "fwd", 1, 1)}
    conflict = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
    r = wait_until(
        lambda: (
            (r := c.clients[f].request("POST", "/connectors?forward=false", body)).error[1] == conflict and r
        ),
        30,
        "a settled cluster",
        0.2,
    )
    assert r.error == (409, conflict)
    r = c.write(f, "POST", "/connectors", body)
    assert r.status == 201, r.body
    assert r.headers["location"].endswith("/connectors/x")
    assert r.json()["name"] == "x"


def test_failed_tasks_are_restarted_automatically_up_to_the_limit(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    marker = tmp_path / "fail"
    marker.touch()
    with cluster(
        tmp_path,
        kafka_bootstrap,
        1,
        **{"task.restart.max.attempts": 2, "task.restart.backoff.initial.ms": 300},
    ) as c:
        c.start(0)
        client = c.clients[0]
        c.create(0, "seq", seq_config(tmp_path, "auto", 1, 5, **{"fail.file": str(marker)}))
        seen: set[str] = set()

        def failed_for_good() -> bool:
            r = client.request("GET", "/connectors/seq/tasks/0/status")
            if r.status == 404:  # not assigned yet
                return False
            assert r.status == 200, r.body
            task = r.json()
            seen.add(task["state"])
            if task["state"] == "RESTARTING":
                assert "arrowsmith restarts this task automatically: attempt" in task["trace"]
            return starts(tmp_path, "auto").get(0) == 3 and task["state"] == "FAILED"

        wait_until(failed_for_good, 60, "two automatic restarts, then FAILED")
        assert "RESTARTING" in seen
        metrics = client.get("/metrics").body.decode()
        assert 'arrowsmith_task_auto_restarts_total{connector="seq",task="0"} 2.0' in metrics
        time.sleep(1.0)
        assert starts(tmp_path, "auto") == {0: 3}  # no third automatic restart
        marker.unlink()
        assert client.post("/connectors/seq/tasks/0/restart").status == 204
        c.wait_running_on("seq", 1, {c.worker_id(0)})


def test_internal_topics_are_checked_at_start(tmp_path: Path, kafka_bootstrap: str) -> None:
    with cluster(tmp_path, kafka_bootstrap, 1) as c:
        cfg = c.topics["config.storage.topic"]
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        admin.create_topics([NewTopic(cfg, 2, 1, config={"cleanup.policy": "compact"})])[cfg].result()
        c.start(0, wait=False)
        proc = c.procs[0]
        assert proc.proc.wait(60) != 0
        assert (
            f"Topic '{cfg}' supplied via the 'config.storage.topic' property is required to have a single "
            "partition in order to guarantee consistency of connector configurations, but found 2 partitions."
        ) in proc.log()


def test_connect_distributed_reports_a_missing_group_id(tmp_path: Path, kafka_bootstrap: str) -> None:
    props = write_props(
        tmp_path / "w.properties",
        {
            "bootstrap.servers": kafka_bootstrap,
            "key.converter": "StringConverter",
            "value.converter": "StringConverter",
        },
    )
    proc = Standalone(tmp_path, props, mode="distributed")
    try:
        assert proc.proc.wait(60) != 0
        assert 'Missing required configuration "group.id" which has no default value.' in proc.log()
    finally:
        proc.stop()
