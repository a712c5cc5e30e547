"""Bad input to connect-standalone: a clear error naming the key or path, a non-zero exit,
nothing started."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.integration.standalone_proc import Standalone, write_props

WORKER = {
    "key.converter": "org.apache.kafka.connect.storage.StringConverter",
    "value.converter": "org.apache.kafka.connect.storage.StringConverter",
}


def run_cli(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controlplane", "standalone", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def worker(tmp_path: Path, bootstrap: str = "127.0.0.1:1", **extra: object) -> Path:
    props = {
        "bootstrap.servers": bootstrap,
        **WORKER,
        "offset.storage.file.filename": tmp_path / "off",
        "listeners": "http://127.0.0.1:0",
        **extra,
    }
    return write_props(tmp_path / "worker.properties", props)


def source(tmp_path: Path, **props: object) -> Path:
    base = {"name": "src", "connector.class": "FileStreamSource", "file": tmp_path / "in", "topic": "t"}
    return write_props(tmp_path / "src.properties", {**base, **props})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"connector.class": "NoSuchConnector"},
            "Failed to find any class that implements Connector and which name matches NoSuchConnector, "
            "available connectors are: ",
        ),
        ({"topic": ""}, "Invalid value  for configuration topic: String must be non-empty"),
        ({"tasks.max": "many"}, "Invalid value many for configuration tasks.max: Not a number of type INT"),
        ({"batch.size": "0"}, "Invalid value 0 for configuration batch.size: Value must be at least 1"),
    ],
)
def test_bad_connector_config_names_the_key(tmp_path: Path, override: dict[str, str], message: str) -> None:
    r = run_cli(worker(tmp_path), source(tmp_path, **override))
    assert r.returncode == 1
    assert message in r.stderr
    if "NoSuchConnector" in message:
        assert "FileStreamSource" in r.stderr and "FileStreamSink" in r.stderr
    assert "Started" not in r.stderr  # no worker process was spawned


def test_missing_required_connector_key(tmp_path: Path) -> None:
    path = write_props(tmp_path / "c.properties", {"name": "x", "connector.class": "FileStreamSource"})
    r = run_cli(worker(tmp_path), path)
    assert r.returncode == 1
    assert 'Missing required configuration "topic" which has no default value.' in r.stderr


def test_missing_required_worker_key(tmp_path: Path) -> None:
    w = write_props(tmp_path / "w.properties", {"bootstrap.servers": "127.0.0.1:1", **WORKER})
    r = run_cli(w, source(tmp_path))
    assert r.returncode == 1
    assert (
        'Missing required configuration "offset.storage.file.filename" which has no default value.'
        in r.stderr
    )


def test_unreadable_files_name_the_path(tmp_path: Path) -> None:
    r = run_cli(worker(tmp_path), tmp_path / "missing.properties")
    assert r.returncode == 1
    assert str(tmp_path / "missing.properties") in r.stderr
    r = run_cli(tmp_path / "no-worker.properties", source(tmp_path))
    assert r.returncode == 1
    assert str(tmp_path / "no-worker.properties") in r.stderr


def test_sink_without_topics(tmp_path: Path) -> None:
    sink = write_props(
        tmp_path / "s.properties", {"name": "s", "connector.class": "FileStreamSink", "file": "x"}
    )
    r = run_cli(worker(tmp_path), sink)
    assert r.returncode == 1
    assert "Must configure one of topics or topics.regex" in r.stderr


def test_unreachable_broker(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    r = run_cli(worker(tmp_path, f"127.0.0.1:{port}"), source(tmp_path), timeout=90)
    assert r.returncode == 1
    assert f"Could not reach Kafka at bootstrap.servers=127.0.0.1:{port}" in r.stderr


@pytest.mark.kafka
@pytest.mark.processes
def test_unreadable_record_fails_the_task_naming_topic_partition_offset(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    topic = f"bad-{uuid.uuid4().hex[:8]}"
    p = Producer({"bootstrap.servers": kafka_bootstrap})
    for value in (b'{"ok": 1}', b'{"ok": 2}', b"not json at all", b'{"ok": 4}'):
        p.produce(topic, value, partition=0)
    assert p.flush(30) == 0
    w = worker(
        tmp_path,
        kafka_bootstrap,
        **{
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
        },
    )
    sink = write_props(
        tmp_path / "sink.properties",
        {"name": "bad-sink", "connector.class": "FileStreamSink", "file": tmp_path / "out", "topics": topic},
    )
    proc = Standalone(tmp_path, w, sink)
    try:
        proc.wait_for(lambda: "Task bad-sink-0 failed" in proc.log(), 60, "the task to fail")
        assert proc.terminate() == 0
    finally:
        proc.stop()
    log = proc.log()
    assert f"topic='{topic}', partition=0, offset=2" in log
    assert "Tolerance exceeded in error handler" in log
    # nothing of the failed batch was written
    assert not (tmp_path / "out").exists() or (tmp_path / "out").read_text() == ""


@pytest.mark.parametrize(
    ("policy", "key", "ok"),
    [
        ("None", "acks", False),
        ("Principal", "acks", False),
        ("Principal", "security.protocol", True),
        ("All", "acks", True),
    ],
)
def test_client_override_policy(tmp_path: Path, policy: str, key: str, ok: bool) -> None:
    from controlplane.standalone import prepare

    w = worker(tmp_path, **{"connector.client.config.override.policy": policy})
    src = source(tmp_path, **{f"producer.override.{key}": "1"})
    if ok:
        assert prepare(str(w), [str(src)]).connectors[0][f"producer.override.{key}"] == "1"
    else:
        with pytest.raises(
            Exception, match=rf"The '{policy}' policy does not allow '{key}' to be overridden"
        ):
            prepare(str(w), [str(src)])


def test_worker_config_placeholders_are_resolved_at_start(tmp_path: Path) -> None:
    """${file:…} in worker.properties is resolved when the worker starts (as in Kafka Connect),
    and the value is registered with the log scrubber."""
    from controlplane.standalone import prepare
    from engine.runtime import secret_scrubber

    secrets = tmp_path / "worker-secrets.properties"
    secrets.write_text(f"offsets={tmp_path / 'resolved.offsets'}\njaas.password=worker-pw-123456\n")
    w = worker(
        tmp_path,
        **{
            "config.providers": "file",
            "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
            "offset.storage.file.filename": f"${{file:{secrets}:offsets}}",
            "sasl.mechanism": "PLAIN",
            "sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'username="u" password="${{file:{secrets}:jaas.password}}";',
        },
    )
    prepared = prepare(str(w), [])
    assert prepared.worker_props["offset.storage.file.filename"] == str(tmp_path / "resolved.offsets")
    assert prepared.worker.get("offset.storage.file.filename") == str(tmp_path / "resolved.offsets")
    assert 'password="worker-pw-123456"' in prepared.worker_props["sasl.jaas.config"]
    assert secret_scrubber.scrub("login with worker-pw-123456 failed") == "login with [hidden] failed"
