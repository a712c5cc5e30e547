"""REST listener security against real worker processes over real TLS (certificates from trustme).

https listeners (PKCS#12 and PEM keystores, next to a plain http one), mutual TLS, basic
users and bearer tokens with the two roles on every route of the app, the start-up checks
(plain-text passwords, non-loopback without authentication, rest.require.auth), and a
2-worker distributed cluster over https+auth where a write sent to the follower is forwarded.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    load_pem_private_key,
    pkcs12,
)

from controlplane.rest.app import all_routes
from controlplane.rest.credentials import hash_password
from tests.integration.cluster import Cluster, cluster
from tests.integration.rest_client import START_TIMEOUT_S, Response, wait_until, worker_properties
from tests.integration.standalone_proc import Standalone, write_props

pytestmark = [pytest.mark.kafka, pytest.mark.processes]

LISTENING = re.compile(r"REST server listening at (https?)://([^\s/]+)/")
ADMIN_PW = "admin-secret-7Qx"
READER_PW = "reader-secret-9Lm"
STORE_PW = "store-pass-3Zp"
SOURCE = {"connector.class": "FileStreamSource", "topic": "sec-unused", "file": "/dev/null"}


@dataclass
class Pki:
    ca: trustme.CA
    ca_pem: Path
    server_pem: Path  # key + chain in one PEM file
    server_p12: Path
    client: dict[str, trustme.LeafCert]  # by CN, signed by ca
    stranger: trustme.LeafCert  # signed by another CA

    def context(self, cn: str | None = None, stranger: bool = False) -> ssl.SSLContext:
        """A client context trusting our CA, presenting the client certificate ``cn``."""
        ctx = ssl.create_default_context(cafile=str(self.ca_pem))
        leaf = self.stranger if stranger else self.client.get(cn or "")
        if leaf is not None:
            leaf.configure_cert(ctx)
        return ctx


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    server = ca.issue_cert("127.0.0.1", "localhost", common_name="worker")
    server.private_key_and_cert_chain_pem.write_to_path(str(d / "server.pem"))
    key = load_pem_private_key(server.private_key_pem.bytes(), None)
    chain = [x509.load_pem_x509_certificate(b.bytes()) for b in server.cert_chain_pems]
    (d / "server.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"worker",
            key,  # type: ignore[arg-type]
            chain[0],
            chain[1:] or None,
            BestAvailableEncryption(STORE_PW.encode()),
        )
    )
    clients = {cn: ca.issue_cert(f"{cn}.example", common_name=cn) for cn in ("ops", "dashboard", "nobody")}
    stranger = trustme.CA().issue_cert("ops.example", common_name="ops")
    return Pki(ca, d / "ca.pem", d / "server.pem", d / "server.p12", clients, stranger)


class Client:
    """http.client over http or https, with an Authorization header of choice."""

    def __init__(self, scheme: str, hostport: str, context: ssl.SSLContext | None = None) -> None:
        self.scheme, self.context = scheme, context
        host, port = hostport.rsplit(":", 1)
        self.host, self.port = host, int(port)

    def request(
        self, method: str, path: str, body: Any = None, auth: str | None = None, raw: bytes | None = None
    ) -> Response:
        headers = {} if auth is None else {"Authorization": auth}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn: http.client.HTTPConnection
        if self.scheme == "https":
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=30, context=self.context)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            got: dict[str, str] = {}
            for k, v in r.getheaders():  # repeated headers (WWW-Authenticate) joined
                got[k.lower()] = f"{got[k.lower()]}, {v}" if k.lower() in got else v
            return Response(r.status, got, r.read())
        finally:
            conn.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controlplane.rest.credentials", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )


def start(work: Path, bootstrap: str, **extra: object) -> tuple[Standalone, dict[str, str]]:
    """A standalone worker; its listener URLs by scheme, once every listener is up."""
    work.mkdir(parents=True, exist_ok=True)
    proc = Standalone(work, worker_properties(work, bootstrap, **extra))
    wanted = len(str(extra["listeners"]).split(","))
    proc.wait_for(lambda: len(LISTENING.findall(proc.log())) >= wanted, START_TIMEOUT_S, "the listeners")
    return proc, dict(LISTENING.findall(proc.log()))


def refused(client: Client, path: str = "/") -> bool:
    """Whether the connection fails (TLS handshake or a closed connection) instead of answering."""
    try:
        client.request("GET", path)
    except (ssl.SSLError, ConnectionError, http.client.HTTPException):
        return True
    return False


# --- one worker: http + https (PKCS#12), users and tokens ----------------------------------------


@dataclass
class AuthWorker:
    proc: Standalone
    https: Client
    http: Client
    admin_token: str
    reader_token: str


@pytest.fixture(scope="module")
def auth_worker(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, pki: Pki
) -> Iterator[AuthWorker]:
    work = tmp_path_factory.mktemp("auth-worker")
    admin_line = cli("hash", "--user", "alice", "--role", "admin", stdin=ADMIN_PW + "\n").stdout
    # a cheap hash for the reader: the wrong-password requests below each pay its KDF
    reader_line = f"bob:read-only:{hash_password(READER_PW, 'pbkdf2-sha256', iterations=1000)}\n"
    (work / "users").write_text("# REST users\n" + admin_line + reader_line)
    tokens = {}
    for name, role in (("ci", "admin"), ("grafana", "read-only")):
        out = cli("token", "--name", name, "--role", role)
        tokens[role] = out.stderr.rsplit(" ", 1)[1].strip()
        with open(work / "tokens", "a") as f:
            f.write(out.stdout)
    proc, urls = start(
        work,
        kafka_bootstrap,
        listeners="http://127.0.0.1:0,https://127.0.0.1:0",
        **{
            "listeners.https.ssl.keystore.location": pki.server_p12,
            "listeners.https.ssl.keystore.type": "PKCS12",
            "listeners.https.ssl.keystore.password": STORE_PW,
            "rest.auth.credentials.file": work / "users",
            "rest.auth.tokens.file": work / "tokens",
        },
    )
    try:
        https = Client("https", urls["https"], pki.context())
        wait_until(lambda: https.request("GET", "/health").status == 200, START_TIMEOUT_S, "healthy")
        yield AuthWorker(proc, https, Client("http", urls["http"]), tokens["admin"], tokens["read-only"])
        assert proc.terminate() == 0, proc.log()[-3000:]
    finally:
        proc.stop()


def test_https_listener_serves_and_plain_http_to_it_fails(auth_worker: AuthWorker, pki: Pki) -> None:
    w = auth_worker
    r = w.https.request("GET", "/", auth=basic("alice", ADMIN_PW))
    assert r.status == 200 and "version" in r.json()
    # plain http to the https port, and https without trusting the CA: no answer
    assert refused(Client("http", f"{w.https.host}:{w.https.port}"))
    assert refused(Client("https", f"{w.https.host}:{w.https.port}", ssl.create_default_context()))
    # the http listener next to it serves the same API, with the same authentication
    assert w.http.request("GET", "/connectors").status == 401
    assert w.http.request("GET", "/connectors", auth=basic("bob", READER_PW)).json() == []


def concrete(path: str) -> str:
    values = {"name": "no-such-connector", "task": "0", "plugin": "FileStreamSource", "logger": "no.such"}
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], path)


def every_route() -> list[tuple[str, str]]:
    out = []
    for route in all_routes():
        for method in sorted(route.methods):
            out.append((method, concrete(route.path)))
    assert len(out) > 30, out
    return out


def test_every_route_with_no_wrong_read_only_and_admin_credentials(auth_worker: AuthWorker) -> None:
    c = auth_worker.https
    seen_403 = seen_reads = 0
    for n, (method, path) in enumerate(every_route()):
        if path == "/health":  # open for probes (rest.auth.health.anonymous=true)
            assert c.request(method, path).status == 200
            continue
        wrong = [None, basic("bob", "wrong"), "Bearer not-a-token", "Digest x", "Basic !!"]
        if n % 8 == 0:  # an unknown user pays a full scrypt (as a known one would): a few routes
            wrong.append(basic("mallory", READER_PW))
        for auth in wrong:
            r = c.request(method, path, auth=auth)
            assert r.status == 401, (method, path, auth, r.status)
            assert r.headers["www-authenticate"] == (
                'Basic realm="arrowsmith", charset="UTF-8", Bearer realm="arrowsmith"'
            )
            if method != "HEAD":
                expected = "Authentication required" if auth is None else "Invalid credentials"
                assert r.error == (401, expected)
        for reader in (basic("bob", READER_PW), f"Bearer {auth_worker.reader_token}"):
            r = c.request(method, path, auth=reader)
            if method in ("GET", "HEAD"):
                assert r.status in (200, 404), (method, path, r.status, r.body)
                seen_reads += 1
            else:
                assert r.status == 403, (method, path, r.status)
                assert r.error == (403, "Forbidden: this user may only read (GET, HEAD)")
                seen_403 += 1
        for admin in (basic("alice", ADMIN_PW), f"Bearer {auth_worker.admin_token}"):
            r = c.request(method, path, auth=admin)
            assert r.status not in (401, 403), (method, path, r.status, r.body)
    assert seen_403 > 20 and seen_reads > 20


def test_admin_writes_and_read_only_reads(auth_worker: AuthWorker) -> None:
    c, token = auth_worker.https, f"Bearer {auth_worker.admin_token}"
    body = {"name": "sec-src", "config": SOURCE}
    assert c.request("POST", "/connectors", body, auth=basic("bob", READER_PW)).status == 403
    r = c.request("POST", "/connectors", body, auth=token)
    assert r.status == 201, r.body
    try:
        assert c.request("GET", "/connectors", auth=basic("bob", READER_PW)).json() == ["sec-src"]
        assert c.request("GET", "/connectors/sec-src/config", auth=basic("bob", READER_PW)).json()[
            "file"
        ] == ("/dev/null")
        assert c.request("DELETE", "/connectors/sec-src", auth=basic("bob", READER_PW)).status == 403
    finally:
        assert c.request("DELETE", "/connectors/sec-src", auth=basic("alice", ADMIN_PW)).status == 204


# --- mutual TLS: PEM keystore, client certificates required, CN → role -------------------------


def test_mutual_tls_required_and_certificate_roles(tmp_path: Path, kafka_bootstrap: str, pki: Pki) -> None:
    proc, urls = start(
        tmp_path,
        kafka_bootstrap,
        listeners="https://127.0.0.1:0",
        **{
            "listeners.https.ssl.keystore.location": pki.server_pem,
            "listeners.https.ssl.keystore.type": "PEM",
            "listeners.https.ssl.truststore.location": pki.ca_pem,
            "listeners.https.ssl.truststore.type": "PEM",
            "listeners.https.ssl.client.auth": "required",
            "rest.auth.certificate.roles": "ops:admin,dashboard:read-only",
        },
    )
    try:
        hostport = urls["https"]
        ops = Client("https", hostport, pki.context("ops"))
        wait_until(lambda: ops.request("GET", "/health").status == 200, START_TIMEOUT_S, "healthy")
        assert refused(Client("https", hostport, pki.context()))  # no client certificate
        assert refused(Client("https", hostport, pki.context(stranger=True)))  # CN=ops from another CA
        assert ops.request("GET", "/connectors").json() == []
        r = ops.request("POST", "/connectors", {"name": "mtls-src", "config": SOURCE})
        assert r.status == 201, r.body
        dashboard = Client("https", hostport, pki.context("dashboard"))
        assert dashboard.request("GET", "/connectors").json() == ["mtls-src"]
        assert dashboard.request("DELETE", "/connectors/mtls-src").error[0] == 403
        nobody = Client("https", hostport, pki.context("nobody"))  # good CA, no role
        assert nobody.request("GET", "/connectors").error == (401, "Authentication required")
        assert ops.request("DELETE", "/connectors/mtls-src").status == 204
        assert proc.terminate() == 0
    finally:
        proc.stop()


# --- start-up checks -----------------------------------------------------------------------------


def exits(work: Path, bootstrap: str, **extra: object) -> tuple[int, str]:
    work.mkdir(parents=True, exist_ok=True)
    proc = Standalone(work, worker_properties(work, bootstrap, **extra))
    try:
        code = proc.proc.wait(START_TIMEOUT_S)
    finally:
        proc.stop()
    return code, proc.log()


def test_plain_text_password_file_is_refused_at_start(tmp_path: Path, kafka_bootstrap: str) -> None:
    (tmp_path / "users").write_text("alice:admin:hunter2-plain\n")
    code, log = exits(tmp_path / "w", kafka_bootstrap, **{"rest.auth.credentials.file": tmp_path / "users"})
    assert code != 0
    assert "rest.auth.credentials.file" in log and "line 1 (user alice): the password is not hashed" in log
    assert "hunter2" not in log


def test_require_auth_refuses_a_non_loopback_listener_without_authentication(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    code, log = exits(
        tmp_path, kafka_bootstrap, listeners="http://0.0.0.0:0", **{"rest.require.auth": "true"}
    )
    assert code != 0
    assert "rest.require.auth=true but the REST listener http://0.0.0.0:0 is not on a loopback address" in log


def test_non_loopback_listener_without_authentication_warns_loudly(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    proc = Standalone(tmp_path, worker_properties(tmp_path, kafka_bootstrap, listeners="http://0.0.0.0:0"))
    try:
        proc.wait_for(lambda: "REST server listening" in proc.log(), START_TIMEOUT_S, "the listener")
        warning = [line for line in proc.log().splitlines() if "SECURITY WARNING" in line]
        assert len(warning) == 1 and "WARNING" in warning[0].split("SECURITY")[0], proc.log()
        assert "http://0.0.0.0:0 listens on a non-loopback address WITHOUT AUTHENTICATION" in warning[0]
        assert proc.terminate() == 0
    finally:
        proc.stop()


# --- distributed: https + auth + mTLS between workers, a write forwarded to the leader ----------


class SecureCluster(Cluster):
    def __init__(self, c: Cluster, pki: Pki) -> None:
        self.__dict__.update(c.__dict__)
        self.pki = pki

    def start(self, i: int, wait: bool = True) -> None:
        d = self.work / f"worker-{i}"
        d.mkdir(parents=True, exist_ok=True)
        props = write_props(
            d / "worker.properties", {**self.common, "listeners": f"https://127.0.0.1:{self.ports[i]}"}
        )
        self.procs[i] = Standalone(d, props, mode="distributed")

    def client(self, i: int) -> Client:
        return Client("https", f"127.0.0.1:{self.ports[i]}", self.pki.context("ops"))

    def wait_healthy(self, i: int) -> None:
        def healthy() -> bool:
            try:
                return self.client(i).request("GET", "/health").status == 200
            except OSError:
                return False

        self.procs[i].wait_for(healthy, START_TIMEOUT_S, f"worker {i} to join the cluster")


def test_distributed_https_auth_forwards_a_write_to_the_leader(
    tmp_path: Path, kafka_bootstrap: str, pki: Pki
) -> None:
    users = tmp_path / "users"
    users.write_text(f"alice:admin:{hash_password(ADMIN_PW, 'pbkdf2-sha256', iterations=1000)}\n")
    extra = {
        "listeners.https.ssl.keystore.location": pki.server_pem,
        "listeners.https.ssl.truststore.location": pki.ca_pem,
        "listeners.https.ssl.client.auth": "required",
        "rest.auth.credentials.file": users,
        "rest.forward.auth.token": "cluster-internal-4Rt",
        "rest.require.auth": "true",
    }
    with cluster(tmp_path, kafka_bootstrap, 2, **extra) as plain:
        c = SecureCluster(plain, pki)
        for i in range(2):
            c.start(i)
        for i in range(2):
            c.wait_healthy(i)
        leader = c.leader()
        follower = 1 - leader
        f = c.client(follower)
        body = {"name": "fwd-src", "config": SOURCE}
        assert f.request("POST", "/connectors", body).status == 401
        admin = basic("alice", ADMIN_PW)

        def settled(method: str, path: str, json_body: Any = None) -> Response:
            """The follower's answer once no rebalance is under way (409 is retried)."""

            def once() -> Response | None:
                r = f.request(method, path, json_body, auth=admin)
                return None if r.status == 409 and b"already exists" not in r.body else r

            answer = wait_until(once, 60, f"{method} {path} through the follower")
            assert answer is not None
            return answer

        r = settled("POST", "/connectors", body)
        assert r.status == 201, (r.status, r.body, c.logs())
        assert r.json()["name"] == "fwd-src"
        assert c.client(leader).request("GET", "/connectors", auth=admin).json() == ["fwd-src"]
        r = settled("DELETE", "/connectors/fwd-src")
        assert r.status == 204, (r.status, r.body)
