"""Config providers in a real standalone worker: tasks get the resolved values, while REST, the
status traces and every log line keep placeholders or ``[hidden]``."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.integration.rest_client import Response, RestClient, enc, start_rest_worker, unique, wait_until
from tests.integration.standalone_proc import Standalone, count_lines

pytestmark = [pytest.mark.kafka, pytest.mark.processes]

ENV_SECRET = f"envSecret-{uuid.uuid4().hex}"
DIR_SECRET = f"dirSecret-{uuid.uuid4().hex}"
PLAIN_SECRET = f"plainSecret-{uuid.uuid4().hex}"
SECRETS = (ENV_SECRET, DIR_SECRET, PLAIN_SECRET)


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    d = tmp_path / "secrets"
    d.mkdir()
    (d / "sink.properties").write_text(f"out.file={d.parent / 'out.txt'}\nother=1\n")
    (d / "db-password").write_text(DIR_SECRET)
    return d


def _worker(work: Path, kafka_bootstrap: str, secrets_dir: Path) -> tuple[Standalone, RestClient]:
    return start_rest_worker(
        work,
        kafka_bootstrap,
        **{
            "config.providers": "file,env,dir",
            "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
            "config.providers.file.param.allowed.paths": secrets_dir,
            "config.providers.env.class": "EnvVarConfigProvider",
            "config.providers.env.param.allowlist.pattern": "APP_.*",
            "config.providers.dir.class": "org.apache.kafka.common.config.provider.DirectoryConfigProvider",
            "config.providers.dir.param.allowed.paths": secrets_dir,
        },
    )


def _no_secret(r: Response) -> Response:
    for s in SECRETS:
        assert s.encode() not in r.body, (s, r.body)
    return r


def test_placeholders_resolved_in_the_task_never_shown_nor_logged(
    tmp_path: Path, secrets_dir: Path, kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_SECRET_TOKEN", ENV_SECRET)  # the worker process inherits it
    proc, client = _worker(tmp_path / "worker", kafka_bootstrap, secrets_dir)
    try:
        _run(proc, client, secrets_dir, kafka_bootstrap)
        assert proc.terminate() == 0
    finally:
        proc.stop()
    # every line the worker and its worker processes logged, shutdown included: no secret value
    log = proc.log()
    assert "Task threw an uncaught and unrecoverable exception" in log  # the bad task's failure was logged
    assert "[hidden]" in log
    for line in log.splitlines():
        for s in SECRETS:
            assert s not in line, line


def _run(proc: Standalone, client: RestClient, secrets_dir: Path, kafka_bootstrap: str) -> None:
    client.ok("PUT", "/admin/loggers/root", {"level": "DEBUG"})  # as many log lines as there can be
    topic = unique("providers")
    sink, bad = unique("sink"), unique("bad")
    config = {
        "connector.class": "FileStreamSink",
        "tasks.max": "1",
        "topics": topic,
        "file": f"${{file:{secrets_dir}/sink.properties:out.file}}",
        "x.api.secret": "${env:APP_SECRET_TOKEN}",
        "x.db.password": f"${{dir:{secrets_dir}:db-password}}",
        "x.plain.secret": PLAIN_SECRET,
    }
    _no_secret(client.request("POST", "/connectors", {"name": sink, "config": config}))
    client.wait_states(sink, "RUNNING", ["RUNNING"])
    out = secrets_dir.parent / "out.txt"
    p = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(3):
        p.produce(topic, value=f"line-{i}".encode())
    assert p.flush(30) == 0
    proc.wait_for(lambda: count_lines(out) == 3, 60, "3 lines in the file named by ${file:…}")
    assert out.read_text() == "line-0\nline-1\nline-2\n"

    # REST shows the placeholders, and [hidden] for a secret given in clear
    shown = {**config, "name": sink, "x.plain.secret": "[hidden]"}
    assert _no_secret(client.get(f"/connectors/{enc(sink)}/config")).json() == shown
    assert _no_secret(client.get(f"/connectors/{enc(sink)}")).json()["config"] == shown
    [task] = _no_secret(client.get(f"/connectors/{enc(sink)}/tasks")).json()
    assert task["config"]["file"] == config["file"]
    assert task["config"]["x.api.secret"] == "${env:APP_SECRET_TOKEN}"
    assert task["config"]["x.db.password"] == config["x.db.password"]
    _no_secret(client.get("/connectors?expand=info&expand=status"))

    # a task that fails with the secret in its exception message: the trace says [hidden]
    bad_config = {**config, "topics": topic, "file": "/nonexistent-dir/${env:APP_SECRET_TOKEN}"}
    client.create(bad, bad_config)
    wait_until(lambda: client.states(bad)[1] == ["FAILED"], 30, "the task to fail")
    trace = _no_secret(client.get(f"/connectors/{enc(bad)}/status")).json()["tasks"][0]["trace"]
    assert "Couldn't find or create file '/nonexistent-dir/[hidden]'" in trace
    assert _no_secret(client.get(f"/connectors/{enc(bad)}/tasks/0/status")).json()["trace"] == trace
    assert client.get(f"/connectors/{enc(bad)}/tasks").json()[0]["config"]["file"] == bad_config["file"]

    # a secret that fails validation is [hidden] in the error message
    r = _no_secret(
        client.put(
            f"/connectors/{enc(unique('v'))}/config", {**config, "tasks.max": "${env:APP_SECRET_TOKEN}"}
        )
    )
    assert r.status == 400 and "Invalid value [hidden] for configuration tasks.max" in r.error[1], r.body

    # disallowed environment variable, path outside allowed.paths: clear errors, nothing created
    r = client.put(f"/connectors/{enc(unique('env'))}/config", {**config, "x.api.secret": "${env:HOME}"})
    assert r.status == 400
    assert r.error[1] == (
        "Config provider env could not resolve path '': EnvVarConfigProvider: environment variable HOME "
        "is not allowed by allowlist.pattern=APP_.*"
    )
    r = client.put(f"/connectors/{enc(unique('path'))}/config", {**config, "file": "${file:/etc/hostname:x}"})
    assert r.status == 400
    assert r.error[1].startswith("Config provider file could not resolve path '/etc/hostname': ")
    assert "FileConfigProvider: path /etc/hostname is not allowed; allowed.paths is" in r.error[1]
    assert sorted(client.names()) == sorted([sink, bad])

    for name in (sink, bad):
        assert client.delete(f"/connectors/{enc(name)}").status == 204
