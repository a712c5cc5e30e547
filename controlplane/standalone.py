"""Standalone mode: one control plane with its worker processes, connectors from files."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from controlplane.herder import STARTED, StandaloneHerder, check_names, worker_id
from controlplane.offset_store import FileOffsetStore
from controlplane.properties import read_config_file
from controlplane.rest.app import create_app
from controlplane.rest.security import RestSecurity
from controlplane.rest.server import RestServer
from controlplane.supervisor import prespawn
from engine.plugins import PluginRegistry
from engine.runtime import connector_config, fork_server, secret_scrubber, worker_process
from engine.runtime.clients import check_client_settings
from engine.runtime.connector_config import SECRET_SUFFIXES
from engine.runtime.worker_config import WorkerConfig
from engine.spi.config import ConfigDef
from engine.spi.errors import ConfigError, ConnectError

log = logging.getLogger(__name__)
H = TypeVar("H", bound=StandaloneHerder)


@dataclass
class Prepared:
    worker_props: dict[str, str]
    worker: WorkerConfig
    registry: PluginRegistry
    connectors: list[dict[str, str]]


def prepare(
    worker_file: str,
    connector_files: Sequence[str],
    definition: ConfigDef | None = None,
    *,
    log_level: str | None = None,
) -> Prepared:
    """Read and validate everything before anything starts (nothing is half-started but
    the worker processes: with ``log_level`` they start as soon as the worker file is read,
    to be adopted by the supervisor, and exit with this process if validation fails)."""
    props = read_config_file(worker_file)
    worker = WorkerConfig(props, definition)
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
    check_client_settings(props)  # a Kafka security key that cannot be translated stops the start
    connectors = [read_config_file(f) for f in connector_files]
    check_names(connectors)
    for c in connectors:
        config = {k: v for k, v in c.items() if not k.startswith("__")}
        connector_config.check(registry, config, worker.get("connector.client.config.override.policy"))
    return Prepared(props, worker, registry, connectors)


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
    """Run the standalone worker until SIGINT/SIGTERM (or until ``until`` returns)."""
    worker = prepared.worker
    bootstrap = ",".join(worker.get("bootstrap.servers"))
    props = {**prepared.worker_props, "bootstrap.servers": bootstrap}
    security = RestSecurity.from_props(props)
    security.check_exposure()
    cluster_id = await asyncio.to_thread(check_broker, bootstrap, 10.0, props)
    offsets = FileOffsetStore(worker.get("offset.storage.file.filename"))
    offsets.load()
    herder = StandaloneHerder(props, prepared.registry, offsets, worker.get("worker.processes"), log_level)
    herder.kafka_cluster_id = cluster_id
    rest = RestServer(create_app(herder, security=security), worker.get("listeners"))
    # the worker processes are up before the REST API takes a request that places tasks
    await herder.start()
    url = await rest.start()
    herder.worker_id = worker_id(
        {
            **props,
            "rest.advertised.port": props.get("rest.advertised.port") or url.rsplit(":", 1)[1].strip("/"),
        }
    )

    async def create_connectors() -> None:
        for c in prepared.connectors:
            initial = c.get("__initial_state", "RUNNING")
            target = {"RUNNING": STARTED, "PAUSED": "PAUSED", "STOPPED": "STOPPED"}.get(initial, STARTED)
            config = {k: v for k, v in c.items() if not k.startswith("__")}
            await herder.put_connector(config["name"], config, target=target)
            log.info("Connector %s created", config["name"])

    return await serve(herder, rest, create_connectors, until)


async def serve(
    herder: H,
    rest: RestServer,
    then: Callable[[], Coroutine[Any, Any, None]],
    until: Callable[[H], Coroutine[Any, Any, None]] | None = None,
) -> int:
    """Start the herder, run ``then``, and serve until SIGINT/SIGTERM (or ``until`` returns);
    then stop the REST server and the herder."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await herder.start()
        await then()
        waiters: list[asyncio.Task[Any]] = [loop.create_task(stop.wait())]
        if until is not None:
            waiters.append(loop.create_task(until(herder)))
        _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for p in pending:
            p.cancel()
        log.info("Stopping")
    finally:
        await rest.stop()
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


__all__ = ["ConfigError", "Prepared", "check_broker", "prepare", "run", "run_blocking"]


async def preview_once(
    prepared: Prepared, records: int, timeout_s: float, log_level: str = "INFO"
) -> dict[str, Any]:
    """``arrowsmith preview``: one worker process, no connector started, one preview."""
    from controlplane.preview import preview

    worker = prepared.worker
    bootstrap = ",".join(worker.get("bootstrap.servers"))
    props = {**prepared.worker_props, "bootstrap.servers": bootstrap}
    await asyncio.to_thread(check_broker, bootstrap, 10.0, props)
    offsets = FileOffsetStore(worker.get("offset.storage.file.filename"))
    offsets.load()
    herder = StandaloneHerder(props, prepared.registry, offsets, 1, log_level)
    await herder.start()
    try:
        config = {k: v for k, v in prepared.connectors[0].items() if not k.startswith("__")}
        return await preview(herder, config, records, timeout_s)
    finally:
        await herder.stop()
