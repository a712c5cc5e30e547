"""The standalone herder: connector lifecycle, task configs, target states, statuses.

It runs connectors (their ``start``/``task_configs`` calls, off the event loop) in the
control plane and places their tasks on the worker processes. Task statuses and source
offsets come back over the control pipes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controlplane.offset_store import FileOffsetStore
from controlplane.supervisor import Supervisor
from engine.plugins import PluginRegistry, PluginType
from engine.runtime import connector_config
from engine.runtime.messages import (
    CommitOffsets,
    OffsetsWritten,
    SetTargetState,
    StartTask,
    StopTask,
    TaskSpec,
    TaskStatus,
    TaskStopped,
    task_name,
)
from engine.spi.connector import Connector, ConnectorContext, SinkConnector
from engine.spi.errors import AlreadyExistsError, ConfigError, ConnectError, NotFoundError

log = logging.getLogger(__name__)

STARTED, PAUSED, STOPPED = "STARTED", "PAUSED", "STOPPED"


@dataclass
class Status:
    state: str
    trace: str | None = None
    worker_id: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "worker_id": self.worker_id}
        if self.trace:
            out["trace"] = self.trace
        return out


@dataclass
class ConnectorEntry:
    name: str
    config: dict[str, str]
    target: str = STARTED
    instance: Connector | None = None
    is_sink: bool = False
    task_configs: list[dict[str, str]] = field(default_factory=list)
    status: Status = field(default_factory=lambda: Status("UNASSIGNED"))
    tasks: dict[int, Status] = field(default_factory=dict)
    stopped: dict[int, asyncio.Event] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return "sink" if self.is_sink else "source"


class _Context(ConnectorContext):
    def __init__(self, herder: StandaloneHerder, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self._herder, self._name, self._loop = herder, name, loop

    def request_task_reconfiguration(self) -> None:
        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._herder.reconfigure(self._name)))

    def raise_error(self, error: BaseException) -> None:
        self._loop.call_soon_threadsafe(self._herder.connector_failed, self._name, error)


def worker_id(props: Mapping[str, str]) -> str:
    host = props.get("rest.advertised.host.name") or socket.gethostname() or "127.0.0.1"
    port = props.get("rest.advertised.port")
    if not port:
        listener = (props.get("listeners") or "http://:8083").split(",")[0]
        port = listener.rsplit(":", 1)[-1].strip("/") or "8083"
    return f"{host}:{port}"


class StandaloneHerder:
    def __init__(
        self,
        worker_props: Mapping[str, str],
        registry: PluginRegistry,
        offsets: FileOffsetStore,
        processes: int,
        log_level: str = "INFO",
    ) -> None:
        self.worker_props = dict(worker_props)
        self.registry = registry
        self.offsets = offsets
        self.worker_id = worker_id(worker_props)
        self.connectors: dict[str, ConnectorEntry] = {}
        self.supervisor = Supervisor(processes, self._on_message, self._on_worker_death, log_level)
        self.shutdown_timeout_ms = int(worker_props.get("task.shutdown.graceful.timeout.ms", "5000"))

    async def start(self) -> None:
        await self.supervisor.start()

    # -- connectors --------------------------------------------------------------------------
    def validate(self, config: Mapping[str, str]) -> None:
        connector_config.check(self.registry, config)

    async def put_connector(
        self, name: str, config: Mapping[str, str], *, replace: bool = True, target: str = STARTED
    ) -> bool:
        """Create or update a connector; True if it was created."""
        config = {**config, "name": name}
        await asyncio.to_thread(self.validate, config)
        existing = self.connectors.get(name)
        if existing is not None:
            if not replace:
                raise AlreadyExistsError(f"Connector {name} already exists")
            target = existing.target
            await self._stop_connector(existing)
        cls = self.registry.resolve(config["connector.class"], (PluginType.SOURCE, PluginType.SINK))
        entry = ConnectorEntry(name, config, target, is_sink=issubclass(cls, SinkConnector))
        self.connectors[name] = entry
        await self._start_connector(entry)
        return existing is None

    async def _start_connector(self, entry: ConnectorEntry) -> None:
        if entry.target == STOPPED:
            entry.status = Status("STOPPED", worker_id=self.worker_id)
            return
        cls = self.registry.resolve(entry.config["connector.class"], (PluginType.SOURCE, PluginType.SINK))
        instance: Connector = cls()  # type: ignore[assignment]
        instance.initialize(_Context(self, entry.name, asyncio.get_running_loop()))
        entry.instance = instance
        try:
            await asyncio.to_thread(instance.start, entry.config)
            entry.status = Status("PAUSED" if entry.target == PAUSED else "RUNNING", worker_id=self.worker_id)
            await self._start_tasks(entry)
        except Exception as e:
            self.connector_failed(entry.name, e)

    async def _start_tasks(self, entry: ConnectorEntry) -> None:
        assert entry.instance is not None
        max_tasks = int(entry.config.get("tasks.max", "1"))
        configs = await asyncio.to_thread(entry.instance.task_configs, max_tasks)
        if len(configs) > max_tasks and entry.config.get("tasks.max.enforce", "true").lower() == "true":
            raise ConnectError(
                f"The connector {entry.name} has generated {len(configs)} tasks, which is greater than "
                f"{max_tasks}, the maximum number of tasks it is configured to create. "
            )
        task_cls = entry.instance.task_class()
        entry.task_configs = []
        for generated in configs:
            tc = {**generated, "task.class": f"{task_cls.__module__}.{task_cls.__qualname__}"}
            if entry.is_sink:
                for key in ("topics", "topics.regex"):
                    if key in entry.config:
                        tc[key] = entry.config[key]
            entry.task_configs.append(tc)
        for i, tc in enumerate(entry.task_configs):
            self._launch(entry, i, tc)

    def _launch(self, entry: ConnectorEntry, index: int, task_config: dict[str, str]) -> None:
        spec = TaskSpec(
            connector=entry.name,
            task=index,
            connector_config=entry.config,
            task_config=task_config,
            worker_config=self.worker_props,
            offsets=[] if entry.is_sink else self.offsets.offsets(entry.name),
            target_state=entry.target,
        )
        entry.tasks[index] = Status("UNASSIGNED", worker_id=self.worker_id)
        entry.stopped[index] = asyncio.Event()
        w = self.supervisor.place(spec.name)
        self.supervisor.send(w, StartTask(spec))

    async def _stop_tasks(self, entry: ConnectorEntry) -> None:
        for index in list(entry.tasks):
            w = self.supervisor.place(task_name(entry.name, index))
            self.supervisor.send(w, StopTask(entry.name, index))
        waits = [e.wait() for e in entry.stopped.values()]
        if waits:
            try:
                await asyncio.wait_for(asyncio.gather(*waits), self.shutdown_timeout_ms / 1000 + 5)
            except TimeoutError:
                log.warning("Tasks of %s did not stop within the graceful timeout", entry.name)
        for index in list(entry.tasks):
            self.supervisor.release(task_name(entry.name, index))
        entry.tasks.clear()
        entry.stopped.clear()
        await asyncio.to_thread(self.offsets.save)

    async def _stop_connector(self, entry: ConnectorEntry) -> None:
        await self._stop_tasks(entry)
        if entry.instance is not None:
            try:
                await asyncio.to_thread(entry.instance.stop)
            except Exception:
                log.exception("Connector %s raised in stop()", entry.name)
            entry.instance = None

    async def delete_connector(self, name: str) -> None:
        entry = self._entry(name)
        await self._stop_connector(entry)
        del self.connectors[name]

    async def set_target(self, name: str, target: str) -> None:
        entry = self._entry(name)
        if target == STOPPED:
            await self._stop_connector(entry)
            entry.target = STOPPED
            entry.task_configs = []
            entry.status = Status("STOPPED", worker_id=self.worker_id)
            return
        was = entry.target
        entry.target = target
        if was == STOPPED:
            await self._start_connector(entry)
            return
        entry.status = Status("PAUSED" if target == PAUSED else "RUNNING", worker_id=self.worker_id)
        for index in entry.tasks:
            self.supervisor.send(
                self.supervisor.place(task_name(name, index)), SetTargetState(name, index, target)
            )

    async def reconfigure(self, name: str) -> None:
        entry = self.connectors.get(name)
        if entry is None or entry.instance is None:
            return
        await self._stop_tasks(entry)
        await self._start_tasks(entry)

    def connector_failed(self, name: str, error: BaseException) -> None:
        entry = self.connectors.get(name)
        if entry is None:
            return
        log.error("Connector %s failed: %s", name, error)
        entry.status = Status("FAILED", "".join(traceback.format_exception(error)), self.worker_id)

    def _entry(self, name: str) -> ConnectorEntry:
        entry = self.connectors.get(name)
        if entry is None:
            raise NotFoundError(f"Connector {name} not found")
        return entry

    def status(self, name: str) -> dict[str, Any]:
        entry = self.connectors.get(name)
        if entry is None:
            raise NotFoundError(f"No status found for connector {name}")
        return {
            "name": name,
            "connector": entry.status.to_json(),
            "tasks": [{"id": i, **s.to_json()} for i, s in sorted(entry.tasks.items())],
            "type": entry.type,
        }

    # -- messages from worker processes ------------------------------------------------------
    def _on_message(self, index: int, msg: object) -> None:
        if isinstance(msg, TaskStatus):
            entry = self.connectors.get(msg.connector)
            if entry is not None and msg.task in entry.tasks:
                entry.tasks[msg.task] = Status(msg.state, msg.trace, self.worker_id)
                if msg.state == "FAILED":
                    log.error("Task %s-%d failed:\n%s", msg.connector, msg.task, msg.trace)
        elif isinstance(msg, TaskStopped):
            entry = self.connectors.get(msg.connector)
            if entry is not None and msg.task in entry.stopped:
                entry.stopped[msg.task].set()
        elif isinstance(msg, CommitOffsets):
            asyncio.get_running_loop().create_task(self._commit(index, msg))
        else:
            log.warning("Unexpected message from worker %d: %r", index, msg)

    async def _commit(self, index: int, msg: CommitOffsets) -> None:
        error = None
        try:
            self.offsets.put(msg.connector, [(p, o) for p, o in msg.offsets])
            await asyncio.to_thread(self.offsets.save)
        except Exception as e:
            error = str(e)
            log.exception("Writing offsets of %s-%d failed", msg.connector, msg.task)
        self.supervisor.send(index, OffsetsWritten(msg.connector, msg.task, msg.seq, error))

    def _on_worker_death(self, index: int, tasks: set[str]) -> None:
        for entry in self.connectors.values():
            for i, tc in enumerate(entry.task_configs):
                if task_name(entry.name, i) in tasks:
                    log.info("Restarting task %s-%d after its worker process died", entry.name, i)
                    self.supervisor.release(task_name(entry.name, i))
                    self._launch(entry, i, tc)

    async def stop(self) -> None:
        for entry in list(self.connectors.values()):
            await self._stop_connector(entry)
        await self.supervisor.stop(self.shutdown_timeout_ms)
        await asyncio.to_thread(self.offsets.save)


def check_names(configs: list[dict[str, str]]) -> None:
    seen: set[str] = set()
    for c in configs:
        name = c.get("name", "").strip()
        if not name:
            raise ConfigError('Missing required configuration "name" which has no default value.', "name")
        if name in seen:
            raise AlreadyExistsError(f"Connector {name} already exists")
        seen.add(name)
