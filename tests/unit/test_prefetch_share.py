"""The sink tasks of one connector in a worker process share its consumer prefetch: the herder
places a connector's tasks before it starts any, each task's spec says how many of them run in
its process, and the task's consumer gets that share of the prefetch."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from controlplane.herder import ConnectorEntry, StandaloneHerder
from controlplane.offset_store import FileOffsetStore
from controlplane.supervisor import WorkerHandle
from engine.plugins import PluginRegistry
from engine.runtime.clients import consumer_config
from engine.runtime.messages import StartTask

BOOT = {"bootstrap.servers": "127.0.0.1:9092"}


def test_a_consumer_gets_its_share_of_the_prefetch() -> None:
    kbytes = [
        consumer_config(BOOT, "c", "g", share=n)[0]["queued.max.messages.kbytes"] for n in (1, 2, 3, 4, 8)
    ]
    assert kbytes == ["2048", "1024", "682", "512", "512"]  # never below 512 KiB


def test_the_users_prefetch_wins_over_the_share() -> None:
    conf, _ = consumer_config(
        BOOT, "c", "g", {"consumer.override.queued.max.messages.kbytes": "4096"}, share=4
    )
    assert conf["queued.max.messages.kbytes"] == "4096"


class _Pipe:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, msg: object) -> None:
        self.sent.append(msg)


def _start(tmp_path: Path, tasks: int, processes: int) -> dict[int, tuple[int, int]]:
    """Start a FileStreamSink connector's tasks on a herder whose worker processes are stand-in
    pipes; (worker index, process_share) by task."""
    herder = StandaloneHerder(
        BOOT, PluginRegistry.discover(), FileOffsetStore(tmp_path / "offsets"), processes
    )
    pipes = [_Pipe() for _ in range(processes)]
    herder.supervisor.workers = [
        WorkerHandle(i, None, process=None, conn=pipes[i])  # type: ignore[arg-type]
        for i in range(processes)
    ]
    config = {
        "name": "out",
        "connector.class": "FileStreamSink",
        "tasks.max": str(tasks),
        "topics": "t",
        "file": str(tmp_path / "out.txt"),
    }
    entry = ConnectorEntry("out", config, is_sink=True, instance=herder.new_connector(config))
    assert entry.instance is not None
    entry.instance.start(config)
    asyncio.run(herder._start_tasks(entry))
    got = {}
    for w, pipe in enumerate(pipes):
        for msg in pipe.sent:
            assert isinstance(msg, StartTask)
            got[msg.spec.task] = (w, msg.spec.process_share)
    return got


def test_each_task_knows_how_many_of_its_connectors_tasks_share_its_process(tmp_path: Path) -> None:
    assert _start(tmp_path, 4, 2) == {0: (0, 2), 1: (1, 2), 2: (0, 2), 3: (1, 2)}
    assert _start(tmp_path, 3, 2) == {0: (0, 2), 1: (1, 1), 2: (0, 2)}
    assert _start(tmp_path, 2, 2) == {0: (0, 1), 1: (1, 1)}
    assert _start(tmp_path, 3, 1) == {0: (0, 3), 1: (0, 3), 2: (0, 3)}
