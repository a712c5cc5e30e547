"""The REST API contract, against a live ``connect-standalone`` process and the real broker.

One worker process serves the whole module; every test uses connectors of its own (unique
names), so the tests do not depend on each other's order. Requests go over plain
``http.client`` and the assertions are on exact statuses and bodies: Kafka Connect's texts where
Kafka defines them (docs/rest-api.md lists where we differ, and why).
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from engine import __version__
from engine.testing.pytest_kafka import TopicFactory
from tests.integration.rest_client import RestClient, enc, rest_worker, unique, wait_until
from tests.integration.standalone_proc import Standalone

pytestmark = [pytest.mark.kafka, pytest.mark.processes]

STATE_CHANGE_S = 1.0  # pause/resume show in the status within this
FLOW_S = 60.0  # records through the broker
SOURCE = "connectors.file.source.FileStreamSourceConnector"
SINK = "connectors.file.sink.FileStreamSinkConnector"
SOURCE_TASK = "connectors.file.source.FileStreamSourceTask"
SINK_TASK = "connectors.file.sink.FileStreamSinkTask"
# every built-in connector, as GET /connector-plugins lists them (sinks, then sources, by class)
BUILTIN_SINKS = ["connectors.duckdb.sink.DuckDBSinkConnector", SINK, "connectors.jdbc.sink.JdbcSinkConnector"]
BUILTIN_SOURCES = [
    "connectors.datagen.source.DatagenConnector",
    SOURCE,
    "connectors.jdbc.source.JdbcSourceConnector",
    "connectors.postgres_cdc.connector.PostgresConnector",
]
VALIDATE_HINT = (
    "\nYou can also find the above list of errors at the endpoint "
    "`/connector-plugins/{connectorType}/config/validate`"
)
ALTERED = "The offsets for this connector have been altered successfully"
RESET = "The offsets for this connector have been reset successfully"
NO_OFFSETS = "Partitions / offsets need to be provided for an alter offsets request"
SOURCE_GROUPS = [
    "Common",
    "Transforms",
    "Predicates",
    "Error Handling",
    "Topic Creation",
    "Exactly Once Support",
    "offsets.topic",
]
PLUGIN_TYPE_ORDER = ["sink", "source", "transformation", "predicate", "converter", "header_converter"]


def invalid(*errors: str) -> str:
    """Kafka's create/update message for a config with validation errors."""
    return (
        f"Connector configuration is invalid and contains the following {len(errors)} error(s):\n"
        + "\n".join(errors)
        + VALIDATE_HINT
    )


def must_stop(name: str) -> str:
    return (
        "Connectors must be in the STOPPED state before their offsets can be modified. This can be done "
        f"for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
    )


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Standalone, RestClient]]:
    yield from rest_worker(tmp_path_factory.mktemp("rest-worker"), kafka_bootstrap)


@pytest.fixture
def rest(worker: tuple[Standalone, RestClient]) -> RestClient:
    return worker[1]


@pytest.fixture
def worker_id(rest: RestClient) -> str:
    return f"{socket.gethostname()}:{rest.port}"


def source_config(tmp_path: Path, topic: str = "unused-topic", **extra: Any) -> dict[str, Any]:
    return {
        "connector.class": "FileStreamSource",
        "tasks.max": "1",
        "file": str(tmp_path / "in.txt"),
        "topic": topic,
        **extra,
    }


def sink_config(tmp_path: Path, topic: str, **extra: Any) -> dict[str, Any]:
    return {"connector.class": "FileStreamSink", "file": str(tmp_path / "out.txt"), "topics": topic, **extra}


def running(rest: RestClient, name: str, tasks: int = 1) -> None:
    rest.wait_states(name, "RUNNING", ["RUNNING"] * tasks)


# -- the worker ------------------------------------------------------------------------------------
def test_server_info(rest: RestClient, kafka_bootstrap: str) -> None:
    r = rest.get("/")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    cluster_id = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10).cluster_id
    assert r.json() == {"version": __version__, "commit": "0" * 16, "kafka_cluster_id": cluster_id}


def test_health(rest: RestClient) -> None:
    r = rest.get("/health")
    assert r.status == 200
    assert r.json() == {
        "status": "healthy",
        "message": "Worker has completed startup and is ready to handle requests.",
    }


# -- GET /connectors -------------------------------------------------------------------------------
def test_list_and_expand(rest: RestClient, tmp_path: Path, worker_id: str) -> None:
    a, b = unique("list-a"), unique("list-b")
    rest.create(a, source_config(tmp_path))
    rest.create(b, source_config(tmp_path), initial_state="STOPPED")
    running(rest, a)
    mine = {a, b}

    names = rest.names()
    assert names == sorted(names) and mine <= set(names)

    def expanded(query: str) -> dict[str, Any]:
        doc: dict[str, Any] = rest.ok("GET", f"/connectors?{query}")
        assert set(doc) == set(rest.names())
        return {k: v for k, v in doc.items() if k in mine}

    info = {n: rest.ok("GET", f"/connectors/{n}") for n in (a, b)}
    status = {
        a: {
            "name": a,
            "connector": {"state": "RUNNING", "worker_id": worker_id},
            "tasks": [{"id": 0, "state": "RUNNING", "worker_id": worker_id}],
            "type": "source",
        },
        b: {
            "name": b,
            "connector": {"state": "STOPPED", "worker_id": worker_id},
            "tasks": [],
            "type": "source",
        },
    }
    assert expanded("expand=status") == {n: {"status": status[n]} for n in mine}
    assert expanded("expand=info") == {n: {"info": info[n]} for n in mine}
    both = {n: {"status": status[n], "info": info[n]} for n in mine}
    assert expanded("expand=status&expand=info") == both
    assert expanded("expand=info&expand=status&expand=nonsense") == both
    assert expanded("expand=nonsense") == {a: {}, b: {}}


# -- POST /connectors ------------------------------------------------------------------------------
def test_create(rest: RestClient, tmp_path: Path) -> None:
    name = unique("create")
    config = source_config(tmp_path)
    r = rest.post("/connectors", {"name": name, "config": config})
    assert r.status == 201
    assert r.headers["location"] == f"{rest.base_url}/connectors/{name}"
    expected = {
        "name": name,
        "config": {**config, "name": name},
        "tasks": [{"connector": name, "task": 0}],
        "type": "source",
    }
    assert r.json() == expected
    assert rest.ok("GET", f"/connectors/{name}") == expected
    assert rest.ok("GET", f"/connectors/{name}/config") == {**config, "name": name}
    assert name in rest.names()


