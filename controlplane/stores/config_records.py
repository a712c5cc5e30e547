"""Records of the config topic, in Kafka Connect's exact format: keys and values, both ways.

========================  ==================================================================
key                       value
========================  ==================================================================
``connector-<n>``         ``{"properties": {...}}``; tombstone on delete
``target-state-<n>``      ``{"state": "STARTED"|"PAUSED", "state.v2": "STARTED"|"PAUSED"|"STOPPED"}``
``task-<n>-<i>``          ``{"properties": {...}}``, applied by the next ``commit-<n>``
``commit-<n>``            ``{"tasks": <count>}``
``restart-connector-<n>`` ``{"include-tasks": bool, "only-failed": bool}``
``arrowsmith-assignment`` the distributed assignment (ours; Kafka Connect ignores it)
========================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controlplane.stores.codec import decode_key, decode_object, encode_json, string_map, task_number
from engine.spi.errors import ConfigError, DataError

CONNECTOR = "connector-"
TARGET_STATE = "target-state-"
TASK = "task-"
COMMIT = "commit-"
RESTART = "restart-connector-"
ASSIGNMENT = "arrowsmith-assignment"

STARTED, PAUSED, STOPPED = "STARTED", "PAUSED", "STOPPED"
TARGET_STATES = (STARTED, PAUSED, STOPPED)


@dataclass(frozen=True, slots=True)
class ConnectorRecord:
    name: str
    config: dict[str, str] | None  # None: deleted


@dataclass(frozen=True, slots=True)
class TargetStateRecord:
    name: str
    state: str | None  # None: deleted (back to STARTED)


@dataclass(frozen=True, slots=True)
class TaskRecord:
    name: str
    task: int
    config: dict[str, str]


@dataclass(frozen=True, slots=True)
class CommitRecord:
    name: str
    tasks: int


@dataclass(frozen=True, slots=True)
class RestartRecord:
    name: str
    include_tasks: bool
    only_failed: bool


@dataclass(frozen=True, slots=True)
class AssignmentRecord:
    doc: dict[str, Any] | None  # None: tombstone


ConfigRecord = (
    ConnectorRecord | TargetStateRecord | TaskRecord | CommitRecord | RestartRecord | AssignmentRecord
)

# -- writing -------------------------------------------------------------------------------------


def connector_record(name: str, config: Mapping[str, str] | None) -> tuple[bytes, bytes | None]:
    value = None if config is None else encode_json({"properties": dict(config)})
    return (CONNECTOR + name).encode("utf-8"), value


def target_state_record(name: str, state: str | None) -> tuple[bytes, bytes | None]:
    """STOPPED is written as ``state=PAUSED`` too, so that pre-3.5 workers pause it."""
    if state is not None and state not in TARGET_STATES:
        raise ConfigError(f"Unknown target state {state!r}: expected one of {', '.join(TARGET_STATES)}")
    value = None
    if state is not None:
        value = encode_json({"state": PAUSED if state == STOPPED else state, "state.v2": state})
    return (TARGET_STATE + name).encode("utf-8"), value


def task_records(name: str, configs: Sequence[Mapping[str, str]]) -> list[tuple[bytes, bytes | None]]:
    """``task-<name>-0`` … ``task-<name>-<n-1>``, then the ``commit-<name>`` that applies them."""
    records: list[tuple[bytes, bytes | None]] = [
        (f"{TASK}{name}-{i}".encode(), encode_json({"properties": dict(config)}))
        for i, config in enumerate(configs)
    ]
    records.append(((COMMIT + name).encode("utf-8"), encode_json({"tasks": len(configs)})))
    return records


def restart_record(name: str, include_tasks: bool, only_failed: bool) -> tuple[bytes, bytes | None]:
    value = encode_json({"include-tasks": include_tasks, "only-failed": only_failed})
    return (RESTART + name).encode("utf-8"), value


def assignment_record(doc: Mapping[str, Any]) -> tuple[bytes, bytes | None]:
    return ASSIGNMENT.encode("utf-8"), encode_json(dict(doc))


# -- reading -------------------------------------------------------------------------------------


def parse_config_record(key: bytes | None, value: bytes | None) -> ConfigRecord | None:
    """The record, or None for a key this reader does not use; DataError if it is malformed."""
    text = decode_key(key)
    if text.startswith(CONNECTOR):
        name = text[len(CONNECTOR) :]
        return ConnectorRecord(name, None if value is None else _properties(value))
    if text.startswith(TARGET_STATE):
        name = text[len(TARGET_STATE) :]
        return TargetStateRecord(name, None if value is None else _target_state(value))
    if text.startswith(TASK):
        name, sep, number = text[len(TASK) :].rpartition("-")
        if not sep or not name:
            raise DataError(f"task key {text!r} has no connector name and task number")
        if value is None:
            raise DataError(f"task configuration {text!r} is unexpectedly null")
        return TaskRecord(name, task_number(number), _properties(value))
    if text.startswith(COMMIT):
        return CommitRecord(text[len(COMMIT) :], _task_count(_not_null(text, value)))
    if text.startswith(RESTART):
        doc = decode_object(_not_null(text, value))
        include_tasks, only_failed = doc.get("include-tasks"), doc.get("only-failed")
        if not isinstance(include_tasks, bool) or not isinstance(only_failed, bool):
            raise DataError("'include-tasks' and 'only-failed' should be booleans")
        return RestartRecord(text[len(RESTART) :], include_tasks, only_failed)
    if text == ASSIGNMENT:
        return AssignmentRecord(None if value is None else decode_object(value))
    return None


def _not_null(key: str, value: bytes | None) -> bytes:
    if value is None:
        raise DataError(f"record {key!r} is unexpectedly null")
    return value


def _properties(value: bytes) -> dict[str, str]:
    return string_map(decode_object(value).get("properties"), "properties")


def _target_state(value: bytes) -> str:
    doc = decode_object(value)
    state = doc.get("state.v2")
    if state is None:  # V0: "state" only
        state = doc.get("state")
    if state not in TARGET_STATES:
        raise DataError(f"invalid target state {state!r}")
    assert isinstance(state, str)
    return state


def _task_count(value: bytes) -> int:
    tasks = decode_object(value).get("tasks")
    if not isinstance(tasks, int) or isinstance(tasks, bool) or tasks < 0:
        raise DataError(f"'tasks' should be a non-negative integer, found {tasks!r}")
    return tasks
