"""The internal-topic record formats of distributed mode (no broker): exact bytes both ways,
the config topic's reader rules, and the worker keys naming the topics."""

from __future__ import annotations

import pytest

from controlplane.stores import config_records as cr
from controlplane.stores import status_records as sr
from controlplane.stores.config_state import ConfigEvent, ConfigSnapshot, ConfigState
from controlplane.stores.offset_store import parse_offset_key
from controlplane.stores.pending import PendingWrites
from controlplane.stores.topics import TopicSpec, internal_topic_specs
from engine.spi.errors import ConfigError, DataError

# -- config records: writing ------------------------------------------------------------------------


def test_target_state_wire_format_including_stopped_as_paused() -> None:
    assert cr.target_state_record("c", "STARTED") == (
        b"target-state-c",
        b'{"state":"STARTED","state.v2":"STARTED"}',
    )
    assert cr.target_state_record("c", "PAUSED") == (
        b"target-state-c",
        b'{"state":"PAUSED","state.v2":"PAUSED"}',
    )
    assert cr.target_state_record("c", "STOPPED") == (
        b"target-state-c",
        b'{"state":"PAUSED","state.v2":"STOPPED"}',
    )
    assert cr.target_state_record("c", None) == (b"target-state-c", None)
    with pytest.raises(ConfigError, match="Unknown target state 'RUNNING'"):
        cr.target_state_record("c", "RUNNING")


def test_connector_task_commit_restart_and_assignment_bytes() -> None:
    assert cr.connector_record("file-src", {"connector.class": "FileStreamSource", "file": "/tmp/é"}) == (
        b"connector-file-src",
        '{"properties":{"connector.class":"FileStreamSource","file":"/tmp/é"}}'.encode(),
    )
    assert cr.connector_record("file-src", None) == (b"connector-file-src", None)
    assert cr.task_records("my-conn", [{"a": "1"}, {"a": "2"}]) == [
        (b"task-my-conn-0", b'{"properties":{"a":"1"}}'),
        (b"task-my-conn-1", b'{"properties":{"a":"2"}}'),
        (b"commit-my-conn", b'{"tasks":2}'),
    ]
    assert cr.task_records("c", []) == [(b"commit-c", b'{"tasks":0}')]
    assert cr.restart_record("c", True, False) == (
        b"restart-connector-c",
        b'{"include-tasks":true,"only-failed":false}',
    )
    assert cr.assignment_record({"generation": 3, "workers": {"w1": ["c"]}}) == (
        b"arrowsmith-assignment",
        b'{"generation":3,"workers":{"w1":["c"]}}',
    )


# -- config records: reading ------------------------------------------------------------------------


def test_parse_config_records_in_kafka_connect_format() -> None:
    assert cr.parse_config_record(
        b"connector-file-src",
        b'{"properties":{"connector.class":"FileStreamSource","file":"/tmp/x","topic":"t"}}',
    ) == cr.ConnectorRecord(
        "file-src", {"connector.class": "FileStreamSource", "file": "/tmp/x", "topic": "t"}
    )
    assert cr.parse_config_record(b"connector-file-src", None) == cr.ConnectorRecord("file-src", None)
    # V0 (only "state"), V1 ("state.v2" wins), tombstone
    assert cr.parse_config_record(b"target-state-c", b'{"state":"PAUSED"}') == cr.TargetStateRecord(
        "c", "PAUSED"
    )
    assert cr.parse_config_record(
        b"target-state-c", b'{"state":"PAUSED","state.v2":"STOPPED"}'
    ) == cr.TargetStateRecord("c", "STOPPED")
    assert cr.parse_config_record(b"target-state-c", None) == cr.TargetStateRecord("c", None)
    # the task number is after the last '-'
    assert cr.parse_config_record(b"task-my-conn-12", b'{"properties":{"k":"v"}}') == cr.TaskRecord(
        "my-conn", 12, {"k": "v"}
    )
    assert cr.parse_config_record(b"commit-my-conn", b'{"tasks":3}') == cr.CommitRecord("my-conn", 3)
    assert cr.parse_config_record(
        b"restart-connector-c", b'{"include-tasks":false,"only-failed":true}'
    ) == cr.RestartRecord("c", False, True)
    assert cr.parse_config_record(b"arrowsmith-assignment", b'{"a":[1]}') == cr.AssignmentRecord({"a": [1]})