def test_create_duplicate_is_409(rest: RestClient, tmp_path: Path) -> None:
    name = unique("dup")
    rest.create(name, source_config(tmp_path))
    r = rest.post("/connectors", {"name": name, "config": source_config(tmp_path, topic="other")})
    assert r.status == 409
    assert r.error == (409, f"Connector {name} already exists")
    assert rest.ok("GET", f"/connectors/{name}/config")["topic"] == "unused-topic"


FILE_SOURCE = {"connector.class": "FileStreamSource", "topic": "t"}
BAD_CREATES: list[tuple[str, Any, str]] = [
    (
        "invalid config",
        {"name": "bad-1", "config": {"connector.class": "FileStreamSource"}},
        invalid('Missing required configuration "topic" which has no default value.'),
    ),
    (
        "two invalid values",
        {"name": "bad-2", "config": {**FILE_SOURCE, "tasks.max": "many", "batch.size": "0"}},
        invalid(  # as in Kafka, the validator also runs on the unparsable value, as null
            "Invalid value many for configuration tasks.max: Not a number of type INT",
            "Invalid value null for configuration tasks.max: Value must be non-null",
            "Invalid value 0 for configuration batch.size: Value must be at least 1",
        ),
    ),
    ("missing config", {"name": "bad-3"}, "The request body has no 'config' object"),
    (
        "unknown field",
        {"name": "bad-4", "config": FILE_SOURCE, "initial_offsets": []},
        "Unrecognized field(s) in the request body: initial_offsets",
    ),
    (
        "bad initial_state",
        {"name": "bad-5", "config": FILE_SOURCE, "initial_state": "SLEEPING"},
        "Invalid initial_state 'SLEEPING': one of RUNNING, PAUSED, STOPPED",
    ),
    (
        "null value",
        {"name": "bad-6", "config": {**FILE_SOURCE, "file": None}},
        invalid("Null value can not be supplied as the configuration value."),
    ),
    (
        "name mismatch",
        {"name": "bad-7", "config": {**FILE_SOURCE, "name": "other"}},
        "Connector name configuration (other) doesn't match connector name in the URL (bad-7)",
    ),
    ("slash in name", {"name": "bad/8", "config": FILE_SOURCE}, "Connector name 'bad/8' may not contain '/'"),
    (
        "empty name",
        {"name": "", "config": FILE_SOURCE},
        invalid("Invalid value  for configuration name: String may not be empty"),
    ),
    (
        "blank name",
        {"name": "  ", "config": FILE_SOURCE},
        invalid("Invalid value  for configuration name: String may not be empty"),
    ),
    (
        "no name",
        {"config": FILE_SOURCE},
        invalid("Invalid value  for configuration name: String may not be empty"),
    ),
    ("name not a string", {"name": 7, "config": FILE_SOURCE}, "The connector 'name' must be a string"),
    (
        "control character in name",
        {"name": "bad\u0007bell", "config": FILE_SOURCE},
        invalid(
            "Invalid value bad\u0007bell for configuration name: String may not contain control sequences "
            "but had the following ASCII chars: 7"
        ),
    ),
    (
        "config not an object",
        {"name": "bad-9", "config": ["connector.class"]},
        "The config must be a JSON object of string values",
    ),
    (
        "nested config value",
        {"name": "bad-10", "config": {**FILE_SOURCE, "topic": ["a"]}},
        "The value of config key 'topic' must be a string, number or boolean",
    ),
    (
        "no connector.class",
        {"name": "bad-11", "config": {"topic": "t"}},
        "Connector config {'topic': 't', 'name': 'bad-11'} contains no connector type",
    ),
    (
        "unknown connector.class",
        {"name": "bad-12", "config": {"connector.class": "NoSuchConnector"}},
        "Failed to find any class that implements Connector and which name matches NoSuchConnector, "
        f"available connectors are: {', '.join(sorted(BUILTIN_SINKS + BUILTIN_SOURCES))}",
    ),
    (
        "body not an object",
        ["bad-13"],
        "The request body must be a JSON object with 'name' and 'config'",
    ),
]


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in BAD_CREATES], ids=[c[0] for c in BAD_CREATES])
def test_rejected_create_leaves_nothing(rest: RestClient, body: Any, message: str) -> None:
    before = rest.names()
    r = rest.post("/connectors", body)
    assert r.status == 400
    assert r.error == (400, message)
    assert rest.names() == before
    if isinstance(body, dict) and isinstance(body.get("name"), str) and body["name"].strip():
        assert rest.get(f"/connectors/{enc(body['name'])}").status == 404


def test_initial_state_paused(rest: RestClient, tmp_path: Path) -> None:
    name = unique("init-paused")
    info = rest.create(name, source_config(tmp_path), initial_state="PAUSED")
    assert info["tasks"] == [{"connector": name, "task": 0}]
    rest.wait_states(name, "PAUSED", ["PAUSED"])
    time.sleep(0.5)  # and it stays so: nothing resumes it behind our back
    assert rest.states(name) == ("PAUSED", ["PAUSED"])


def test_initial_state_stopped_case_insensitive(rest: RestClient, tmp_path: Path, worker_id: str) -> None:
    name = unique("init-stopped")
    info = rest.create(name, source_config(tmp_path), initial_state="stopped")
    assert info["tasks"] == []
    assert rest.status(name) == {
        "name": name,
        "connector": {"state": "STOPPED", "worker_id": worker_id},
        "tasks": [],
        "type": "source",
    }
    assert rest.ok("GET", f"/connectors/{name}/tasks") == []


def test_numbers_and_booleans_become_strings(rest: RestClient, tmp_path: Path) -> None:
    name = unique("coerce")
    config = {**source_config(tmp_path), "tasks.max": 1, "batch.size": 100, "errors.log.enable": True}
    info = rest.create(name, config)
    expected = {
        **source_config(tmp_path),
        "tasks.max": "1",
        "batch.size": "100",
        "errors.log.enable": "true",
        "name": name,
    }
    assert info["config"] == expected
    assert rest.ok("GET", f"/connectors/{name}/config") == expected


