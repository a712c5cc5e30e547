"""Property-based requests (schemathesis, from GET /openapi.json) against a live worker: no 5xx.

Path parameters are drawn, most of the time, from names that exist (a running source, a paused
one, a stopped one, a sink with records, real plugins and loggers), so the generated requests
reach the handlers instead of stopping at 404. Set ``ARROWSMITH_FUZZ_SEED`` to replay a run; the
seed of every run is in its output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from controlplane import metrics
from controlplane.rest import connectors, loggers, plugins
from controlplane.rest.openapi import spec
from engine.testing.pytest_kafka import TopicFactory
from tests.integration.rest_client import RestClient, rest_worker, unique
from tests.integration.standalone_proc import Standalone

pytestmark = [pytest.mark.kafka, pytest.mark.processes]

MAX_EXAMPLES = 30  # per operation and phase
RUN_TIMEOUT_S = 180.0
PREVIEW = "/preview$"
PREVIEW_BUDGET_S = 30
LOGGERS = ["controlplane.herder", "uvicorn.access", "no.such.logger"]  # not root: it could silence the log
PLUGINS = [
    "FileStreamSource",
    "FileStreamSink",
    "org.apache.kafka.connect.file.FileStreamSourceConnector",
    "StringConverter",
    "JsonConverter",
]


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Standalone, RestClient]]:
    yield from rest_worker(tmp_path_factory.mktemp("fuzz-worker"), kafka_bootstrap)


def test_openapi_describes_every_route() -> None:
    described = {(path, method.upper()) for path, ops in spec()["paths"].items() for method in ops} - {
        ("/", "GET"),
        ("/health", "GET"),
        ("/openapi.json", "GET"),
    }
    served = {
        (route.path, method)
        for route in [*connectors.ROUTES, *plugins.ROUTES, *loggers.ROUTES, *metrics.ROUTES]
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert described == served


def test_openapi_json(worker: tuple[Standalone, RestClient]) -> None:
    doc = worker[1].ok("GET", "/openapi.json")
    assert doc == json.loads(json.dumps(spec()))
    assert doc["openapi"] == "3.1.0"


def _config(work: Path, names: list[str]) -> Path:
    def values(items: list[str] | list[int]) -> str:
        return json.dumps(items, ensure_ascii=False)

    text = f"""
workers = 1

[dictionaries.connectors]
values = {values(names)}
[dictionaries.plugins]
values = {values(PLUGINS)}
[dictionaries.loggers]
values = {values(LOGGERS)}
[dictionaries.tasks]
values = [0, 1, 2]
[dictionaries.timeouts]  # previews wait up to timeout_ms for records: keep the run short
values = [-1, 0, 1, 250, 1000, 90001, 4486455386]

[parameters]
"path.name" = {{ dictionary = "connectors", probability = 0.7 }}
"path.plugin" = {{ dictionary = "plugins", probability = 0.7 }}
"path.logger" = {{ dictionary = "loggers", probability = 0.5 }}
"path.task" = {{ dictionary = "tasks", probability = 0.7 }}
"query.timeout_ms" = {{ dictionary = "timeouts", probability = 1.0 }}
"""
    path = work / "schemathesis.toml"
    path.write_text(text)
    return path


def _schemathesis(config: Path, url: str, work: Path, *options: str) -> str:
    """Run the schemathesis CLI (only the no-5xx check); its output, after asserting it passed."""
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--phases",
        "coverage,fuzzing",
        "--request-timeout",
        "60",
        "--warnings",
        "off",
        *options,
    ]
    if seed := os.environ.get("ARROWSMITH_FUZZ_SEED"):
        cmd += ["--seed", seed]
    run = subprocess.run(
        cmd,
        cwd=work,  # its .hypothesis/ and .schemathesis/ caches stay out of the work tree
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    output = run.stdout + run.stderr
    with open(work / "schemathesis.out", "a") as f:
        f.write(output)
    assert run.returncode == 0, output[-20_000:]
    assert "Test cases:" in output, output[-5000:]
    return output


def test_no_server_errors(
    worker: tuple[Standalone, RestClient],
    tmp_path: Path,
    new_topic: TopicFactory,
    kafka_bootstrap: str,
) -> None:
    pytest.importorskip("schemathesis")
    proc, rest = worker
    topic = new_topic()
    p = Producer({"bootstrap.servers": kafka_bootstrap})
    for i in range(10):
        p.produce(topic, f"r{i}".encode())
    assert p.flush(30) == 0
    (tmp_path / "in.txt").write_text("a\nb\n")
    source = {"connector.class": "FileStreamSource", "file": str(tmp_path / "in.txt"), "topic": topic}
    names = {state: unique(f"fuzz-{state.lower()}") for state in ("RUNNING", "PAUSED", "STOPPED")}
    for state, name in names.items():
        rest.create(name, source, initial_state=state)
    sink = unique("fuzz-sink")
    rest.create(sink, {"connector.class": "FileStreamSink", "file": str(tmp_path / "out"), "topics": topic})
    config = _config(tmp_path, [*names.values(), sink, "no-such-connector"])

    # Every operation but preview, a bounded number of examples each.
    _schemathesis(
        config, rest.base_url, tmp_path, "--max-examples", str(MAX_EXAMPLES), "--exclude-path-regex", PREVIEW
    )
    # A preview waits up to timeout_ms (10 s when the fuzzer leaves it out) for records a consumed
    # source no longer has: it gets a time budget of its own instead.
    _schemathesis(
        config, rest.base_url, tmp_path, "--include-path-regex", PREVIEW, "--max-time", str(PREVIEW_BUDGET_S)
    )

    assert proc.proc.poll() is None, proc.log()[-5000:]
    assert rest.get("/health").status == 200
    log = proc.log()
    assert "Uncaught exception in REST call" not in log, log[-20_000:]
    assert "Exception in ASGI application" not in log, log[-20_000:]
