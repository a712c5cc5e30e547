"""A pipelined sink's batch too large for one ring slot goes as consecutive zero-copy pieces."""

from __future__ import annotations

import pyarrow as pa

from engine.runtime.pipeline import pieces


def _batch(sizes: list[int]) -> pa.RecordBatch:
    offsets = pa.array(range(len(sizes)), pa.int64())
    return pa.record_batch({"offset": offsets, "v": [b"x" * s for s in sizes]})


def test_a_batch_within_the_bound_is_one_piece() -> None:
    b = _batch([100] * 50)
    assert pieces(b, b.nbytes) == [b]


def test_pieces_keep_every_record_in_order_and_stay_within_the_bound() -> None:
    b = _batch([100] * 1000 + [50_000] + [10] * 1000)
    got = pieces(b, 20_000)
    assert len(got) > 2
    assert [o for p in got for o in p.column("offset").to_pylist()] == list(range(2001))
    assert pa.Table.from_batches(got).equals(pa.Table.from_batches([b]))
    too_big = [p for p in got if p.nbytes > 20_000]
    assert [p.num_rows for p in too_big] == [1]  # only the one record larger than the bound
    assert too_big[0].column("offset").to_pylist() == [1000]