def test_converter_override(rest: RestClient, tmp_path: Path) -> None:
    name = unique("converter")
    config = source_config(
        tmp_path,
        **{
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
        },
    )
    r = rest.put("/connector-plugins/FileStreamSource/config/validate", {**config, "name": name})
    assert r.json()["error_count"] == 0, r.body
    assert rest.create(name, config)["config"] == {**config, "name": name}


@pytest.mark.parametrize("prefix", ["with spaces", "ünïcödé 日本語", "dots.and-dashes_and~tilde"])
def test_names_are_url_encoded(rest: RestClient, tmp_path: Path, prefix: str) -> None:
    name = unique(prefix)
    r = rest.post("/connectors", {"name": name, "config": source_config(tmp_path)})
    assert r.status == 201, r.body
    assert r.headers["location"] == f"{rest.base_url}/connectors/{enc(name)}"
    assert r.json()["name"] == name
    assert name in rest.names()
    assert rest.ok("GET", f"/connectors/{enc(name)}/config")["name"] == name
    running(rest, name)
    assert rest.ok("GET", f"/connectors/{enc(name)}/tasks/0/status")["state"] == "RUNNING"
    assert rest.delete(f"/connectors/{enc(name)}").status == 204
    assert name not in rest.names()


def test_names_are_trimmed(rest: RestClient, tmp_path: Path) -> None:
    name = unique("trimmed")
    info = rest.create(f"  {name}\t", source_config(tmp_path))
    assert info["name"] == name
    assert info["config"]["name"] == name


# -- /connectors/{c}/config ------------------------------------------------------------------------
def test_put_config_creates_then_updates(rest: RestClient, tmp_path: Path) -> None:
    name = unique("put")
    first = source_config(tmp_path, **{"batch.size": "10"})
    r = rest.put(f"/connectors/{name}/config", first)
    assert r.status == 201
    assert r.headers["location"] == f"{rest.base_url}/connectors/{name}"
    assert r.json() == {
        "name": name,
        "config": {**first, "name": name},
        "tasks": [{"connector": name, "task": 0}],
        "type": "source",
    }
    second = source_config(tmp_path, topic="second")
    r = rest.put(f"/connectors/{name}/config", second)
    assert r.status == 200
    assert "location" not in r.headers
    assert r.json()["config"] == {**second, "name": name}  # batch.size is gone: PUT replaces
    assert rest.ok("GET", f"/connectors/{name}/config") == {**second, "name": name}
    running(rest, name)


def test_put_config_rejections_keep_the_old_config(rest: RestClient, tmp_path: Path) -> None:
    name = unique("put-bad")
    config = source_config(tmp_path)
    rest.ok("PUT", f"/connectors/{name}/config", config, 201)
    cases = [
        (
            {**config, "name": "someone-else"},
            f"Connector name configuration (someone-else) doesn't match connector name in the URL ({name})",
        ),
        (
            {**config, "topic": ""},
            invalid("Invalid value  for configuration topic: String must be non-empty"),
        ),
        ({**config, "file": None}, invalid("Null value can not be supplied as the configuration value.")),
        (["not", "a", "map"], "The config must be a JSON object of string values"),
    ]
    for body, message in cases:
        r = rest.put(f"/connectors/{name}/config", body)
        assert r.error == (400, message)
        assert rest.ok("GET", f"/connectors/{name}/config") == {**config, "name": name}


def test_put_config_with_bad_name_creates_nothing(rest: RestClient, tmp_path: Path) -> None:
    before = rest.names()
    name = unique("put-new")
    r = rest.put(f"/connectors/{name}/config", {**source_config(tmp_path), "name": "x"})
    assert r.error == (
        400,
        f"Connector name configuration (x) doesn't match connector name in the URL ({name})",
    )
    r = rest.put(f"/connectors/{name}/config", {"connector.class": "FileStreamSource"})
    assert r.error == (400, invalid('Missing required configuration "topic" which has no default value.'))
    assert rest.names() == before


def test_put_config_keeps_the_target_state(rest: RestClient, tmp_path: Path) -> None:
    name = unique("put-stopped")
    rest.create(name, source_config(tmp_path), initial_state="STOPPED")
    info = rest.ok("PUT", f"/connectors/{name}/config", source_config(tmp_path, topic="t2"))
    assert info["tasks"] == []
    assert rest.states(name) == ("STOPPED", [])


def test_patch_config(rest: RestClient, tmp_path: Path) -> None:
    name = unique("patch")
    rest.create(name, source_config(tmp_path, **{"batch.size": "10"}))
    r = rest.patch(f"/connectors/{name}/config", {"topic": "patched", "batch.size": None, "tasks.max": 1})
    assert r.status == 200
    expected = {**source_config(tmp_path, topic="patched"), "tasks.max": "1", "name": name}
    assert r.json() == {
        "name": name,
        "config": expected,
        "tasks": [{"connector": name, "task": 0}],
        "type": "source",
    }
    assert rest.ok("GET", f"/connectors/{name}/config") == expected
    # removing a key that is not there is fine; an invalid result is refused and changes nothing
    assert rest.ok("PATCH", f"/connectors/{name}/config", {"no.such.key": None})["config"] == expected
    r = rest.patch(f"/connectors/{name}/config", {"topic": None})
    assert r.error == (400, invalid('Missing required configuration "topic" which has no default value.'))
    r = rest.patch(f"/connectors/{name}/config", {"name": "renamed"})
    assert r.error == (
        400,
        f"Connector name configuration (renamed) doesn't match connector name in the URL ({name})",
    )
    assert rest.ok("GET", f"/connectors/{name}/config") == expected


def test_patch_config_of_unknown_connector(rest: RestClient) -> None:
    name = unique("patch-none")
    r = rest.patch(f"/connectors/{name}/config", FILE_SOURCE)
    assert r.error == (404, f"Connector {name} not found")
    assert name not in rest.names()


