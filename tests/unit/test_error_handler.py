"""The error handler: bad records found (named or by bisection), reported, the rest in order."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from engine.runtime.error_handler import (
    ErrorHandler,
    ErrorPolicy,
    ToleranceExceeded,
    backoff_ms,
    context_headers,
)
from engine.runtime.metrics import TaskMetrics
from engine.spi.errors import DataError, RetriableError
from engine.spi.record import make_batch


def batch(*values: str) -> pa.RecordBatch:
    return make_batch(
        topic="t",
        value=pa.array(list(values)),
        partition=[0] * len(values),
        offset=list(range(10, 10 + len(values))),
    )


def strict_upper(b: pa.RecordBatch) -> list[pa.RecordBatch]:
    """Fails (without naming rows) when any value is 'bad'."""
    if pc.any(pc.equal(b.column("value"), "bad")).as_py():
        raise ValueError("cannot upper 'bad'")
    return [b.set_column(5, "value", pc.utf8_upper(b.column("value")))]


def handler(tolerate: bool = True, **kw: object) -> tuple[ErrorHandler, list[tuple[list[int], str, str]]]:
    seen: list[tuple[list[int], str, str]] = []
    h = ErrorHandler(ErrorPolicy(tolerance_all=tolerate, **kw), "c-0", TaskMetrics("c", 0))  # type: ignore[arg-type]
    h.reporters.append(
        lambda b, rows, stage, cls, e: seen.append(
            ([b.column("offset")[r].as_py() for r in rows], stage, cls)
        )
    )
    return h, seen


def values(batches: list[pa.RecordBatch]) -> list[str]:
    return [v for b in batches for v in b.column("value").to_pylist()]


def test_bisection_finds_bad_rows_and_keeps_order() -> None:
    h, seen = handler()
    out = h.run("TRANSFORMATION", "Upper", strict_upper, batch("a", "b", "bad", "c", "bad", "bad", "d"))
    assert values(out) == ["A", "B", "C", "D"]
    assert [o for b in out for o in b.column("offset").to_pylist()] == [10, 11, 13, 16]
    assert seen == [([12, 14, 15], "TRANSFORMATION", "Upper")]
    assert h.metrics.counters["records_skipped_total"] == 3


def test_named_rows_are_trusted() -> None:
    calls: list[int] = []

    def named(b: pa.RecordBatch) -> list[pa.RecordBatch]:
        calls.append(b.num_rows)
        bad = [i for i, v in enumerate(b.column("value").to_pylist()) if v == "bad"]
        if bad:
            raise DataError("bad rows", rows=bad)
        return [b]

    h, seen = handler()
    out = h.run("VALUE_CONVERTER", "Json", named, batch("a", "bad", "b"))
    assert values(out) == ["a", "b"]
    assert seen[0][0] == [11]
    assert calls == [3, 2]  # the whole batch, then the good records once: no bisection


def _upper_or_flag(calls: list[int]) -> Callable[[pa.RecordBatch], list[pa.RecordBatch]]:
    """A one-in-one-out step: upper-cases values; rows reading "bad" fail, with the
    partial output handed over; ``calls`` gets the row count of each call."""

    def step(b: pa.RecordBatch) -> list[pa.RecordBatch]:
        calls.append(b.num_rows)
        upper = b.set_column(5, "value", pc.utf8_upper(b.column("value")))
        bad = [i for i, v in enumerate(b.column("value").to_pylist()) if v == "bad"]
        if bad:
            raise DataError("bad rows", rows=bad, partial=upper)
        return [upper]

    return step


def test_a_partial_output_is_kept_instead_of_running_the_step_again() -> None:
    calls: list[int] = []
    upper_or_flag = _upper_or_flag(calls)

    h, seen = handler()
    out = h.run("TRANSFORMATION", "Upper", upper_or_flag, batch("a", "bad", "b", "bad"))
    assert values(out) == ["A", "B"]
    assert [o for b in out for o in b.column("offset").to_pylist()] == [10, 12]
    assert seen[0][0] == [11, 13]
    assert calls == [4]  # once: the good rows come from the partial output


@pytest.mark.parametrize(
    "texts",
    [
        ("bad", "a", "b", "c"),  # first
        ("a", "b", "bad", "c", "d"),  # middle
        ("a", "b", "c", "bad"),  # last
        ("bad", "bad", "a", "bad", "b", "bad", "bad", "bad", "c", "bad"),  # several per run, both ends
        ("bad", "bad", "bad"),  # all
    ],
)
def test_partial_output_with_bad_rows_anywhere(texts: tuple[str, ...]) -> None:
    calls: list[int] = []
    upper_or_flag = _upper_or_flag(calls)

    h, seen = handler()
    out = h.run("TRANSFORMATION", "Upper", upper_or_flag, batch(*texts))
    good = [i for i, v in enumerate(texts) if v != "bad"]
    assert values(out) == [texts[i].upper() for i in good]
    assert [o for b in out for o in b.column("offset").to_pylist()] == [10 + i for i in good]
    assert len(out) == (1 if good else 0)  # one batch on, not one per run of good rows
    assert seen == [([10 + i for i, v in enumerate(texts) if v == "bad"], "TRANSFORMATION", "Upper")]
    assert calls == [len(texts)]
    assert h.metrics.counters["records_skipped_total"] == len(texts) - len(good)


def test_a_partial_output_of_the_wrong_length_is_not_used() -> None:
    def short_partial(b: pa.RecordBatch) -> list[pa.RecordBatch]:
        if "bad" in b.column("value").to_pylist():
            raise DataError("bad", rows=[1], partial=b.slice(0, 1))
        return [b]

    h, _ = handler()
    assert values(h.run("TRANSFORMATION", "X", short_partial, batch("a", "bad", "b"))) == ["a", "b"]


def test_the_error_and_its_partial_output_are_freed_when_the_handler_returns() -> None:
    freed: list[weakref.ref[DataError]] = []

    class Tracked(DataError):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            freed.append(weakref.ref(self))

    def flag_bad(b: pa.RecordBatch) -> list[pa.RecordBatch]:
        if "bad" in b.column("value").to_pylist():
            raise Tracked("bad", rows=[1], partial=b)
        return [b]

    h, _ = handler()
    gc.disable()  # freed by reference counting, not by a later collection of a cycle
    try:
        assert values(h.run("TRANSFORMATION", "X", flag_bad, batch("a", "bad", "b"))) == ["a", "b"]
        assert len(freed) == 1 and freed[0]() is None
    finally:
        gc.enable()


def test_tolerance_none_fails_naming_the_record() -> None:
    h, _ = handler(tolerate=False)
    with pytest.raises(ToleranceExceeded) as e:
        h.run("TRANSFORMATION", "Upper", strict_upper, batch("a", "bad"))
    assert "Tolerance exceeded in error handler" in str(e.value)
    assert "topic='t', partition=0, offset=11" in str(e.value)


def test_all_bad_and_empty() -> None:
    h, seen = handler()
    assert h.run("TRANSFORMATION", "Upper", strict_upper, batch("bad", "bad")) == []
    assert seen[0][0] == [10, 11]
    assert values(h.run("TRANSFORMATION", "Upper", strict_upper, batch())) == []


def test_retriable_errors_are_retried_until_the_timeout() -> None:
    attempts = []

    def flaky(b: pa.RecordBatch) -> list[pa.RecordBatch]:
        attempts.append(1)
        if len(attempts) < 3:
            raise RetriableError("try again")
        return [b]

    h, seen = handler(retry_timeout_ms=5000, retry_delay_max_ms=1)
    assert values(h.run("TRANSFORMATION", "X", flaky, batch("a"))) == ["a"]
    assert len(attempts) == 3 and seen == []

    def always(b: pa.RecordBatch) -> list[pa.RecordBatch]:
        raise RetriableError("never")

    h, seen = handler(retry_timeout_ms=50, retry_delay_max_ms=10)
    assert h.run("TRANSFORMATION", "X", always, batch("a")) == []
    assert seen[0][0] == [10]


def test_backoff() -> None:
    assert [backoff_ms(n, 60000) for n in range(3)] == [300, 600, 1200]
    assert 0 <= backoff_ms(10, 1000) < 1000


def test_context_headers() -> None:
    b = batch("x")
    try:
        raise ValueError("boom")
    except ValueError as e:
        headers = dict(context_headers(b, 0, "conn", 2, "VALUE_CONVERTER", "my.Conv", e))
    assert headers["__connect.errors.topic"] == b"t"
    assert headers["__connect.errors.partition"] == b"0"
    assert headers["__connect.errors.offset"] == b"10"
    assert headers["__connect.errors.connector.name"] == b"conn"
    assert headers["__connect.errors.task.id"] == b"2"
    assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
    assert headers["__connect.errors.class.name"] == b"my.Conv"
    assert headers["__connect.errors.exception.class.name"] == b"builtins.ValueError"
    assert headers["__connect.errors.exception.message"] == b"boom"
    assert b"ValueError: boom" in headers["__connect.errors.exception.stacktrace"]
