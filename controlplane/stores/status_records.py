"""Records of the status topic, in Kafka Connect's format.

Keys ``status-connector-<name>`` and ``status-task-<name>-<n>`` (the task number is after
the last '-'), values ``{"state", "trace", "worker_id", "generation"}``; a tombstone means
the connector or task was deleted. ``status-topic-…`` records (KIP-558 active topics) are
recognised and not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from controlplane.stores.codec import decode_key, decode_object, encode_json, task_number
from engine.spi.errors import DataError

CONNECTOR = "status-connector-"
TASK = "status-task-"
TOPIC = "status-topic-"


@dataclass(frozen=True, slots=True)
class StatusKey:
    kind: str  # "connector" | "task"
    name: str
    task: int | None


def connector_status_key(name: str) -> bytes:
    return (CONNECTOR + name).encode("utf-8")


def task_status_key(name: str, task: int) -> bytes:
    return f"{TASK}{name}-{task}".encode()


def status_value(state: str, trace: str | None, worker_id: str, generation: int) -> bytes:
    return encode_json({"state": state, "trace": trace, "worker_id": worker_id, "generation": generation})


def parse_status_key(key: bytes | None) -> StatusKey | None:
    """The connector or task a key names; None for a ``status-topic-`` key; DataError otherwise."""
    text = decode_key(key)
    if text.startswith(CONNECTOR):
        return StatusKey("connector", text[len(CONNECTOR) :], None)
    if text.startswith(TASK):
        name, sep, number = text[len(TASK) :].rpartition("-")
        if not sep or not name:
            raise DataError(f"task status key {text!r} has no connector name and task number")
        return StatusKey("task", name, task_number(number))
    if text.startswith(TOPIC):
        return None
    raise DataError(f"unknown status key {text!r}")


def parse_status_value(value: bytes) -> dict[str, Any]:
    doc = decode_object(value)
    state, trace, worker_id, generation = (
        doc.get("state"),
        doc.get("trace"),
        doc.get("worker_id"),
        doc.get("generation"),
    )
    if not isinstance(state, str) or not isinstance(worker_id, str):
        raise DataError("'state' and 'worker_id' should be strings")
    if trace is not None and not isinstance(trace, str):
        raise DataError("'trace' should be a string or null")
    if not isinstance(generation, int) or isinstance(generation, bool):
        raise DataError("'generation' should be an integer")
    return {"state": state, "trace": trace, "worker_id": worker_id, "generation": generation}


def supersedes(stored: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether ``new`` replaces ``stored``: not if it is from another worker and an older generation."""
    return (
        stored is None or new["worker_id"] == stored["worker_id"] or new["generation"] >= stored["generation"]
    )