def test_parse_config_ignores_keys_it_does_not_use() -> None:
    assert cr.parse_config_record(b"session-key", b'{"key":"abc","algorithm":"HmacSHA256"}') is None
    assert cr.parse_config_record(b"tasks-fencing-c", b'{"task-count":2}') is None
    assert cr.parse_config_record(b"logger-cluster-org.apache", b'{"level":"DEBUG"}') is None


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        (b"connector-c", b"{not json", "not JSON"),
        (b"connector-c", b"[1]", "expected a JSON object, found list"),
        (b"connector-c", b'{"properties":{"a":1}}', "'properties' should be a map of strings"),
        (b"target-state-c", b'{"state":"RUNNING"}', "invalid target state 'RUNNING'"),
        (b"target-state-c", b'{"state":1}', "invalid target state 1"),
        (b"task-c-x", b'{"properties":{}}', "invalid task number 'x'"),
        (b"task-c", b'{"properties":{}}', "'task-c' has no connector name and task number"),
        (b"task--0", b'{"properties":{}}', "has no connector name"),
        (b"task-c-0", None, "unexpectedly null"),
        (b"commit-c", b'{"tasks":"2"}', "'tasks' should be a non-negative integer, found '2'"),
        (b"commit-c", b'{"tasks":-1}', "'tasks' should be a non-negative integer, found -1"),
        (b"commit-c", None, "unexpectedly null"),
        (b"restart-connector-c", b'{"include-tasks":1,"only-failed":true}', "should be booleans"),
        (None, b"{}", "record without a key"),
        (b"\xff", b"{}", "key is not UTF-8"),
    ],
)
def test_malformed_config_records(key: bytes | None, value: bytes | None, problem: str) -> None:
    with pytest.raises(DataError, match=problem):
        cr.parse_config_record(key, value)


# -- config topic reader rules ----------------------------------------------------------------------


def _apply(state: ConfigState, key: bytes, value: bytes | None) -> ConfigEvent | None:
    record = cr.parse_config_record(key, value)
    assert record is not None
    return state.apply(record)


def test_task_configs_apply_only_at_their_commit() -> None:
    state = ConfigState()
    assert _apply(state, b"connector-c", b'{"properties":{"x":"1"}}') == ConfigEvent("connector", "c", {})
    assert _apply(state, b"task-c-0", b'{"properties":{"t":"0"}}') is None
    assert _apply(state, b"task-c-1", b'{"properties":{"t":"1"}}') is None
    assert state.snapshot().tasks == {}
    assert _apply(state, b"commit-c", b'{"tasks":2}') == ConfigEvent("tasks", "c", {})
    assert state.snapshot() == ConfigSnapshot(
        offset=-1,
        connectors={"c": {"x": "1"}},
        targets={"c": "STARTED"},
        tasks={"c": [{"t": "0"}, {"t": "1"}]},
        inconsistent=set(),
        assignment=None,
    )
    # a commit of 0 tasks (as on stop) empties the list
    _apply(state, b"commit-c", b'{"tasks":0}')
    assert state.snapshot().tasks == {"c": []}


def test_incomplete_commit_marks_the_connector_inconsistent_until_a_complete_one() -> None:
    state = ConfigState()
    _apply(state, b"connector-c", b'{"properties":{}}')
    for key, value in cr.task_records("c", [{"t": "old"}]):
        _apply(state, key, value)
    _apply(state, b"task-c-0", b'{"properties":{"t":"0"}}')
    _apply(state, b"task-c-2", b'{"properties":{"t":"2"}}')
    _apply(state, b"commit-c", b'{"tasks":3}')  # task 1 missing
    snap = state.snapshot()
    assert (snap.tasks, snap.inconsistent) == ({"c": []}, {"c"})
    # the buffer was cleared by the failed commit: a lone task-1 does not complete it
    _apply(state, b"task-c-1", b'{"properties":{"t":"1"}}')
    _apply(state, b"commit-c", b'{"tasks":3}')
    assert state.snapshot().inconsistent == {"c"}
    for key, value in cr.task_records("c", [{"t": "a"}, {"t": "b"}]):
        _apply(state, key, value)
    snap = state.snapshot()
    assert (snap.tasks, snap.inconsistent) == ({"c": [{"t": "a"}, {"t": "b"}]}, set())


