"""Standalone mode: one control plane with its worker processes, connectors from files."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
import weakref
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from controlplane.herder import STARTED, StandaloneHerder, check_names, worker_id
from controlplane.offset_store import FileOffsetStore
from controlplane.properties import read_config_file
from controlplane.rest.security import RestSecurity, advertised_listener, bind_listeners
from controlplane.supervisor import prespawn
from engine.plugins import PluginRegistry
from engine.runtime import connector_config, fork_server, secret_scrubber, worker_process
from engine.runtime.clients import check_client_settings
from engine.runtime.connector_config import SECRET_SUFFIXES
from engine.runtime.worker_config import WorkerConfig
from engine.spi.config import ConfigDef
from engine.spi.errors import ConfigError, ConnectError

if TYPE_CHECKING:
    from controlplane.rest.server import RestServer

log = logging.getLogger(__name__)
H = TypeVar("H", bound=StandaloneHerder)


def _end_check(pid: int, fd: int) -> None:
    """Kill and reap a broker check nobody reads (the start failed before it was needed)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)
    os.close(fd)


class BrokerCheck:
    """:func:`check_broker`, started early: in a child forked at the start of :func:`prepare`
    (while the process has no other thread), so the broker's answer (a connection and a
    metadata request, ~0.1 s) comes on the second core while this process imports its
    plugins. :meth:`result` is the cluster id, or raises the error the check raised, exactly
    as a check made in this process; where this process cannot fork it checks then."""

    def __init__(
        self, bootstrap: str, props: Mapping[str, Any], timeout: float = 10.0, *, fork: bool = True
    ) -> None:
        self.bootstrap = bootstrap
        self.props = dict(props)
        self.timeout = timeout
        self._pid: int | None = None
        self._fd = -1
        self._reap: weakref.finalize[Any, BrokerCheck] | None = None
        if not fork or not fork_server.fork_safe():
            return
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: check, write the answer, exit without the parent's exit handlers
            code = 0
            try:
                os.close(read_end)
                try:
                    answer = {"cluster_id": check_broker(bootstrap, timeout, self.props)}
                except ConnectError as e:
                    answer = {"error": str(e)}
                os.write(write_end, json.dumps(answer).encode())
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write_end)
        self._pid, self._fd = pid, read_end
        self._reap = weakref.finalize(self, _end_check, pid, read_end)

    def _answer(self) -> str:
        if self._pid is None:
            return check_broker(self.bootstrap, self.timeout, self.props)
        assert self._reap is not None
        self._reap.detach()
        with open(self._fd, "rb") as f:  # until the child exits
            data = f.read()
        os.waitpid(self._pid, 0)
        self._pid = None
        if not data:  # the child died without an answer (killed): check here
            return check_broker(self.bootstrap, self.timeout, self.props)
        answer = json.loads(data)
        if "error" in answer:
            raise ConnectError(answer["error"])
        return str(answer["cluster_id"])

    async def result(self) -> str:
        """The cluster id (waits for the check to end)."""
        return await asyncio.to_thread(self._answer)

    def close(self) -> None:
        """End a check whose answer is not wanted any more."""
        if self._reap is not None:
            self._reap()
        self._pid = None


@dataclass
class Prepared:
    worker_props: dict[str, str]
    worker: WorkerConfig
    registry: PluginRegistry
    connectors: list[dict[str, str]]
    broker: BrokerCheck | None = field(default=None, repr=False)

    async def cluster_id(self) -> str:
        """Check the broker (or take the early check's answer); its cluster id."""
        bootstrap = ",".join(self.worker.get("bootstrap.servers"))
        if self.broker is None or self.broker.bootstrap != bootstrap:
            return await asyncio.to_thread(
                check_broker, bootstrap, 10.0, {**self.worker_props, "bootstrap.servers": bootstrap}
            )
        return await self.broker.result()


