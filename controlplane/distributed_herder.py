"""The distributed herder: a worker of a cluster whose state lives in Kafka.

It keeps the standalone herder's local machinery (connector instances in the control
plane, tasks in the pinned worker processes, offsets and statuses from the control pipes)
and changes where decisions come from:

* configs, task configs and target states are read from the config topic (every worker
  tails it and holds the same snapshot); writes that Kafka Connect reserves for the leader
  (create, update, delete, stop, restart, offsets) reach the leader, forwarded over REST;
* which connectors and tasks this worker runs comes from the latest assignment in the
  config topic, computed by the leader (``controlplane.assignor``) whenever the group's
  membership or the set of connectors and tasks changes;
* statuses are written to and read from the status topic, source offsets to and from the
  offsets topic.

One loop (``_tick``) reconciles what runs here with the latest snapshot and assignment. A
task that moves from another live worker starts only after that worker has released it
(its status there is no longer RUNNING or PAUSED) or has left the group, so that a task
never runs twice; its source offsets are read to the end first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from controlplane.assignor import Assignment, assign, same_allocation, split_task_id, task_id
from controlplane.herder import PAUSED, STARTED, STOPPED, ConnectorEntry, StandaloneHerder
from controlplane.membership import Membership, worker_id_of
from controlplane.stores.config_store import ConfigEvent, ConfigSnapshot, KafkaConfigStore
from controlplane.stores.offset_store import KafkaOffsetStore
from controlplane.stores.status_store import KafkaStatusStore
from engine.plugins import PluginRegistry, PluginType
from engine.runtime.clients import kafka_config
from engine.runtime.messages import SetTargetState, StopTask, task_name
from engine.spi.connector import SinkConnector
from engine.spi.errors import AlreadyExistsError, BadRequestError, ConflictError, NotFoundError

log = logging.getLogger(__name__)

NO_LEADER = (
    "Cannot complete request momentarily due to no known leader URL, likely because a rebalance was underway."
)
STALE = (
    "Cannot complete request momentarily due to stale configuration (typically caused by a concurrent "
    "config change)"
)
HOLDING = ("RUNNING", "PAUSED", "RESTARTING")


def client_props(worker_props: Mapping[str, str]) -> dict[str, str]:
    """librdkafka settings of the worker's own clients (bootstrap servers and security)."""
    return kafka_config(worker_props)