def test_targets_default_to_started_and_deletion_drops_everything() -> None:
    state = ConfigState()
    # create as Kafka does: target state first, then the config
    assert _apply(state, b"target-state-c", b'{"state":"PAUSED","state.v2":"STOPPED"}') == ConfigEvent(
        "target", "c", {}
    )
    assert state.snapshot().targets == {}  # no connector yet
    _apply(state, b"connector-c", b'{"properties":{}}')
    _apply(state, b"connector-d", b'{"properties":{}}')
    assert state.snapshot().targets == {"c": "STOPPED", "d": "STARTED"}
    _apply(state, b"target-state-c", None)
    assert state.snapshot().targets == {"c": "STARTED", "d": "STARTED"}
    for key, value in cr.task_records("d", [{"t": "0"}]):
        _apply(state, key, value)
    assert _apply(state, b"connector-d", None) == ConfigEvent("deleted", "d", {})
    snap = state.snapshot()
    assert (snap.connectors, snap.targets, snap.tasks) == ({"c": {}}, {"c": "STARTED"}, {})


def test_tasks_committed_before_the_connector_record_are_kept() -> None:
    # After compaction a connector's latest config may follow its task records.
    state = ConfigState()
    for key, value in cr.task_records("c", [{"t": "0"}]):
        _apply(state, key, value)
    assert state.snapshot().tasks == {}  # not shown without a connector config
    _apply(state, b"connector-c", b'{"properties":{}}')
    assert state.snapshot().tasks == {"c": [{"t": "0"}]}


def test_restart_and_assignment_events() -> None:
    state = ConfigState()
    assert _apply(state, *cr.restart_record("c", True, False)) == ConfigEvent(
        "restart", "c", {"include_tasks": True, "only_failed": False}
    )
    doc = {"leader": "w1", "connectors": {"c": "w1"}}
    assert _apply(state, *cr.assignment_record(doc)) == ConfigEvent("assignment", "", doc)
    assert state.snapshot().assignment == doc
    assert state.snapshot().connectors == {}


def test_snapshot_copy_is_deep() -> None:
    snap = ConfigSnapshot(3, {"c": {"a": "1"}}, {"c": "STARTED"}, {"c": [{"t": "0"}]}, {"c"}, {"x": [1]})
    dup = snap.copy()
    assert dup == snap
    dup.connectors["c"]["a"] = "2"
    dup.tasks["c"][0]["t"] = "9"
    assert dup.assignment is not None
    dup.assignment["x"].append(2)
    dup.inconsistent.clear()
    assert snap == ConfigSnapshot(
        3, {"c": {"a": "1"}}, {"c": "STARTED"}, {"c": [{"t": "0"}]}, {"c"}, {"x": [1]}
    )


# -- offsets keys ---------------------------------------------------------------------------------------


def test_offset_keys_of_any_json_layout() -> None:
    assert parse_offset_key(b'["file-src",{"filename":"/tmp/test.txt"}]') == (
        "file-src",
        {"filename": "/tmp/test.txt"},
    )
    assert parse_offset_key(b'["jdbc", {"table": "t", "db": "d"}]') == ("jdbc", {"table": "t", "db": "d"})
    for bad in (b'{"a":1}', b'["c"]', b"[1,{}]", b'["c",[]]', b'["c",{},{}]', b"nope"):
        with pytest.raises(DataError):
            parse_offset_key(bad)
    with pytest.raises(DataError, match="record without a key"):
        parse_offset_key(None)


# -- status records ---------------------------------------------------------------------------------


def test_status_records() -> None:
    assert sr.connector_status_key("my-conn") == b"status-connector-my-conn"
    assert sr.task_status_key("my-conn", 3) == b"status-task-my-conn-3"
    assert sr.status_value("RUNNING", None, "host:8083", 7) == (
        b'{"state":"RUNNING","trace":null,"worker_id":"host:8083","generation":7}'
    )
    assert sr.parse_status_key(b"status-connector-my-conn") == sr.StatusKey("connector", "my-conn", None)
    assert sr.parse_status_key(b"status-task-my-conn-10") == sr.StatusKey("task", "my-conn", 10)
    assert sr.parse_status_key(b"status-topic-orders:connector-my-conn") is None
    for bad in (b"status-task-c-x", b"status-task-c", b"status-other-c", b"connector-c"):
        with pytest.raises(DataError):
            sr.parse_status_key(bad)
    assert sr.parse_status_value(b'{"state":"FAILED","trace":"boom","worker_id":"w:1","generation":2}') == {
        "state": "FAILED",
        "trace": "boom",
        "worker_id": "w:1",
        "generation": 2,
    }
    for bad in (
        b'{"state":"RUNNING","worker_id":"w"}',
        b'{"state":"RUNNING","worker_id":"w","generation":true}',
        b'{"state":1,"worker_id":"w","generation":1}',
        b'{"state":"RUNNING","trace":5,"worker_id":"w","generation":1}',
    ):
        with pytest.raises(DataError):
            sr.parse_status_value(bad)


