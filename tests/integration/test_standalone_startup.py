"""The standalone start-up's overlaps: the broker checked in a child forked before the
plugins are imported, and the REST listeners bound before the connectors start and served
after them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import uvloop

from controlplane import standalone
from controlplane.rest.security import BoundListener, advertised_listener, bind_listeners, parse_listener
from engine.spi.errors import ConfigError, ConnectError
from tests.integration.rest_client import LISTENING, START_TIMEOUT_S, RestClient, unique
from tests.integration.standalone_proc import Standalone
from tests.integration.test_cli_errors import run_cli, source, worker

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens here once the socket is closed


def test_bound_listener_takes_connections_before_it_is_served() -> None:
    (bound,) = bind_listeners("http://127.0.0.1:0")
    try:
        port = bound.port()
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # queued in the backlog: nobody serves it yet
    finally:
        bound.close()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass


def test_taken_port_is_a_clear_error_and_leaves_nothing_bound() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        free = closed_port()
        with pytest.raises(ConnectError) as e:
            bind_listeners(f"http://127.0.0.1:{free},http://127.0.0.1:{port}")
        assert str(e.value) == (
            f"The REST server cannot listen on http://127.0.0.1:{port} (listeners): Address already in use"
        )
    with socket.socket() as again:  # the first listener was closed when the second failed
        again.bind(("127.0.0.1", free))
    with pytest.raises(ConfigError) as c:
        bind_listeners("ftp://127.0.0.1:1")
    assert c.value.key == "listeners"


def test_advertised_listener_is_the_first_of_the_advertised_scheme() -> None:
    bound = [BoundListener(parse_listener(u), []) for u in ("http://a:1", "https://b:2", "https://c:3")]
    assert advertised_listener(bound, "https").listener.host == "b"
    assert advertised_listener(bound, None).listener.host == "a"
    assert advertised_listener(bound, "http").listener.host == "a"


# BrokerCheck forks only a process with no other thread; pytest's has some (Kafka clients of
# other tests), so each check runs in a fresh interpreter.
CHECK = textwrap.dedent(
    """
    import json, os, sys, time
    import uvloop
    from controlplane import standalone
    from engine.spi.errors import ConnectError

    bootstrap, what = sys.argv[1], sys.argv[2]
    check = standalone.BrokerCheck(bootstrap, {}, timeout=float(sys.argv[3]))
    child = check._pid
    out = {"forked": child is not None}
    started = time.monotonic()
    if what == "close":
        check.close()
    else:
        try:
            out["cluster_id"] = uvloop.run(check.result())
        except ConnectError as e:
            out["error"] = str(e)
        if "cluster_id" in out:
            out["here"] = standalone.check_broker(bootstrap)
    out["seconds"] = time.monotonic() - started
    try:
        os.waitpid(child, os.WNOHANG)
        out["reaped"] = False
    except ChildProcessError:
        out["reaped"] = True
    print(json.dumps(out))
    """
)


def run_check(bootstrap: str, what: str, timeout: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHECK, bootstrap, what, str(timeout)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


@pytest.mark.kafka
def test_broker_check_in_a_child_answers_as_the_check_here(kafka_bootstrap: str) -> None:
    out = run_check(kafka_bootstrap, "result", 10.0)
    assert out["forked"] is True  # a fresh interpreter has no other thread
    assert out["cluster_id"] and out["cluster_id"] == out["here"]
    assert out["reaped"] is True


def test_broker_check_in_a_child_reports_the_check_error() -> None:
    port = closed_port()
    out = run_check(f"127.0.0.1:{port}", "result", 1.0)
    assert out["forked"] is True
    assert out["error"].startswith(f"Could not reach Kafka at bootstrap.servers=127.0.0.1:{port} within 1s: ")
    assert out["reaped"] is True


def test_unwanted_broker_check_is_ended() -> None:
    out = run_check(f"127.0.0.1:{closed_port()}", "close", 10.0)
    assert out["forked"] is True
    assert out["seconds"] < 5  # killed, not waited for (the check itself would take 10 s)
    assert out["reaped"] is True


def test_broker_check_without_a_fork_checks_in_place() -> None:
    # a process with other threads (this one may have some) checks when the answer is wanted
    port = closed_port()
    check = standalone.BrokerCheck(f"127.0.0.1:{port}", {}, timeout=1.0, fork=False)
    assert check._pid is None
    with pytest.raises(ConnectError) as e:
        uvloop.run(check.result())
    assert str(e.value).startswith(f"Could not reach Kafka at bootstrap.servers=127.0.0.1:{port} within 1s: ")


def test_taken_rest_port_stops_the_start_before_any_connector(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_cli(
            worker(tmp_path, f"127.0.0.1:{closed_port()}", listeners=f"http://127.0.0.1:{port}"),
            source(tmp_path),
            timeout=60,
        )
    assert r.returncode == 1
    assert (
        f"arrowsmith: error: The REST server cannot listen on http://127.0.0.1:{port} (listeners): "
        "Address already in use"
    ) in r.stderr
    assert "Connector src created" not in r.stderr


@pytest.mark.kafka
@pytest.mark.processes
def test_rest_serves_after_the_connectors_with_the_bound_port_as_worker_id(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    (tmp_path / "in").write_text("a\nb\n")
    proc = Standalone(tmp_path, worker(tmp_path, kafka_bootstrap), source(tmp_path, topic=unique("t")))
    try:
        proc.wait_for(lambda: LISTENING.search(proc.log()) is not None, START_TIMEOUT_S, "the REST server")
        log = proc.log()
        assert log.index("Connector src created") < log.index("REST server listening at")
        match = LISTENING.search(log)
        assert match is not None
        port = match.group(1).rstrip("/").rsplit(":", 1)[1]
        client = RestClient(match.group(1))

        def task_running() -> bool:
            tasks = client.get("/connectors/src/status").json().get("tasks") or [{}]
            return bool(tasks[0].get("state") == "RUNNING")

        proc.wait_for(task_running, START_TIMEOUT_S, "the task running")
        status = client.get("/connectors/src/status").json()
        me = f"{socket.gethostname()}:{port}"  # rest.advertised.host.name unset: the host name
        assert status["connector"] == {"state": "RUNNING", "worker_id": me}
        assert status["tasks"] == [{"id": 0, "state": "RUNNING", "worker_id": me}]
        assert proc.terminate() == 0, proc.log()[-5000:]
    finally:
        proc.stop()
