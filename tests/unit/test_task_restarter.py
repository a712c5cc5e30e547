"""Automatic restarts of failed tasks: back-off, limit, reset."""

from __future__ import annotations

import asyncio

import pytest

from controlplane.task_restarter import RestartPolicy, TaskRestarter


def test_policy_reads_the_worker_keys_and_doubles_up_to_the_max() -> None:
    p = RestartPolicy.from_props(
        {"task.restart.max.attempts": "4", "task.restart.backoff.initial.ms": "100"}, default_attempts=0
    )
    assert p == RestartPolicy(4, 100, 60000)
    assert RestartPolicy.from_props({}, default_attempts=3) == RestartPolicy(3, 1000, 60000)
    capped = RestartPolicy(10, 1000, 3000)
    for attempt, base in ((1, 1000), (2, 2000), (3, 3000), (8, 3000)):
        for _ in range(50):
            assert base * 0.8 <= capped.delay_ms(attempt) <= base * 1.2


def test_restarts_up_to_the_limit_then_stops_and_a_reset_starts_over() -> None:
    async def scenario() -> tuple[
        list[tuple[str, int]], list[tuple[str, int, str, str | None]], dict[tuple[str, int], int]
    ]:
        restarted: list[tuple[str, int]] = []
        announced: list[tuple[str, int, str, str | None]] = []

        async def restart(c: str, t: int) -> None:
            restarted.append((c, t))

        r = TaskRestarter(RestartPolicy(2, 10, 10), restart, lambda *a: announced.append(a))
        for _ in range(3):  # fails, restarts, fails, restarts, fails: stays failed
            r.failed("c", 0, "boom")
            assert r.pending("c", 0) or len(restarted) == 2
            await asyncio.sleep(0.05)
        assert restarted == [("c", 0), ("c", 0)]
        r.reset("c", 0)
        r.failed("c", 0, "boom")
        await asyncio.sleep(0.05)
        # a reset of the whole connector cancels a pending restart
        r.failed("c", 1, None)
        assert r.pending("c", 1)
        r.reset("c")
        assert not r.pending("c", 1)
        await asyncio.sleep(0.05)
        return restarted, announced, r.total

    restarted, announced, total = asyncio.run(scenario())
    assert restarted == [("c", 0)] * 3
    assert total == {("c", 0): 3}
    assert [(c, t, s) for c, t, s, _ in announced] == [("c", 0, "RESTARTING")] * 3 + [("c", 1, "RESTARTING")]
    first = announced[0][3]
    assert first is not None
    assert first.startswith("arrowsmith restarts this task automatically: attempt 1 of 2 in 0.0 s\n")
    assert first.endswith("boom")


def test_zero_attempts_never_restarts() -> None:
    async def scenario() -> int:
        calls = 0

        async def restart(c: str, t: int) -> None:
            nonlocal calls
            calls += 1

        r = TaskRestarter(RestartPolicy(0, 1, 1), restart, lambda *a: pytest.fail("announced"))
        r.failed("c", 0, "x")
        await asyncio.sleep(0.02)
        return calls

    assert asyncio.run(scenario()) == 0