def test_generation_rule() -> None:
    stored = {"state": "RUNNING", "trace": None, "worker_id": "w1", "generation": 5}
    assert sr.supersedes(None, stored)
    assert sr.supersedes(stored, {**stored, "state": "FAILED", "generation": 1})  # same worker
    assert sr.supersedes(stored, {**stored, "worker_id": "w2", "generation": 5})
    assert sr.supersedes(stored, {**stored, "worker_id": "w2", "generation": 6})
    assert not sr.supersedes(stored, {**stored, "worker_id": "w2", "generation": 4})


# -- pending own writes ---------------------------------------------------------------------------------


def test_pending_writes_keep_the_newest_own_value() -> None:
    pending = PendingWrites()
    assert pending.read_back("k", b"x")  # nothing pending: apply
    pending.add("k", b"1")
    pending.add("k", b"2")
    assert not pending.read_back("k", b"0")  # older foreign record: keep ours
    assert not pending.read_back("k", b"1")  # echo of our older write
    assert pending.read_back("k", b"2")  # echo of our last write
    assert pending.read_back("k", b"3")  # nothing pending any more
    pending.add("k", None)
    pending.clear()
    assert pending.read_back("k", b"4")


# -- internal topic specs -------------------------------------------------------------------------


def test_internal_topic_specs_defaults_and_prefixed_settings() -> None:
    props = {
        "config.storage.topic": "connect-configs",
        "offset.storage.topic": "connect-offsets",
        "status.storage.topic": "connect-status",
        "config.storage.partitions": "4",
        "config.storage.cleanup.policy": "delete",
        "offset.storage.min.insync.replicas": "2",
        "offset.storage.replication.factor": "-1",
        "status.storage.partitions": "2",
        "status.storage.segment.ms": "60000",
        "offset.flush.interval.ms": "1000",
    }
    assert internal_topic_specs(props) == [
        TopicSpec("config.storage.topic", "connect-configs", 1, 3, {}),
        TopicSpec("offset.storage.topic", "connect-offsets", 25, -1, {"min.insync.replicas": "2"}),
        TopicSpec("status.storage.topic", "connect-status", 2, 3, {"segment.ms": "60000"}),
    ]


@pytest.mark.parametrize(
    ("extra", "key", "message"),
    [
        ({"config.storage.topic": None}, "config.storage.topic",
         'Missing required configuration "config.storage.topic" which has no default value.'),
        ({"status.storage.topic": " "}, "status.storage.topic",
         "Invalid value   for configuration status.storage.topic: String must be non-empty"),
        ({"offset.storage.partitions": "x"}, "offset.storage.partitions",
         "Invalid value x for configuration offset.storage.partitions: Not a number of type INT"),
        ({"offset.storage.partitions": "0"}, "offset.storage.partitions",
         "Invalid value 0 for configuration offset.storage.partitions: Number of partitions must be "
         "positive, or -1 to use the broker's default"),
        ({"status.storage.replication.factor": "-2"}, "status.storage.replication.factor",
         "Invalid value -2 for configuration status.storage.replication.factor: Replication factor must be "
         "positive and not larger than the number of brokers in the Kafka cluster, or -1 to use the "
         "broker's default"),
    ],
)  # fmt: skip
def test_internal_topic_specs_errors(extra: dict[str, str | None], key: str, message: str) -> None:
    props: dict[str, str | None] = {
        "config.storage.topic": "c",
        "offset.storage.topic": "o",
        "status.storage.topic": "s",
        **extra,
    }
    with pytest.raises(ConfigError) as info:
        internal_topic_specs({k: v for k, v in props.items() if v is not None})
    assert (str(info.value), info.value.key) == (message, key)
