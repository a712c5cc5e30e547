"""A real single-node KRaft Apache Kafka broker in a child JVM, for tests, benchmarks and demos.

:class:`KafkaBroker` fetches the broker jars (see :mod:`engine.broker.maven`), writes a
``server.properties`` and a log4j2 configuration into a fresh temporary directory, formats
the storage as a single-node dynamic quorum (``kafka.tools.StorageTool format
--standalone``), starts ``java … kafka.Kafka server.properties`` and waits until an
AdminClient gets metadata from it. It listens on loopback addresses only, on free ports.

With ``security="sasl_ssl"`` the client listener is SASL_SSL instead of PLAINTEXT: TLS with
a certificate made for the run (a fresh CA, :mod:`trustme`), SASL with the PLAIN,
SCRAM-SHA-256 and SCRAM-SHA-512 mechanisms and the users given (SCRAM credentials written
at format time, ``--add-scram``). The controller listener stays PLAINTEXT on loopback.
:meth:`KafkaBroker.client_properties` gives the Java-client keys of a user for that listener.

When ``KAFKA_BOOTSTRAP_SERVERS`` is set (:func:`bootstrap_from_env`), the test fixtures and
``arrowsmith broker start`` use that cluster instead of starting one.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil
from confluent_kafka.admin import AdminClient

from engine.broker.maven import DEFAULT_KAFKA_VERSION, classpath, fetch_kafka_broker, require_tools
from engine.spi.errors import ConnectError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
BROKER_MAIN = "kafka.Kafka"
STORAGE_TOOL_MAIN = "kafka.tools.StorageTool"
NODE_ID = 1
LOG_TAIL_LINES = 40
STOP_TIMEOUT_S = 20.0
_BIND_ATTEMPTS = 3
_WORK_PREFIX = "arrowsmith-kafka-"
_PID_FILE = "broker.pid.json"

# The small-machine JVM: Kafka's own performance flags (kafka-run-class.sh) and a small heap.
_JVM_FLAGS = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)


def bootstrap_from_env() -> str | None:
    """``KAFKA_BOOTSTRAP_SERVERS`` when set and not blank: use that cluster, start none."""
    value = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    return value or None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bound with port 0, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def new_cluster_id() -> str:
    """A random Kafka cluster id: a uuid4 in 22 characters of unpadded base64url.

    Like Kafka's ``Uuid.randomUuid``, never starts with ``-`` (it would read as an option).
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cid.startswith("-"):
            return cid


PLAINTEXT = "plaintext"
SASL_SSL = "sasl_ssl"
SECURITY_MODES = (PLAINTEXT, SASL_SSL)
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
BROKER_USER = "broker"  # the inter-broker user of a sasl_ssl broker
CA_FILE = "ca.pem"
CLIENT_PROPERTIES = "client.properties"
_UNSAFE = '",=[]\\\n;'  # would break the JAAS text or StorageTool's --add-scram syntax


@dataclass(frozen=True, slots=True)
class SaslSslSetup:
    """What a SASL_SSL broker is made with: its users and the PEM of its CA and certificate."""

    users: Mapping[str, str]  # name -> password, every one for PLAIN and both SCRAM mechanisms
    ca_pem: str
    cert_chain_pem: str
    key_pem: str  # PKCS#8, not encrypted

    @classmethod
    def generate(cls, users: Mapping[str, str]) -> SaslSslSetup:
        """A fresh CA and a certificate for 127.0.0.1 and localhost; ``users`` plus the broker's own."""
        try:
            import trustme
            from cryptography.hazmat.primitives import serialization
        except ImportError as exc:
            raise ConnectError(
                f"a SASL_SSL broker needs the trustme package for its certificates ({exc}): "
                "pip install trustme"
            ) from exc
        ca = trustme.CA()
        cert = ca.issue_cert(LOOPBACK, "localhost")
        key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), password=None)
        pkcs8 = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        chain = "".join(b.bytes().decode("ascii") for b in cert.cert_chain_pems)
        all_users = {BROKER_USER: secrets.token_urlsafe(18), **users}
        for name, password in all_users.items():
            if not name or any(c in _UNSAFE for c in name + password):
                raise ConnectError(
                    f"SASL user {name!r}: a name or password cannot be empty or hold any of {_UNSAFE!r}"
                )
        return cls(all_users, ca.cert_pem.bytes().decode("ascii"), chain, pkcs8.decode("ascii"))