# -- 404s ------------------------------------------------------------------------------------------
UNKNOWN = "no-such-connector"
UNKNOWN_CASES: list[tuple[str, str, Any, str]] = [
    ("GET", "", None, f"Connector {UNKNOWN} not found"),
    ("DELETE", "", None, f"Connector {UNKNOWN} not found"),
    ("GET", "/config", None, f"Connector {UNKNOWN} not found"),
    ("GET", "/status", None, f"No status found for connector {UNKNOWN}"),
    ("GET", "/tasks", None, f"Connector {UNKNOWN} not found"),
    ("GET", "/tasks/0/status", None, f"No status found for task {UNKNOWN}-0"),
    ("POST", "/tasks/0/restart", None, f"Unknown connector: {UNKNOWN}"),
    ("POST", "/restart", None, f"Unknown connector: {UNKNOWN}"),
    ("POST", "/restart?includeTasks=true&onlyFailed=true", None, f"Unknown connector: {UNKNOWN}"),
    ("PUT", "/pause", None, f"Unknown connector {UNKNOWN}"),
    ("PUT", "/resume", None, f"Unknown connector {UNKNOWN}"),
    ("PUT", "/stop", None, f"Unknown connector {UNKNOWN}"),
    ("GET", "/offsets", None, f"Connector {UNKNOWN} not found"),
    ("DELETE", "/offsets", None, f"Connector {UNKNOWN} not found"),
    (
        "PATCH",
        "/offsets",
        {"offsets": [{"partition": {"filename": "f"}, "offset": None}]},
        f"Connector {UNKNOWN} not found",
    ),
]


@pytest.mark.parametrize(
    ("method", "suffix", "body", "message"), UNKNOWN_CASES, ids=[f"{c[0]} {c[1]}" for c in UNKNOWN_CASES]
)
def test_unknown_connector(rest: RestClient, method: str, suffix: str, body: Any, message: str) -> None:
    r = rest.request(method, f"/connectors/{UNKNOWN}{suffix}", body)
    assert r.status == 404
    assert r.error == (404, message)
    assert UNKNOWN not in rest.names()


def test_delete(rest: RestClient, tmp_path: Path) -> None:
    name = unique("delete")
    rest.create(name, source_config(tmp_path))
    running(rest, name)
    r = rest.delete(f"/connectors/{name}")
    assert (r.status, r.body) == (204, b"")
    assert name not in rest.names()
    assert rest.get(f"/connectors/{name}").error == (404, f"Connector {name} not found")
    assert rest.get(f"/connectors/{name}/status").error == (404, f"No status found for connector {name}")
    assert rest.delete(f"/connectors/{name}").error == (404, f"Connector {name} not found")


# -- tasks -----------------------------------------------------------------------------------------
def test_tasks_and_task_status(rest: RestClient, tmp_path: Path, worker_id: str) -> None:
    name = unique("tasks")
    config = source_config(tmp_path)
    rest.create(name, config)
    running(rest, name)
    assert rest.ok("GET", f"/connectors/{name}/tasks") == [
        {
            "id": {"connector": name, "task": 0},
            "config": {**config, "name": name, "task.class": SOURCE_TASK},
        }
    ]
    assert rest.ok("GET", f"/connectors/{name}/tasks/0/status") == {
        "id": 0,
        "state": "RUNNING",
        "worker_id": worker_id,
    }
    assert rest.get(f"/connectors/{name}/tasks/7/status").error == (
        404,
        f"No status found for task {name}-7",
    )
    for bad in ("x", "1.0", "1_0", "%20"):
        assert rest.get(f"/connectors/{name}/tasks/{bad}/status").error == (404, "HTTP 404 Not Found")


def test_sink_task_config_carries_topics(rest: RestClient, tmp_path: Path, new_topic: TopicFactory) -> None:
    name, topic = unique("sink-tasks"), new_topic()
    config = sink_config(tmp_path, topic, **{"tasks.max": "2"})
    info = rest.create(name, config)
    assert info["type"] == "sink"
    tasks = rest.ok("GET", f"/connectors/{name}/tasks")
    assert tasks == [
        {"id": {"connector": name, "task": i}, "config": {**config, "name": name, "task.class": SINK_TASK}}
        for i in range(2)
    ]


# -- restart ---------------------------------------------------------------------------------------
def test_restart(rest: RestClient, tmp_path: Path, worker_id: str) -> None:
    name = unique("restart")
    rest.create(name, source_config(tmp_path))
    running(rest, name)
    r = rest.post(f"/connectors/{name}/restart")
    assert (r.status, r.body) == (204, b"")
    running(rest, name)

    r = rest.post(f"/connectors/{name}/restart?includeTasks=true")
    assert r.status == 202
    assert r.json() == {
        "name": name,
        "connector": {"state": "RESTARTING", "worker_id": worker_id},
        "tasks": [{"id": 0, "state": "RESTARTING", "worker_id": worker_id}],
        "type": "source",
    }
    running(rest, name)

    healthy = rest.status(name)
    for query in (
        "onlyFailed=true",
        "includeTasks=true&onlyFailed=true",
        "includeTasks=TRUE&onlyFailed=True",
    ):
        r = rest.post(f"/connectors/{name}/restart?{query}")
        assert r.status == 202, query
        assert r.json() == healthy, query  # nothing failed, so nothing restarts
    # anything but "true" is false, as for a Java boolean
    r = rest.post(f"/connectors/{name}/restart?includeTasks=yes&onlyFailed=1")
    assert (r.status, r.body) == (204, b"")
    running(rest, name)


def test_restart_stopped_connector(rest: RestClient, tmp_path: Path) -> None:
    name = unique("restart-stopped")
    rest.create(name, source_config(tmp_path), initial_state="STOPPED")
    assert rest.post(f"/connectors/{name}/restart").status == 204
    assert rest.states(name) == ("STOPPED", [])


def test_task_restart(rest: RestClient, tmp_path: Path) -> None:
    name = unique("task-restart")
    rest.create(name, source_config(tmp_path))
    running(rest, name)
    r = rest.post(f"/connectors/{name}/tasks/0/restart")
    assert (r.status, r.body) == (204, b"")
    running(rest, name)
    assert rest.post(f"/connectors/{name}/tasks/3/restart").error == (404, f"Unknown task: {name}-3")
    assert rest.post(f"/connectors/{name}/tasks/zero/restart").error == (404, "HTTP 404 Not Found")


