"""The standalone herder: connector lifecycle, task configs, target states, statuses.

It runs connectors (their ``start``/``task_configs`` calls, off the event loop) in the
control plane and places their tasks on the worker processes. Task statuses and source
offsets come back over the control pipes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controlplane.offset_store import OffsetStore
from controlplane.supervisor import Supervisor
from controlplane.task_restarter import RestartPolicy, TaskRestarter
from engine.plugins import PluginRegistry, PluginType
from engine.runtime import connector_config, secret_scrubber
from engine.runtime.config_transform import ConfigTransformer, Resolved, transformer_for
from engine.runtime.messages import (
    CommitOffsets,
    OffsetsWritten,
    PreviewDone,
    SetTargetState,
    StartTask,
    StopTask,
    TaskSpec,
    TaskStatus,
    TaskStopped,
    TopicsUsed,
    task_name,
)
from engine.runtime.metrics import MetricsSnapshot
from engine.spi.connector import Connector, ConnectorContext, SinkConnector
from engine.spi.errors import AlreadyExistsError, BadRequestError, ConfigError, ConnectError, NotFoundError

log = logging.getLogger(__name__)

STARTED, PAUSED, STOPPED = "STARTED", "PAUSED", "STOPPED"
# A task whose worker process dies more than MAX_CRASHES times within CRASH_WINDOW_S is FAILED.
MAX_CRASHES = 3
CRASH_WINDOW_S = 300.0


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
    topics: set[str] = field(default_factory=set)

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


def json_key(partition: Mapping[str, Any]) -> str:
    import json

    return json.dumps(partition, sort_keys=True, separators=(",", ":"))


def worker_id(props: Mapping[str, str]) -> str:
    host = props.get("rest.advertised.host.name") or socket.gethostname() or "127.0.0.1"
    port = props.get("rest.advertised.port")
    if not port:
        listener = (props.get("listeners") or "http://:8083").split(",")[0]
        port = listener.rsplit(":", 1)[-1].strip("/") or "8083"
    return f"{host}:{port}"


class StandaloneHerder:
    # Failed tasks are restarted automatically this many times unless task.restart.max.attempts
    # says otherwise (standalone keeps Kafka Connect's behaviour: never).
    default_restart_attempts = 0

    def __init__(
        self,
        worker_props: Mapping[str, str],
        registry: PluginRegistry,
        offsets: OffsetStore,
        processes: int,
        log_level: str = "INFO",
    ) -> None:
        self.worker_props = dict(worker_props)
        self.registry = registry
        self.offset_store = offsets
        self.worker_id = worker_id(worker_props)
        self.connectors: dict[str, ConnectorEntry] = {}
        self.supervisor = Supervisor(
            processes,
            self._on_message,
            self._on_worker_death,
            log_level,
            plugin_path=str(worker_props.get("plugin.path", "")),
        )
        self.shutdown_timeout_ms = int(worker_props.get("task.shutdown.graceful.timeout.ms", "5000"))
        self.kafka_cluster_id: str | None = None
        self.task_metrics: dict[tuple[str, int], MetricsSnapshot] = {}
        self.previews: dict[int, asyncio.Future[PreviewDone]] = {}
        self.started = False
        # One lifecycle change at a time (Kafka's StandaloneHerder is synchronized): two requests
        # must not both stop, start or delete the same connector. Reads do not take it.
        self._lock = asyncio.Lock()
        self._crashes: dict[str, list[float]] = {}
        self._secret_cache: dict[tuple[tuple[str, str], ...], frozenset[str]] = {}
        # Config providers: placeholders resolved for the Connector instance only (config-providers.md)
        self.config_transformer: ConfigTransformer = transformer_for(self.worker_props, registry)
        self._resolved: dict[str, Resolved] = {}
        self.restarter = TaskRestarter(
            RestartPolicy.from_props(self.worker_props, self.default_restart_attempts),
            self._auto_restart,
            self._announce_task_state,
        )

    async def start(self) -> None:
        """Start (or adopt) the worker processes; a second call does nothing."""
        if self.started:
            return
        await self.supervisor.start()
        self.started = True

    # -- connectors --------------------------------------------------------------------------
    def validate(self, config: Mapping[str, str]) -> None:
        policy = self.worker_props.get("connector.client.config.override.policy", "All")
        try:
            connector_config.check(self.registry, self._resolve(config).config, policy)
        except ConfigError as e:
            raise ConfigError(secret_scrubber.scrub(str(e)), e.key) from None

    async def put_connector(
        self, name: str, config: Mapping[str, str], *, replace: bool = True, target: str = STARTED
    ) -> bool:
        """Create or update a connector; True if it was created."""
        config = self._with_stored_secrets(name, {**config, "name": name})
        await asyncio.to_thread(self.validate, config)
        async with self._lock:
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
            self._connector_state(entry, "STOPPED")
            return
        if await self._start_instance(entry):
            try:
                await self._start_tasks(entry)
            except Exception as e:
                self.connector_failed(entry.name, e)

    async def _start_instance(self, entry: ConnectorEntry) -> bool:
        """A new Connector instance, started; False (and the connector FAILED) if it raised."""
        instance = self.new_connector(entry.config)
        instance.initialize(_Context(self, entry.name, asyncio.get_running_loop()))
        entry.instance = instance
        try:
            self._resolved[entry.name] = await asyncio.to_thread(self._resolve, entry.config)
            await asyncio.to_thread(instance.start, self._resolved[entry.name].config)
        except Exception as e:
            self.connector_failed(entry.name, e)
            return False
        self._connector_state(entry, "PAUSED" if entry.target == PAUSED else "RUNNING")
        return True

    def new_connector(self, config: Mapping[str, str]) -> Connector:
        cls = self.registry.resolve(config["connector.class"], (PluginType.SOURCE, PluginType.SINK))
        instance: Connector = cls()  # type: ignore[assignment]
        return instance

    async def _start_tasks(self, entry: ConnectorEntry) -> None:
        entry.task_configs = await self._generate_task_configs(entry)
        self.place_together(task_name(entry.name, i) for i in range(len(entry.task_configs)))
        for i, tc in enumerate(entry.task_configs):
            self._launch(entry, i, tc)

    def place_together(self, tasks: Iterable[str]) -> None:
        """Place the tasks that start together before starting any, so that each task's spec
        says how many of its connector's tasks share its worker process (``process_share``)."""
        for task in tasks:
            self.supervisor.place(task)

    async def _generate_task_configs(self, entry: ConnectorEntry) -> list[dict[str, str]]:
        """The running connector's ``task_configs(tasks.max)``, each with its task class (and a
        sink's topics) added."""
        assert entry.instance is not None
        max_tasks = int(entry.config.get("tasks.max", "1"))
        configs = await asyncio.to_thread(entry.instance.task_configs, max_tasks)
        if len(configs) > max_tasks and entry.config.get("tasks.max.enforce", "true").lower() == "true":
            raise ConnectError(
                f"The connector {entry.name} has generated {len(configs)} tasks, which is greater than "
                f"{max_tasks}, the maximum number of tasks it is configured to create. "
            )
        task_cls = entry.instance.task_class()
        resolved = self._resolved.get(entry.name)
        out = []
        for generated in configs:
            # no resolved secret goes back into a stored task config: placeholders put back
            back = (
                generated
                if resolved is None
                else ConfigTransformer.reverse(entry.config, resolved, generated)
            )
            tc = {**back, "task.class": f"{task_cls.__module__}.{task_cls.__qualname__}"}
            if entry.is_sink:
                for key in ("topics", "topics.regex"):
                    if key in entry.config:
                        tc[key] = entry.config[key]
            out.append(tc)
        return out

    def _launch(self, entry: ConnectorEntry, index: int, task_config: dict[str, str]) -> None:
        w = self.supervisor.place(task_name(entry.name, index))
        spec = TaskSpec(
            connector=entry.name,
            task=index,
            connector_config=entry.config,
            task_config=task_config,
            worker_config=self.worker_props,
            offsets=[] if entry.is_sink else self.offset_store.offsets(entry.name),
            target_state=entry.target,
            process_share=self.supervisor.colocated(task_name(entry.name, index)),
        )
        self._task_state(entry, index, "UNASSIGNED")
        entry.stopped[index] = asyncio.Event()
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
        await asyncio.to_thread(self.offset_store.save)

    async def _stop_connector(self, entry: ConnectorEntry) -> None:
        self.restarter.reset(entry.name)
        await self._stop_tasks(entry)
        if entry.instance is not None:
            try:
                await asyncio.to_thread(entry.instance.stop)
            except Exception:
                log.exception("Connector %s raised in stop()", entry.name)
            entry.instance = None

    async def delete_connector(self, name: str) -> None:
        async with self._lock:
            entry = self._entry(name)
            await self._stop_connector(entry)
            del self.connectors[name]
            self._resolved.pop(name, None)

    async def set_target(self, name: str, target: str) -> None:
        async with self._lock:
            await self._set_target(name, target)

    async def _set_target(self, name: str, target: str) -> None:
        entry = self._entry(name)
        if target == STOPPED:
            await self._stop_connector(entry)
            entry.target = STOPPED
            entry.task_configs = []
            self._connector_state(entry, "STOPPED")
            return
        was = entry.target
        entry.target = target
        if was == STOPPED:
            await self._start_connector(entry)
            return
        self._connector_state(entry, "PAUSED" if target == PAUSED else "RUNNING")
        for index in entry.tasks:
            self.supervisor.send(
                self.supervisor.place(task_name(name, index)), SetTargetState(name, index, target)
            )

    async def reconfigure(self, name: str) -> None:
        async with self._lock:
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
        self._connector_state(
            entry, "FAILED", secret_scrubber.scrub("".join(traceback.format_exception(error)))
        )

    def _connector_state(self, entry: ConnectorEntry, state: str, trace: str | None = None) -> None:
        """Every change of a connector's state goes through here (the distributed herder also
        writes it to the status topic)."""
        entry.status = Status(state, trace, self.worker_id)

    def _task_state(self, entry: ConnectorEntry, task: int, state: str, trace: str | None = None) -> None:
        entry.tasks[task] = Status(state, trace, self.worker_id)

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
            "connector": self._connector_status(entry),
            "tasks": [{"id": i, **s} for i, s in self._task_statuses(entry).items()],
            "type": entry.type,
        }

    def _connector_status(self, entry: ConnectorEntry) -> dict[str, Any]:
        """The connector's state, trace and worker id, as GET …/status shows them."""
        return entry.status.to_json()

    def _task_statuses(self, entry: ConnectorEntry) -> dict[int, dict[str, Any]]:
        """Task id → its state, trace and worker id, in task order."""
        return {i: s.to_json() for i, s in sorted(entry.tasks.items())}

    # -- what the REST API reads and does ------------------------------------------------
    def forward_target(self, kind: str, name: str | None = None, task: int | None = None) -> str | None:
        """The URL of the worker that must handle a write; None: this one (always, standalone)."""
        return None

    def names(self) -> list[str]:
        return sorted(self.connectors)

    def info(self, name: str) -> dict[str, Any]:
        entry = self._entry(name)
        return {
            "name": name,
            "config": self._shown(entry.config),
            "tasks": [{"connector": name, "task": i} for i in range(len(entry.task_configs))],
            "type": entry.type,
        }

    def config(self, name: str) -> dict[str, str]:
        return self._shown(self._entry(name).config)

    def task_infos(self, name: str) -> list[dict[str, Any]]:
        entry = self._entry(name)
        return [
            {"id": {"connector": name, "task": i}, "config": self._shown(tc)}
            for i, tc in enumerate(entry.task_configs)
        ]

    # -- secrets: never shown, kept when a config read from the API is sent back ------------
    def _secrets(self, config: Mapping[str, str]) -> frozenset[str]:
        key = tuple(sorted(config.items()))
        found = self._secret_cache.get(key)
        if found is None:
            found = connector_config.secret_keys(self.registry, config)
            if len(self._secret_cache) > 256:
                self._secret_cache.clear()
            self._secret_cache[key] = found
        return found

    def _resolve(self, config: Mapping[str, str]) -> Resolved:
        """``config`` with its config provider placeholders resolved, for validation and the
        Connector instance only; resolved and PASSWORD values are registered as secrets."""
        resolved = self.config_transformer.transform(config)
        secret_scrubber.register_config(resolved.config, self._secrets(config))
        return resolved

    def _shown(self, config: Mapping[str, str]) -> dict[str, str]:
        """A config as the REST API shows it: PASSWORD values as ``[hidden]``."""
        return connector_config.masked(config, self._secrets(config))

    def _with_stored_secrets(self, name: str, config: Mapping[str, str]) -> dict[str, str]:
        """``[hidden]`` in a new config of an existing connector means "the stored value"."""
        entry = self.connectors.get(name)
        stored = entry.config if entry is not None else None
        return connector_config.unmasked(config, stored, self._secrets(config))

    def task_status(self, name: str, task: int) -> dict[str, Any]:
        entry = self.connectors.get(name)
        status = self._task_statuses(entry).get(task) if entry is not None else None
        if status is None:
            raise NotFoundError(f"No status found for task {name}-{task}")
        return {"id": task, **status}

    def connector_type(self, name: str) -> str:
        return self._entry(name).type

    async def restart_connector(self, name: str) -> None:
        """Restart the Connector instance only (Kafka's plain restart)."""
        async with self._lock:
            await self._restart_connector(name)

    async def _restart_connector(self, name: str) -> None:
        entry = self.connectors.get(name)
        if entry is None:
            raise NotFoundError(f"Unknown connector: {name}")
        if entry.target == STOPPED:
            return
        if entry.instance is not None:
            await asyncio.to_thread(entry.instance.stop)
            entry.instance = None
        await self._start_instance(entry)

    async def restart(self, name: str, include_tasks: bool, only_failed: bool) -> dict[str, Any]:
        """KIP-745 restart: returns the status with RESTARTING where something restarts."""
        async with self._lock:
            return await self._restart(name, include_tasks, only_failed)

    async def _restart(self, name: str, include_tasks: bool, only_failed: bool) -> dict[str, Any]:
        entry = self.connectors.get(name)
        if entry is None:
            raise NotFoundError(f"Unknown connector: {name}")
        restart_connector = not only_failed or entry.status.state == "FAILED"
        tasks = [
            i
            for i, st in sorted(entry.tasks.items())
            if include_tasks and (not only_failed or st.state == "FAILED")
        ]
        plan = self.status(name)
        if restart_connector:
            plan["connector"]["state"] = "RESTARTING"
        for t in plan["tasks"]:
            if t["id"] in tasks:
                t["state"] = "RESTARTING"
        if restart_connector:
            await self._restart_connector(name)
        for i in tasks:
            self.restarter.reset(name, i)
            await self._restart_task(name, i)
        return plan

    async def restart_task(self, name: str, task: int) -> None:
        async with self._lock:
            self.restarter.reset(name, task)
            await self._restart_task(name, task)

    async def _auto_restart(self, name: str, task: int) -> None:
        async with self._lock:
            entry = self.connectors.get(name)
            status = entry.tasks.get(task) if entry is not None else None
            if entry is None or status is None or status.state != "RESTARTING":
                return  # stopped, moved or restarted by hand meanwhile
            await self._restart_task(name, task)

    def _announce_task_state(self, name: str, task: int, state: str, trace: str | None) -> None:
        entry = self.connectors.get(name)
        if entry is not None and task in entry.tasks:
            self._task_state(entry, task, state, trace)

    async def _restart_task(self, name: str, task: int) -> None:
        entry = self.connectors.get(name)
        if entry is None:
            raise NotFoundError(f"Unknown connector: {name}")
        if task < 0 or task >= len(entry.task_configs):
            raise NotFoundError(f"Unknown task: {name}-{task}")
        key = task_name(name, task)
        if task in entry.stopped and not entry.stopped[task].is_set():
            self.supervisor.send(self.supervisor.place(key), StopTask(name, task))
            try:
                await asyncio.wait_for(entry.stopped[task].wait(), self.shutdown_timeout_ms / 1000 + 5)
            except TimeoutError:
                log.warning("Task %s did not stop in time before its restart", key)
        self.supervisor.release(key)
        self._launch(entry, task, entry.task_configs[task])

    def topics(self, name: str) -> list[str]:
        entry = self.connectors.get(name)
        return sorted(entry.topics) if entry is not None else []

    def reset_topics(self, name: str) -> None:
        entry = self.connectors.get(name)
        if entry is not None:
            entry.topics.clear()

    def _admin_props(self) -> dict[str, str]:
        """librdkafka settings of the worker's admin client: security keys and ``admin.*``."""
        from engine.runtime.clients import kafka_config

        return kafka_config(self.worker_props, "admin")

    async def offsets(self, name: str) -> list[dict[str, Any]]:
        entry = self._entry(name)
        if entry.is_sink:
            from controlplane import sink_offsets

            bootstrap = self.worker_props["bootstrap.servers"]
            return await asyncio.to_thread(
                sink_offsets.read, bootstrap, self._admin_props(), sink_offsets.group_of(entry.config)
            )
        return [{"partition": p, "offset": o} for p, o in self.offsets_store_entries(name)]

    def offsets_store_entries(self, name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        return sorted(self.offset_store.offsets(name), key=lambda po: json_key(po[0]))

    def _require_stopped(self, name: str) -> ConnectorEntry:
        entry = self._entry(name)
        if entry.target != STOPPED or entry.tasks or entry.task_configs:
            raise BadRequestError(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be "
                "done for the specified connector by issuing a 'PUT' request to the "
                f"'/connectors/{name}/stop' endpoint"
            )
        return entry

    async def alter_offsets(self, name: str, entries: list[dict[str, Any]]) -> bool:
        """Returns the connector's ``alter_offsets`` answer (True: nothing kept elsewhere)."""
        async with self._lock:
            return await self._alter_offsets(name, entries)

    async def _alter_offsets(self, name: str, entries: list[dict[str, Any]]) -> bool:
        entry = self._require_stopped(name)
        if not entries:
            raise BadRequestError("Partitions / offsets need to be provided for an alter offsets request")
        connector = self.new_connector(entry.config)
        if entry.is_sink:
            from controlplane import sink_offsets

            parsed = sink_offsets.parse(entries)
            answer = connector.alter_offsets(
                self._resolve(entry.config).config,
                {(t, p): None if o is None else {"kafka_offset": o} for t, p, o in parsed},
            )
            await asyncio.to_thread(
                sink_offsets.alter,
                self.worker_props["bootstrap.servers"],
                self._admin_props(),
                sink_offsets.group_of(entry.config),
                parsed,
            )
            return answer
        pairs = []
        for e in entries:
            partition, offset = e.get("partition"), e.get("offset")
            if not isinstance(partition, dict):
                raise BadRequestError(f"Source partitions must be JSON objects, not {partition!r}")
            if offset is not None and not isinstance(offset, dict):
                raise BadRequestError(f"Source offsets must be JSON objects or null, not {offset!r}")
            pairs.append((partition, offset))
        answer = connector.alter_offsets(
            self._resolve(entry.config).config, {json_key(p): o for p, o in pairs}
        )
        self.offset_store.put(name, pairs)
        await asyncio.to_thread(self.offset_store.save)
        return answer

    async def reset_offsets(self, name: str) -> bool:
        async with self._lock:
            return await self._reset_offsets(name)

    async def _reset_offsets(self, name: str) -> bool:
        entry = self._require_stopped(name)
        connector = self.new_connector(entry.config)
        if entry.is_sink:
            from controlplane import sink_offsets

            answer = connector.alter_offsets(self._resolve(entry.config).config, {})
            await asyncio.to_thread(
                sink_offsets.reset,
                self.worker_props["bootstrap.servers"],
                self._admin_props(),
                sink_offsets.group_of(entry.config),
            )
            return answer
        current = self.offset_store.offsets(name)
        answer = connector.alter_offsets(
            self._resolve(entry.config).config, {json_key(p): None for p, _ in current}
        )
        self.offset_store.put(name, [(p, None) for p, _ in current])
        await asyncio.to_thread(self.offset_store.save)
        return answer

    # -- messages from worker processes ------------------------------------------------------
    def _on_message(self, index: int, msg: object) -> None:
        if isinstance(msg, TaskStatus):
            entry = self.connectors.get(msg.connector)
            if entry is not None and msg.task in entry.tasks:
                trace = secret_scrubber.scrub_optional(msg.trace)
                self._task_state(entry, msg.task, msg.state, trace)
                if msg.state == "FAILED":
                    log.error("Task %s-%d failed:\n%s", msg.connector, msg.task, trace)
                    self.restarter.failed(entry.name, msg.task, trace)
        elif isinstance(msg, TaskStopped):
            entry = self.connectors.get(msg.connector)
            if entry is not None and msg.task in entry.stopped:
                entry.stopped[msg.task].set()
        elif isinstance(msg, PreviewDone):
            fut = self.previews.get(msg.request_id)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif isinstance(msg, MetricsSnapshot):
            if msg.connector in self.connectors:
                self.task_metrics[(msg.connector, msg.task)] = msg
        elif isinstance(msg, TopicsUsed):
            entry = self.connectors.get(msg.connector)
            if entry is not None:
                entry.topics.update(msg.topics)
        elif isinstance(msg, CommitOffsets):
            asyncio.get_running_loop().create_task(self._commit(index, msg))
        else:
            log.warning("Unexpected message from worker %d: %r", index, msg)

    async def _commit(self, index: int, msg: CommitOffsets) -> None:
        error = None
        try:
            self.offset_store.put(msg.connector, [(p, o) for p, o in msg.offsets])
            await asyncio.to_thread(self.offset_store.save)
        except Exception as e:
            error = str(e)
            log.exception("Writing offsets of %s-%d failed", msg.connector, msg.task)
        self.supervisor.send(index, OffsetsWritten(msg.connector, msg.task, msg.seq, error))

    def _on_worker_death(self, index: int, tasks: set[str]) -> None:
        now = time.monotonic()
        for entry in self.connectors.values():
            for i, tc in enumerate(entry.task_configs):
                key = task_name(entry.name, i)
                if key not in tasks:
                    continue
                self.supervisor.release(key)
                recent = [t for t in self._crashes.get(key, []) if now - t < CRASH_WINDOW_S] + [now]
                self._crashes[key] = recent
                if len(recent) > MAX_CRASHES:
                    log.error("Task %s keeps crashing its worker process; marking it FAILED", key)
                    self._task_state(
                        entry,
                        i,
                        "FAILED",
                        f"The worker process running task {key} died {len(recent)} times within "
                        f"{CRASH_WINDOW_S:.0f}s (last exit: worker {index}); not restarting it. "
                        "Restart it over REST once the cause is fixed.",
                    )
                    entry.stopped.setdefault(i, asyncio.Event()).set()
                    continue
                log.info("Restarting task %s-%d after its worker process died", entry.name, i)
                self._launch(entry, i, tc)

    async def stop(self) -> None:
        self.restarter.cancel_all()
        async with self._lock:
            for entry in list(self.connectors.values()):
                await self._stop_connector(entry)
        await self.supervisor.stop(self.shutdown_timeout_ms)
        await asyncio.to_thread(self.offset_store.save)


def check_names(configs: list[dict[str, str]]) -> None:
    seen: set[str] = set()
    for c in configs:
        name = c.get("name", "").strip()
        if not name:
            raise ConfigError('Missing required configuration "name" which has no default value.', "name")
        if name in seen:
            raise AlreadyExistsError(f"Connector {name} already exists")
        seen.add(name)