def prepare(
    worker_file: str,
    connector_files: Sequence[str],
    definition: ConfigDef | None = None,
    *,
    log_level: str | None = None,
) -> Prepared:
    """Read and validate everything before anything starts (nothing is half-started but
    the worker processes: with ``log_level`` they start as soon as the worker file is read,
    to be adopted by the supervisor, and exit with this process if validation fails; and the
    broker is checked meanwhile, see :class:`BrokerCheck`)."""
    props = read_config_file(worker_file)
    worker = WorkerConfig(props, definition)
    broker: BrokerCheck | None = None
    if log_level is not None and not props.get("config.providers"):
        check_client_settings(props)  # a Kafka security key that cannot be translated stops the start
        broker = BrokerCheck(",".join(worker.get("bootstrap.servers")), props)
    try:
        return _prepare(props, worker, connector_files, definition, log_level, broker)
    except BaseException:
        if broker is not None:
            broker.close()
        raise


def _prepare(
    props: dict[str, str],
    worker: WorkerConfig,
    connector_files: Sequence[str],
    definition: ConfigDef | None,
    log_level: str | None,
    broker: BrokerCheck | None,
) -> Prepared:
    path = worker.get("plugin.path") or []
    plugin_path = str(props.get("plugin.path", ""))
    forking = log_level is not None and (fork_server.available() or fork_server.can_start())
    if log_level is not None and not forking:  # spawned workers import while this discovers
        prespawn(int(worker.get("worker.processes")), log_level, plugin_path)
    registry = PluginRegistry.discover([str(p) for p in path])
    if log_level is not None and forking:
        # Fork the workers from this image: the plugins they run are imported already.
        worker_process.remember_registry(plugin_path, registry)
        fork_server.start()
        prespawn(int(worker.get("worker.processes")), log_level, plugin_path)
    if props.get("config.providers"):
        # Kafka Connect resolves ${provider:path:key} in the worker config at start, too
        # (config-providers.md); the values are registered with the log scrubber.
        from engine.runtime.config_transform import ConfigTransformer

        props = ConfigTransformer.from_worker_props(props, registry).transform(props).config
        worker = WorkerConfig(props, definition)
    secret_scrubber.register(str(v) for k, v in props.items() if k.lower().endswith(SECRET_SUFFIXES))
    if broker is None:
        check_client_settings(props)
    connectors = [read_config_file(f) for f in connector_files]
    check_names(connectors)
    for c in connectors:
        config = {k: v for k, v in c.items() if not k.startswith("__")}
        connector_config.check(registry, config, worker.get("connector.client.config.override.policy"))
    return Prepared(props, worker, registry, connectors, broker)