# -- pause / resume / stop -------------------------------------------------------------------------
def test_pause_and_resume(rest: RestClient, tmp_path: Path) -> None:
    name = unique("pause")
    rest.create(name, source_config(tmp_path))
    running(rest, name)
    for _ in range(2):  # idempotent
        r = rest.put(f"/connectors/{name}/pause")
        assert (r.status, r.body) == (202, b"")
        rest.wait_states(name, "PAUSED", ["PAUSED"], timeout=STATE_CHANGE_S)
    for _ in range(2):
        r = rest.put(f"/connectors/{name}/resume")
        assert (r.status, r.body) == (202, b"")
        rest.wait_states(name, "RUNNING", ["RUNNING"], timeout=STATE_CHANGE_S)


def test_stop_and_resume(rest: RestClient, tmp_path: Path, worker_id: str) -> None:
    name = unique("stop")
    rest.create(name, source_config(tmp_path))
    running(rest, name)
    r = rest.put(f"/connectors/{name}/stop")
    assert (r.status, r.body) == (204, b"")
    assert rest.status(name) == {
        "name": name,
        "connector": {"state": "STOPPED", "worker_id": worker_id},
        "tasks": [],
        "type": "source",
    }
    assert rest.ok("GET", f"/connectors/{name}/tasks") == []
    assert rest.ok("GET", f"/connectors/{name}")["tasks"] == []
    assert rest.get(f"/connectors/{name}/tasks/0/status").error == (404, f"No status found for task {name}-0")
    assert rest.put(f"/connectors/{name}/stop").status == 204  # idempotent
    assert rest.put(f"/connectors/{name}/resume").status == 202  # resume un-stops
    running(rest, name)
    assert rest.ok("GET", f"/connectors/{name}")["tasks"] == [{"connector": name, "task": 0}]


def test_pause_a_stopped_connector(rest: RestClient, tmp_path: Path) -> None:
    name = unique("stop-pause")
    rest.create(name, source_config(tmp_path), initial_state="STOPPED")
    assert rest.put(f"/connectors/{name}/pause").status == 202
    rest.wait_states(name, "PAUSED", ["PAUSED"])


# -- topics ----------------------------------------------------------------------------------------
def test_active_topics(rest: RestClient, tmp_path: Path, new_topic: TopicFactory) -> None:
    name, topic = unique("topics"), new_topic()
    (tmp_path / "in.txt").write_text("one\ntwo\n")
    rest.create(name, source_config(tmp_path, topic))
    expected = {name: {"topics": [topic]}}
    wait_until(lambda: rest.ok("GET", f"/connectors/{name}/topics") == expected, FLOW_S, "the active topic")
    r = rest.put(f"/connectors/{name}/topics/reset")
    assert (r.status, r.body) == (202, b"")
    assert rest.ok("GET", f"/connectors/{name}/topics") == {name: {"topics": []}}


def test_topics_of_unknown_connector_is_empty(rest: RestClient) -> None:
    assert rest.ok("GET", f"/connectors/{UNKNOWN}/topics") == {UNKNOWN: {"topics": []}}
    assert rest.ok("PUT", f"/connectors/{UNKNOWN}/topics/reset", status=202) is None


@pytest.mark.parametrize(
    ("settings", "get_message", "reset_message"),
    [
        ({"topic.tracking.enable": "false"}, "Topic tracking is disabled.", "Topic tracking is disabled."),
        ({"topic.tracking.allow.reset": "false"}, None, "Topic tracking reset is disabled."),
    ],
)
def test_topic_tracking_settings(
    kafka_bootstrap: str,
    tmp_path: Path,
    settings: dict[str, str],
    get_message: str | None,
    reset_message: str,
) -> None:
    for _, rest in rest_worker(tmp_path / "worker", kafka_bootstrap, **settings):
        name = unique("tracking")
        rest.create(name, source_config(tmp_path))
        r = rest.get(f"/connectors/{name}/topics")
        if get_message is None:
            assert r.json() == {name: {"topics": []}}
        else:
            assert r.error == (403, get_message)
        assert rest.put(f"/connectors/{name}/topics/reset").error == (403, reset_message)


# -- offsets ---------------------------------------------------------------------------------------
def test_source_offsets(rest: RestClient, tmp_path: Path, new_topic: TopicFactory) -> None:
    name, topic = unique("src-offsets"), new_topic()
    data = "alpha\nbeta\ngamma\n"
    (tmp_path / "in.txt").write_text(data)
    rest.create(name, source_config(tmp_path, topic))
    partition = {"filename": str(tmp_path / "in.txt")}
    at_end = {"offsets": [{"partition": partition, "offset": {"position": len(data)}}]}
    wait_until(lambda: rest.ok("GET", f"/connectors/{name}/offsets") == at_end, FLOW_S, "the source offset")

    altered = {"offsets": [{"partition": partition, "offset": {"position": 6}}]}
    assert rest.patch(f"/connectors/{name}/offsets", altered).error == (400, must_stop(name))
    assert rest.delete(f"/connectors/{name}/offsets").error == (400, must_stop(name))
    rest.ok("PUT", f"/connectors/{name}/pause", status=202)  # paused is not stopped
    assert rest.patch(f"/connectors/{name}/offsets", altered).error == (400, must_stop(name))
    empties: list[dict[str, Any]] = [{"offsets": []}, {}, {"offsets": None}]
    for empty in empties:
        assert rest.patch(f"/connectors/{name}/offsets", empty).error == (400, NO_OFFSETS)

    rest.ok("PUT", f"/connectors/{name}/stop", status=204)
    assert rest.ok("PATCH", f"/connectors/{name}/offsets", altered) == {"message": ALTERED}
    assert rest.ok("GET", f"/connectors/{name}/offsets") == altered
    assert rest.ok("DELETE", f"/connectors/{name}/offsets") == {"message": RESET}
    assert rest.ok("GET", f"/connectors/{name}/offsets") == {"offsets": []}
    assert rest.patch(f"/connectors/{name}/offsets", {"offsets": []}).error == (400, NO_OFFSETS)


def _produce(bootstrap: str, topic: str, values: list[str]) -> None:
    p = Producer({"bootstrap.servers": bootstrap})
    for v in values:
        p.produce(topic, v.encode(), partition=0)
    assert p.flush(30) == 0


