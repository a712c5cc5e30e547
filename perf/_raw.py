"""The data of the file-pipeline benchmark and the raw confluent-kafka ceilings."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, Producer, TopicPartition

from perf._report import Result
from perf._util import Watermark, machine_busy, pid_cpu, self_cpu
from perf.raw_client import send_all

RAW_PRODUCER = {
    "linger.ms": "20",
    "batch.size": "1000000",
    # 1 M records must fit the queue, as in our source task's producer defaults
    "queue.buffering.max.messages": "1000000",
}
RAW_CONSUME_BATCH = 10_000
COUNTRIES = ("NL", "DE", "FR", "BE", "IT", "ES", "PT", "SE")


def make_values(n: int, *, first_id: int = 1_000_000, note: bool = False) -> list[bytes]:
    """N JSON objects of 6 fields, ~100 bytes each, deterministic; with ``note``, 7 fields
    and ~117 bytes."""
    fmt = '{"id":%d,"user":"user-%06d","amount":%d.%02d,"country":"%s","active":%s,"ts":%d'
    fmt += ',"note":"n%09d"}' if note else "}"
    return [
        (
            fmt
            % (
                first_id + i,
                i * 7919 % 1_000_000,
                10_000 + i % 90_000,
                i % 100,
                COUNTRIES[i % len(COUNTRIES)],
                "true" if i % 3 else "false",
                1_700_000_000_000 + i,
                *((i,) if note else ()),
            )
        ).encode()
        for i in range(n)
    ]


@dataclass
class Data:
    values: list[bytes]
    file: Path
    payload_bytes: int

    @property
    def records(self) -> int:
        return len(self.values)


def prepare_data(work: Path, n: int) -> Data:
    values = make_values(n)
    path = work / "in.txt"
    with open(path, "wb") as f:
        f.write(b"\n".join(values))
        f.write(b"\n")
    return Data(values, path, sum(map(len, values)))


def raw_produce(
    bootstrap: str, topic: str, data: Data, scenario: str = "raw-produce", broker_pid: int | None = None
) -> Result:
    """A plain Producer: produce loop without callback, then flush."""
    c0, b0, k0 = self_cpu(), machine_busy(), pid_cpu(broker_pid)
    t0 = time.monotonic()
    producer = Producer({"bootstrap.servers": bootstrap, **RAW_PRODUCER})
    t_first = time.monotonic()
    remaining = send_all(producer, topic, data.values)
    t_end = time.monotonic()
    cpu, busy, k1 = self_cpu() - c0, machine_busy() - b0, pid_cpu(broker_pid)
    wm = Watermark(bootstrap, topic)
    delivered = wm.records()
    wm.close()
    return Result(
        scenario=scenario,
        kind="raw",
        direction="source",
        records=data.records,
        delivered=delivered,
        payload_bytes=data.payload_bytes,
        seconds=t_end - t0,
        startup_s=t_first - t0,
        steady_records=data.records,
        steady_s=t_end - t_first,
        cpu_s=cpu,
        steady_cpu_s=cpu,
        complete=remaining == 0 and delivered == data.records,
        machine_busy_cpu_s=busy,
        harness_cpu_s=cpu,
        broker_cpu_s=None if k0 is None or k1 is None else k1 - k0,
        topic=topic,
        notes="Producer: " + ", ".join(f"{k}={v}" for k, v in RAW_PRODUCER.items()),
    )


def raw_consume(
    bootstrap: str, topic: str, data: Data, timeout: float, broker_pid: int | None = None
) -> Result:
    """A plain Consumer (assigned, not subscribed): consume(10000) until N records."""
    from engine.runtime.clients import CONSUMER_DEFAULTS

    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": f"perf-raw-{uuid.uuid4().hex[:8]}",
        **CONSUMER_DEFAULTS,
    }
    c0, b0, k0 = self_cpu(), machine_busy(), pid_cpu(broker_pid)
    t0 = time.monotonic()
    consumer = Consumer(conf)
    consumer.assign([TopicPartition(topic, 0, 0)])
    n = 0
    t_first = c_first = None
    first_n = 0
    deadline = t0 + timeout
    while n < data.records and time.monotonic() < deadline:
        msgs = consumer.consume(RAW_CONSUME_BATCH, 0.5)
        if not msgs:
            continue
        if t_first is None:
            t_first, c_first, first_n = time.monotonic(), self_cpu(), len(msgs)
        n += sum(1 for m in msgs if m.error() is None)
    t_end = time.monotonic()
    cpu, busy, k1 = self_cpu() - c0, machine_busy() - b0, pid_cpu(broker_pid)
    consumer.close()
    t_first = t_first or t_end
    return Result(
        scenario="raw-consume",
        kind="raw",
        direction="sink",
        records=data.records,
        delivered=n,
        payload_bytes=data.payload_bytes,
        seconds=t_end - t0,
        startup_s=t_first - t0,
        steady_records=n - first_n,
        steady_s=t_end - t_first,
        cpu_s=cpu,
        steady_cpu_s=cpu - (c_first - c0 if c_first is not None else 0.0),
        complete=n == data.records,
        machine_busy_cpu_s=busy,
        harness_cpu_s=cpu,
        broker_cpu_s=None if k0 is None or k1 is None else k1 - k0,
        topic=topic,
        notes=f"Consumer.consume({RAW_CONSUME_BATCH}, 0.5) loop, assign() at offset 0, "
        "fetch settings as the sink task's",
    )