def check_broker(bootstrap: str, timeout: float = 10.0, worker_props: Mapping[str, Any] | None = None) -> str:
    """Fail clearly if the Kafka cluster cannot be reached or refuses the worker's credentials
    (its security settings from ``worker_props``); return its cluster id."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    from engine.runtime.clients import kafka_config

    refused: list[KafkaError] = []

    def on_error(err: KafkaError) -> None:
        if err.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL):
            refused.append(err)

    conf: dict[str, Any] = {
        **kafka_config({**(worker_props or {}), "bootstrap.servers": bootstrap}),
        "socket.connection.setup.timeout.ms": str(int(timeout * 1000)),
        "error_cb": on_error,
        "logger": logging.getLogger("librdkafka"),
    }
    admin = AdminClient(conf)
    deadline = time.monotonic() + timeout
    meta = None
    while meta is None and not refused:
        try:
            meta = admin.list_topics(timeout=min(1.0, max(0.1, deadline - time.monotonic())))
        except KafkaException as e:
            admin.poll(0.1)  # serves error_cb: a refused login
            if time.monotonic() >= deadline:
                raise ConnectError(
                    f"Could not reach Kafka at bootstrap.servers={bootstrap} within {timeout:.0f}s: "
                    f"{e.args[0]}"
                ) from e
    if refused:
        what = "authentication" if refused[0].code() == KafkaError._AUTHENTICATION else "TLS"
        raise ConnectError(
            f"Kafka at bootstrap.servers={bootstrap} refused the worker ({what} failed): {refused[0].str()}"
        )
    assert meta is not None
    return str(meta.cluster_id)


async def run(
    prepared: Prepared,
    until: Callable[[StandaloneHerder], Coroutine[Any, Any, None]] | None = None,
    log_level: str = "INFO",
) -> int:
    """Run the standalone worker until SIGINT/SIGTERM (or until ``until`` returns).

    The REST listeners are bound first (a taken port stops the start before anything runs)
    and served once the connectors are created: uvicorn and starlette are imported while the
    worker processes start the tasks, on the other core, rather than before."""
    worker = prepared.worker
    bootstrap = ",".join(worker.get("bootstrap.servers"))
    props = {**prepared.worker_props, "bootstrap.servers": bootstrap}
    security = RestSecurity.from_props(props)
    security.check_exposure()
    bound = bind_listeners(worker.get("listeners"))
    try:
        cluster_id = await prepared.cluster_id()
        offsets = FileOffsetStore(worker.get("offset.storage.file.filename"))
        offsets.load()
        herder = StandaloneHerder(
            props, prepared.registry, offsets, worker.get("worker.processes"), log_level
        )
        herder.kafka_cluster_id = cluster_id
        port = advertised_listener(bound, security.advertised_scheme).port()
        herder.worker_id = worker_id(
            {**props, "rest.advertised.port": props.get("rest.advertised.port") or str(port)}
        )

        async def create_connectors() -> RestServer:
            for c in prepared.connectors:
                initial = c.get("__initial_state", "RUNNING")
                target = {"RUNNING": STARTED, "PAUSED": "PAUSED", "STOPPED": "STOPPED"}.get(initial, STARTED)
                config = {k: v for k, v in c.items() if not k.startswith("__")}
                await herder.put_connector(config["name"], config, target=target)
                log.info("Connector %s created", config["name"])
            from controlplane.rest.app import create_app
            from controlplane.rest.server import RestServer

            rest = RestServer(create_app(herder, security=security), bound)
            await rest.start()
            return rest

        return await serve(herder, create_connectors, until)
    finally:
        for b in bound:  # closed already if the server ran
            b.close()


async def serve(
    herder: H,
    then: Callable[[], Coroutine[Any, Any, RestServer | None]],
    until: Callable[[H], Coroutine[Any, Any, None]] | None = None,
    rest: RestServer | None = None,
) -> int:
    """Start the herder, run ``then`` (which may start the REST server and return it), and
    serve until SIGINT/SIGTERM (or ``until`` returns); then stop the REST server(s) and the
    herder."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    servers = [rest] if rest is not None else []
    try:
        await herder.start()
        started = await then()
        if started is not None:
            servers.append(started)
        waiters: list[asyncio.Task[Any]] = [loop.create_task(stop.wait())]
        if until is not None:
            waiters.append(loop.create_task(until(herder)))
        _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for p in pending:
            p.cancel()
        log.info("Stopping")
    finally:
        for server in servers:
            await server.stop()
        await herder.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def run_blocking(
    prepared: Prepared,
    until: Callable[[StandaloneHerder], Coroutine[Any, Any, None]] | None = None,
    log_level: str = "INFO",
) -> int:
    import uvloop

    return uvloop.run(run(prepared, until, log_level))


__all__ = ["BrokerCheck", "ConfigError", "Prepared", "check_broker", "prepare", "run", "run_blocking"]


async def preview_once(
    prepared: Prepared, records: int, timeout_s: float, log_level: str = "INFO"
) -> dict[str, Any]:
    """``arrowsmith preview``: one worker process, no connector started, one preview."""
    from controlplane.preview import preview

    worker = prepared.worker
    bootstrap = ",".join(worker.get("bootstrap.servers"))
    props = {**prepared.worker_props, "bootstrap.servers": bootstrap}
    await prepared.cluster_id()
    offsets = FileOffsetStore(worker.get("offset.storage.file.filename"))
    offsets.load()
    herder = StandaloneHerder(props, prepared.registry, offsets, 1, log_level)
    await herder.start()
    try:
        config = {k: v for k, v in prepared.connectors[0].items() if not k.startswith("__")}
        return await preview(herder, config, records, timeout_s)
    finally:
        await herder.stop()