def test_sink_offsets(
    rest: RestClient, tmp_path: Path, new_topic: TopicFactory, kafka_bootstrap: str
) -> None:
    name, topic = unique("sink-offsets"), new_topic()
    _produce(kafka_bootstrap, topic, [f"r{i}" for i in range(5)])
    rest.create(name, sink_config(tmp_path, topic))

    def offsets(at: int) -> dict[str, Any]:
        partition = {"kafka_topic": topic, "kafka_partition": 0}
        return {"offsets": [{"partition": partition, "offset": {"kafka_offset": at}}]}

    wait_until(lambda: rest.ok("GET", f"/connectors/{name}/offsets") == offsets(5), FLOW_S, "the commit")
    assert (tmp_path / "out.txt").read_text() == "".join(f"r{i}\n" for i in range(5))

    assert rest.patch(f"/connectors/{name}/offsets", offsets(2)).error == (400, must_stop(name))
    assert rest.delete(f"/connectors/{name}/offsets").error == (400, must_stop(name))
    rest.ok("PUT", f"/connectors/{name}/stop", status=204)
    assert rest.ok("PATCH", f"/connectors/{name}/offsets", offsets(2)) == {"message": ALTERED}
    assert rest.ok("GET", f"/connectors/{name}/offsets") == offsets(2)
    bad = {"offsets": [{"partition": {"kafka_topic": topic}, "offset": {"kafka_offset": 1}}]}
    assert rest.patch(f"/connectors/{name}/offsets", bad).error == (
        400,
        "The partition for a sink connector offset must contain the keys 'kafka_topic' and "
        f"'kafka_partition'. This is not the case for the following partition: {{'kafka_topic': '{topic}'}}",
    )
    assert rest.ok("DELETE", f"/connectors/{name}/offsets") == {"message": RESET}
    assert rest.ok("GET", f"/connectors/{name}/offsets") == {"offsets": []}


# -- /connector-plugins ----------------------------------------------------------------------------
def test_connector_plugins(rest: RestClient) -> None:
    connectors = [{"class": c, "type": "sink", "version": __version__} for c in BUILTIN_SINKS] + [
        {"class": c, "type": "source", "version": __version__} for c in BUILTIN_SOURCES
    ]
    assert rest.ok("GET", "/connector-plugins") == connectors
    assert rest.ok("GET", "/connector-plugins?connectorsOnly=true") == connectors
    assert rest.ok("GET", "/connector-plugins?connectorsOnly=TRUE") == connectors

    for query in ("connectorsOnly=false", "connectorsOnly=FALSE", "connectorsOnly=yes"):  # Java booleans
        every: list[dict[str, str]] = rest.ok("GET", f"/connector-plugins?{query}")
        assert every[: len(connectors)] == connectors
        kinds = [p["type"] for p in every]
        assert kinds == sorted(kinds, key=PLUGIN_TYPE_ORDER.index)  # sinks, sources, …, header converters
        for kind in set(kinds):
            classes = [p["class"] for p in every if p["type"] == kind]
            assert classes == sorted(classes)
        assert {"class": "engine.converters.json_converter.JsonConverter", "type": "converter"}.items() <= (
            next(
                p for p in every if p["type"] == "converter" and p["class"].endswith("JsonConverter")
            ).items()
        )
        assert {p["class"] for p in every if p["type"] == "converter"} >= {
            "engine.converters.bytearray_converter.ByteArrayConverter",
            "engine.converters.json_converter.JsonConverter",
            "engine.converters.string_converter.StringConverter",
        }
        assert any(p["type"] == "header_converter" for p in every)


def test_plugin_config(rest: RestClient) -> None:
    by_short = rest.ok("GET", "/connector-plugins/FileStreamSource/config")
    topic = {
        "name": "topic",
        "type": "STRING",
        "required": True,
        "default_value": None,
        "importance": "HIGH",
        "documentation": "The topic to publish data to",
        "group": None,
        "width": "NONE",
        "display_name": "topic",
        "dependents": [],
        "order": -1,
    }
    names = [k["name"] for k in by_short]
    assert names[:3] == ["file", "topic", "batch.size"]  # the plugin's own keys, then the framework's
    assert by_short[1] == topic
    assert {"name", "connector.class", "tasks.max", "transforms", "offsets.storage.topic"} <= set(names[3:])
    assert len(names) == len(set(names))
    for alias in (
        "org.apache.kafka.connect.file.FileStreamSourceConnector",
        SOURCE,
        "FileStreamSourceConnector",
    ):
        assert rest.ok("GET", f"/connector-plugins/{alias}/config") == by_short, alias

    sink = [k["name"] for k in rest.ok("GET", "/connector-plugins/FileStreamSink/config")]
    assert sink[0] == "file" and {"topics", "topics.regex", "errors.deadletterqueue.topic.name"} <= set(sink)

    converter = rest.ok("GET", "/connector-plugins/StringConverter/config")
    assert [k["name"] for k in converter] == ["converter.type", "converter.encoding"]  # own keys only

    assert rest.get("/connector-plugins/NoSuchPlugin/config").error == (404, "Unknown plugin NoSuchPlugin.")


def test_validate(rest: RestClient) -> None:
    body = {"connector.class": "FileStreamSource", "name": "v", "topic": ""}
    r = rest.put("/connector-plugins/FileStreamSource/config/validate", body)
    assert r.status == 200
    doc = r.json()
    assert set(doc) == {"name", "error_count", "groups", "configs"}
    assert (doc["name"], doc["error_count"], doc["groups"]) == ("FileStreamSource", 1, SOURCE_GROUPS)
    by_name = {c["definition"]["name"]: c for c in doc["configs"] if c["definition"] is not None}
    assert by_name["topic"]["value"] == {
        "name": "topic",
        "value": "",
        "recommended_values": [],
        "errors": ["Invalid value  for configuration topic: String must be non-empty"],
        "visible": True,
    }
    assert by_name["name"] == {
        "definition": {
            "name": "name",
            "type": "STRING",
            "required": True,
            "default_value": None,
            "importance": "HIGH",
            "documentation": "Globally unique name to use for this connector.",
            "group": "Common",
            "width": "MEDIUM",
            "display_name": "Connector name",
            "dependents": [],
            "order": 1,
        },
        "value": {"name": "name", "value": "v", "recommended_values": [], "errors": [], "visible": True},
    }
    errors = [e for c in doc["configs"] if c["value"] for e in c["value"]["errors"]]
    assert errors == ["Invalid value  for configuration topic: String must be non-empty"]

    ok = rest.ok(
        "PUT",
        "/connector-plugins/org.apache.kafka.connect.file.FileStreamSourceConnector/config/validate",
        {"connector.class": "FileStreamSource", "name": "v", "topic": "t", "batch.size": 5},
    )
    assert (ok["name"], ok["error_count"]) == ("FileStreamSource", 0)

    r = rest.put(
        "/connector-plugins/FileStreamSink/config/validate",
        {"connector.class": "FileStreamSource", "topic": "t"},
    )
    assert r.error == (
        400,
        "Included connector type FileStreamSource does not match request type FileStreamSink",
    )
    r = rest.put("/connector-plugins/Nope/config/validate", {"connector.class": "FileStreamSource"})
    assert r.error == (400, "Included connector type FileStreamSource does not match request type Nope")
    r = rest.put("/connector-plugins/FileStreamSource/config/validate", {"topic": "t"})
    assert r.error == (400, "Connector config {'topic': 't'} contains no connector type")


