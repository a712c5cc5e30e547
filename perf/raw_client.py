"""The raw confluent-kafka peer of ``arrowsmith bench``, as a process of its own.

The ceiling each scenario is compared with: a plain ``Producer`` loop over the input
file's lines, read 4 MiB at a time (source scenarios), or a plain ``Consumer`` appending
each batch's values to the output file as lines (sink scenarios). ``perf.bench`` launches
it and watches it as it watches the engines — from the launch, by the topic's high
watermarks or the output file's lines, CPU and memory of the process by psutil — so the
three are timed alike::

    python -m perf.raw_client produce CONFIG_JSON TOPIC INPUT_FILE
    python -m perf.raw_client consume CONFIG_JSON TOPIC PARTITIONS RECORDS OUTPUT_FILE

When it is done it waits for SIGTERM and exits 0 (an early exit would race the watcher's
last look). It imports confluent-kafka only: its start-up is an interpreter's and a client's.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import cast

from confluent_kafka import Consumer, Producer, TopicPartition

# The raw producer's settings: our source task's batching (linger.ms, batch.size), the
# client's defaults otherwise; every record fits the queue.
RAW_PRODUCER = {"linger.ms": "20", "batch.size": "1000000", "queue.buffering.max.messages": "2000000"}
CONSUME_BATCH = 10_000


def file_lines(path: str, chunk: int = 1 << 22) -> Iterator[bytes]:
    """The lines of a file, without their ``\\n``, read 4 MiB at a time (not the whole file
    into memory: that costs page faults for ~500 MB of objects before the first record)."""
    rest = b""
    with open(path, "rb") as f:
        while block := f.read(chunk):
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            yield from lines
    if rest:
        yield rest


def send_all(producer: Producer, topic: str, values: Iterable[bytes]) -> int:
    """Produce ``values`` (no key, no callback) and flush; how many were not acknowledged
    within 120 s."""
    send = producer.produce
    for v in values:
        try:
            send(topic, v)
        except BufferError:  # the queue is full: let deliveries drain it
            producer.poll(0.05)
            send(topic, v)
    return int(producer.flush(120))


def produce(config: dict[str, str], topic: str, values: Iterable[bytes]) -> None:
    """Produce ``values`` (no key) and wait for every acknowledgement."""
    if send_all(Producer(config), topic, values):
        raise RuntimeError(f"could not produce every record to {topic}")


def consume(config: dict[str, str], topic: str, partitions: int, records: int, output: str) -> int:
    """Read every partition from offset 0 until ``records`` values are appended to ``output``,
    one line each, written once per batch; the records read."""
    c = Consumer(config)
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = 0
    try:
        with open(output, "ab", buffering=0) as out:
            while got < records:
                batch = [m.value() for m in c.consume(CONSUME_BATCH, 0.5) if m.error() is None]
                values = cast(list[bytes], batch)  # the bench's records all have a value
                if values:
                    values.append(b"")
                    out.write(b"\n".join(values))
                    got += len(values) - 1
    finally:
        c.close()
    return got


_TERM = threading.Event()


def _on_term(signum: int, frame: object) -> None:
    _TERM.set()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 3 or args[0] not in ("produce", "consume"):
        print(__doc__, file=sys.stderr)
        return 2
    config = json.loads(args[1])
    # From the start: the watcher may send SIGTERM as soon as it has seen the last record,
    # while the client is still closing (a consumer leaving its group)
    signal.signal(signal.SIGTERM, _on_term)
    if args[0] == "produce":
        produce(config, args[2], file_lines(args[3]))
    else:
        topic, partitions, records, output = args[2], int(args[3]), int(args[4]), args[5]
        consume(config, topic, partitions, records, output)
    while not _TERM.wait(0.05):  # a timed wait lets the signal handler run
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
