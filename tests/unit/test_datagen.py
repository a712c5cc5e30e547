"""Datagen: quickstart field names, types and ranges; exact reproducibility; iteration
counts; a restart that continues the same stream; tasks with disjoint sequences."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from connectors.datagen import regex
from connectors.datagen.generator import BLOCK_ROWS, RecordGenerator
from connectors.datagen.quickstarts import QUICKSTARTS
from connectors.datagen.source import DatagenConnector, DatagenTask
from engine.spi import schema
from engine.spi.config import ConfigError
from engine.spi.connector import OffsetStorageReader, SourceTaskContext
from engine.spi.record import SourceBatch, SourceOffset, SourcePartition


class Offsets(OffsetStorageReader):
    def __init__(self, stored: Mapping[str, Any] | None = None) -> None:
        self.stored = stored

    def offset(self, partition: SourcePartition) -> SourceOffset | None:
        return self.stored


class Context(SourceTaskContext):
    def __init__(self, reader: OffsetStorageReader) -> None:
        self.reader = reader

    def configs(self) -> Mapping[str, str]:
        return {}

    @property
    def offset_storage_reader(self) -> OffsetStorageReader:
        return self.reader


def task(props: Mapping[str, str], stored: Mapping[str, Any] | None = None, index: int = 0) -> DatagenTask:
    c = DatagenConnector()
    c.start({"kafka.topic": "t", "max.interval": "0", **props})
    configs = c.task_configs(int(props.get("tasks.max", "1")))
    t = DatagenTask()
    t.initialize(Context(Offsets(stored)))
    t.start(configs[index])
    return t


def drain(t: DatagenTask, limit: int = 10**9) -> list[SourceBatch]:
    out: list[SourceBatch] = []
    got = 0
    while got < limit and not (0 < t.iterations <= t.count):
        b = t.poll()
        if b is None:
            break
        out.append(b)
        got += len(b)
    return out


def values(batches: Sequence[SourceBatch]) -> pa.Table:
    return pa.Table.from_batches([b.records for b in batches]).select(["key", "value"])


def test_users_fields_ranges_and_schema_names() -> None:
    keys, v = RecordGenerator(*QUICKSTARTS["users"], seed=1).records(0, 20000)
    assert v.type == pa.struct(
        [
            pa.field(n, t, nullable=False)
            for n, t in [
                ("registertime", pa.int64()),
                ("userid", pa.string()),
                ("regionid", pa.string()),
                ("gender", pa.string()),
            ]
        ]
    )
    reg = v.field("registertime").to_numpy()
    assert reg.min() >= 1487715775521 and reg.max() < 1519273364600
    assert set(v.field("userid").to_pylist()) == {f"User_{i}" for i in range(1, 10)}
    assert set(v.field("regionid").to_pylist()) == {f"Region_{i}" for i in range(1, 10)}
    assert set(v.field("gender").to_pylist()) == {"MALE", "FEMALE", "OTHER"}
    assert keys is not None and keys.equals(v.field("userid"))


def test_orders_pageviews_stock_trades_ranges() -> None:
    gen = RecordGenerator(*QUICKSTARTS["orders"], seed=2)
    keys, v = gen.records(0, 20000)
    assert gen.value_field.metadata[schema.META_NAME] == b"ksql.orders"
    assert schema.schema_name(gen.value_field.type.field("address")) == "ksql.address"
    assert v.field("orderid").to_pylist() == list(range(20000))
    assert keys is not None and keys.type == pa.int32()
    units = v.field("orderunits").to_numpy()
    assert units.min() >= 0.1 and units.max() < 10.0
    items = pc.utf8_slice_codeunits(v.field("itemid"), 5).to_pylist()
    assert all(s[0] in "123456789" and len(s) <= 3 and s.isdigit() for s in items)
    assert {len(s) for s in items} == {1, 2, 3}
    addr = v.field("address")
    assert set(pc.utf8_length(addr.field("city")).to_pylist()) == {5, 6, 7}  # City_ + 0..2 digits
    zips = addr.field("zipcode").to_numpy()
    assert zips.min() >= 10000 and zips.max() < 99999

    _, pv = RecordGenerator(*QUICKSTARTS["pageviews"], seed=3).records(0, 5000)
    assert pv.field("viewtime").to_pylist() == list(range(1, 50000, 10))
    assert set(pv.field("pageid").to_pylist()) == {f"Page_{i}" for i in range(10, 100)}

    gen = RecordGenerator(*QUICKSTARTS["stock_trades"], seed=4)
    keys, st = gen.records(0, 20000)
    assert gen.value_field.metadata[schema.META_NAME] == b"ksql.StockTrade"
    assert (
        schema.schema_doc(gen.value_field)
        == "Defines a hypothetical stock trade using some known test stock symbols."
    )
    assert set(st.field("side").to_pylist()) == {"BUY", "SELL"}
    assert set(st.field("symbol").to_pylist()) == {"ZBZX", "ZJZZT", "ZTEST", "ZVV", "ZVZZT", "ZWZZT", "ZXZZT"}
    q, p = st.field("quantity").to_numpy(), st.field("price").to_numpy()
    assert (q.min(), q.max()) == (1, 4999) and (p.min(), p.max()) == (5, 999)
    assert keys is not None and keys.equals(st.field("symbol"))


@pytest.mark.parametrize("name", sorted(QUICKSTARTS))
def test_every_quickstart_generates(name: str) -> None:
    avro, key = QUICKSTARTS[name]
    keys, v = RecordGenerator(avro, key, seed=5).records(10, 3000)
    assert len(v) == 2990 and v.null_count == 0
    assert [v.type.field(i).name for i in range(v.type.num_fields)] == [f["name"] for f in avro["fields"]]
    assert keys is not None and keys.equals(v.field(key))


def test_same_seed_same_records_whatever_the_batching() -> None:
    a = values(
        drain(
            task(
                {"quickstart": "orders", "random.seed": "42", "iterations": "25000", "batch.max.rows": "7000"}
            )
        )
    )
    b = values(
        drain(
            task(
                {"quickstart": "orders", "random.seed": "42", "iterations": "25000", "batch.max.rows": "333"}
            )
        )
    )
    c = values(drain(task({"quickstart": "orders", "random.seed": "43", "iterations": "25000"})))
    assert a.num_rows == 25000
    assert a.equals(b)
    assert not a.column("value").equals(c.column("value"))
    assert a.column("key").to_pylist() == c.column("key").to_pylist() == list(range(25000))  # the sequence


def test_iterations_are_exact_and_the_task_then_idles() -> None:
    t = task({"quickstart": "users", "iterations": "10001", "batch.max.rows": "4000"})
    batches = drain(t)
    assert [len(b) for b in batches] == [4000, 4000, 2001]
    assert batches[-1].offsets[0][1]["current.iteration"] == 10001
    t.stop()
    assert t.poll() is None


def test_a_restart_continues_the_stream_where_it_stopped() -> None:
    props = {"quickstart": "pageviews", "random.seed": "9", "iterations": "20000", "batch.max.rows": "3000"}
    whole = values(drain(task(props)))
    first = drain(task(props), limit=9000)
    partition, offset = first[-1].offsets[0]
    assert partition == {"task.id": 0}
    assert offset == {"task.generation": 1, "current.iteration": 9000, "random.seed": 9}
    rest = drain(
        task({**props, "random.seed": "1"}, stored=offset)
    )  # the stored seed wins, as in Confluent's
    assert rest[0].offsets[0][1]["task.generation"] == 2
    assert pa.concat_tables([values(first), values(rest)]).equals(whole)


def test_without_a_seed_the_stream_is_random_and_its_seed_is_kept() -> None:
    a, b = task({"quickstart": "users"}), task({"quickstart": "users"})
    assert a.seed != b.seed
    [batch] = drain(a, limit=1)
    assert batch.offsets[0][1]["random.seed"] == a.seed


def test_tasks_have_their_own_streams_and_disjoint_sequences() -> None:
    props = {"quickstart": "orders", "random.seed": "5", "iterations": "5000", "tasks.max": "3"}
    per_task = [values(drain(task(props, index=i))) for i in range(3)]
    keys = [k for t in per_task for k in t.column("key").to_pylist()]
    assert sorted(keys) == list(range(15000))
    assert per_task[0].column("key").to_pylist()[:3] == [0, 3, 6]
    assert (
        not per_task[0]
        .column("value")
        .combine_chunks()
        .field("ordertime")
        .equals(per_task[1].column("value").combine_chunks().field("ordertime"))
    )


def test_max_interval_paces_the_records() -> None:
    t = task({"quickstart": "users", "max.interval": "4"})
    import time

    start = time.monotonic()
    n = 0
    while time.monotonic() - start < 0.5:
        b = t.poll()
        n += len(b) if b else 0
    assert 150 <= n <= 400  # ~2 ms apart on average: ~250 in 0.5 s


def test_schema_string_and_file(tmp_path: Path) -> None:
    avro = {
        "type": "record",
        "name": "thing",
        "namespace": "demo",
        "fields": [
            {
                "name": "id",
                "type": {"type": "long", "arg.properties": {"iteration": {"start": 100, "step": 2}}},
            },
            {"name": "code", "type": {"type": "string", "arg.properties": {"regex": "[A-C]{2}-\\d{3}"}}},
            {
                "name": "maybe",
                "type": ["null", {"type": "int", "arg.properties": {"range": {"min": 0, "max": 3}}}],
            },
            {"name": "flag", "type": "boolean"},
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        ],
    }
    (tmp_path / "s.avsc").write_text(json.dumps(avro))
    for props in ({"schema.string": json.dumps(avro)}, {"schema.filename": str(tmp_path / "s.avsc")}):
        [b] = drain(task({**props, "schema.keyfield": "id", "iterations": "1000"}))
        v = b.records.column("value")
        assert b.records.schema.field("value").metadata[schema.META_NAME] == b"demo.thing"
        assert b.records.column("key").to_pylist() == list(range(100, 2100, 2))
        codes = v.field("code").to_pylist()
        assert all(
            len(c) == 6 and c[0] in "ABC" and c[1] in "ABC" and c[2] == "-" and c[3:].isdigit() for c in codes
        )
        maybe = v.field("maybe")
        assert 300 < maybe.null_count < 700 and set(maybe.drop_null().to_pylist()) == {0, 1, 2}
        assert set(v.field("kind").to_pylist()) == {"A", "B"}


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="quickstart"):
        DatagenConnector().start({"kafka.topic": "t"})
    with pytest.raises(ConfigError, match="String must be one of"):
        DatagenConnector().start({"kafka.topic": "t", "quickstart": "nope"})
    with pytest.raises(ConfigError, match=r"schema\.keyfield"):
        DatagenConnector().start({"kafka.topic": "t", "quickstart": "users", "schema.keyfield": "nope"})
    with pytest.raises(ConfigError, match="not supported"):
        DatagenConnector().start(
            {
                "kafka.topic": "t",
                "schema.string": json.dumps(
                    {
                        "type": "record",
                        "name": "x",
                        "fields": [{"name": "a", "type": {"type": "array", "items": "int"}}],
                    }
                ),
            }
        )


def test_regex_subset() -> None:
    rng = np.random.default_rng(0)
    out = regex.generate(regex.parse(r"ab[x-z]{1,3}\.\d?é"), rng, 2000).to_pylist()
    assert {s[:2] for s in out} == {"ab"} and all(s.endswith("é") for s in out)
    assert {len(s) for s in out} == {5, 6, 7, 8}
    with pytest.raises(regex.RegexError):
        regex.parse("(a|b)")


def test_blocks_are_independent_of_the_slice() -> None:
    g = RecordGenerator(*QUICKSTARTS["ratings"], seed=11)
    _, whole = g.records(0, 3 * BLOCK_ROWS)
    _, part = RecordGenerator(*QUICKSTARTS["ratings"], seed=11).records(BLOCK_ROWS - 5, 2 * BLOCK_ROWS + 5)
    assert part.equals(whole.slice(BLOCK_ROWS - 5, BLOCK_ROWS + 10))