# -- /admin/loggers --------------------------------------------------------------------------------
def test_loggers(rest: RestClient) -> None:
    everything = rest.ok("GET", "/admin/loggers")
    assert list(everything) == sorted(everything)
    assert everything["root"] == {"level": "INFO", "last_modified": None}
    assert rest.ok("GET", "/admin/loggers/root") == {"level": "INFO", "last_modified": None}
    assert rest.ok("GET", "/admin/loggers/controlplane.herder")["level"] == "INFO"
    assert rest.get("/admin/loggers/no.such.logger").error == (404, "Logger no.such.logger not found.")

    ns = unique("test.loggers").replace("-", "_")
    before = int(time.time() * 1000)
    assert rest.ok("PUT", f"/admin/loggers/{ns}.child", {"level": "DEBUG"}) == [f"{ns}.child"]
    assert rest.ok("PUT", f"/admin/loggers/{ns}", {"level": "warn"}) == [ns, f"{ns}.child"]
    after = int(time.time() * 1000)
    child = rest.ok("GET", f"/admin/loggers/{ns}.child")
    assert child["level"] == "WARN"
    assert before <= child["last_modified"] <= after
    listed = rest.ok("GET", "/admin/loggers")
    assert listed[ns] == rest.ok("GET", f"/admin/loggers/{ns}")
    assert listed[f"{ns}.child"] == child

    for body in ({}, {"level": None}, {"lvl": "INFO"}):
        r = rest.put(f"/admin/loggers/{ns}", body)
        assert r.error == (400, "Desired 'level' parameter was not specified in request.")
    r = rest.put(f"/admin/loggers/{ns}", {"level": "x"})
    assert r.error == (404, "invalid log level 'x'.")
    assert rest.ok("GET", f"/admin/loggers/{ns}")["level"] == "WARN"


# -- preview (arrowsmith) -----------------------------------------------------------------------
def test_preview_parameters(rest: RestClient, tmp_path: Path) -> None:
    name = unique("preview")
    rest.create(name, source_config(tmp_path), initial_state="STOPPED")
    cases = [
        ("timeout_ms=4486455386", "timeout_ms must be between 1 and 90000, not 4486455386"),
        ("timeout_ms=0", "timeout_ms must be between 1 and 90000, not 0"),
        ("records=0", "records must be between 1 and 10000, not 0"),
    ]
    for query, message in cases:
        assert rest.post(f"/connectors/{name}/preview?{query}").error == (400, message), query
    r = rest.post(f"/connectors/{name}/preview?records=x")
    assert r.status == 400
    assert r.error[1].startswith("records and timeout_ms must be integers: ")
    assert rest.post(f"/connectors/{UNKNOWN}/preview").error == (404, f"Connector {UNKNOWN} not found")


# -- malformed requests ----------------------------------------------------------------------------
BODY_ENDPOINTS = [
    ("POST", "/connectors"),
    ("PUT", "/connectors/malformed/config"),
    ("PATCH", "/connectors/malformed/config"),
    ("PATCH", "/connectors/malformed/offsets"),
    ("PUT", "/connector-plugins/FileStreamSource/config/validate"),
    ("PUT", "/admin/loggers/malformed"),
]
ONE_MIB = 1 << 20


@pytest.mark.parametrize(("method", "path"), BODY_ENDPOINTS, ids=[f"{m} {p}" for m, p in BODY_ENDPOINTS])
def test_malformed_bodies(rest: RestClient, method: str, path: str) -> None:
    before = rest.names()
    r = rest.request(method, path, body=b'{"name": ')
    assert r.error == (400, "Request body is not valid JSON: Expecting value: line 1 column 10 (char 9)")
    r = rest.request(method, path, body=b'{"a": "\xff"}')
    assert r.error == (
        400,
        "Request body is not valid JSON: "
        "'utf-8' codec can't decode byte 0xff in position 7: invalid start byte",
    )
    r = rest.request(method, path, body=b"{}", content_type="text/plain")
    assert r.error == (415, "Unsupported content type 'text/plain': send application/json")
    r = rest.request(method, path, body=b"{}", content_type=None)
    assert r.error == (415, "Unsupported content type 'none': send application/json")
    huge = b'{"x": "' + b"a" * ONE_MIB + b'"}'
    r = rest.request(method, path, body=huge)
    assert r.error == (
        413,
        f"Request body of {len(huge)} bytes is larger than the limit of {ONE_MIB} bytes",
    )
    r = rest.request(method, path, body=iter([huge[:ONE_MIB], huge[ONE_MIB:]]), chunked=True)
    assert r.error == (413, f"Request body is larger than the limit of {ONE_MIB} bytes")
    assert rest.names() == before
    assert rest.get("/connectors/malformed").status == 404


def test_json_content_type_with_charset(rest: RestClient, tmp_path: Path) -> None:
    name = unique("charset")
    body = f'{{"name": "{name}", "config": {{"connector.class": "FileStreamSource", "topic": "t"}}}}'
    r = rest.request(
        "POST", "/connectors", body=body.encode(), content_type="application/json; charset=UTF-8"
    )
    assert r.status == 201


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/connectors"),
        ("PUT", "/connectors"),
        ("POST", "/connectors/x/config"),
        ("GET", "/connectors/x/pause"),
        ("POST", "/connectors/x/stop"),
        ("GET", "/connectors/x/restart"),
        ("PUT", "/connectors/x/offsets"),
        ("POST", "/connector-plugins"),
        ("GET", "/connector-plugins/FileStreamSource/config/validate"),
        ("DELETE", "/admin/loggers/root"),
        ("POST", "/"),
    ],
)
def test_wrong_method_is_405(rest: RestClient, method: str, path: str) -> None:
    assert rest.request(method, path).error == (405, "HTTP 405 Method Not Allowed")


