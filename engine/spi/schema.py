"""Connect schemas as Arrow types.

A Connect schema travels as an Arrow *field*: its Arrow type carries the structure, its
``nullable`` flag carries ``optional``, and its metadata carries what Arrow has no slot
for (schema name, version, doc, parameters, default). A value column with no Connect
schema at all (JsonConverter with ``schemas.enable=false``) is marked ``schemaless``; its
Arrow type is then inferred for the batch.

======================  ==========================
Connect                 Arrow
======================  ==========================
INT8 .. INT64           int8 .. int64
FLOAT32 / FLOAT64       float32 / float64
BOOLEAN                 bool
STRING                  string
BYTES                   binary
ARRAY                   list<item>
MAP                     map<key, value>
STRUCT                  struct<fields…>
Decimal (scale)         decimal128(precision, scale)
Date                    date32
Time                    time32[ms]
Timestamp               timestamp[ms]
======================  ==========================

Connect's Decimal has no precision; the Arrow field records the precision it was given
(``connect.decimal.precision`` parameter) or :data:`DEFAULT_DECIMAL_PRECISION`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from engine.spi.errors import DataError

DECIMAL = "org.apache.kafka.connect.data.Decimal"
DATE = "org.apache.kafka.connect.data.Date"
TIME = "org.apache.kafka.connect.data.Time"
TIMESTAMP = "org.apache.kafka.connect.data.Timestamp"
LOGICAL_NAMES = frozenset({DECIMAL, DATE, TIME, TIMESTAMP})

DECIMAL_SCALE_PARAM = "scale"
DECIMAL_PRECISION_PARAM = "connect.decimal.precision"
DEFAULT_DECIMAL_PRECISION = 38

META_NAME = b"connect.name"
META_VERSION = b"connect.version"
META_DOC = b"connect.doc"
META_PARAMETERS = b"connect.parameters"
META_DEFAULT = b"connect.default"
META_SCHEMALESS = b"connect.schemaless"

# Connect type names, as JsonConverter writes them in a schema's "type".
INT8, INT16, INT32, INT64 = "int8", "int16", "int32", "int64"
FLOAT32, FLOAT64 = "float", "double"
BOOLEAN, STRING, BYTES = "boolean", "string", "bytes"
ARRAY, MAP, STRUCT = "array", "map", "struct"

_PRIMITIVE_TO_ARROW: dict[str, pa.DataType] = {
    INT8: pa.int8(),
    INT16: pa.int16(),
    INT32: pa.int32(),
    INT64: pa.int64(),
    FLOAT32: pa.float32(),
    FLOAT64: pa.float64(),
    BOOLEAN: pa.bool_(),
    STRING: pa.string(),
    BYTES: pa.binary(),
}


def field(
    name: str,
    type: pa.DataType,
    *,
    optional: bool = True,
    schema_name: str | None = None,
    version: int | None = None,
    doc: str | None = None,
    parameters: Mapping[str, str] | None = None,
    default: Any = None,
    has_default: bool = False,
    schemaless: bool = False,
) -> pa.Field:
    """Build an Arrow field that carries a Connect schema.

    ``default`` is stored as JSON of its JsonConverter payload form (ints, floats, strings,
    base64 for bytes, objects for structs) when ``has_default`` is true.
    """
    meta: dict[bytes, bytes] = {}
    if schema_name is not None:
        meta[META_NAME] = schema_name.encode()
    if version is not None:
        meta[META_VERSION] = str(int(version)).encode()
    if doc is not None:
        meta[META_DOC] = doc.encode()
    if parameters:
        meta[META_PARAMETERS] = json.dumps(dict(parameters), sort_keys=True).encode()
    if has_default:
        meta[META_DEFAULT] = json.dumps(default, separators=(",", ":")).encode()
    if schemaless:
        meta[META_SCHEMALESS] = b"true"
    return pa.field(name, type, nullable=optional, metadata=meta or None)


def _meta(f: pa.Field) -> Mapping[bytes, bytes]:
    return f.metadata or {}


def schema_name(f: pa.Field) -> str | None:
    """The Connect schema name, including the implicit names of Arrow's logical types."""
    raw = _meta(f).get(META_NAME)
    if raw is not None:
        return raw.decode()
    t = f.type
    if pa.types.is_decimal(t):
        return DECIMAL
    if pa.types.is_date(t):
        return DATE
    if pa.types.is_time(t):
        return TIME
    if pa.types.is_timestamp(t):
        return TIMESTAMP
    return None


def schema_version(f: pa.Field) -> int | None:
    raw = _meta(f).get(META_VERSION)
    if raw is not None:
        return int(raw)
    return 1 if schema_name(f) in LOGICAL_NAMES else None


def schema_doc(f: pa.Field) -> str | None:
    raw = _meta(f).get(META_DOC)
    return None if raw is None else raw.decode()


