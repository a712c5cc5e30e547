"""The transformation chain: predicates split batches into contiguous runs, order is kept."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from engine.plugins import PluginRegistry
from engine.runtime.error_handler import ErrorHandler, ErrorPolicy
from engine.runtime.metrics import TaskMetrics
from engine.runtime.transform_chain import TransformChain, join_adjacent
from engine.spi.errors import ConfigError, DataError
from engine.spi.record import make_batch
from engine.spi.transform import Predicate, Transformation


class Upper(Transformation):
    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        i = batch.schema.get_field_index("value")
        return batch.set_column(i, "value", pc.utf8_upper(batch.column("value")))


class Length(Transformation):
    """Changes the value's type: string → int32."""

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        i = batch.schema.get_field_index("value")
        return batch.set_column(i, "value", pc.utf8_length(batch.column("value")))


class UpperOrFail(Transformation):
    """Upper, naming the rows whose value is 'a-bad' as bad (with a partial output)."""

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        out = Upper().apply(batch)
        bad = [i for i, v in enumerate(batch.column("value").to_pylist()) if v == "a-bad"]
        if bad:
            raise DataError("bad", rows=bad, partial=out)
        return out


class DropAll(Transformation):
    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.slice(0, 0)


class StartsWithA(Predicate):
    def configure(self, configs: Mapping[str, str]) -> None:
        self.prefix = configs.get("prefix", "a")

    def test(self, batch: pa.RecordBatch) -> pa.BooleanArray:
        return pc.fill_null(pc.starts_with(batch.column("value"), self.prefix), False)


@pytest.fixture
def registry() -> PluginRegistry:
    r = PluginRegistry()
    for cls in (Upper, UpperOrFail, Length, DropAll, StartsWithA):
        r.register(cls)
    return r


def batch(*values: str | None) -> pa.RecordBatch:
    return make_batch(topic="t", value=pa.array(list(values), pa.string()), offset=list(range(len(values))))


def values(batches: list[pa.RecordBatch]) -> list[object]:
    return [v for b in batches for v in b.column("value").to_pylist()]


def test_no_transforms_is_empty(registry: PluginRegistry) -> None:
    assert not TransformChain(registry, {})


def test_conditional_transform_keeps_order(registry: PluginRegistry) -> None:
    chain = TransformChain(
        registry,
        {
            "transforms": "up",
            "transforms.up.type": "Upper",
            "transforms.up.predicate": "isA",
            "predicates": "isA",
            "predicates.isA.type": "StartsWithA",
        },
    )
    out = chain.apply(batch("ab", "b", "ac", "ad", "c", None, "ae"))
    assert values(out) == ["AB", "b", "AC", "AD", "c", None, "AE"]
    assert len(out) == 1  # same schema: the runs are joined again
    assert out[0].column("offset").to_pylist() == list(range(7))


def test_rows_named_by_a_conditional_transform_are_rows_of_the_whole_batch(
    registry: PluginRegistry,
) -> None:
    chain = TransformChain(
        registry,
        {
            "transforms": "up",
            "transforms.up.type": "UpperOrFail",
            "transforms.up.predicate": "isA",
            "predicates": "isA",
            "predicates.isA.type": "StartsWithA",
        },
    )
    reported: list[list[int]] = []
    handler = ErrorHandler(
        ErrorPolicy(tolerance_all=True),
        "c-0",
        TaskMetrics("c", 0),
        [lambda b, rows, *_: reported.append(b.take(pa.array(rows)).column("offset").to_pylist())],
    )
    # runs: [a1] [b] [a-bad a2] [c] [a-bad]; the bad rows are offsets 2 and 5
    out = chain.apply(batch("a1", "b", "a-bad", "a2", "c", "a-bad"), handler.transform_runner)
    assert reported == [[2, 5]]
    assert values(out) == ["A1", "b", "A2", "c"]
    assert [o for b in out for o in b.column("offset").to_pylist()] == [0, 1, 3, 4]


def test_negate_and_predicate_config(registry: PluginRegistry) -> None:
    chain = TransformChain(
        registry,
        {
            "transforms": "up",
            "transforms.up.type": "Upper",
            "transforms.up.predicate": "isX",
            "transforms.up.negate": "true",
            "predicates": "isX",
            "predicates.isX.type": "StartsWithA",
            "predicates.isX.prefix": "x",
        },
    )
    assert values(chain.apply(batch("xa", "b", "xc"))) == ["xa", "B", "xc"]


