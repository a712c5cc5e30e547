"""Messages on the control pipe between the control plane and a worker process.

They are small (configs, statuses, offsets), never records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def task_name(connector: str, task: int) -> str:
    return f"{connector}-{task}"


@dataclass(frozen=True, slots=True)
class TaskSpec:
    connector: str
    task: int
    connector_config: dict[str, str]
    task_config: dict[str, str]
    worker_config: dict[str, str]
    # Last committed source offsets of the connector: (partition, offset) pairs.
    offsets: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    target_state: str = "STARTED"
    # How many of the connector's tasks run in this task's worker process (itself included)
    # when it starts: its sink consumer's share of the process's prefetch (clients.py).
    process_share: int = 1

    @property
    def name(self) -> str:
        return task_name(self.connector, self.task)


@dataclass(frozen=True, slots=True)
class StartTask:
    spec: TaskSpec


@dataclass(frozen=True, slots=True)
class StopTask:
    connector: str
    task: int


@dataclass(frozen=True, slots=True)
class SetTargetState:
    connector: str
    task: int
    state: str  # STARTED | PAUSED


@dataclass(frozen=True, slots=True)
class Shutdown:
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class TaskStatus:
    connector: str
    task: int
    state: str  # RUNNING | PAUSED | FAILED | UNASSIGNED
    trace: str | None = None
    pid: int = 0


@dataclass(frozen=True, slots=True)
class TaskStopped:
    connector: str
    task: int


@dataclass(frozen=True, slots=True)
class CommitOffsets:
    """A source task's committable offsets: every record up to here was acknowledged."""

    connector: str
    task: int
    seq: int
    offsets: list[tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class OffsetsWritten:
    connector: str
    task: int
    seq: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class WorkerReady:
    index: int
    pid: int
    cpus: list[int]


@dataclass(frozen=True, slots=True)
class TopicsUsed:
    """Topics a task produced to or consumed from for the first time (KIP-558)."""

    connector: str
    task: int
    topics: list[str]


@dataclass(frozen=True, slots=True)
class SetLogLevel:
    logger: str
    level: str


@dataclass(frozen=True, slots=True)
class Preview:
    """Read up to ``max_records`` through the connector's converters (and transforms) and
    write the result into the ring whose writer end is ``ring`` (an engine.transport RingEnd)."""

    request_id: int
    spec: TaskSpec
    max_records: int
    timeout_s: float
    ring: Any


@dataclass(frozen=True, slots=True)
class PreviewDone:
    request_id: int
    rows: int
    error: str | None = None
