"""A source connector for tests and benchmarks: ``engine.testing.seq_source.SeqSource``.

Task ``i`` (of ``tasks.max``) sends the values ``t<i>-<n>`` for ``n < records`` to ``topic``,
ten per poll every ``interval.s`` seconds, with the source partition ``{"task": i}`` and
the offset ``{"n": <next n>}``, so it resumes where its stored offset says. Each start of
a task appends ``<i>`` to ``starts.file`` when it is set (task start counters), and a task
raises while the file named by ``fail.file`` exists.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from engine.spi.config import ConfigDef, Importance, Type
from engine.spi.connector import SourceConnector, SourceTask
from engine.spi.record import SourceBatch, make_batch

PER_POLL = 10


class SeqSource(SourceConnector):
    def version(self) -> str:
        return "1.0"

    @classmethod
    def config_def(cls) -> ConfigDef:
        return (
            ConfigDef()
            .define("topic", Type.STRING, importance=Importance.HIGH, documentation="Topic to send to.")
            .define("records", Type.LONG, 1000, importance=Importance.HIGH, documentation="Values per task.")
            .define("interval.s", Type.DOUBLE, 0.05, documentation="Pause before each poll's ten values.")
            .define("starts.file", Type.STRING, None, documentation="File each task start appends to.")
            .define("fail.file", Type.STRING, None, documentation="Tasks raise while this file exists.")
        )

    def start(self, props: Mapping[str, str]) -> None:
        self.props = dict(props)

    def task_class(self) -> type[SeqTask]:
        return SeqTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [{**self.props, "task.index": str(i)} for i in range(max_tasks)]

    def stop(self) -> None:
        return None


class SeqTask(SourceTask):
    def version(self) -> str:
        return "1.0"

    def start(self, props: Mapping[str, str]) -> None:
        self.index = int(props["task.index"])
        self.topic = props["topic"]
        self.total = int(props.get("records", "1000"))
        self.interval = float(props.get("interval.s", "0.05"))
        self.fail_file = props.get("fail.file")
        starts = props.get("starts.file")
        if starts:
            with open(starts, "a", encoding="utf-8") as f:
                f.write(f"{self.index}\n")
        stored: Any = self.context.offset_storage_reader.offset({"task": self.index})
        self.n = int(stored["n"]) if stored else 0

    def poll(self) -> SourceBatch | None:
        if self.fail_file and os.path.exists(self.fail_file):
            raise RuntimeError(f"seq task failed: {self.fail_file} exists")
        if self.n >= self.total:
            time.sleep(0.05)
            return None
        time.sleep(self.interval)
        end = min(self.n + PER_POLL, self.total)
        values = pa.array([f"t{self.index}-{j}" for j in range(self.n, end)], pa.string())
        self.n = end
        return SourceBatch(make_batch(topic=self.topic, value=values), [({"task": self.index}, {"n": end})])

    def stop(self) -> None:
        return None
