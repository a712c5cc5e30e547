"""The leader's assignor for distributed mode: incremental cooperative assignment (KIP-415), pure.

The leader calls :func:`assign` with the previous :class:`Assignment`, the live members and every
connector and task that should run. It returns a :class:`Plan`: the next assignment and when it must be
called again. No I/O; the same inputs always give the same output. Connectors and tasks ("units") are
allocated separately, by the same steps:

1. **Keep.** A unit that still exists and was assigned in ``previous`` to a live member stays there.
   Units that no longer exist are dropped.
2. **Lost.** A departed worker that owned units is *lost*: with ``delay_ms > 0`` its units stay
   assigned to it (nobody runs them, nobody else gets them) until its deadline, first set to
   ``now_ms + delay_ms`` and never restarted (``scheduled.rebalance.max.delay.ms``). A lost worker
   that rejoins before the deadline simply keeps its units (step 1). At the deadline, or at once with
   ``delay_ms == 0``, its units are freed.
3. **Place.** New and freed units go, in sorted order, each to the least-loaded live member (ties: the
   lowest worker id).
4. **Balance.** While the most- and least-loaded live members differ by more than one unit, the
   most-loaded (ties: lowest id) hands its highest-sorted unit to the least-loaded. This moves the
   minimum number of units: nothing when the live members were already balanced, and otherwise exactly
   the excess of the workers above their fair share. Work kept for lost workers counts for nobody.

There is no separate revocation round: a worker stops what the new assignment no longer gives it and
starts what it newly gives it (the runtime handles the hand-over). The result is a fixed point: calling
:func:`assign` again with the same inputs moves nothing.
"""

from __future__ import annotations

import heapq
import re
from bisect import insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_TASK_NUMBER = re.compile(r"0|[1-9][0-9]*")

UnitKey = Callable[[str], Any]


def task_id(connector: str, n: int) -> str:
    """The id of task ``n`` of ``connector``: ``"<connector>-<n>"``."""
    if not connector or n < 0:
        raise ValueError(f"Invalid task: connector {connector!r}, number {n}")
    return f"{connector}-{n}"


def split_task_id(task: str) -> tuple[str, int]:
    """``(connector, n)`` of a task id, split on the last ``-`` (connector names may contain ``-``)."""
    connector, sep, number = task.rpartition("-")
    if not sep or not connector or not _TASK_NUMBER.fullmatch(number):
        raise ValueError(f"Invalid task id {task!r}: expected '<connector>-<n>'")
    return connector, int(number)


def _task_key(task: str) -> tuple[str, int]:
    return split_task_id(task)


def _connector_key(name: str) -> str:
    return name


def _owner_of(per_worker: Mapping[str, Sequence[str]], unit: str) -> str | None:
    for worker, units in per_worker.items():
        if unit in units:
            return worker
    return None


@dataclass(frozen=True, slots=True)
class Assignment:
    """Who runs what in one generation. Entries in ``connectors``/``tasks`` may name a lost worker."""

    generation: int
    leader: str
    leader_url: str
    members: dict[str, str]
    connectors: dict[str, list[str]]
    tasks: dict[str, list[str]]
    lost: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "leader": self.leader,
            "leader_url": self.leader_url,
            "members": dict(self.members),
            "connectors": {w: list(units) for w, units in self.connectors.items()},
            "tasks": {w: list(units) for w, units in self.tasks.items()},
            "lost": dict(self.lost),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Assignment:
        """Parse :meth:`to_json` output; raises ``ValueError`` on a malformed doc (unknown keys ignored)."""
        if not isinstance(doc, Mapping):
            raise ValueError(f"Assignment must be a JSON object, got {type(doc).__name__}")
        members = _str_map(_field(doc, "members"), "members")
        connectors = _units_map(_field(doc, "connectors"), "connectors", _connector_key)
        tasks = _units_map(_field(doc, "tasks"), "tasks", _task_key)
        leader = _str(_field(doc, "leader"), "leader")
        if leader not in members:
            raise ValueError(f"Assignment leader {leader!r} is not a member")
        generation = _int(_field(doc, "generation"), "generation")
        lost = {
            _str(w, "lost key"): _int(d, f"lost[{w}]") for w, d in _map(_field(doc, "lost"), "lost").items()
        }
        return cls(
            generation=generation,
            leader=leader,
            leader_url=_str(_field(doc, "leader_url"), "leader_url"),
            members=members,
            connectors=connectors,
            tasks=tasks,
            lost=lost,
        )

    def owner_of_connector(self, name: str) -> str | None:
        return _owner_of(self.connectors, name)

    def owner_of_task(self, task_id: str) -> str | None:
        return _owner_of(self.tasks, task_id)

    def units_of(self, worker: str) -> tuple[list[str], list[str]]:
        """``(connectors, tasks)`` assigned to ``worker`` (copies; empty when it has none)."""
        return list(self.connectors.get(worker, [])), list(self.tasks.get(worker, []))


