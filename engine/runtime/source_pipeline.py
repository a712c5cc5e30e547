"""Stage pipelining for a source task: ``produce`` runs in a second pinned process.

With ``pipeline.processes=2`` the task's own worker process polls the task, runs the
transforms, the converters and the error handler (stage one), and hands each converted
batch (topic, partition, key and value bytes, timestamp, headers) through a shared-memory
ring to a child process that owns the Kafka producer (stage two). The ring is FIFO and the
producer enqueues each batch in order, so records keep the order the task gave them.

Acknowledgements travel back the way the single-process loop counts them: the child's
producer reports only failed deliveries, and whenever its queue is empty it tells the first
stage how many batches it has produced (``acked``), so every batch up to that one was
acknowledged by Kafka and its offsets become committable. ``flush`` is a call answered
after every batch written before it was produced and the producer flushed. A failed
delivery or a refused login is sent as ``error``; the first stage fails the task with it,
as it does for its own producer. :class:`PipelinedProducer` is what the first stage holds
in place of a ``Producer``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import pyarrow as pa

from engine.runtime.clients import LIBRDKAFKA_LOG, request_producer_id_soon
from engine.runtime.pipeline import REPLY_TIMEOUT_S, end_stage, send_failure, stage_setup, start_stage
from engine.spi.errors import ConnectError
from engine.transport import PeerGoneError, RingEnd, RingReader

log = logging.getLogger(__name__)

# Converted batches of 10 000 records of ~150 bytes are ~1.5 MB: room for several; the
# producer's own queue (queue.buffering.max.kbytes) holds the rest.
SOURCE_RING_BYTES = 16 << 20
# The producer stage checks its pipe and its queue at least this often while idle.
IDLE_WAIT_S = 0.005


def producer_stage_main(ring: RingEnd, conn: Connection, conf: dict[str, Any], cpu: int | None) -> None:
    """The second stage's process: produce every batch from the ring in order; report
    ``acked`` counts, ``error`` and answers to ``flush`` / ``stop``."""
    from confluent_kafka import KafkaError, Producer

    from engine.runtime.produce import produce_records

    stage_setup(cpu)
    failure: list[str] = []

    def on_delivery(err: KafkaError | None, msg: Any) -> None:
        if err is not None and not failure:
            failure.append(str(err))

    def on_error(err: KafkaError) -> None:
        # a refused login is final, as for the Java client (librdkafka would retry forever)
        if err.fatal() or err.code() == KafkaError._AUTHENTICATION:
            if not failure:
                failure.append(str(err))
        else:
            log.warning("Producer: %s", err)

    produced = 0  # batches enqueued
    acked = 0  # batches reported as acknowledged
    reported = False
    try:
        producer = Producer(
            {
                **conf,
                "delivery.report.only.error": True,
                "on_delivery": on_delivery,
                "error_cb": on_error,
                "logger": LIBRDKAFKA_LOG,
            }
        )

        def take(batch: pa.RecordBatch) -> None:
            nonlocal produced
            if not failure:  # after a failure, batches are drained so the first stage never blocks
                produce_records(producer, batch)
            produced += 1

        request_producer_id_soon(producer)  # batches are waiting already
        conn.send(("ready", None))
        log.info("Producing process %d ready", os.getpid())
        with RingReader(ring) as reader:
            while True:
                if conn.poll(0):
                    op, seq, timeout = conn.recv()
                    while produced < seq:  # every batch written before this call first
                        batch = reader.read(REPLY_TIMEOUT_S)
                        if batch is None:
                            raise ConnectError("pipeline stage: timed out waiting for a batch")
                        take(batch)
                        del batch
                    remaining = producer.flush(timeout) if not failure else len(producer)
                    if failure and not reported:
                        conn.send(("error", failure[0]))
                        reported = True
                    if remaining == 0 and not failure:
                        acked = produced
                    conn.send(("flushed", (remaining, acked)))
                    if op == "stop":
                        return
                    continue
                # a control call (flush, stop) ends the wait
                batch = reader.read(IDLE_WAIT_S if len(producer) else 0.05, interrupt=conn.fileno())
                if batch is not None:
                    take(batch)
                    del batch
                producer.poll(0)
                if failure:
                    if not reported:
                        conn.send(("error", failure[0]))
                        reported = True
                elif produced > acked and len(producer) == 0:
                    acked = produced
                    conn.send(("acked", acked))
    except BaseException as e:
        send_failure(conn, e)
    finally:
        conn.close()


class PipelinedProducer:
    """The first stage's handle on the producing process, shaped like the parts of a
    ``Producer`` the source loop uses: :meth:`write` (a converted batch), :meth:`poll`,
    ``len()`` (batches not yet acknowledged: 0 means every record handed over is in
    Kafka), :meth:`flush` and :meth:`close`."""

    def __init__(self, conf: dict[str, Any], on_error: Callable[[str], None]) -> None:
        self._on_error = on_error
        self.failure: str | None = None
        self.seq = 0  # batches written
        self.acked = 0  # batches acknowledged
        plain = {k: v for k, v in conf.items() if not callable(v) and not isinstance(v, logging.Logger)}
        self.proc: Any
        self.proc, self.conn, self.writer = start_stage(
            producer_stage_main, plain, SOURCE_RING_BYTES, "arrowsmith-source-producer"
        )
        # Not waiting for "ready": batches wait in the ring while the child starts.

    def __len__(self) -> int:
        return self.seq - self.acked

    def _receive(self) -> tuple[str, Any]:
        try:
            kind, value = self.conn.recv()
        except EOFError as e:
            raise self._ended() from e
        if kind == "acked":
            self.acked = max(self.acked, value)
        elif kind == "error":
            self.failure = self.failure or value
            self._on_error(value)
        return kind, value

    def _ended(self) -> ConnectError:
        self.proc.join(1)
        why = f": {self.failure}" if self.failure else ""
        return ConnectError(f"pipeline producer process ended (exit code {self.proc.exitcode}){why}")

    def poll(self, timeout: float = 0) -> int:
        """Take what the producing process reported (acknowledgements, a failure)."""
        if self.proc is None:
            return 0
        if self.conn.poll(timeout):
            while True:
                self._receive()
                if not self.conn.poll(0):
                    break
        return 0

    def write(self, batch: pa.RecordBatch) -> None:
        self.poll(0)
        try:
            self.writer.write(batch, timeout=REPLY_TIMEOUT_S)
        except PeerGoneError as e:
            raise self._ended() from e
        self.seq += 1

    def _call(self, op: str, timeout: float) -> int:
        """``flush``/``stop`` in the producing process; the batches still unacknowledged."""
        if self.proc is None or not self.proc.is_alive():
            return len(self)
        self.conn.send((op, self.seq, timeout))
        deadline = time.monotonic() + timeout + REPLY_TIMEOUT_S
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self.conn.poll(left):
                raise ConnectError(f"pipeline producer did not answer {op} within {REPLY_TIMEOUT_S:.0f}s")
            kind, value = self._receive()
            if kind == "flushed":
                remaining, acked = value
                self.acked = max(self.acked, acked)
                return len(self) if remaining else 0

    def flush(self, timeout: float = REPLY_TIMEOUT_S) -> int:
        return self._call("flush", timeout)

    def close(self, timeout: float) -> int:
        """Produce and flush what was written (up to ``timeout``), then stop the process;
        the batches left unacknowledged."""
        if self.proc is None:
            return 0
        left = 0
        try:
            left = self._call("stop", timeout)
        except (ConnectError, OSError) as e:
            log.warning("Stopping the pipeline producer: %s", e)
        finally:
            end_stage(self.proc, self.conn, self.writer)
            self.proc = None
        return left


__all__ = ["PipelinedProducer", "producer_stage_main"]
