"""PostgreSQL text values → Debezium's types, whole columns at a time; the connector's keys."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from connectors.postgres_cdc import types as t
from connectors.postgres_cdc.config import CdcConfig
from connectors.postgres_cdc.connector import PostgresConnector
from connectors.postgres_cdc.events import topic_name
from connectors.postgres_cdc.stream import Resume
from connectors.postgres_cdc.task import ack_lsn
from engine.spi import schema as cs
from engine.spi.errors import ConfigError

NUMERIC_10_2 = (10 << 16 | 2) + 4


def convert(oid: int, values: list[str | None], typmod: int = -1, mode: str = "precise") -> list[object]:
    ct = t.column_type("c", oid, typmod, True, mode)
    out: list[object] = ct.convert(pa.array(values, pa.string())).to_pylist()
    return out


def test_integers_floats_booleans() -> None:
    assert convert(t.INT2, ["-32768", None]) == [-32768, None]
    assert convert(t.INT8, ["9223372036854775807"]) == [9223372036854775807]
    assert convert(t.FLOAT8, ["1.5", "NaN", "Infinity", "-Infinity"])[2:] == [float("inf"), float("-inf")]
    assert convert(t.FLOAT4, ["0.1"]) == [pytest.approx(0.1)]
    assert convert(t.BOOL, ["t", "f", None]) == [True, False, None]


def test_numeric_in_each_decimal_mode() -> None:
    assert convert(t.NUMERIC, ["1.50", "-0.01"], NUMERIC_10_2) == [Decimal("1.50"), Decimal("-0.01")]
    field = t.column_type("n", t.NUMERIC, NUMERIC_10_2, False).field
    assert (cs.schema_name(field), cs.schema_parameters(field)) == (
        cs.DECIMAL,
        {"connect.decimal.precision": "10", "scale": "2"},
    )
    assert convert(t.NUMERIC, ["1.50"], NUMERIC_10_2, "double") == [1.5]
    assert convert(t.NUMERIC, ["1.50"], NUMERIC_10_2, "string") == ["1.50"]
    assert convert(t.NUMERIC, ["123.4500", "-1", "1E+3", None, "NaN"]) == [
        {"scale": 4, "value": (1234500).to_bytes(3, "big")},
        {"scale": 0, "value": b"\xff"},
        {"scale": 0, "value": (1000).to_bytes(2, "big")},
        None,
        None,
    ]


def test_dates_times_and_timestamps() -> None:
    assert convert(t.DATE, ["1970-01-02", "1969-12-31", "2024-02-29"]) == [1, -1, 19782]
    assert convert(t.TIME, ["00:00:01.5", "23:59:59.999999"]) == [1_500_000, 86_399_999_999]
    assert convert(t.TIME, ["00:00:01.5"], typmod=3) == [1500]
    assert convert(t.TIMESTAMP, ["1970-01-01 00:00:00.000001", "1969-12-31 23:59:59.9995"]) == [1, -500]
    assert convert(t.TIMESTAMP, ["1969-12-31 23:59:59.9995", "1970-01-01 00:00:01"], typmod=3) == [-1, 1000]
    assert convert(t.TIMESTAMPTZ, ["2024-02-29 11:14:15.5+00", "2024-02-29 11:14:15+00"]) == [
        "2024-02-29T11:14:15.5Z",
        "2024-02-29T11:14:15Z",
    ]


def test_bytea_hex_is_decoded_without_a_loop() -> None:
    values = ["\\x00ff10", None, "\\x", "\\xABcd"]
    assert convert(t.BYTEA, values) == [b"\x00\xff\x10", None, b"", b"\xab\xcd"]
    sliced = pa.array(values, pa.string()).slice(1)
    assert t.column_type("b", t.BYTEA, -1, True).convert(sliced).to_pylist() == [None, b"", b"\xab\xcd"]


def test_names_of_logical_types() -> None:
    names = {
        oid: cs.schema_name(t.column_type("c", oid, -1, True).field)
        for oid in (t.UUID, t.JSON, t.JSONB, t.DATE, t.TIME, t.TIMESTAMP, t.TIMESTAMPTZ, t.TEXT)
    }
    assert names == {
        t.UUID: "io.debezium.data.Uuid",
        t.JSON: "io.debezium.data.Json",
        t.JSONB: "io.debezium.data.Json",
        t.DATE: "io.debezium.time.Date",
        t.TIME: "io.debezium.time.MicroTime",
        t.TIMESTAMP: "io.debezium.time.MicroTimestamp",
        t.TIMESTAMPTZ: "io.debezium.time.ZonedTimestamp",
        t.TEXT: None,
    }


BASE = {"database.hostname": "h", "database.user": "u", "database.dbname": "d", "topic.prefix": "p"}


def test_config_defaults_are_debeziums() -> None:
    cfg = CdcConfig.parse({**BASE, "database.password": "pw"})
    assert (cfg.port, cfg.slot, cfg.publication, cfg.autocreate, cfg.snapshot_mode) == (
        5432,
        "debezium",
        "dbz_publication",
        "all_tables",
        "initial",
    )
    assert (cfg.tombstones, cfg.drop_slot, cfg.skipped, cfg.decimal_mode) == (
        True,
        False,
        frozenset({"t"}),
        "precise",
    )
    assert str(cfg.password) == "[hidden]" and cfg.dsn()["password"] == "pw"
    assert "io.debezium.connector.postgresql.PostgresConnector" in PostgresConnector.aliases


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ({"plugin.name": "decoderbufs"}, "plugin.name"),
        ({"slot.name": "Has-Dash"}, "slot.name"),
        ({"snapshot.mode": "sometimes"}, "snapshot.mode"),
        ({"table.include.list": "a.b", "table.exclude.list": "a.c"}, "table.exclude.list"),
        ({"table.include.list": "a.(b"}, "table.include.list"),
        ({"skipped.operations": "x"}, "skipped.operations"),
        ({"topic.prefix": ""}, "topic.prefix"),
    ],
)
def test_bad_configs_name_their_key(extra: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        CdcConfig.parse({**BASE, **extra})
    assert err.value.key == key


def test_offsets_resume_and_acknowledge_like_debezium() -> None:
    assert ack_lsn(None) is None
    assert ack_lsn({"snapshot": True, "last_snapshot_record": False, "lsn": 5}) is None
    assert ack_lsn({"snapshot": True, "last_snapshot_record": True, "lsn": 5}) == 5
    assert ack_lsn({"lsn_commit": 9, "lsn": 12, "txId": 3, "tx_events": 2}) == 9
    assert Resume.from_offset({"snapshot": True, "last_snapshot_record": False, "lsn": 5}) is None
    assert Resume.from_offset({"snapshot": True, "last_snapshot_record": True, "lsn": 5}) == Resume(5)
    assert Resume.from_offset({"lsn_commit": 9, "lsn": 12, "txId": 3, "tx_events": 2}) == Resume(9, 3, 2)
    assert Resume.from_offset({"lsn_commit": 9, "lsn": 9, "txId": 3}) == Resume(9)


def test_topic_names_replace_what_kafka_refuses() -> None:
    assert topic_name("srv", "public", "orders") == "srv.public.orders"
    assert topic_name("srv", "my schema", 'tbl\u00e9 "x"') == "srv.my_schema.tbl___x_"


def test_values_arrow_cannot_parse_become_null_not_a_failed_batch() -> None:
    assert convert(t.TIMESTAMP, ["infinity", "2024-01-01 00:00:00", None, "-infinity"]) == [
        None,
        1704067200000000,
        None,
        None,
    ]
    assert convert(t.NUMERIC, ["NaN", "1.5"], NUMERIC_10_2) == [None, Decimal("1.50")]
    assert convert(t.DATE, ["0044-03-15 BC", "2024-01-01"]) == [None, 19723]
