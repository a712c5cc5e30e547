"""The envelope, the Connect-schema ↔ Arrow mapping, SourceBatch, and the error tree."""

from __future__ import annotations

import pickle

import pyarrow as pa
import pytest

from engine.spi import schema as s
from engine.spi.errors import (
    AlreadyExistsError,
    ConfigError,
    ConnectError,
    DataError,
    NotFoundError,
    RetriableError,
    picklable,
)
from engine.spi.record import BINARY_SCHEMA, COLUMNS, HEADER_TYPE, SourceBatch, envelope_schema, make_batch


def test_envelope_columns_and_types() -> None:
    assert tuple(BINARY_SCHEMA.names) == COLUMNS
    assert BINARY_SCHEMA.field("topic").type == pa.string()
    assert BINARY_SCHEMA.field("partition").type == pa.int32()
    assert BINARY_SCHEMA.field("offset").type == pa.int64()
    assert BINARY_SCHEMA.field("timestamp").type == pa.timestamp("ms")
    assert BINARY_SCHEMA.field("key").type == pa.binary()
    assert BINARY_SCHEMA.field("value").type == pa.binary()
    assert BINARY_SCHEMA.field("headers").type == HEADER_TYPE


def test_make_batch_fills_missing_columns_with_nulls() -> None:
    vf = s.field("value", pa.int32(), optional=False, schema_name="my.Count", version=2)
    b = make_batch(topic="t", value=[1, 2], value_field=vf)
    assert b.schema == envelope_schema(pa.field("key", pa.binary()), vf)
    assert b.column("topic").to_pylist() == ["t", "t"]
    assert b.column("partition").null_count == 2
    assert b.column("headers").null_count == 2
    assert s.schema_name(b.schema.field("value")) == "my.Count"
    assert s.schema_version(b.schema.field("value")) == 2


@pytest.mark.parametrize(
    ("connect", "logical", "params", "arrow"),
    [
        (s.INT8, None, None, pa.int8()),
        (s.INT16, None, None, pa.int16()),
        (s.INT32, None, None, pa.int32()),
        (s.INT64, None, None, pa.int64()),
        (s.FLOAT32, None, None, pa.float32()),
        (s.FLOAT64, None, None, pa.float64()),
        (s.BOOLEAN, None, None, pa.bool_()),
        (s.STRING, None, None, pa.string()),
        (s.BYTES, None, None, pa.binary()),
        (s.BYTES, s.DECIMAL, {"scale": "2"}, pa.decimal128(38, 2)),
        (s.BYTES, s.DECIMAL, {"scale": "3", s.DECIMAL_PRECISION_PARAM: "10"}, pa.decimal128(10, 3)),
        (s.INT32, s.DATE, None, pa.date32()),
        (s.INT32, s.TIME, None, pa.time32("ms")),
        (s.INT64, s.TIMESTAMP, None, pa.timestamp("ms")),
    ],
)
def test_connect_arrow_mapping(
    connect: str, logical: str | None, params: dict[str, str] | None, arrow: pa.DataType
) -> None:
    t = s.arrow_type(connect, logical_name=logical, parameters=params)
    assert t == arrow
    assert s.connect_type(t) == connect
    f = pa.field("f", t)
    assert s.schema_name(f) == logical
    if logical == s.DECIMAL:
        assert s.schema_parameters(f) == params
        assert s.schema_version(f) == 1


def test_nested_types_and_metadata() -> None:
    item = s.field("item", pa.int32())
    keys, values = s.field("key", pa.string(), optional=False), s.field("value", pa.float64())
    inner = pa.struct([s.field("a", pa.int64(), optional=False, doc="an a", has_default=True, default=7)])
    assert s.arrow_type(s.ARRAY, items=item) == pa.list_(item)
    assert s.connect_type(s.arrow_type(s.MAP, keys=keys, values=values)) == s.MAP
    st = s.arrow_type(s.STRUCT, fields=[s.field("inner", inner)])
    assert s.connect_type(st) == s.STRUCT
    a = inner.field(0)
    assert s.schema_doc(a) == "an a"
    assert s.has_default(a) and s.schema_default(a) == 7
    assert not s.is_optional(a)
    f = s.field("v", pa.struct([]), schemaless=True, parameters={"k": "v"})
    assert s.is_schemaless(f)
    assert s.schema_parameters(f) == {"k": "v"}


def test_normalize_type() -> None:
    assert s.normalize_type(pa.large_string()) == pa.string()
    assert s.normalize_type(pa.uint32()) == pa.int64()
    assert s.normalize_type(pa.timestamp("us", tz="UTC")) == pa.timestamp("ms")
    assert s.normalize_type(pa.dictionary(pa.int32(), pa.string())) == pa.string()
    assert s.normalize_type(pa.list_(pa.large_binary())) == pa.list_(pa.field("item", pa.binary()))
    with pytest.raises(DataError):
        s.arrow_type("nope")


def test_source_batch() -> None:
    b = make_batch(topic="t", value=pa.array(["a"]))
    sb = SourceBatch(b, [({"file": "f"}, {"pos": 3})])
    assert len(sb) == 1
    assert list(sb.offsets) == [({"file": "f"}, {"pos": 3})]
    assert len(SourceBatch(make_batch(topic="t", value=pa.array([], pa.string())))) == 0


def test_errors_subclass_builtins_and_pickle() -> None:
    assert issubclass(ConfigError, ValueError) and issubclass(ConfigError, ConnectError)
    assert issubclass(NotFoundError, LookupError)
    assert RetriableError("x").retriable and not ConnectError("x").retriable
    e = pickle.loads(pickle.dumps(DataError("bad rows", rows=[1, 4])))
    assert isinstance(e, DataError) and e.rows == (1, 4) and str(e) == "bad rows"
    c = pickle.loads(pickle.dumps(ConfigError("bad", key="k")))
    assert c.key == "k"
    assert isinstance(pickle.loads(pickle.dumps(AlreadyExistsError("a"))), AlreadyExistsError)

    class Local(Exception):
        def __reduce__(self):  # type: ignore[no-untyped-def]
            raise TypeError("no")

    assert str(picklable(Local("boom"))) == "Local: boom"