def _jaas(module: str, user: str, password: str, extra: Mapping[str, str] | None = None) -> str:
    more = "".join(f' {k}="{v}"' for k, v in (extra or {}).items())
    return f'{module} required username="{user}" password="{password}"{more};'


PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


def sasl_ssl_properties(setup: SaslSslSetup, broker_port: int, controller_port: int) -> dict[str, str]:
    """The keys that turn :func:`server_properties` into a SASL_SSL broker (client listener)."""
    listeners = f"SASL_SSL://{LOOPBACK}:{broker_port},CONTROLLER://{LOOPBACK}:{controller_port}"
    own = setup.users[BROKER_USER]
    plain_users = {f"user_{u}": p for u, p in setup.users.items()}
    props = {
        "listeners": listeners,
        "advertised.listeners": listeners,
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": "PLAIN," + ",".join(SCRAM_MECHANISMS),
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": _jaas(PLAIN_MODULE, BROKER_USER, own, plain_users),
        "ssl.keystore.type": "PEM",
        "ssl.keystore.certificate.chain": setup.cert_chain_pem,
        "ssl.keystore.key": setup.key_pem,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.certificates": setup.ca_pem,
        "ssl.client.auth": "none",
    }
    for mech in SCRAM_MECHANISMS:
        props[f"listener.name.sasl_ssl.{mech.lower()}.sasl.jaas.config"] = _jaas(
            SCRAM_MODULE, BROKER_USER, own
        )
    return props


def server_properties(broker_port: int, controller_port: int, log_dir: Path) -> dict[str, str]:
    """The ``server.properties`` of a combined broker+controller node on loopback ports."""
    broker = f"PLAINTEXT://{LOOPBACK}:{broker_port}"
    controller = f"CONTROLLER://{LOOPBACK}:{controller_port}"
    return {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        # A dynamic quorum (KIP-853), formatted with --standalone: Kafka 4's quickstart.
        "controller.quorum.bootstrap.servers": f"{LOOPBACK}:{controller_port}",
        "listeners": f"{broker},{controller}",
        "advertised.listeners": f"{broker},{controller}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
        "group.initial.rebalance.delay.ms": "0",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # A test broker: a few partitions for the internal topics start groups faster.
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.num.partitions": "10",
    }


def log4j2_properties(log_file: Path, max_mb: int = 64) -> dict[str, str]:
    """A log4j2 configuration writing everything at INFO to ``log_file`` (rolled at ``max_mb``)."""
    return {
        "status": "warn",
        "name": "arrowsmith-kafka-broker",
        "appender.file.type": "RollingFile",
        "appender.file.name": "file",
        "appender.file.fileName": str(log_file),
        "appender.file.filePattern": f"{log_file}.%i",
        "appender.file.layout.type": "PatternLayout",
        "appender.file.layout.pattern": "[%d] %p %m (%c)%n",
        "appender.file.policies.type": "Policies",
        "appender.file.policies.size.type": "SizeBasedTriggeringPolicy",
        "appender.file.policies.size.size": f"{max_mb}MB",
        "appender.file.strategy.type": "DefaultRolloverStrategy",
        "appender.file.strategy.max": "1",
        "rootLogger.level": "INFO",
        "rootLogger.appenderRef.file.ref": "file",
        "logger.request.name": "kafka.request.logger",
        "logger.request.level": "WARN",
        "logger.channel.name": "kafka.network.RequestChannel$",
        "logger.channel.level": "WARN",
    }


def render_properties(props: Mapping[str, str]) -> str:
    """Java ``.properties`` text for ``props``."""

    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("\n", "\\n")

    return "".join(f"{esc(k)}={esc(v)}\n" for k, v in props.items())


def tail(path: Path, n: int) -> str:
    """The last ``n`` lines of the text file ``path`` ('' when it does not exist)."""
    try:
        with path.open("rb") as f:
            end = f.seek(0, os.SEEK_END)
            data = b""
            pos = end
            while pos > 0 and data.count(b"\n") <= n:
                step = min(65536, pos)
                pos -= step
                f.seek(pos)
                data = f.read(step) + data
    except OSError:
        return ""
    lines = data.decode("utf-8", "replace").splitlines()
    return "\n".join(lines[-n:]) if n > 0 else ""


