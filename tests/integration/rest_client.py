"""A small REST client on the standard library, and a standalone worker serving the REST API.

The contract tests speak HTTP with ``http.client`` only, so what they see is what a client
sees: exact status codes, headers and bodies, nothing smoothed over by a client library.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from tests.integration.standalone_proc import Standalone, write_props

T = TypeVar("T")
LISTENING = re.compile(r"REST server listening at (http://[^\s/]+/)")
START_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-cased names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> tuple[int, str]:
        """An error body ``{"error_code", "message"}`` as a pair, after checking it has only those keys."""
        doc = self.json()
        assert set(doc) == {"error_code", "message"}, doc
        assert doc["error_code"] == self.status, doc
        return doc["error_code"], doc["message"]


def enc(name: str) -> str:
    """A connector, plugin or logger name as one path segment."""
    return quote(name, safe="")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class RestClient:
    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        assert parts.hostname is not None and parts.port is not None, base_url
        self.base_url = base_url.rstrip("/")
        self.host, self.port = parts.hostname, parts.port

    def request(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        body: bytes | Iterable[bytes] | None = None,
        content_type: str | None = "application/json",
        chunked: bool = False,
    ) -> Response:
        """``json_body`` is sent as JSON; ``body`` is sent as given (``chunked`` for an iterable)."""
        if json_body is not None:
            body = json.dumps(json_body).encode()
        headers = {}
        if body is not None and content_type is not None:
            headers["Content-Type"] = content_type
        conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
            resp = conn.getresponse()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, json_body: Any = None) -> Response:
        return self.request("POST", path, json_body)

    def put(self, path: str, json_body: Any = None) -> Response:
        return self.request("PUT", path, json_body)

    def patch(self, path: str, json_body: Any = None) -> Response:
        return self.request("PATCH", path, json_body)

    def delete(self, path: str) -> Response:
        return self.request("DELETE", path)

    def ok(self, method: str, path: str, json_body: Any = None, status: int = 200) -> Any:
        """The JSON body of a request that must answer ``status`` (None when it has no body)."""
        r = self.request(method, path, json_body)
        assert r.status == status, (method, path, r.status, r.body)
        return r.json() if r.body else None

    # -- connectors --------------------------------------------------------------------------
    def create(self, name: str, config: Mapping[str, Any], initial_state: str | None = None) -> Any:
        body: dict[str, Any] = {"name": name, "config": dict(config)}
        if initial_state is not None:
            body["initial_state"] = initial_state
        return self.ok("POST", "/connectors", body, 201)

    def names(self) -> list[str]:
        names: list[str] = self.ok("GET", "/connectors")
        return names

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.ok("GET", f"/connectors/{enc(name)}/status")
        return status

    def states(self, name: str) -> tuple[str, list[str]]:
        """The connector's state and its tasks' states."""
        s = self.status(name)
        return s["connector"]["state"], [t["state"] for t in s["tasks"]]

    def wait_states(self, name: str, connector: str, tasks: list[str], timeout: float = 30.0) -> None:
        wait_until(lambda: self.states(name) == (connector, tasks), timeout, f"{name} {connector} {tasks}")

    def delete_quietly(self, name: str) -> None:
        self.request("DELETE", f"/connectors/{enc(name)}")


def wait_until(cond: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``cond`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def worker_properties(work: Path, bootstrap: str, **extra: object) -> Path:
    props: dict[str, object] = {
        "bootstrap.servers": bootstrap,
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.storage.StringConverter",
        "offset.storage.file.filename": work / "connect.offsets",
        "offset.flush.interval.ms": 200,
        "listeners": "http://127.0.0.1:0",
        "worker.processes": 1,
        **extra,
    }
    return write_props(work / "worker.properties", props)


def start_rest_worker(work: Path, bootstrap: str, **extra: object) -> tuple[Standalone, RestClient]:
    """A standalone process with its REST server on a free port, once ``/health`` says healthy."""
    work.mkdir(parents=True, exist_ok=True)
    proc = Standalone(work, worker_properties(work, bootstrap, **extra))
    try:
        proc.wait_for(lambda: LISTENING.search(proc.log()) is not None, START_TIMEOUT_S, "the REST server")
        match = LISTENING.search(proc.log())
        assert match is not None
        client = RestClient(match.group(1))
        proc.wait_for(lambda: client.get("/health").status == 200, START_TIMEOUT_S, "a healthy worker")
    except BaseException:
        proc.stop()
        raise
    return proc, client


def rest_worker(work: Path, bootstrap: str, **extra: object) -> Iterator[tuple[Standalone, RestClient]]:
    """For fixtures: yields the worker and its client, then stops it (SIGTERM must exit 0)."""
    proc, client = start_rest_worker(work, bootstrap, **extra)
    try:
        yield proc, client
        assert proc.terminate() == 0, proc.log()[-5000:]
    finally:
        proc.stop()
