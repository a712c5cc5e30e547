"""Stage pipelining: a sink task's ``put`` runs in a second pinned process.

With ``pipeline.processes=2`` the task's own worker process consumes and converts (stage
one) and hands each converted batch through a shared-memory ring to a child process that
owns the SinkTask and calls ``put`` (stage two), so one ordered partition uses two cores.
The ring is FIFO, so order is kept. Control calls (``open``, ``close``, ``pre_commit``,
``stop``) go over a pipe and are answered only after every batch written before them was
put, so offsets are committed only for records the task has flushed.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import traceback
from collections.abc import Mapping, Sequence
from multiprocessing.connection import Connection
from typing import Any

import pyarrow as pa

from engine.spi.connector import ErrantRecordReporter, SinkTask, SinkTaskContext, Task
from engine.spi.errors import ConnectError
from engine.spi.record import TopicPartition
from engine.transport import RingEnd, RingReader, RingWriter, create_ring

log = logging.getLogger(__name__)

RING_BYTES = 256 << 20
REPLY_TIMEOUT_S = 120.0


class _StageContext(SinkTaskContext):
    """The second stage's context: assignment as told by the first stage."""

    def __init__(self, configs: Mapping[str, str]) -> None:
        self._configs = configs
        self.assigned: set[TopicPartition] = set()

    def configs(self) -> Mapping[str, str]:
        return self._configs

    def assignment(self) -> frozenset[TopicPartition]:
        return frozenset(self.assigned)

    def pause(self, *partitions: TopicPartition) -> None:
        log.warning("pause() is not available to a pipelined sink task")

    def resume(self, *partitions: TopicPartition) -> None:
        log.warning("resume() is not available to a pipelined sink task")

    def request_commit(self) -> None:
        pass

    def offset(self, offsets: Mapping[TopicPartition, int]) -> None:
        log.warning("offset() is not available to a pipelined sink task")

    def timeout(self, ms: int) -> None:
        pass

    def errant_record_reporter(self) -> ErrantRecordReporter | None:
        return None


def _load(name: str) -> SinkTask:
    import importlib

    module, _, attr = name.replace(":", ".").rpartition(".")
    task = getattr(importlib.import_module(module), attr)()
    assert isinstance(task, SinkTask)
    return task


def stage_main(
    ring: RingEnd, conn: Connection, task_class: str, props: dict[str, str], cpu: int | None
) -> None:
    """The second stage's process: put every batch from the ring, answer control calls in order."""
    import psutil

    from engine.runtime import logging_context
    from engine.runtime.worker_process import lean_memory_pool

    if cpu is not None:
        psutil.Process().cpu_affinity([cpu])
    lean_memory_pool()
    os.setpgid(0, 0)
    logging_context.configure(os.environ.get("ARROWSMITH_LOG_LEVEL"))
    task = _load(task_class)
    ctx = _StageContext(props)
    put = 0
    try:
        task.initialize(ctx)
        task.start(props)
        conn.send(("ready", None))
        with RingReader(ring) as reader:
            while True:
                if conn.poll(0):
                    op, seq, arg = conn.recv()
                    while put < seq:  # every batch written before this call is put first
                        batch = reader.read(REPLY_TIMEOUT_S)
                        if batch is None:
                            raise ConnectError("pipeline stage: timed out waiting for a batch")
                        task.put(batch)
                        del batch
                        put += 1
                    conn.send(("ok", _call(task, ctx, op, arg)))
                    if op == "stop":
                        return
                    continue
                batch = reader.read(0.05)
                if batch is not None:
                    task.put(batch)
                    del batch
                    put += 1
    except BaseException as e:
        try:
            conn.send(("error", "".join(traceback.format_exception(e))))
        except OSError:
            pass
    finally:
        conn.close()


def _call(task: SinkTask, ctx: _StageContext, op: str, arg: Any) -> Any:
    if op == "open":
        ctx.assigned.update(arg)
        task.open(arg)
        return None
    if op == "close":
        ctx.assigned.difference_update(arg)
        task.close(arg)
        return None
    if op == "pre_commit":
        return dict(task.pre_commit(arg))
    if op == "flush":
        task.flush(arg)
        return None
    if op == "stop":
        task.stop()
        return None
    raise ConnectError(f"unknown pipeline call {op}")


def _next_core() -> int | None:
    """A core other than the one this (pinned) process runs on."""
    import psutil

    mine = psutil.Process().cpu_affinity() or []
    allowed = sorted(set(range(os.cpu_count() or 1)))
    others = [c for c in allowed if c not in mine]
    return others[0] if others else (mine[0] if mine else None)


class PipelinedSinkTask(SinkTask):
    """Stands in for the real task in the first stage; the real one runs in the child."""

    def __init__(self, task_class: str) -> None:
        self.task_class = task_class
        self.seq = 0
        self.proc: Any = None

    def start(self, props: Mapping[str, str]) -> None:
        ctx = mp.get_context("spawn")
        writer_end, reader_end = create_ring(RING_BYTES, name="arrowsmith-pipeline")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=stage_main,
            args=(reader_end, child, self.task_class, dict(props), _next_core()),
            name="arrowsmith-pipeline-stage",
            daemon=True,
        )
        self.proc.start()
        reader_end.close()
        child.close()
        self.writer = RingWriter(writer_end)
        self._reply("start")

    def _reply(self, what: str) -> Any:
        if not self.conn.poll(REPLY_TIMEOUT_S):
            raise ConnectError(f"pipeline stage did not answer {what} within {REPLY_TIMEOUT_S:.0f}s")
        try:
            kind, value = self.conn.recv()
        except EOFError as e:
            raise ConnectError(f"pipeline stage process died (exit code {self.proc.exitcode})") from e
        if kind == "error":
            raise ConnectError(f"pipeline stage failed:\n{value}")
        return value

    def _call(self, op: str, arg: Any = None) -> Any:
        self._check()
        self.conn.send((op, self.seq, arg))
        return self._reply(op)

    def _check(self) -> None:
        if self.conn.poll(0):
            kind, value = self.conn.recv()
            if kind == "error":
                raise ConnectError(f"pipeline stage failed:\n{value}")

    def put(self, batch: pa.RecordBatch) -> None:
        self._check()
        self.writer.write(batch, timeout=REPLY_TIMEOUT_S)
        self.seq += 1

    def open(self, partitions: Sequence[TopicPartition]) -> None:
        self._call("open", list(partitions))

    def close(self, partitions: Sequence[TopicPartition]) -> None:
        self._call("close", list(partitions))

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._call("flush", dict(offsets))

    def pre_commit(self, offsets: Mapping[TopicPartition, int]) -> Mapping[TopicPartition, int]:
        result: Mapping[TopicPartition, int] = self._call("pre_commit", dict(offsets))
        return result

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            if self.proc.is_alive():
                self._call("stop")
        finally:
            self.writer.close()
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
            self.conn.close()
            self.proc = None


def pipelined(spec_connector_config: Mapping[str, str]) -> bool:
    return int(spec_connector_config.get("pipeline.processes", "1")) > 1


__all__ = ["PipelinedSinkTask", "Task", "pipelined", "stage_main"]
