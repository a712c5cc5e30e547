"""Automatic restarts of FAILED tasks, with exponential back-off and a limit.

Kafka Connect never restarts a failed task by itself: an operator has to call
``POST /connectors/{name}/tasks/{id}/restart``. arrowsmith does it for them, a bounded
number of times (``task.restart.max.attempts``), waiting ``task.restart.backoff.initial.ms``
before the first attempt and twice as long before each next one, up to
``task.restart.backoff.max.ms``, with ±20 % jitter so that tasks failing together do not
restart together. While it waits the task shows RESTARTING, its trace headed by a line that
says which attempt comes and when; each restart is counted in ``/metrics``. A restart over
REST, a reconfiguration or a deletion resets the count.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

TaskKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    max_attempts: int
    initial_ms: int
    max_ms: int

    @classmethod
    def from_props(cls, props: Mapping[str, str], default_attempts: int) -> RestartPolicy:
        return cls(
            int(props.get("task.restart.max.attempts", default_attempts)),
            int(props.get("task.restart.backoff.initial.ms", 1000)),
            int(props.get("task.restart.backoff.max.ms", 60000)),
        )

    def delay_ms(self, attempt: int) -> float:
        """Wait before restart number ``attempt`` (1-based), jittered by ±20 %."""
        base = min(self.initial_ms * 2 ** (attempt - 1), self.max_ms)
        return float(base * random.uniform(0.8, 1.2))


class TaskRestarter:
    """Schedules restarts of failed tasks; ``restart(connector, task)`` does the work and
    ``announce(connector, task, state, trace)`` records the RESTARTING state."""

    def __init__(
        self,
        policy: RestartPolicy,
        restart: Callable[[str, int], Coroutine[Any, Any, None]],
        announce: Callable[[str, int, str, str | None], None],
    ) -> None:
        self.policy = policy
        self._restart = restart
        self._announce = announce
        self._attempts: dict[TaskKey, int] = {}
        self._timers: dict[TaskKey, asyncio.TimerHandle] = {}
        self.total: dict[TaskKey, int] = {}

    def failed(self, connector: str, task: int, trace: str | None) -> None:
        key = (connector, task)
        attempt = self._attempts.get(key, 0) + 1
        if attempt > self.policy.max_attempts or key in self._timers:
            if self.policy.max_attempts:
                log.error("Task %s-%d failed %d times; not restarting it again", connector, task, attempt)
            return
        self._attempts[key] = attempt
        delay = self.policy.delay_ms(attempt)
        note = (
            f"arrowsmith restarts this task automatically: attempt {attempt} of "
            f"{self.policy.max_attempts} in {delay / 1000:.1f} s\n"
        )
        self._announce(connector, task, "RESTARTING", note + (trace or ""))
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay / 1000, self._fire, key)

    def _fire(self, key: TaskKey) -> None:
        self._timers.pop(key, None)
        self.total[key] = self.total.get(key, 0) + 1
        log.info("Restarting failed task %s-%d (attempt %d)", key[0], key[1], self._attempts.get(key, 0))
        asyncio.get_running_loop().create_task(self._restart(*key))

    def pending(self, connector: str, task: int) -> bool:
        return (connector, task) in self._timers

    def reset(self, connector: str, task: int | None = None) -> None:
        """Forget the attempts (and cancel a pending restart) of one task, or of every task of
        the connector when ``task`` is None."""
        for key in [k for k in {*self._attempts, *self._timers} if k[0] == connector]:
            if task is None or key[1] == task:
                self._attempts.pop(key, None)
                timer = self._timers.pop(key, None)
                if timer is not None:
                    timer.cancel()

    def cancel_all(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
