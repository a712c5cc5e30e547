"""Arrow types as DuckDB column types, and SQL identifiers quoted safely.

======================================  ==============================
Arrow (Connect)                         DuckDB
======================================  ==============================
int8 / int16 / int32 / int64            TINYINT / SMALLINT / INTEGER / BIGINT
uint8 .. uint64                         UTINYINT .. UBIGINT
float16, float32 / float64              FLOAT / DOUBLE
bool                                    BOOLEAN
string                                  VARCHAR
binary                                  BLOB
decimal128(p, s) (Connect Decimal)      DECIMAL(p, s)   (p ≤ 38)
date32 (Connect Date)                   DATE
time32[ms] (Connect Time)               TIME
timestamp[ms] (Connect Timestamp)       TIMESTAMP       (UTC, as Connect means it)
timestamp with a time zone              TIMESTAMPTZ
timestamp[ns]                           TIMESTAMP_NS
duration                                INTERVAL
list<T> (ARRAY)                         T[]
struct<…> (STRUCT)                      STRUCT("a" T, …)
map<K, V> (MAP)                         MAP(K, V)
null (an all-null schemaless column)    VARCHAR
======================================  ==============================
"""

from __future__ import annotations

import pyarrow as pa

from engine.spi.errors import DataError

_SIMPLE = {
    pa.int8(): "TINYINT",
    pa.int16(): "SMALLINT",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.uint8(): "UTINYINT",
    pa.uint16(): "USMALLINT",
    pa.uint32(): "UINTEGER",
    pa.uint64(): "UBIGINT",
    pa.float16(): "FLOAT",
    pa.float32(): "FLOAT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.null(): "VARCHAR",
}
MAX_DECIMAL_PRECISION = 38


def quote(identifier: str) -> str:
    """A DuckDB identifier: in double quotes, inner quotes doubled (any character may appear)."""
    if "\x00" in identifier:
        raise DataError(f"identifier {identifier!r} contains a NUL character")
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def duckdb_type(t: pa.DataType) -> str:
    """The DuckDB column type for an Arrow type (see the table above)."""
    if t in _SIMPLE:
        return _SIMPLE[t]
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "VARCHAR"
    if (
        pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    ):
        return "BLOB"
    if pa.types.is_decimal(t):
        if t.precision > MAX_DECIMAL_PRECISION:
            raise DataError(f"DuckDB decimals hold at most 38 digits; {t} does not fit")
        return f"DECIMAL({t.precision}, {t.scale})"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_time(t):
        return "TIME"
    if pa.types.is_timestamp(t):
        if t.tz is not None:
            return "TIMESTAMPTZ"
        return "TIMESTAMP_NS" if t.unit == "ns" else "TIMESTAMP"
    if pa.types.is_duration(t):
        return "INTERVAL"
    if pa.types.is_dictionary(t):
        return duckdb_type(t.value_type)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return f"{duckdb_type(t.value_type)}[]"
    if pa.types.is_struct(t):
        if t.num_fields == 0:
            raise DataError("DuckDB has no empty STRUCT type")
        inner = ", ".join(
            f"{quote(t.field(i).name)} {duckdb_type(t.field(i).type)}" for i in range(t.num_fields)
        )
        return f"STRUCT({inner})"
    if pa.types.is_map(t):
        return f"MAP({duckdb_type(t.key_type)}, {duckdb_type(t.item_type)})"
    raise DataError(f"Arrow type {t} has no DuckDB column type")
