"""A task running in a worker process: a thread, its target state and its status reports."""

from __future__ import annotations

import abc
import importlib
import logging
import os
import threading
import traceback
from typing import Any

from engine.plugins import PluginRegistry
from engine.runtime import logging_context
from engine.runtime.channel import Channel
from engine.runtime.messages import TaskSpec, TaskStatus, TaskStopped, TopicsUsed
from engine.runtime.metrics import TaskMetrics
from engine.spi.connector import Task
from engine.spi.errors import PluginError

log = logging.getLogger(__name__)

STARTED = "STARTED"
PAUSED = "PAUSED"


def load_task_class(name: str) -> type[Task]:
    """Import a task class from its Python path (``module.Class`` or ``module:Class``)."""
    module, _, attr = name.replace(":", ".").rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise PluginError(f"Cannot load task class {name}: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise PluginError(f"{name} is not a Task class")
    return cls


class WorkerTask(threading.Thread, abc.ABC):
    """Runs one task's loop in a thread; subclasses implement :meth:`execute`."""

    def __init__(self, spec: TaskSpec, channel: Channel, registry: PluginRegistry) -> None:
        super().__init__(name=f"task-{spec.name}", daemon=True)
        self.spec = spec
        self.channel = channel
        self.registry = registry
        self.stopping = threading.Event()
        self._target = spec.target_state
        self._reported: str | None = None
        self._topics: set[str] = set()
        self.metrics = TaskMetrics(spec.connector, spec.task)
        self.task: Task | None = None

    # -- control (called from the worker's main thread) ------------------------------------
    def request_stop(self) -> None:
        self.stopping.set()
        self.interrupt()

    def interrupt(self) -> None:
        """Make a blocked task call return soon (source tasks: ``stop()`` from this thread)."""
        task = self.task
        if task is not None:
            try:
                task.stop()
            except Exception:
                log.exception("Task %s raised in stop()", self.spec.name)

    def set_target_state(self, state: str) -> None:
        self._target = state

    @property
    def paused(self) -> bool:
        return self._target == PAUSED

    # -- the thread --------------------------------------------------------------------------
    def run(self) -> None:
        logging_context.set_context(self.spec.connector, self.spec.task)
        try:
            self.execute()
        except BaseException as e:  # the task's failure, reported with its trace
            log.error("Task threw an uncaught and unrecoverable exception: %s", e)
            self.metrics.add("task_errors_total")
            self.report("FAILED", "".join(traceback.format_exception(e)))
        else:
            if self._reported != "FAILED":
                self.report("UNASSIGNED")
        finally:
            self.publish_metrics(force=True)
            self.channel.send(TaskStopped(self.spec.connector, self.spec.task))

    @abc.abstractmethod
    def execute(self) -> None:
        """The task's loop; returns when stopping, raises when the task fails."""

    def report(self, state: str, trace: str | None = None) -> None:
        if state == self._reported and trace is None:
            return
        self._reported = state
        self.channel.send(TaskStatus(self.spec.connector, self.spec.task, state, trace, os.getpid()))

    def publish_metrics(self, force: bool = False) -> None:
        """Send a metrics snapshot to the control plane, at most once a second."""
        if self.metrics.due() or force:
            self.channel.send(self.metrics.snapshot())

    def note_topics(self, topics: set[str]) -> None:
        """Report topics used for the first time (KIP-558 active topics)."""
        new = topics - self._topics
        if new:
            self._topics |= new
            self.channel.send(TopicsUsed(self.spec.connector, self.spec.task, sorted(new)))

    def report_target_state(self) -> None:
        self.report("PAUSED" if self.paused else "RUNNING")

    def new_task(self) -> Task:
        cls = load_task_class(self.spec.task_config["task.class"])
        self.task = cls()
        return self.task

    def setting(self, key: str, default: Any = None) -> Any:
        return self.spec.connector_config.get(key, self.spec.worker_config.get(key, default))