def schema_parameters(f: pa.Field) -> dict[str, str] | None:
    raw = _meta(f).get(META_PARAMETERS)
    params: dict[str, str] = json.loads(raw) if raw is not None else {}
    if pa.types.is_decimal(f.type):
        params[DECIMAL_SCALE_PARAM] = str(f.type.scale)
        if f.type.precision != DEFAULT_DECIMAL_PRECISION:
            params.setdefault(DECIMAL_PRECISION_PARAM, str(f.type.precision))
    return params or None


def has_default(f: pa.Field) -> bool:
    return META_DEFAULT in _meta(f)


def schema_default(f: pa.Field) -> Any:
    """The default in JsonConverter payload form, or None."""
    raw = _meta(f).get(META_DEFAULT)
    return None if raw is None else json.loads(raw)


def is_schemaless(f: pa.Field) -> bool:
    return _meta(f).get(META_SCHEMALESS) == b"true"


def is_optional(f: pa.Field) -> bool:
    return bool(f.nullable)


def connect_type(t: pa.DataType) -> str:
    """The Connect type name for an Arrow type (the physical type of logical types)."""
    if pa.types.is_int8(t):
        return INT8
    if pa.types.is_int16(t) or pa.types.is_uint8(t):
        return INT16
    if pa.types.is_int32(t) or pa.types.is_uint16(t) or pa.types.is_date(t) or pa.types.is_time(t):
        return INT32
    if pa.types.is_int64(t) or pa.types.is_uint32(t) or pa.types.is_uint64(t) or pa.types.is_timestamp(t):
        return INT64
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return FLOAT32
    if pa.types.is_float64(t):
        return FLOAT64
    if pa.types.is_boolean(t):
        return BOOLEAN
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_null(t)
    ):
        return STRING
    if (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
        or pa.types.is_decimal(t)
    ):
        return BYTES
    if (
        pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_list_view(t)
    ):
        return ARRAY
    if pa.types.is_map(t):
        return MAP
    if pa.types.is_struct(t):
        return STRUCT
    if pa.types.is_dictionary(t):
        return connect_type(t.value_type)
    raise DataError(f"Arrow type {t} has no Connect schema type")


def arrow_type(
    type_name: str,
    *,
    logical_name: str | None = None,
    parameters: Mapping[str, str] | None = None,
    items: pa.Field | None = None,
    keys: pa.Field | None = None,
    values: pa.Field | None = None,
    fields: list[pa.Field] | None = None,
) -> pa.DataType:
    """The Arrow type for a Connect type (with its logical name and children)."""
    if logical_name == DECIMAL:
        params = parameters or {}
        scale = int(params.get(DECIMAL_SCALE_PARAM, "0"))
        precision = int(params.get(DECIMAL_PRECISION_PARAM, str(DEFAULT_DECIMAL_PRECISION)))
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
    if logical_name == DATE:
        return pa.date32()
    if logical_name == TIME:
        return pa.time32("ms")
    if logical_name == TIMESTAMP:
        return pa.timestamp("ms")
    if type_name in _PRIMITIVE_TO_ARROW:
        return _PRIMITIVE_TO_ARROW[type_name]
    if type_name == ARRAY:
        if items is None:
            raise DataError("array schema needs an items schema")
        return pa.list_(items.with_name("item"))
    if type_name == MAP:
        if keys is None or values is None:
            raise DataError("map schema needs keys and values schemas")
        return pa.map_(keys.with_name("key").with_nullable(False), values.with_name("value"))
    if type_name == STRUCT:
        return pa.struct(fields or [])
    raise DataError(f"Unknown Connect schema type: {type_name}")


def normalize_type(t: pa.DataType) -> pa.DataType:
    """Map an Arrow type with no exact Connect counterpart onto the nearest one that has."""
    if pa.types.is_dictionary(t):
        return normalize_type(t.value_type)
    if pa.types.is_large_string(t) or pa.types.is_string_view(t) or pa.types.is_null(t):
        return pa.string()
    if pa.types.is_large_binary(t) or pa.types.is_binary_view(t) or pa.types.is_fixed_size_binary(t):
        return pa.binary()
    if pa.types.is_unsigned_integer(t):
        return {8: pa.int16(), 16: pa.int32(), 32: pa.int64(), 64: pa.int64()}[t.bit_width]
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_timestamp(t):
        return pa.timestamp("ms")
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_time(t):
        return pa.time32("ms")
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return pa.list_(t.value_field.with_type(normalize_type(t.value_type)).with_name("item"))
    if pa.types.is_map(t):
        return pa.map_(
            t.key_field.with_type(normalize_type(t.key_type)),
            t.item_field.with_type(normalize_type(t.item_type)),
        )
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(normalize_type(t.field(i).type)) for i in range(t.num_fields)])
    return t
