"""The leader's incremental cooperative assignor (controlplane.assignor): exact plans and properties."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.assignor import Assignment, Plan, assign, same_allocation, split_task_id, task_id

DELAY = 300_000


def urls(*workers: str) -> dict[str, str]:
    return {w: f"http://{w}:8083" for w in workers}


def tasks_of(connector: str, count: int) -> list[str]:
    return [task_id(connector, n) for n in range(count)]


def run(
    previous: Assignment | None,
    workers: Sequence[str],
    connectors: Sequence[str],
    tasks: Sequence[str],
    *,
    now: int = 0,
    delay: int = DELAY,
    leader: str | None = None,
) -> Plan:
    return assign(
        previous,
        urls(*workers),
        connectors,
        tasks,
        leader=leader or sorted(workers)[0],
        now_ms=now,
        delay_ms=delay,
    )


def owners(per_worker: Mapping[str, Sequence[str]]) -> dict[str, str]:
    return {unit: worker for worker, units in per_worker.items() for unit in units}


def moved(before: Mapping[str, Sequence[str]], after: Mapping[str, Sequence[str]]) -> list[str]:
    """Units that changed owner (units that vanished or appeared do not count)."""
    old, new = owners(before), owners(after)
    return sorted(u for u in old.keys() & new.keys() if old[u] != new[u])


def one_connector(workers: Sequence[str], count: int = 6) -> Assignment:
    return run(None, workers, ["c"], tasks_of("c", count)).assignment


# --- task ids ---------------------------------------------------------------------------------------


def test_task_id_and_split() -> None:
    assert task_id("c", 0) == "c-0"
    assert split_task_id("c-0") == ("c", 0)
    assert split_task_id("my-conn-12") == ("my-conn", 12)
    assert split_task_id("a-b-c-3") == ("a-b-c", 3)
    assert split_task_id("c--1") == ("c-", 1)
    assert split_task_id(task_id("x-1-y", 42)) == ("x-1-y", 42)


@pytest.mark.parametrize("bad", ["c", "c-", "-1", "c-x", "c-01", "c-1.5", "c- 1", "c-+1", "c-²", ""])
def test_split_task_id_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        split_task_id(bad)


@pytest.mark.parametrize(("connector", "n"), [("", 0), ("c", -1)])
def test_task_id_rejects(connector: str, n: int) -> None:
    with pytest.raises(ValueError):
        task_id(connector, n)


# --- exact plans ------------------------------------------------------------------------------------


def test_first_assignment() -> None:
    plan = run(None, ["w3", "w1", "w2"], ["c"], tasks_of("c", 6), leader="w2")
    assert plan.next_check_ms is None
    assert plan.assignment == Assignment(
        generation=1,
        leader="w2",
        leader_url="http://w2:8083",
        members=urls("w1", "w2", "w3"),
        connectors={"w1": ["c"], "w2": [], "w3": []},
        tasks={"w1": ["c-0", "c-3"], "w2": ["c-1", "c-4"], "w3": ["c-2", "c-5"]},
        lost={},
    )


def test_tasks_sort_numerically() -> None:
    a = run(None, ["w1"], ["c", "b"], [*tasks_of("c", 12), "b-0"]).assignment
    assert a.connectors == {"w1": ["b", "c"]}
    assert a.tasks == {"w1": ["b-0", *tasks_of("c", 12)]}


def test_stable_with_same_inputs() -> None:
    first = one_connector(["w1", "w2", "w3"])
    second = run(first, ["w1", "w2", "w3"], ["c"], tasks_of("c", 6)).assignment
    assert second.generation == 2
    assert same_allocation(first, second)
    assert second.connectors == first.connectors and second.tasks == first.tasks


def test_same_allocation_ignores_generation_and_leader_only() -> None:
    a = one_connector(["w1", "w2"])
    b = run(a, ["w1", "w2"], ["c"], tasks_of("c", 6), leader="w2").assignment
    assert (b.generation, b.leader, b.leader_url) == (2, "w2", "http://w2:8083")
    assert same_allocation(a, b)
    assert not same_allocation(None, b)
    c = run(a, ["w1", "w2"], ["c"], tasks_of("c", 5)).assignment
    assert not same_allocation(a, c)


def test_join_two_to_three_moves_two_tasks() -> None:
    before = one_connector(["w1", "w2"])
    assert before.tasks == {"w1": ["c-0", "c-2", "c-4"], "w2": ["c-1", "c-3", "c-5"]}
    after = run(before, ["w1", "w2", "w3"], ["c"], tasks_of("c", 6)).assignment
    assert after.connectors == {"w1": ["c"], "w2": [], "w3": []}
    assert after.tasks == {"w1": ["c-0", "c-2"], "w2": ["c-1", "c-3"], "w3": ["c-4", "c-5"]}
    assert moved(before.tasks, after.tasks) == ["c-4", "c-5"]
    assert moved(before.connectors, after.connectors) == []


def test_join_three_to_four_moves_one_task() -> None:
    before = one_connector(["w1", "w2", "w3"])
    after = run(before, ["w1", "w2", "w3", "w4"], ["c"], tasks_of("c", 6)).assignment
    assert after.connectors == {"w1": ["c"], "w2": [], "w3": [], "w4": []}
    assert after.tasks == {"w1": ["c-0"], "w2": ["c-1", "c-4"], "w3": ["c-2", "c-5"], "w4": ["c-3"]}
    assert moved(before.tasks, after.tasks) == ["c-3"]


def test_departure_with_delay_keeps_work_until_deadline() -> None:
    workers = ["w1", "w2", "w3"]
    before = one_connector(workers)
    conns, tasks = ["c"], tasks_of("c", 6)

    gone = run(before, ["w1", "w2"], conns, tasks, now=1_000)
    deadline = 1_000 + DELAY
    assert gone.next_check_ms == deadline
    assert gone.assignment.lost == {"w3": deadline}
    assert gone.assignment.members == urls("w1", "w2")
    assert gone.assignment.connectors == before.connectors
    assert gone.assignment.tasks == before.tasks  # w3's tasks are kept for it, nobody else runs them

    # Nothing is reassigned before the deadline, and the deadline is not restarted (even by a join,
    # where the live members balance the rest among themselves).
    later = run(gone.assignment, ["w1", "w2"], conns, tasks, now=deadline - 1)
    assert later.next_check_ms == deadline
    assert same_allocation(gone.assignment, later.assignment)
    joined = run(later.assignment, ["w1", "w2", "w4"], conns, tasks, now=deadline - 1)
    assert joined.assignment.lost == {"w3": deadline}
    assert joined.assignment.tasks == {
        "w1": ["c-0"],
        "w2": ["c-1", "c-4"],
        "w3": ["c-2", "c-5"],
        "w4": ["c-3"],
    }

    # At the deadline w3's work is freed and spread evenly.
    due = run(later.assignment, ["w1", "w2"], conns, tasks, now=deadline)
    assert due.next_check_ms is None
    assert due.assignment.lost == {}
    assert due.assignment.connectors == {"w1": ["c"], "w2": []}
    assert due.assignment.tasks == {"w1": ["c-0", "c-2", "c-3"], "w2": ["c-1", "c-4", "c-5"]}
    assert moved(before.tasks, due.assignment.tasks) == ["c-2", "c-5"]


def test_departure_of_connector_owner_keeps_connector() -> None:
    before = one_connector(["w1", "w2", "w3"])
    gone = run(before, ["w2", "w3"], ["c"], tasks_of("c", 6), now=5).assignment
    assert gone.lost == {"w1": 5 + DELAY}
    assert gone.owner_of_connector("c") == "w1"
    assert gone.connectors == {"w1": ["c"], "w2": [], "w3": []}
    due = run(gone, ["w2", "w3"], ["c"], tasks_of("c", 6), now=5 + DELAY).assignment
    assert due.connectors == {"w2": ["c"], "w3": []}
    assert due.tasks == {"w2": ["c-0", "c-1", "c-4"], "w3": ["c-2", "c-3", "c-5"]}
    assert moved(gone.tasks, due.tasks) == ["c-0", "c-3"]  # only w1's freed tasks; live members keep theirs


def test_return_within_deadline_gets_back_exactly_its_units() -> None:
    workers = ["w1", "w2", "w3"]
    before = one_connector(workers)
    gone = run(before, ["w1", "w2"], ["c"], tasks_of("c", 6), now=1_000).assignment
    back = run(gone, workers, ["c"], tasks_of("c", 6), now=2_000)
    assert back.next_check_ms is None
    assert back.assignment.lost == {}
    assert back.assignment.members == urls(*workers)
    assert back.assignment.units_of("w3") == before.units_of("w3") == ([], ["c-2", "c-5"])
    assert same_allocation(before, back.assignment)


def test_lost_work_counts_for_nobody_and_returning_worker_rebalances_minimally() -> None:
    workers = ["w1", "w2", "w3"]
    before = one_connector(workers)
    # w3 leaves; a new connector d with 4 tasks is spread over the live members only.
    conns, tasks = ["c", "d"], [*tasks_of("c", 6), *tasks_of("d", 4)]
    gone = run(before, ["w1", "w2"], conns, tasks, now=1_000).assignment
    assert gone.connectors == {"w1": ["c"], "w2": ["d"], "w3": []}
    assert gone.tasks == {
        "w1": ["c-0", "c-3", "d-0", "d-2"],
        "w2": ["c-1", "c-4", "d-1", "d-3"],
        "w3": ["c-2", "c-5"],
    }
    # w3 comes back: it keeps its tasks, and one task (the minimum: 4/4/2 -> 3/4/3) moves to it from
    # the most-loaded member with the lowest id (its highest-sorted task).
    back = run(gone, workers, conns, tasks, now=2_000).assignment
    assert back.lost == {}
    assert set(before.tasks["w3"]) <= set(back.tasks["w3"])
    assert back.tasks == {
        "w1": ["c-0", "c-3", "d-0"],
        "w2": ["c-1", "c-4", "d-1", "d-3"],
        "w3": ["c-2", "c-5", "d-2"],
    }
    assert moved(gone.tasks, back.tasks) == ["d-2"]
    assert back.connectors == gone.connectors


def test_delay_zero_reassigns_at_once() -> None:
    before = one_connector(["w1", "w2", "w3"])
    plan = run(before, ["w1", "w2"], ["c"], tasks_of("c", 6), now=1_000, delay=0)
    assert plan.next_check_ms is None
    assert plan.assignment.lost == {}
    assert plan.assignment.connectors == {"w1": ["c"], "w2": []}
    assert plan.assignment.tasks == {"w1": ["c-0", "c-2", "c-3"], "w2": ["c-1", "c-4", "c-5"]}


def test_delay_zero_frees_work_kept_under_an_earlier_delay() -> None:
    before = one_connector(["w1", "w2", "w3"])
    gone = run(before, ["w1", "w2"], ["c"], tasks_of("c", 6), now=1_000).assignment
    now = run(gone, ["w1", "w2"], ["c"], tasks_of("c", 6), now=1_001, delay=0).assignment
    assert now.lost == {}
    assert owners(now.tasks).keys() == set(tasks_of("c", 6))
    assert set(now.tasks) == {"w1", "w2"}


def test_connector_deleted_units_vanish() -> None:
    first = run(None, ["w1", "w2"], ["a", "b"], [*tasks_of("a", 2), *tasks_of("b", 2)]).assignment
    assert first.connectors == {"w1": ["a"], "w2": ["b"]}
    after = run(first, ["w1", "w2"], ["a"], tasks_of("a", 2)).assignment
    assert after.connectors == {"w1": ["a"], "w2": []}
    assert after.tasks == {"w1": ["a-0"], "w2": ["a-1"]}
    assert after.owner_of_connector("b") is None and after.owner_of_task("b-0") is None


def test_lost_worker_whose_units_are_all_deleted_is_forgotten() -> None:
    first = run(None, ["w1", "w2"], ["a", "b"], []).assignment
    gone = run(first, ["w1"], ["a", "b"], [], now=10).assignment
    assert gone.lost == {"w2": 10 + DELAY}
    after = run(gone, ["w1"], ["a"], [], now=11)
    assert after.assignment.lost == {} and after.next_check_ms is None
    assert after.assignment.connectors == {"w1": ["a"]}


def test_tasks_shrink_from_six_to_two() -> None:
    before = one_connector(["w1", "w2", "w3"])
    after = run(before, ["w1", "w2", "w3"], ["c"], tasks_of("c", 2)).assignment
    assert after.tasks == {"w1": ["c-0"], "w2": ["c-1"], "w3": []}
    assert after.connectors == before.connectors


def test_input_order_does_not_matter() -> None:
    tasks = [*tasks_of("a-x", 11), *tasks_of("b", 3)]
    a = run(None, ["w2", "w1", "w3"], ["b", "a-x"], tasks).assignment
    b = run(None, ["w3", "w2", "w1"], ["a-x", "b", "a-x"], list(reversed(tasks))).assignment
    assert a == b


def test_accessors() -> None:
    a = one_connector(["w1", "w2", "w3"])
    assert a.owner_of_connector("c") == "w1"
    assert a.owner_of_connector("nope") is None
    assert a.owner_of_task("c-4") == "w2"
    assert a.owner_of_task("c-6") is None
    assert a.units_of("w1") == (["c"], ["c-0", "c-3"])
    assert a.units_of("w9") == ([], [])
    conns, _ = a.units_of("w1")
    conns.append("x")
    assert a.connectors["w1"] == ["c"]  # a copy


def test_assign_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="Leader"):
        assign(None, urls("w1"), [], [], leader="w2", now_ms=0, delay_ms=0)
    with pytest.raises(ValueError, match="delay_ms"):
        assign(None, urls("w1"), [], [], leader="w1", now_ms=0, delay_ms=-1)
    with pytest.raises(ValueError, match="task id"):
        assign(None, urls("w1"), ["c"], ["c"], leader="w1", now_ms=0, delay_ms=0)


def test_single_member_without_work() -> None:
    plan = run(None, ["w1"], [], [])
    assert plan.assignment.to_json() == {
        "generation": 1,
        "leader": "w1",
        "leader_url": "http://w1:8083",
        "members": {"w1": "http://w1:8083"},
        "connectors": {"w1": []},
        "tasks": {"w1": []},
        "lost": {},
    }


# --- JSON -------------------------------------------------------------------------------------------


def test_json_round_trip() -> None:
    before = run(None, ["w1", "w2", "w3"], ["c", "d-1"], [*tasks_of("c", 6), *tasks_of("d-1", 3)])
    gone = run(before.assignment, ["w1", "w2"], ["c", "d-1"], tasks_of("c", 6), now=7).assignment
    assert gone.lost == {"w3": 7 + DELAY}
    doc = gone.to_json()
    assert set(doc) == {"generation", "leader", "leader_url", "members", "connectors", "tasks", "lost"}
    text = json.dumps(doc)
    again = Assignment.from_json(json.loads(text))
    assert again == gone
    assert again.to_json() == doc
    doc["tasks"]["w1"].append("zzz-0")  # to_json returns copies
    assert "zzz-0" not in gone.tasks["w1"]


def _valid_doc() -> dict[str, Any]:
    return one_connector(["w1", "w2"]).to_json()


def _with(**changes: Any) -> dict[str, Any]:
    doc = _valid_doc()
    doc.update(changes)
    return doc


def _without(key: str) -> dict[str, Any]:
    doc = _valid_doc()
    del doc[key]
    return doc


MALFORMED: list[Any] = [
    [],
    "assignment",
    None,
    *(_without(k) for k in ("generation", "leader", "leader_url", "members", "connectors", "tasks", "lost")),
    _with(generation="1"),
    _with(generation=True),
    _with(generation=-1),
    _with(generation=1.5),
    _with(leader=1),
    _with(leader="w9"),
    _with(leader_url=None),
    _with(members=[]),
    _with(members={"w1": 1, "w2": "u"}),
    _with(connectors=["c"]),
    _with(connectors={"w1": "c"}),
    _with(connectors={"w1": [1]}),
    _with(connectors={"w1": ["c"], "w2": ["c"]}),
    _with(tasks={"w1": ["c"]}),
    _with(tasks={"w1": ["c-x"]}),
    _with(tasks={"w1": ["c-0"], "w2": ["c-0"]}),
    _with(tasks={"w1": ["c-0", "c-0"]}),
    _with(lost=[]),
    _with(lost={"w3": "10"}),
    _with(lost={"w3": None}),
]


@pytest.mark.parametrize("doc", MALFORMED)
def test_from_json_rejects_malformed(doc: Any) -> None:
    with pytest.raises(ValueError):
        Assignment.from_json(doc)


def test_from_json_sorts_units_and_ignores_unknown_keys() -> None:
    doc = _with(tasks={"w1": ["c-10", "c-2"], "w2": []}, extra=1)
    assert Assignment.from_json(doc).tasks == {"w1": ["c-2", "c-10"], "w2": []}


# --- properties -------------------------------------------------------------------------------------

WORKERS = ["w0", "w1", "w2", "w3", "w4", "w5"]
CONNECTORS = ["a", "b-c", "d-0", "e"]

step_strategy = st.tuples(
    st.sets(st.sampled_from(WORKERS), min_size=1),  # live members
    st.dictionaries(st.sampled_from(CONNECTORS), st.integers(0, 7)),  # connector -> tasks.max
    st.integers(0, 1_500),  # time advance (ms)
)


def minimal_moves(held: Mapping[str, int], total: int) -> int:
    """Fewest held units that must change owner to reach loads that differ by at most one."""
    floor, extra = divmod(total, len(held))
    loads = sorted(held.values(), reverse=True)
    return sum(max(0, load - (floor + 1 if i < extra else floor)) for i, load in enumerate(loads))


def check_kind(
    prev: Mapping[str, Sequence[str]],
    new: Mapping[str, Sequence[str]],
    units: set[str],
    live: set[str],
    lost: Mapping[str, int],
) -> None:
    placed = [u for us in new.values() for u in us]
    assert sorted(placed) == sorted(units)  # every unit exactly once, nothing stale
    assert set(new) == live | set(lost)
    old = {u: w for u, w in owners(prev).items() if u in units}
    for worker in lost:  # work kept for a lost worker is exactly its previous (still valid) units
        assert sorted(new[worker]) == sorted(u for u, w in old.items() if w == worker)
    loads = [len(new[w]) for w in live]
    assert max(loads) - min(loads) <= 1
    held = {w: sum(1 for o in old.values() if o == w) for w in live}
    now_owners = owners(new)
    moves = sum(1 for u, w in old.items() if w in live and now_owners[u] != w)
    assert moves == minimal_moves(held, sum(loads))
    if max(held.values()) - min(held.values()) <= 1:
        assert moves == 0


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(step_strategy, min_size=1, max_size=8),
    delay=st.sampled_from([0, 1_000]),
    leader_pick=st.integers(0, 5),
)
def test_properties_over_call_sequences(
    steps: list[tuple[set[str], dict[str, int], int]], delay: int, leader_pick: int
) -> None:
    previous: Assignment | None = None
    now = 0
    for live, counts, advance in steps:
        now += advance
        conns = sorted(counts)
        tasks = [t for c in conns for t in tasks_of(c, counts[c])]
        leader = sorted(live)[leader_pick % len(live)]
        plan = assign(previous, urls(*live), conns, tasks, leader=leader, now_ms=now, delay_ms=delay)
        a = plan.assignment
        assert a.generation == (previous.generation + 1 if previous else 1)
        assert a.members == urls(*live) and a.leader_url == urls(leader)[leader]
        assert not set(a.lost) & live
        assert all(a.connectors[w] or a.tasks[w] for w in a.lost)  # only workers with kept work are lost
        assert all(d > now for d in a.lost.values())
        assert plan.next_check_ms == min(a.lost.values(), default=None)
        if delay == 0:
            assert a.lost == {}
        for worker, deadline in a.lost.items():
            earlier = previous.lost.get(worker) if previous else None
            assert deadline == (earlier if earlier is not None else now + delay)
        check_kind(previous.connectors if previous else {}, a.connectors, set(conns), live, a.lost)
        check_kind(previous.tasks if previous else {}, a.tasks, set(tasks), live, a.lost)
        # A fixed point: the same inputs again move nothing.
        again = assign(a, urls(*live), conns, tasks, leader=leader, now_ms=now, delay_ms=delay)
        assert same_allocation(a, again.assignment)
        assert Assignment.from_json(json.loads(json.dumps(a.to_json()))) == a
        previous = a