@dataclass(frozen=True, slots=True)
class BrokerState:
    """What is needed to find and stop a broker later, from another process."""

    pid: int
    created_at: float  # the process's start time: guards against a reused pid
    bootstrap_servers: str
    controller: str
    work_dir: str
    log_file: str
    kafka_version: str
    security: str = PLAINTEXT
    client_properties: str = ""  # a sasl_ssl broker: the Java-client keys of its first user

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BrokerState:
        try:
            return cls(
                pid=int(data["pid"]),
                created_at=float(data["created_at"]),
                bootstrap_servers=str(data["bootstrap_servers"]),
                controller=str(data["controller"]),
                work_dir=str(data["work_dir"]),
                log_file=str(data["log_file"]),
                kafka_version=str(data["kafka_version"]),
                security=str(data.get("security", PLAINTEXT)),
                client_properties=str(data.get("client_properties", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConnectError(f"not a broker state record: {exc}") from exc


def is_broker_of(proc: psutil.Process, created_at: float, work_dir: str | Path) -> bool:
    """Whether ``proc`` is the JVM started in ``work_dir`` at ``created_at`` (not a process
    that reused its pid). psutil derives a start time from the boot time, which moves when
    the wall clock jumps under a running machine (a suspended laptop, a paused or restored
    VM): then the JVM's arguments, which name its ``server.properties`` in ``work_dir``,
    decide."""
    try:
        if abs(proc.create_time() - created_at) <= 1.0:
            return True
        return str(Path(work_dir) / "server.properties") in proc.cmdline()
    except psutil.Error:
        return False


def process_of(state: BrokerState) -> psutil.Process | None:
    """The running JVM ``state`` describes, or None (gone, or the pid now names another process)."""
    try:
        proc = psutil.Process(state.pid)
    except psutil.Error:
        return None
    if not is_broker_of(proc, state.created_at, state.work_dir):
        return None
    return None if _exited(proc) else proc


def stop_process(proc: psutil.Process, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM (Kafka shuts down cleanly), wait up to ``timeout_s``, then SIGKILL."""
    try:
        proc.terminate()
        proc.wait(timeout_s)
    except psutil.TimeoutExpired:
        log.warning("Kafka broker pid %d did not stop within %.0f s: killing it", proc.pid, timeout_s)
        proc.kill()
        proc.wait(timeout_s)
    except psutil.NoSuchProcess:
        pass


def stop_detached(state: BrokerState, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """Stop the broker ``state`` describes and remove its directory; False if it was not running."""
    proc = process_of(state)
    if proc is not None:
        stop_process(proc, timeout_s)
    shutil.rmtree(state.work_dir, ignore_errors=True)
    return proc is not None


class KafkaBroker:
    """A single-node KRaft Kafka broker (combined broker and controller) in a child JVM.

    ``start()`` returns the bootstrap servers once the broker answers metadata requests;
    ``stop()`` shuts it down and removes its temporary directory. Also a context manager.
    The JVM is stopped when this process exits, even when it is killed (Linux
    parent-death signal, when started from the main thread) — unless ``outlive_parent``:
    then it is double-forked into its own session and :meth:`detach` hands it over.
    """

    def __init__(
        self,
        version: str = DEFAULT_KAFKA_VERSION,
        *,
        cache: Path | None = None,
        work_root: Path | None = None,
        heap_max_mb: int = 512,
        heap_min_mb: int = 256,
        start_timeout_s: float = 90.0,
        properties: Mapping[str, str] | None = None,
        outlive_parent: bool = False,
        security: str = PLAINTEXT,
        users: Mapping[str, str] | None = None,
    ) -> None:
        """``security``: ``"plaintext"`` (the default) or ``"sasl_ssl"``; ``users`` (name to
        password) are the SASL users of a sasl_ssl broker (default: ``arrowsmith`` with a
        random password)."""
        if security not in SECURITY_MODES:
            raise ConnectError(
                f"KafkaBroker security must be one of {', '.join(SECURITY_MODES)}, not {security!r}"
            )
        if users and security != SASL_SSL:
            raise ConnectError("KafkaBroker users need security='sasl_ssl'")
        self.security = security
        self._users = dict(users or {"arrowsmith": secrets.token_urlsafe(18)})
        self._sasl: SaslSslSetup | None = None
        self.version = version
        self._cache = cache
        self._work_root = work_root
        self._heap = (heap_min_mb, heap_max_mb)
        self._start_timeout_s = start_timeout_s
        self._overrides = dict(properties or {})
        self._outlive_parent = outlive_parent
        self._popen: subprocess.Popen[bytes] | None = None  # our child JVM (not outlive_parent)
        self._jvm: psutil.Process | None = None
        self._work_dir: Path | None = None
        self._ports = (0, 0)
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self.startup_s: float | None = None

    # -- public -------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        if self._jvm is None:
            raise ConnectError("the Kafka broker is not started")
        return f"{LOOPBACK}:{self._ports[0]}"

    @property
    def controller(self) -> str:
        return f"{LOOPBACK}:{self._ports[1]}"

    @property
    def pid(self) -> int | None:
        return self._jvm.pid if self._jvm is not None else None

    @property
    def work_dir(self) -> Path | None:
        return self._work_dir

    @property
    def log_file(self) -> Path | None:
        return self._work_dir / "broker.log" if self._work_dir is not None else None

    @property
    def returncode(self) -> int | None:
        """The JVM's exit code once it has exited (143: SIGTERM); None while running or unknown."""
        return self._popen.poll() if self._popen is not None else None

    def running(self) -> bool:
        return self._jvm is not None and not _exited(self._jvm, self._popen)

    @property
    def users(self) -> dict[str, str]:
        """The SASL users (name to password) of a sasl_ssl broker, without the broker's own."""
        return dict(self._users) if self.security == SASL_SSL else {}

    @property
    def ca_file(self) -> Path | None:
        """The PEM file of the CA that signed a sasl_ssl broker's certificate (None before start)."""
        if self.security != SASL_SSL or self._work_dir is None:
            return None
        return self._work_dir / CA_FILE

    def client_properties(self, user: str | None = None, mechanism: str = "SCRAM-SHA-512") -> dict[str, str]:
        """Java-client keys (as in worker.properties) to reach this broker as ``user``
        (default: the first one) with ``mechanism``; ``{}`` for a plaintext broker."""
        if self.security != SASL_SSL:
            return {}
        name = user or next(iter(self._users))
        module = PLAIN_MODULE if mechanism == "PLAIN" else SCRAM_MODULE
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": mechanism,
            "sasl.jaas.config": _jaas(module, name, self._password(name)),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
        }

    def client_config(self, user: str | None = None, mechanism: str = "SCRAM-SHA-512") -> dict[str, Any]:
        """librdkafka settings (bootstrap servers included) to reach this broker as ``user``."""
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers}
        if self.security == SASL_SSL:
            name = user or next(iter(self._users))
            conf.update(
                {
                    "security.protocol": "SASL_SSL",
                    "sasl.mechanisms": mechanism,
                    "sasl.username": name,
                    "sasl.password": self._password(name),
                    "ssl.ca.location": str(self.ca_file),
                }
            )
        return conf

    def _password(self, user: str) -> str:
        known = self._sasl.users if self._sasl is not None else self._users
        if user not in known:
            raise ConnectError(f"this Kafka broker has no SASL user {user!r}")
        return known[user]

    def log_tail(self, n: int = LOG_TAIL_LINES) -> str:
        """The last ``n`` lines of the broker's log ('' before it starts)."""
        return tail(self.log_file, n) if self.log_file is not None else ""

    def start(self) -> str:
        """Fetch the jars if needed, start the broker, wait until ready; the bootstrap servers."""
        if self._jvm is not None:
            raise ConnectError("this Kafka broker is already started")
        require_tools(("java",))
        cp = classpath(fetch_kafka_broker(self.version, cache=self._cache))
        started = time.monotonic()
        if self.security == SASL_SSL and self._sasl is None:
            self._sasl = SaslSslSetup.generate(self._users)
        for attempt in range(1, _BIND_ATTEMPTS + 1):
            try:
                self._launch(cp)
                self._wait_ready(started + self._start_timeout_s)
                break
            except _PortTaken:
                self.stop()
                if attempt == _BIND_ATTEMPTS:
                    raise ConnectError("Kafka broker: no free loopback port after 3 attempts") from None
                log.info("a chosen port was taken meanwhile; starting again with other ports")
            except BaseException:
                self.stop()
                raise
        self.startup_s = time.monotonic() - started
        log.info(
            "Kafka %s broker ready at %s in %.1f s", self.version, self.bootstrap_servers, self.startup_s
        )
        return self.bootstrap_servers

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL after ``timeout_s``) and remove the directory."""
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        jvm, popen, work_dir = self._jvm, self._popen, self._work_dir
        self._jvm = self._popen = None
        _cleanup(jvm, popen, work_dir, timeout_s)

    def state(self) -> BrokerState:
        """How to find this running broker from another process."""
        if self._jvm is None or self._work_dir is None or self.log_file is None:
            raise ConnectError("the Kafka broker is not started")
        return BrokerState(
            pid=self._jvm.pid,
            created_at=self._jvm.create_time(),
            bootstrap_servers=self.bootstrap_servers,
            controller=self.controller,
            work_dir=str(self._work_dir),
            log_file=str(self.log_file),
            kafka_version=self.version,
            security=self.security,
            client_properties=str(self._work_dir / CLIENT_PROPERTIES) if self.security == SASL_SSL else "",
        )

    def detach(self) -> BrokerState:
        """Give up ownership: the JVM and its directory stay; returns how to find them."""
        if not self._outlive_parent:
            raise ConnectError("only a KafkaBroker(outlive_parent=True) can be detached")
        state = self.state()
        self._jvm = self._work_dir = None
        return state

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- startup ------------------------------------------------------------------------

    def _launch(self, cp: str) -> None:
        _sweep_stale(Path(self._work_root or tempfile.gettempdir()))
        work = Path(tempfile.mkdtemp(prefix=_WORK_PREFIX, dir=self._work_root))
        self._work_dir = work
        self._ports = (free_port(), free_port())
        while self._ports[1] == self._ports[0]:
            self._ports = (self._ports[0], free_port())
        props = server_properties(self._ports[0], self._ports[1], work / "data")
        if self._sasl is not None:
            props.update(sasl_ssl_properties(self._sasl, *self._ports))
            (work / CA_FILE).write_text(self._sasl.ca_pem)
            client = work / CLIENT_PROPERTIES
            client.touch(0o600)
            client.write_text(render_properties(self.client_properties()))
        props.update(self._overrides)
        server = work / "server.properties"
        server.touch(0o600)  # a sasl_ssl broker's holds its key and its users' passwords
        server.write_text(render_properties(props))
        (work / "log4j2.properties").write_text(render_properties(log4j2_properties(work / "broker.log")))
        self._format(cp, work)
        heap_min, heap_max = self._heap
        cmd = [
            "java",
            f"-Xmx{heap_max}m",
            f"-Xms{heap_min}m",
            *_JVM_FLAGS,
            f"-Dlog4j2.configurationFile={work / 'log4j2.properties'}",
            "-cp",
            cp,
            BROKER_MAIN,
            str(work / "server.properties"),
        ]
        if self._outlive_parent:
            self._jvm = _spawn_detached(cmd, work, work / "jvm.out")
        else:
            with (work / "jvm.out").open("wb") as out:
                self._popen = subprocess.Popen(
                    [*_die_with_parent(), *cmd],
                    cwd=work,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            self._jvm = psutil.Process(self._popen.pid)
            self._finalizer = weakref.finalize(self, _cleanup, self._jvm, self._popen, work, STOP_TIMEOUT_S)
        pid_file = {"pid": self._jvm.pid, "created_at": self._jvm.create_time()}
        (work / _PID_FILE).write_text(json.dumps(pid_file))
        log.debug("Kafka broker pid %d in %s", self._jvm.pid, work)

    def _format(self, cp: str, work: Path) -> None:
        cmd = [
            "java",
            "-Xmx256m",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={work / 'log4j2.properties'}",
            "-cp",
            cp,
            STORAGE_TOOL_MAIN,
            "format",
            "--cluster-id",
            new_cluster_id(),
            "--config",
            str(work / "server.properties"),
            "--standalone",
        ]
        if self._sasl is not None:
            for name, password in self._sasl.users.items():
                for mech in SCRAM_MECHANISMS:
                    cmd += ["--add-scram", f"{mech}=[name={name},password={password}]"]
        done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise ConnectError(
                f"formatting the Kafka {self.version} storage failed (exit {done.returncode}): "
                f"{(done.stdout + done.stderr).strip()}\n{self.log_tail(10)}"
            )

    def _wait_ready(self, deadline: float) -> None:
        """Until an AdminClient sees this broker in the metadata; raise if the JVM exits."""
        admin: AdminClient | None = None
        while True:
            self._check_alive()
            if time.monotonic() > deadline:
                raise ConnectError(
                    f"Kafka broker not ready within {self._start_timeout_s:.0f} s; "
                    f"last lines of its log:\n{self._diagnostics()}"
                )
            if admin is None:
                if not _accepts(LOOPBACK, self._ports[0]):
                    time.sleep(0.1)
                    continue
                conf: dict[str, Any] = {
                    **self.client_config(BROKER_USER if self._sasl is not None else None),
                    "logger": _rdkafka_log,
                }
                admin = AdminClient(conf)
            try:
                md = admin.list_topics(timeout=2.0)
                if NODE_ID in md.brokers:
                    return
            except Exception as exc:  # KafkaException: not ready yet
                log.debug("broker not ready yet: %s", exc)
            time.sleep(0.1)

    def _check_alive(self) -> None:
        assert self._jvm is not None
        if not _exited(self._jvm, self._popen):
            return
        diagnostics = self._diagnostics()
        if "Address already in use" in diagnostics:
            raise _PortTaken
        code = self.returncode
        raise ConnectError(
            f"the Kafka broker JVM exited{'' if code is None else f' with code {code}'} during startup; "
            f"last lines of its log:\n{diagnostics}"
        )

    def _diagnostics(self) -> str:
        text = self.log_tail()
        if self._work_dir is not None:
            out = tail(self._work_dir / "jvm.out", 20)
            if out:
                text = f"{text}\n--- JVM stdout/stderr ---\n{out}"
        return text


class _PortTaken(Exception):
    """A port picked as free was taken before the broker bound it."""


_rdkafka_log = logging.getLogger("engine.broker.rdkafka")


def _sweep_stale(root: Path) -> None:
    """Remove broker directories left behind by JVMs that are gone (their owner was killed)."""
    for work in root.glob(f"{_WORK_PREFIX}*"):
        try:
            data = json.loads((work / _PID_FILE).read_text())
            alive = is_broker_of(psutil.Process(int(data["pid"])), float(data["created_at"]), work)
        except psutil.NoSuchProcess:
            alive = False
        except (OSError, ValueError, KeyError, TypeError, psutil.Error):
            continue  # not ours, still starting, or not readable: leave it
        if not alive:
            log.info("removing %s, left behind by a Kafka broker that is gone", work)
            shutil.rmtree(work, ignore_errors=True)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _exited(jvm: psutil.Process, popen: subprocess.Popen[bytes] | None = None) -> bool:
    if popen is not None:
        return popen.poll() is not None
    try:  # not our child: gone, or a zombie its new parent has not reaped yet
        return not jvm.is_running() or jvm.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _cleanup(
    jvm: psutil.Process | None,
    popen: subprocess.Popen[bytes] | None,
    work_dir: Path | None,
    timeout_s: float,
) -> None:
    if jvm is not None and not _exited(jvm, popen):
        stop_process(jvm, timeout_s)
    if popen is not None:
        popen.wait()  # reap it
    if work_dir is not None:
        shutil.rmtree(work_dir, ignore_errors=True)


def _spawn_detached(cmd: list[str], cwd: Path, out: Path) -> psutil.Process:
    """Double-fork ``cmd`` into a session of its own (via ``sh``); the process it became."""
    script = 'exec "$@" </dev/null >>"$ARROWSMITH_JVM_OUT" 2>&1 &\necho $!'
    done = subprocess.run(
        ["sh", "-c", script, "sh", *cmd],
        cwd=cwd,
        env={**os.environ, "ARROWSMITH_JVM_OUT": str(out)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        start_new_session=True,
        timeout=30,
        check=False,
    )
    try:
        return psutil.Process(int(done.stdout.strip()))
    except (ValueError, psutil.NoSuchProcess):
        raise ConnectError(
            f"the Kafka broker JVM did not start: {done.stderr.strip()} {tail(out, 20)}".strip()
        ) from None


def _die_with_parent() -> list[str]:
    """A command prefix asking Linux to SIGTERM the JVM when this thread ends, or [].

    ``setpriv`` (util-linux, on every Debian) sets the parent-death signal and execs the
    command. The "parent" is the thread that forks, hence only from the main thread.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return []
    return [setpriv, "--pdeathsig", "TERM", "--"]
