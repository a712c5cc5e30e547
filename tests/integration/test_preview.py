"""Previews: sample records through a connector's converters in a worker, back through the
shared-memory ring, nothing committed and nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka import Producer

from tests.integration.rest_client import rest_worker, worker_properties
from tests.integration.standalone_proc import write_props

pytestmark = [pytest.mark.kafka, pytest.mark.processes]


def test_preview_of_a_sink_and_a_source_commits_nothing(
    tmp_path: Path, kafka_bootstrap: str, new_topic
) -> None:  # type: ignore[no-untyped-def]
    topic = new_topic(1)
    p = Producer({"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True})
    for i in range(5):
        p.produce(
            topic, json.dumps({"id": i, "name": f"n{i}", "tags": ["a", "b"]}).encode(), key=f"k{i}".encode()
        )
    assert p.flush(30) == 0
    (tmp_path / "in.txt").write_text("alpha\nbeta\ngamma\n")
    shm_before = set(os.listdir("/dev/shm"))
    gen = rest_worker(
        tmp_path,
        kafka_bootstrap,
        **{
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter.schemas.enable": "false",
        },
    )
    proc, client = next(gen)
    try:
        client.create(
            "pv-sink",
            {"connector.class": "FileStreamSink", "file": str(tmp_path / "out.txt"), "topics": topic},
            initial_state="STOPPED",
        )
        r = client.post("/connectors/pv-sink/preview?records=3")
        assert r.status == 200, r.body
        body = r.json()
        assert body["name"] == "pv-sink" and body["type"] == "sink"
        assert [rec["value"] for rec in body["records"]] == [
            {"id": i, "name": f"n{i}", "tags": ["a", "b"]} for i in range(3)
        ]
        assert [rec["key"] for rec in body["records"]] == ["k0", "k1", "k2"]
        assert [rec["offset"] for rec in body["records"]] == [0, 1, 2]
        assert body["schema"]["value"].startswith("struct<")
        assert client.ok("GET", "/connectors/pv-sink/offsets") == {"offsets": []}  # nothing committed
        assert not (tmp_path / "out.txt").exists()  # nothing written

        client.create(
            "pv-src",
            {
                "connector.class": "FileStreamSource",
                "file": str(tmp_path / "in.txt"),
                "topic": "pv-never-written",
            },
            initial_state="STOPPED",
        )
        body = client.ok("POST", "/connectors/pv-src/preview?records=2&timeout_ms=5000")
        # what the producer would send: StringConverter keys, schemaless JSON values
        assert [rec["value"] for rec in body["records"]] == ['"alpha"', '"beta"']
        assert [rec["topic"] for rec in body["records"]] == ["pv-never-written"] * 2
        assert client.ok("GET", "/connectors/pv-src/offsets") == {"offsets": []}
        assert client.ok("GET", "/connectors/pv-src/topics") == {"pv-src": {"topics": []}}

        bad = client.post("/connectors/pv-src/preview?records=0")
        assert bad.status == 400
        assert bad.error == (400, "records must be between 1 and 10000, not 0")
        assert client.post("/connectors/nope/preview").error == (404, "Connector nope not found")
    finally:
        try:
            next(gen, None)
        finally:
            proc.stop()
    assert set(os.listdir("/dev/shm")) - shm_before == set()


def test_preview_command(tmp_path: Path, kafka_bootstrap: str) -> None:
    (tmp_path / "in.txt").write_text("one\ntwo\n")
    worker = worker_properties(tmp_path, kafka_bootstrap)
    conn = write_props(
        tmp_path / "src.properties",
        {
            "name": "cli-src",
            "connector.class": "FileStreamSource",
            "file": tmp_path / "in.txt",
            "topic": "cli-preview",
        },
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "controlplane",
            "preview",
            str(worker),
            str(conn),
            "--records",
            "5",
            "--timeout-ms",
            "3000",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert [rec["value"] for rec in out["records"]] == ["one", "two"]
    assert out["type"] == "source"