def test_a_type_change_on_some_rows_gives_separate_batches_in_order(registry: PluginRegistry) -> None:
    chain = TransformChain(
        registry,
        {
            "transforms": "len",
            "transforms.len.type": "Length",
            "transforms.len.predicate": "isA",
            "predicates": "isA",
            "predicates.isA.type": "StartsWithA",
        },
    )
    out = chain.apply(batch("aaa", "aa", "b", "a"))
    assert [b.column("value").to_pylist() for b in out] == [[3, 2], ["b"], [1]]
    assert [b.column("offset").to_pylist() for b in out] == [[0, 1], [2], [3]]


def test_chain_of_two_and_dropping(registry: PluginRegistry) -> None:
    chain = TransformChain(
        registry,
        {
            "transforms": "up,drop",
            "transforms.up.type": "Upper",
            "transforms.drop.type": "DropAll",
            "transforms.drop.predicate": "isA",
            "predicates": "isA",
            "predicates.isA.type": "StartsWithA",
            "predicates.isA.prefix": "A",
        },
    )
    assert values(chain.apply(batch("a", "b", "a2"))) == ["B"]
    assert chain.apply(batch("a")) == []
    assert chain.apply(batch()) == []


@pytest.mark.parametrize(
    "amounts",
    [
        ["n/a", "1.5", "2", "3e1"],  # first
        ["1.5", "2", "n/a", "3e1", " 4 "],  # middle, next to an odd but good row
        ["1.5", "2", "3e1", "n/a"],  # last
        ["n/a", "", "1.5", "n/a", "x", "2", "2f", "n/a", "n/a"],  # several per run, both ends
        ["n/a", "", "x"],  # all
    ],
)
def test_cast_with_bad_rows_under_the_error_handler(amounts: list[str]) -> None:
    from engine.transforms.cast import CastValue
    from engine.transforms.insert_field import InsertFieldValue

    registry = PluginRegistry()
    registry.register(CastValue)
    registry.register(InsertFieldValue)
    chain = TransformChain(
        registry,
        {
            "transforms": "cast,insert",
            "transforms.cast.type": "CastValue",
            "transforms.cast.spec": "amount:float64",
            "transforms.insert.type": "InsertFieldValue",
            "transforms.insert.static.field": "source",
            "transforms.insert.static.value": "s",
        },
    )
    reported: list[list[dict[str, object]]] = []
    errors = ErrorHandler(
        ErrorPolicy(tolerance_all=True),
        "c-0",
        TaskMetrics("c", 0),
        [lambda b, rows, *_: reported.append(b.take(pa.array(rows, pa.int64())).to_pylist())],
    )
    value = pa.array([{"amount": a} for a in amounts], pa.struct([pa.field("amount", pa.string())]))
    out = chain.apply(
        make_batch(topic="t", value=value, offset=list(range(len(amounts)))), errors.transform_runner
    )
    java = {"1.5": 1.5, "2": 2.0, "3e1": 30.0, " 4 ": 4.0, "2f": 2.0}
    good = [i for i, a in enumerate(amounts) if a in java]
    assert len(out) == (1 if good else 0)
    assert [o for b in out for o in b.column("offset").to_pylist()] == good
    assert values(out) == [{"amount": java[amounts[i]], "source": "s"} for i in good]
    bad = [i for i, a in enumerate(amounts) if a not in java]
    assert [(r["offset"], r["value"]) for rows in reported for r in rows] == [
        (i, {"amount": amounts[i]}) for i in bad
    ]


def test_sliced_input(registry: PluginRegistry) -> None:
    chain = TransformChain(registry, {"transforms": "up", "transforms.up.type": "Upper"})
    assert values(chain.apply(batch("x", "y", "z").slice(1, 2))) == ["Y", "Z"]


def test_unknown_predicate_alias(registry: PluginRegistry) -> None:
    with pytest.raises(ConfigError, match="names predicate nope"):
        TransformChain(
            registry, {"transforms": "up", "transforms.up.type": "Upper", "transforms.up.predicate": "nope"}
        )


def test_join_adjacent() -> None:
    a, b = batch("1"), batch("2")
    joined = join_adjacent([a, b.slice(0, 0), b])
    assert len(joined) == 1 and values(joined) == ["1", "2"]
