"""The cluster's connector configurations as read from the config topic, record by record.

Reader rules of Kafka Connect's KafkaConfigBackingStore: task configs are buffered per
connector until a commit record applies them; a commit whose task indexes are not all in
the buffer marks the connector *inconsistent* (no task configs until new ones are
committed); deleting a connector drops its tasks and target state.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from controlplane.stores.config_records import (
    STARTED,
    AssignmentRecord,
    CommitRecord,
    ConfigRecord,
    ConnectorRecord,
    RestartRecord,
    TargetStateRecord,
    TaskRecord,
)

log = logging.getLogger(__name__)

_NO_DATA: Mapping[str, Any] = {}


@dataclass
class ConfigSnapshot:
    offset: int = -1  # offset of the last record read, -1 if none
    connectors: dict[str, dict[str, str]] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)  # every connector: STARTED/PAUSED/STOPPED
    tasks: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # committed; [] if inconsistent
    inconsistent: set[str] = field(default_factory=set)
    assignment: dict[str, Any] | None = None

    def copy(self) -> ConfigSnapshot:
        return ConfigSnapshot(
            offset=self.offset,
            connectors={name: dict(config) for name, config in self.connectors.items()},
            targets=dict(self.targets),
            tasks={name: [dict(t) for t in tasks] for name, tasks in self.tasks.items()},
            inconsistent=set(self.inconsistent),
            assignment=copy.deepcopy(self.assignment),
        )


@dataclass(frozen=True, slots=True)
class ConfigEvent:
    kind: str  # "connector" | "target" | "tasks" | "restart" | "assignment" | "deleted"
    name: str  # connector name; "" for the assignment
    data: Mapping[str, Any] = field(default_factory=dict)  # restart flags / assignment doc


class ConfigState:
    """Applies config records in topic order. Not thread-safe: the store holds a lock."""

    def __init__(self) -> None:
        self.offset = -1
        self._connectors: dict[str, dict[str, str]] = {}
        self._targets: dict[str, str] = {}  # explicit target-state records only
        self._tasks: dict[str, list[dict[str, str]]] = {}
        self._inconsistent: set[str] = set()
        self._deferred: dict[str, dict[int, dict[str, str]]] = {}
        self._assignment: dict[str, Any] | None = None

    def snapshot(self) -> ConfigSnapshot:
        """A copy; tasks left by compaction for connectors without a config are not in it."""
        names = self._connectors
        return ConfigSnapshot(
            offset=self.offset,
            connectors={name: dict(config) for name, config in names.items()},
            targets={name: self._targets.get(name, STARTED) for name in names},
            tasks={name: [dict(t) for t in tasks] for name, tasks in self._tasks.items() if name in names},
            inconsistent={name for name in self._inconsistent if name in names},
            assignment=copy.deepcopy(self._assignment),
        )

    def apply(self, record: ConfigRecord) -> ConfigEvent | None:
        """Apply one record; return the event it makes (None for a buffered task config)."""
        match record:
            case ConnectorRecord(name, None):
                self._connectors.pop(name, None)
                self._targets.pop(name, None)
                self._tasks.pop(name, None)
                self._deferred.pop(name, None)
                self._inconsistent.discard(name)
                return ConfigEvent("deleted", name, _NO_DATA)
            case ConnectorRecord(name, config):
                assert config is not None
                self._connectors[name] = config
                return ConfigEvent("connector", name, _NO_DATA)
            case TargetStateRecord(name, state):
                if state is None:
                    self._targets.pop(name, None)
                else:
                    self._targets[name] = state
                return ConfigEvent("target", name, _NO_DATA)
            case TaskRecord(name, task, config):
                self._deferred.setdefault(name, {})[task] = config
                return None
            case CommitRecord(name, count):
                self._commit(name, count)
                return ConfigEvent("tasks", name, _NO_DATA)
            case RestartRecord(name, include_tasks, only_failed):
                return ConfigEvent(
                    "restart", name, {"include_tasks": include_tasks, "only_failed": only_failed}
                )
            case AssignmentRecord(doc):
                self._assignment = doc
                return ConfigEvent("assignment", "", copy.deepcopy(doc) if doc is not None else _NO_DATA)
        raise AssertionError(f"unhandled config record {record!r}")

    def _commit(self, name: str, count: int) -> None:
        # The buffer is cleared either way: after an inconsistent commit only a complete new
        # set of task configs may apply.
        deferred = self._deferred.pop(name, {})
        missing = [i for i in range(count) if i not in deferred]
        if missing:
            log.error(
                "Ignoring the task configurations committed for connector %s: %d tasks committed but "
                "no configuration read for task(s) %s; the connector is inconsistent until its tasks "
                "are reconfigured",
                name,
                count,
                missing,
            )
            self._inconsistent.add(name)
            self._tasks[name] = []
            return
        self._tasks[name] = [deferred[i] for i in range(count)]
        self._inconsistent.discard(name)