def same_allocation(a: Assignment | None, b: Assignment) -> bool:
    """Whether ``a`` and ``b`` allocate the same way (generation and leader fields ignored)."""
    return (
        a is not None
        and a.members == b.members
        and a.connectors == b.connectors
        and a.tasks == b.tasks
        and a.lost == b.lost
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """The next assignment, and when (epoch ms) the leader must call :func:`assign` again, if ever."""

    assignment: Assignment
    next_check_ms: int | None


def assign(
    previous: Assignment | None,
    members: Mapping[str, str],
    connectors: Sequence[str],
    tasks: Sequence[str],
    *,
    leader: str,
    now_ms: int,
    delay_ms: int,
) -> Plan:
    """The next assignment (see the module docstring). ``leader`` must be one of ``members``."""
    if leader not in members:
        raise ValueError(f"Leader {leader!r} is not a member")
    if delay_ms < 0:
        raise ValueError(f"delay_ms must be >= 0, got {delay_ms}")
    live = sorted(members)
    conn_units = sorted(set(connectors), key=_connector_key)
    task_units = sorted(set(tasks), key=_task_key)
    prev_conns = _previous_owners(previous.connectors if previous else {}, conn_units)
    prev_tasks = _previous_owners(previous.tasks if previous else {}, task_units)
    departed = (set(prev_conns.values()) | set(prev_tasks.values())) - set(live)
    lost = _lost_deadlines(departed, previous.lost if previous else {}, now_ms, delay_ms)
    assignment = Assignment(
        generation=previous.generation + 1 if previous else 1,
        leader=leader,
        leader_url=members[leader],
        members={w: members[w] for w in live},
        connectors=_allocate(conn_units, prev_conns, live, lost, _connector_key),
        tasks=_allocate(task_units, prev_tasks, live, lost, _task_key),
        lost=lost,
    )
    return Plan(assignment, min(lost.values(), default=None))


def _previous_owners(per_worker: Mapping[str, Sequence[str]], units: Iterable[str]) -> dict[str, str]:
    """unit -> its previous owner, for the units that still exist (a duplicate goes to the lowest id)."""
    wanted = set(units)
    owners: dict[str, str] = {}
    for worker in sorted(per_worker):
        for unit in per_worker[worker]:
            if unit in wanted:
                owners.setdefault(unit, worker)
    return owners


def _lost_deadlines(
    departed: Iterable[str], previous_lost: Mapping[str, int], now_ms: int, delay_ms: int
) -> dict[str, int]:
    """Departed workers whose work is still kept for them -> their deadline (never restarted)."""
    if delay_ms == 0:
        return {}
    deadlines = {w: previous_lost.get(w, now_ms + delay_ms) for w in sorted(departed)}
    return {w: d for w, d in deadlines.items() if now_ms < d}


def _allocate(
    units: Sequence[str], previous: Mapping[str, str], live: Sequence[str], lost: Iterable[str], key: UnitKey
) -> dict[str, list[str]]:
    """Keep, place and balance one kind of unit; worker -> sorted units (live members and lost ones)."""
    key = {unit: key(unit) for unit in units}.__getitem__  # compute each sort key once
    held: dict[str, list[str]] = {w: [] for w in live}
    kept: dict[str, list[str]] = {w: [] for w in lost}
    free: list[str] = []
    for unit in units:  # sorted, so every list is sorted too
        owner = previous.get(unit)
        if owner in held:
            held[owner].append(unit)
        elif owner in kept:
            kept[owner].append(unit)
        else:
            free.append(unit)
    _place(free, held, key)
    _balance(held, key)
    return dict(sorted({**held, **kept}.items()))


def _place(free: Iterable[str], held: dict[str, list[str]], key: UnitKey) -> None:
    """Give each free unit to the least-loaded member (ties: lowest id)."""
    heap = [(len(units), worker) for worker, units in held.items()]
    heapq.heapify(heap)
    for unit in free:
        load, worker = heapq.heappop(heap)
        insort(held[worker], unit, key=key)
        heapq.heappush(heap, (load + 1, worker))


def _balance(held: dict[str, list[str]], key: UnitKey) -> None:
    """Move highest-sorted units from the most- to the least-loaded member until loads differ by <= 1.

    Ties go to the lowest worker id on both sides. Two heaps with lazy deletion keep this
    O(moves * log(members)).
    """
    most = [(-len(units), worker) for worker, units in held.items()]
    least = [(len(units), worker) for worker, units in held.items()]
    heapq.heapify(most)
    heapq.heapify(least)
    while least:
        giver = _top(most, lambda w: -len(held[w]))
        taker = _top(least, lambda w: len(held[w]))
        if len(held[giver]) - len(held[taker]) <= 1:
            return
        insort(held[taker], held[giver].pop(), key=key)
        for worker in (giver, taker):
            heapq.heappush(most, (-len(held[worker]), worker))
            heapq.heappush(least, (len(held[worker]), worker))


def _top(heap: list[tuple[int, str]], current: Callable[[str], int]) -> str:
    """The worker on top of ``heap``, first dropping entries whose load is out of date."""
    while heap[0][0] != current(heap[0][1]):
        heapq.heappop(heap)
    return heap[0][1]


def _field(doc: Mapping[str, Any], name: str) -> Any:
    if name not in doc:
        raise ValueError(f"Assignment is missing {name!r}")
    return doc[name]


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"Assignment {what} must be a string, got {value!r}")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"Assignment {what} must be a non-negative integer, got {value!r}")
    return value


def _map(value: Any, what: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"Assignment {what} must be an object, got {value!r}")
    return value


def _str_map(value: Any, what: str) -> dict[str, str]:
    return {_str(k, f"{what} key"): _str(v, f"{what}[{k}]") for k, v in _map(value, what).items()}


def _units_map(value: Any, what: str, key: UnitKey) -> dict[str, list[str]]:
    """worker -> sorted units; each unit at most once across all workers."""
    out: dict[str, list[str]] = {}
    seen: set[str] = set()
    for worker, units in _map(value, what).items():
        if not isinstance(units, list):
            raise ValueError(f"Assignment {what}[{worker}] must be a list, got {units!r}")
        names = [_str(u, f"{what}[{worker}] entry") for u in units]
        for name in names:
            key(name)  # validates task ids
            if name in seen:
                raise ValueError(f"Assignment {what}: {name!r} is assigned more than once")
            seen.add(name)
        out[_str(worker, f"{what} key")] = sorted(names, key=key)
    return out