class DistributedHerder(StandaloneHerder):
    default_restart_attempts = 3

    def __init__(
        self,
        worker_props: Mapping[str, str],
        registry: PluginRegistry,
        processes: int,
        log_level: str = "INFO",
    ) -> None:
        props = dict(worker_props)
        clients = client_props(props)
        self.offset_topic_store = KafkaOffsetStore(props["offset.storage.topic"], clients)
        super().__init__(props, registry, self.offset_topic_store, processes, log_level)
        self.url = ""
        self.config_store = KafkaConfigStore(props["config.storage.topic"], clients, self._on_config_event)
        self.status_store = KafkaStatusStore(props["status.storage.topic"], clients, self._on_status_event)
        group = {
            **clients,
            "group.id": props["group.id"],
            "session.timeout.ms": props.get("session.timeout.ms", "10000"),
            "heartbeat.interval.ms": props.get("heartbeat.interval.ms", "3000"),
            "max.poll.interval.ms": props.get("rebalance.timeout.ms", "60000"),
        }
        self.membership = Membership(group, props["config.storage.topic"], "", self._on_membership)
        self.delay_ms = int(props.get("scheduled.rebalance.max.delay.ms", "300000"))
        self.handover_timeout_s = int(props.get("rebalance.timeout.ms", "60000")) / 1000
        self.assignment: Assignment | None = None
        self.generation = 0
        self.snapshot = ConfigSnapshot(-1, {}, {}, {}, set(), None)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake = asyncio.Event()
        self._members: dict[str, str] | None = None
        self._next_check_ms: int | None = None
        self._restarts: list[tuple[str, bool, bool]] = []
        self._started_config: dict[str, dict[str, str]] = {}
        self._task_started: dict[tuple[str, int], dict[str, str]] = {}
        self._task_target: dict[tuple[str, int], str] = {}
        self._handover_since: dict[str, float] = {}
        self._runner: asyncio.Task[None] | None = None
        self._closing = False
        self._live = False
        self.task_starts: dict[str, int] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def bind(self, url: str) -> None:
        """The REST URL other workers reach this one at (known once the REST server listens)."""
        self.url = self.membership.url = url
        self.worker_id = worker_id_of(url)

    async def start(self) -> None:
        assert self.url, "bind() the REST URL first"
        self._loop = asyncio.get_running_loop()
        await self.supervisor.start()
        await asyncio.to_thread(self.offset_topic_store.load)
        await asyncio.to_thread(self.status_store.start)
        await asyncio.to_thread(self.config_store.start)
        self._live = True  # restart requests from now on are new ones
        self._sync_entries(self.config_store.snapshot())
        self.membership.start()
        self._runner = self._loop.create_task(self._run())

    async def stop(self) -> None:
        self._closing = True
        self._wake.set()
        if self._runner is not None:
            await self._runner
        self.restarter.cancel_all()
        async with self._lock:
            for entry in list(self.connectors.values()):
                await self._release_tasks(entry, set(entry.tasks), write_status=True)
                if entry.instance is not None:
                    await self._stop_instance(entry, "UNASSIGNED")
        await self.supervisor.stop(self.shutdown_timeout_ms)
        await asyncio.to_thread(self.offset_topic_store.save)
        await asyncio.to_thread(self.status_store.flush, 10.0)
        await asyncio.to_thread(self.membership.stop)
        for store in (self.config_store, self.status_store, self.offset_topic_store):
            await asyncio.to_thread(store.stop)

    def _poke(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    def _on_config_event(self, event: ConfigEvent) -> None:
        if event.kind == "restart" and self._live and self._loop is not None:
            flags = (event.name, bool(event.data.get("include-tasks")), bool(event.data.get("only-failed")))
            self._loop.call_soon_threadsafe(self._restarts.append, flags)
        self._poke()

    def _on_status_event(self, kind: str, name: str, task: int | None) -> None:
        if kind == "task" and self._handover_since:
            self._poke()

    def _on_membership(self, leader: bool, rebalancing: bool) -> None:
        if leader and not rebalancing:
            self._members = None  # read them again
        self._poke()

    async def _run(self) -> None:
        while not self._closing:
            timeout = None
            if self._next_check_ms is not None:
                timeout = max(0.0, self._next_check_ms / 1000 - time.time())
            if self._handover_since or (self._members is None and self.membership.leader):
                timeout = min(timeout if timeout is not None else 0.5, 0.5)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._closing:
                return
            try:
                async with self._lock:
                    await self._tick()
            except Exception:
                log.exception("Distributed herder tick failed; retrying")
                await asyncio.sleep(0.5)
                self._wake.set()

    async def _tick(self) -> None:
        snap = self.config_store.snapshot()
        self._sync_entries(snap)
        previous = Assignment.from_json(snap.assignment) if snap.assignment else None
        if self.membership.leader and not self.membership.rebalancing:
            await self._lead(snap, previous)
        if previous is not None:
            if previous.generation != self.generation:
                log.info(
                    "Assignment generation %d: %s", previous.generation, previous.units_of(self.worker_id)
                )
            self.assignment, self.generation = previous, previous.generation
            await self._reconcile(snap, previous)
            if not self.membership.rebalancing and self.worker_id in previous.members:
                self.started = True  # /health: a member of the cluster, running its assignment
        await self._run_restarts()

    # -- the leader ------------------------------------------------------------------------
    async def _lead(self, snap: ConfigSnapshot, previous: Assignment | None) -> None:
        if self._members is None:
            members = await asyncio.to_thread(self.membership.members)
            if self.worker_id not in members:
                return  # the group's view is not settled yet: try again shortly
            self._members = members
        connectors = sorted(snap.connectors)
        tasks = [
            task_id(name, i)
            for name in connectors
            if name not in snap.inconsistent and snap.targets.get(name, STARTED) != STOPPED
            for i in range(len(snap.tasks.get(name, [])))
        ]
        plan = assign(
            previous,
            self._members,
            connectors,
            tasks,
            leader=self.worker_id,
            now_ms=int(time.time() * 1000),
            delay_ms=self.delay_ms,
        )
        self._next_check_ms = plan.next_check_ms
        if (
            previous is None
            or previous.leader != self.worker_id
            or not same_allocation(previous, plan.assignment)
        ):
            if not self.membership.leader:
                return
            log.info("Publishing assignment generation %d", plan.assignment.generation)
            await asyncio.to_thread(self.config_store.put_assignment, plan.assignment.to_json())

    # -- what runs here --------------------------------------------------------------------
    def _sync_entries(self, snap: ConfigSnapshot) -> None:
        """One ConnectorEntry per connector of the snapshot (local state kept)."""
        self.snapshot = snap
        for name, config in snap.connectors.items():
            entry = self.connectors.get(name)
            if entry is None:
                entry = ConnectorEntry(name, dict(config), is_sink=self._is_sink(config))
                self.connectors[name] = entry
            entry.config = dict(config)
            entry.target = snap.targets.get(name, STARTED)
            entry.task_configs = [dict(tc) for tc in snap.tasks.get(name, [])]

    def _is_sink(self, config: Mapping[str, str]) -> bool:
        try:
            cls = self.registry.resolve(
                config.get("connector.class", ""), (PluginType.SOURCE, PluginType.SINK)
            )
        except Exception:
            return False
        return issubclass(cls, SinkConnector)

    async def _reconcile(self, snap: ConfigSnapshot, assignment: Assignment) -> None:
        conns, tasks = assignment.units_of(self.worker_id)
        my_connectors, my_tasks = set(conns), set(tasks)
        for name in [n for n in self.connectors if n not in snap.connectors]:
            entry = self.connectors.pop(name)
            self.restarter.reset(name)
            await self._release_tasks(entry, set(entry.tasks), write_status=False)
            await self._stop_instance(entry, None)
        for entry in list(self.connectors.values()):
            stale = {
                i
                for i in entry.tasks
                if task_id(entry.name, i) not in my_tasks
                or i >= len(entry.task_configs)
                or entry.task_configs[i] != self._task_started.get((entry.name, i))
            }
            await self._release_tasks(entry, stale, write_status=True)
        for entry in list(self.connectors.values()):
            await self._reconcile_connector(entry, entry.name in my_connectors)
        starting: list[tuple[ConnectorEntry, int]] = []
        for tid in sorted(my_tasks):
            name, i = split_task_id(tid)
            owner = self.connectors.get(name)
            if owner is None or i >= len(owner.task_configs) or owner.target == STOPPED:
                continue
            entry = owner
            if i in entry.tasks:
                if self._task_target.get((name, i)) != entry.target:
                    self._task_target[(name, i)] = entry.target
                    self.supervisor.send(self.supervisor.place(tid), SetTargetState(name, i, entry.target))
                continue
            if not self._released(name, i, assignment):
                continue
            self._handover_since.pop(tid, None)
            if not entry.is_sink:
                await asyncio.to_thread(self.offset_topic_store.read_to_end)
            self._task_started[(name, i)] = entry.task_configs[i]
            self._task_target[(name, i)] = entry.target
            self.task_starts[tid] = self.task_starts.get(tid, 0) + 1
            starting.append((entry, i))
        self.place_together(task_name(entry.name, i) for entry, i in starting)
        for entry, i in starting:
            self._launch(entry, i, entry.task_configs[i])

    def _released(self, name: str, task: int, assignment: Assignment) -> bool:
        """May this worker start the task: has its previous owner let go of it?"""
        status = self.status_store.task(name, task)
        if status is None or status.get("worker_id") == self.worker_id:
            return True
        if status.get("state") not in HOLDING or status.get("worker_id") not in assignment.members:
            return True
        tid = task_id(name, task)
        since = self._handover_since.setdefault(tid, time.monotonic())
        if time.monotonic() - since > self.handover_timeout_s:
            log.warning(
                "Worker %s did not release task %s in time; starting it", status.get("worker_id"), tid
            )
            return True
        return False

    async def _reconcile_connector(self, entry: ConnectorEntry, mine: bool) -> None:
        running = entry.instance is not None
        if running and (
            not mine or entry.target == STOPPED or self._started_config.get(entry.name) != entry.config
        ):
            await self._stop_instance(entry, "UNASSIGNED" if not mine else None)
        if not mine:
            return
        if entry.target == STOPPED:
            if entry.status.state != "STOPPED":
                self._connector_state(entry, "STOPPED")
            return
        if entry.instance is None:
            if entry.status.state == "FAILED" and self._started_config.get(entry.name) == entry.config:
                return  # stays FAILED until restarted or reconfigured
            self._started_config[entry.name] = dict(entry.config)
            if await self._start_instance(entry):
                await self._publish_task_configs(entry)
            return
        want = "PAUSED" if entry.target == PAUSED else "RUNNING"
        if entry.status.state in ("RUNNING", "PAUSED") and entry.status.state != want:
            self._connector_state(entry, want)

    async def _publish_task_configs(self, entry: ConnectorEntry) -> None:
        try:
            configs = await self._generate_task_configs(entry)
        except Exception as e:
            self.connector_failed(entry.name, e)
            return
        if configs != entry.task_configs:
            log.info("Connector %s generated %d task configs", entry.name, len(configs))
            await asyncio.to_thread(self.config_store.put_task_configs, entry.name, configs)
            self._wake.set()

    async def _stop_instance(self, entry: ConnectorEntry, state: str | None) -> None:
        instance, entry.instance = entry.instance, None
        if instance is not None:
            try:
                await asyncio.to_thread(instance.stop)
            except Exception:
                log.exception("Connector %s raised in stop()", entry.name)
        if state is not None:
            self._connector_state(entry, state)
        elif entry.name not in self.snapshot.connectors:
            self._started_config.pop(entry.name, None)

    async def _release_tasks(self, entry: ConnectorEntry, tasks: set[int], *, write_status: bool) -> None:
        """Stop these local tasks, flush their offsets, and say they are no longer here."""
        if not tasks:
            return
        for i in tasks:
            self.supervisor.send(self.supervisor.place(task_name(entry.name, i)), StopTask(entry.name, i))
        waits = [entry.stopped[i].wait() for i in tasks if i in entry.stopped]
        try:
            await asyncio.wait_for(asyncio.gather(*waits), self.shutdown_timeout_ms / 1000 + 5)
        except TimeoutError:
            log.warning("Tasks %s of %s did not stop within the graceful timeout", sorted(tasks), entry.name)
        await asyncio.sleep(0)  # let the final offset commits reach the store
        await asyncio.to_thread(self.offset_topic_store.save)
        for i in tasks:
            self.supervisor.release(task_name(entry.name, i))
            self.restarter.reset(entry.name, i)
            if write_status:
                self._task_state(entry, i, "UNASSIGNED")
            entry.tasks.pop(i, None)
            entry.stopped.pop(i, None)
            self._task_started.pop((entry.name, i), None)
            self._task_target.pop((entry.name, i), None)
        if write_status:
            await asyncio.to_thread(self.status_store.flush, 10.0)

    async def _run_restarts(self) -> None:
        requests, self._restarts = self._restarts, []
        for name, include_tasks, only_failed in requests:
            entry = self.connectors.get(name)
            if entry is None or entry.target == STOPPED:
                continue
            owner = self.assignment.owner_of_connector(name) if self.assignment else None
            if owner == self.worker_id and (not only_failed or entry.status.state == "FAILED"):
                await self._stop_instance(entry, None)
                self._started_config.pop(name, None)
                await self._reconcile_connector(entry, True)
            if include_tasks:
                for i, st in sorted(entry.tasks.items()):
                    if not only_failed or st.state == "FAILED":
                        self.restarter.reset(name, i)
                        await self._restart_task(name, i)

    # -- statuses go to the status topic ---------------------------------------------------
    def _connector_state(self, entry: ConnectorEntry, state: str, trace: str | None = None) -> None:
        super()._connector_state(entry, state, trace)
        self.status_store.put_connector(entry.name, state, trace, self.worker_id, self.generation)

    def _task_state(self, entry: ConnectorEntry, task: int, state: str, trace: str | None = None) -> None:
        super()._task_state(entry, task, state, trace)
        self.status_store.put_task(entry.name, task, state, trace, self.worker_id, self.generation)

    # -- REST: routing ---------------------------------------------------------------------
    def forward_target(self, kind: str, name: str | None = None, task: int | None = None) -> str | None:
        """The URL of the worker that must handle a write, or None for this one. ``kind`` is
        "leader" (config writes) or "task" (a task restart goes to the task's worker)."""
        if self.membership.rebalancing or self.assignment is None:
            raise ConflictError(NO_LEADER if self.assignment is None else STALE)
        if kind == "task" and name is not None and task is not None:
            if name not in self.snapshot.connectors:
                raise NotFoundError(f"Unknown connector: {name}")
            owner = self.assignment.owner_of_task(task_id(name, task))
            if owner is None or owner not in self.assignment.members:
                raise ConflictError(f"Task {name}-{task} is not assigned to a running worker")
            return None if owner == self.worker_id else self.assignment.members[owner]
        if self.membership.leader:
            return None
        return self.assignment.leader_url

    # -- REST: writes (on the leader) ------------------------------------------------------
    async def put_connector(
        self, name: str, config: Mapping[str, str], *, replace: bool = True, target: str = STARTED
    ) -> bool:
        config = self._with_stored_secrets(name, {**config, "name": name})
        await asyncio.to_thread(self.validate, config)
        exists = name in self.config_store.snapshot().connectors
        if exists and not replace:
            raise AlreadyExistsError(f"Connector {name} already exists")
        await asyncio.to_thread(
            self.config_store.put_connector_config, name, config, None if exists else target
        )
        self._sync_entries(self.config_store.snapshot())
        self._wake.set()
        return not exists

    async def delete_connector(self, name: str) -> None:
        snap = self.config_store.snapshot()
        if name not in snap.connectors:
            raise NotFoundError(f"Connector {name} not found")
        await asyncio.to_thread(self.config_store.remove_connector, name)
        self.status_store.delete_connector(name, len(snap.tasks.get(name, [])))
        await asyncio.to_thread(self.status_store.flush, 10.0)
        self._sync_entries(self.config_store.snapshot())
        self._wake.set()

    async def set_target(self, name: str, target: str) -> None:
        self._entry(name)
        await asyncio.to_thread(self.config_store.put_target_state, name, target)
        if target == STOPPED:  # as Kafka does: no tasks while stopped
            await asyncio.to_thread(self.config_store.put_task_configs, name, [])
        self._sync_entries(self.config_store.snapshot())
        self._wake.set()

    async def restart_connector(self, name: str) -> None:
        self._entry(name)
        await asyncio.to_thread(self.config_store.put_restart_request, name, False, False)

    async def restart(self, name: str, include_tasks: bool, only_failed: bool) -> dict[str, Any]:
        plan = self.status(name)
        if not only_failed or plan["connector"]["state"] == "FAILED":
            plan["connector"]["state"] = "RESTARTING"
        for t in plan["tasks"]:
            if include_tasks and (not only_failed or t["state"] == "FAILED"):
                t["state"] = "RESTARTING"
        await asyncio.to_thread(self.config_store.put_restart_request, name, include_tasks, only_failed)
        return plan

    async def restart_task(self, name: str, task: int) -> None:
        async with self._lock:
            entry = self._entry(name)
            if task not in entry.tasks:
                raise ConflictError(f"Task {name}-{task} does not run on worker {self.worker_id}")
            self.restarter.reset(name, task)
            await self._restart_task(name, task)

    async def reconfigure(self, name: str) -> None:
        async with self._lock:
            entry = self.connectors.get(name)
            if entry is not None and entry.instance is not None:
                await self._publish_task_configs(entry)

    async def offsets(self, name: str) -> list[dict[str, Any]]:
        if not self._entry(name).is_sink:
            await asyncio.to_thread(self.offset_topic_store.read_to_end)
        return await super().offsets(name)

    # -- REST: reads from the status topic -------------------------------------------------
    def _status_json(self, doc: Mapping[str, Any] | None) -> dict[str, Any]:
        if doc is None:
            return {"state": "UNASSIGNED", "worker_id": ""}
        out: dict[str, Any] = {"state": doc.get("state", "UNASSIGNED"), "worker_id": doc.get("worker_id", "")}
        if doc.get("trace"):
            out["trace"] = doc["trace"]
        return out

    def _connector_status(self, entry: ConnectorEntry) -> dict[str, Any]:
        return self._status_json(self.status_store.connector(entry.name))

    def _task_statuses(self, entry: ConnectorEntry) -> dict[int, dict[str, Any]]:
        return {
            i: self._status_json(self.status_store.task(entry.name, i))
            for i in range(len(entry.task_configs))
        }


__all__ = ["BadRequestError", "DistributedHerder", "client_props"]
