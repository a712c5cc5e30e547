"""The sink task's next offsets per partition, and what computing them does not import."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa

from engine.runtime.sink_runner import next_offsets
from engine.spi.record import TopicPartition


def batch(topics: list[str], parts: list[int], offsets: list[int]) -> pa.RecordBatch:
    return pa.record_batch(
        {
            "topic": pa.array(topics, pa.string()),
            "partition": pa.array(parts, pa.int32()),
            "offset": pa.array(offsets, pa.int64()),
        }
    )


def test_one_partition() -> None:
    assert next_offsets(batch(["a"] * 3, [4] * 3, [7, 8, 9])) == {TopicPartition("a", 4): 10}


def test_several_topics_and_partitions_interleaved() -> None:
    b = batch(
        ["a", "b", "a", "a", "b", "c", "a"],
        [0, 0, 1, 0, 0, 2147483647, 1],
        [5, 7, 3, 6, 8, 1, 2],
    )
    assert next_offsets(b) == {
        TopicPartition("a", 0): 7,
        TopicPartition("a", 1): 4,
        TopicPartition("b", 0): 9,
        TopicPartition("c", 2147483647): 2,
    }


def test_same_partition_number_in_two_topics() -> None:
    assert next_offsets(batch(["x", "y", "x", "y"], [3, 3, 3, 3], [10, 20, 11, 21])) == {
        TopicPartition("x", 3): 12,
        TopicPartition("y", 3): 22,
    }


def test_no_acero_import() -> None:
    # Table.group_by would import pyarrow.acero, pyarrow.dataset and the cloud filesystems into
    # every worker process that runs a sink task over several partitions (~13 MB).
    code = (
        "import sys, pyarrow as pa\n"
        "from engine.runtime.sink_runner import next_offsets\n"
        "b = pa.record_batch({'topic': ['a', 'b'], 'partition': pa.array([0, 1], pa.int32()),"
        " 'offset': pa.array([5, 6], pa.int64())})\n"
        "assert len(next_offsets(b)) == 2\n"
        "print(sorted(m for m in ('pyarrow.acero', 'pyarrow.dataset') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