@pytest.mark.parametrize(
    "path",
    [
        "/nope",
        "/connectors/x/nope",
        "/connectors/x/tasks/0",
        "/connectors/a%2Fb",
        "/connector-plugins/x",
        "/admin",
    ],
)
def test_unknown_path_is_404(rest: RestClient, path: str) -> None:
    assert rest.get(path).error == (404, "HTTP 404 Not Found")


def test_concurrent_lifecycle_requests(rest: RestClient, tmp_path: Path) -> None:
    """Requests that race on one connector each get a 2xx/4xx answer and leave it consistent."""
    name = unique("race")
    config = source_config(tmp_path)
    ops: list[tuple[str, str, Any]] = [
        ("PUT", f"/connectors/{name}/config", config),
        ("POST", "/connectors", {"name": name, "config": config}),
        ("DELETE", f"/connectors/{name}", None),
        ("PUT", f"/connectors/{name}/pause", None),
        ("PUT", f"/connectors/{name}/resume", None),
        ("PUT", f"/connectors/{name}/stop", None),
        ("POST", f"/connectors/{name}/restart", None),
        ("POST", f"/connectors/{name}/restart?includeTasks=true", None),
        ("POST", f"/connectors/{name}/tasks/0/restart", None),
        ("PATCH", f"/connectors/{name}/config", {"batch.size": "7"}),
        ("DELETE", f"/connectors/{name}/offsets", None),
    ]
    rounds = [ops[i:] + ops[:i] for i in range(len(ops))]  # every pair of operations meets
    with ThreadPoolExecutor(len(ops)) as pool:
        for batch in rounds:
            statuses = list(pool.map(lambda op: rest.request(*op).status, batch))
            assert all(s < 500 for s in statuses), list(zip(batch, statuses, strict=True))
    rest.ok("PUT", f"/connectors/{name}/config", config, status=200 if name in rest.names() else 201)
    rest.ok("PUT", f"/connectors/{name}/resume", status=202)
    running(rest, name)
    assert rest.ok("GET", f"/connectors/{name}")["tasks"] == [{"connector": name, "task": 0}]
    assert rest.delete(f"/connectors/{name}").status == 204
    assert name not in rest.names()


# -- the data path ---------------------------------------------------------------------------------
def test_connectors_created_over_rest_move_records(
    rest: RestClient, tmp_path: Path, new_topic: TopicFactory
) -> None:
    topic = new_topic()
    lines = [f"line {i} ünïcödé {'x' * (i % 7)}" for i in range(500)]
    data = "".join(f"{line}\n" for line in lines)
    (tmp_path / "in.txt").write_text(data)
    src, sink = unique("flow-src"), unique("flow-sink")
    rest.create(sink, sink_config(tmp_path, topic))
    rest.create(src, source_config(tmp_path, topic))
    out = tmp_path / "out.txt"
    wait_until(lambda: out.exists() and out.read_text().count("\n") >= len(lines), FLOW_S, "the sink file")
    assert out.read_text() == data
    running(rest, src)
    running(rest, sink)
    assert rest.ok("GET", f"/connectors/{src}/topics") == {src: {"topics": [topic]}}
    wait_until(
        lambda: rest.ok("GET", f"/connectors/{sink}/topics") == {sink: {"topics": [topic]}}, FLOW_S, "x"
    )
    position = len(data.encode())
    at_end = {
        "offsets": [{"partition": {"filename": str(tmp_path / "in.txt")}, "offset": {"position": position}}]
    }
    wait_until(lambda: rest.ok("GET", f"/connectors/{src}/offsets") == at_end, FLOW_S, "the source offset")
    for name in (src, sink):
        assert rest.delete(f"/connectors/{name}").status == 204


def test_log_has_no_unexpected_errors(worker: tuple[Standalone, RestClient]) -> None:
    """Client errors are answered, not logged as server errors."""
    log = worker[0].log()
    assert "Exception in ASGI application" not in log
    assert not re.search(r"Uncaught exception in REST call", log)


def test_passwords_are_hidden_and_kept(rest: RestClient, tmp_path: Path) -> None:
    """PASSWORD-typed keys (and client secrets) read as [hidden] in every config the API
    returns; a config sent back as read keeps the stored secrets."""
    name = unique("secret")
    secret = "s3cr3t-value-xyz"
    config = {
        "connector.class": "JdbcSink",
        "connection.url": f"jdbc:sqlite:{tmp_path / 'db.sqlite'}",
        "connection.password": secret,
        "consumer.override.ssl.key.password": secret,
        "topics": "t-secret",
        "auto.create": "true",
    }
    created = rest.create(name, config)
    assert created["config"]["connection.password"] == "[hidden]"
    for path in (f"/connectors/{name}/config", f"/connectors/{name}"):
        body = rest.get(path).body.decode()
        assert secret not in body
    shown = rest.ok("GET", f"/connectors/{name}/config")
    assert shown["connection.password"] == "[hidden]"
    assert shown["consumer.override.ssl.key.password"] == "[hidden]"
    assert shown["connection.url"] == config["connection.url"]
    wait_until(lambda: rest.ok("GET", f"/connectors/{name}/tasks") != [], 30, "task configs")
    tasks_body = rest.get(f"/connectors/{name}/tasks").body.decode()
    assert secret not in tasks_body and "[hidden]" in tasks_body
    listing = rest.get("/connectors?expand=info").body.decode()
    assert secret not in listing
    # GET then PUT: the stored password stays (not the text "[hidden]")
    assert rest.put(f"/connectors/{name}/config", {**shown, "auto.create": "false"}).status == 200
    again = rest.ok("GET", f"/connectors/{name}/config")
    assert again["auto.create"] == "false" and again["connection.password"] == "[hidden]"
    assert rest.delete(f"/connectors/{name}").status == 204
