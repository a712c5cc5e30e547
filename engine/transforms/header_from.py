"""HeaderFrom: copy or move fields of the key/value into headers (Kafka's ``HeaderFrom``).

Header values are written as ``SimpleHeaderConverter`` would write the Connect values
(:func:`engine.spi.values.header_text`): strings as UTF-8, numbers and booleans as text,
structs, lists and maps as Connect's ``Values`` text; a null field gives a header with a
null value. Headers are appended after the existing ones, in the order of ``fields``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi import schema as cs
from engine.spi.config import NO_DEFAULT, ConfigDef, Importance, Type, ValidString
from engine.spi.errors import ConfigError, DataError
from engine.transforms._common import (
    NON_EMPTY_LIST,
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    SchemaCache,
    append_headers,
    child,
    define_replace_null_with_default,
    header_bytes,
    null_mask,
    replace_column,
    require_map,
    require_struct,
    struct_array,
    valid_mask,
    with_default,
)

FIELDS = "fields"
HEADERS = "headers"
OPERATION = "operation"
MOVE = "move"
COPY = "copy"
_MISSING_FIELD = (
    'Cannot invoke "org.apache.kafka.connect.data.Field.schema()" because the return value of '
    '"org.apache.kafka.connect.data.Schema.field(String)" is null'
)


@dataclass(frozen=True)
class _Plan:
    output: pa.Field  # the key/value field after the operation
    error: str | None = None


class HeaderFrom(KeyOrValue):
    """``org.apache.kafka.connect.transforms.HeaderFrom``: base of the Key and Value variants."""

    column: ClassVar[str] = record.VALUE

    def __init__(self) -> None:
        self._fields: list[str] = []
        self._headers: list[str] = []
        self._move = False
        self._replace_null = True
        self._plans: SchemaCache[_Plan] = SchemaCache()

    @classmethod
    def config_def(cls) -> ConfigDef:
        config = (
            ConfigDef()
            .define(
                FIELDS,
                Type.LIST,
                NO_DEFAULT,
                NON_EMPTY_LIST,
                Importance.HIGH,
                "Field names in the record whose values are to be copied or moved to headers.",
            )
            .define(
                HEADERS,
                Type.LIST,
                NO_DEFAULT,
                NON_EMPTY_LIST,
                Importance.HIGH,
                "Header names, in the same order as the field names listed in the fields configuration "
                "property.",
            )
            .define(
                OPERATION,
                Type.STRING,
                NO_DEFAULT,
                ValidString.in_(MOVE, COPY),
                Importance.HIGH,
                "Either <code>move</code> if the fields are to be moved to the headers (removed from the "
                "key/value), or <code>copy</code> if the fields are to be copied to the headers (retained in "
                "the key/value).",
            )
        )
        return define_replace_null_with_default(config)

    def configure(self, configs: Mapping[str, str]) -> None:
        values = self.config_def().parse(configs)
        self._fields = list(values[FIELDS])
        self._headers = list(values[HEADERS])
        if len(self._fields) != len(self._headers):
            raise ConfigError(
                f"'{FIELDS}' config must have the same number of elements as '{HEADERS}' config.", key=FIELDS
            )
        self._move = values[OPERATION] == MOVE
        self._replace_null = bool(values[REPLACE_NULL_WITH_DEFAULT])
        self._plans = SchemaCache()

    @property
    def _purpose(self) -> str:
        return "header " + (MOVE if self._move else COPY)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        f, arr = self.operand(batch)
        if cs.is_schemaless(f):
            require_map(f, arr, self._purpose, null_ok=False)
            texts = [header_bytes(_lookup(arr, f.type, name)) for name in self._fields]
            out_field, values = self._schemaless_move(f, arr) if self._move else (f, arr)
        else:
            require_struct(f, arr, self._purpose, null_ok=False)
            plan = self._plans.get(f, self._plan)
            if plan.error is not None:
                raise DataError(plan.error, rows=range(len(arr)))
            texts = [header_bytes(self._field_value(arr, f, name)) for name in self._fields]
            out_field = plan.output
            values = self._moved(arr, f, plan.output) if self._move else arr
        headers = append_headers(batch.column(record.HEADERS), list(zip(self._headers, texts, strict=True)))
        batch = replace_column(batch, record.HEADERS, batch.schema.field(record.HEADERS), headers)
        return self.with_operand(batch, out_field, values)

    # -- with a schema

    def _plan(self, f: pa.Field) -> _Plan:
        names = {c.name for c in f.type}
        if any(name not in names for name in self._fields):
            return _Plan(f, _MISSING_FIELD)
        if not self._move:
            return _Plan(f)
        kept = [c for c in f.type if c.name not in self._fields]
        meta = {k: v for k, v in (f.metadata or {}).items() if k != cs.META_DEFAULT}
        return _Plan(pa.field(f.name, pa.struct(kept), nullable=False, metadata=meta or None))

    def _field_value(self, arr: pa.Array, f: pa.Field, name: str) -> pa.Array:
        values = child(arr, name)
        if self._replace_null:
            values = with_default(values, f.type.field(f.type.get_field_index(name)))
        return values

    def _moved(self, arr: pa.Array, f: pa.Field, out: pa.Field) -> pa.Array:
        columns = [self._field_value(arr, f, c.name) for c in out.type]
        return struct_array(columns, list(out.type), len(arr))

    # -- schemaless

    def _schemaless_move(self, f: pa.Field, arr: pa.Array) -> tuple[pa.Field, pa.Array]:
        if pa.types.is_map(f.type):
            raise DataError(
                "HeaderFrom move on schemaless map columns is not supported; use struct columns",
                rows=np.flatnonzero(valid_mask(arr)).tolist(),
            )
        kept = [c for c in f.type if c.name not in self._fields]
        values = struct_array([child(arr, c.name) for c in kept], kept, len(arr), null_mask(arr))
        return cs.field(f.name, values.type, schemaless=True), values


def _lookup(arr: pa.Array, t: pa.DataType, name: str) -> pa.Array:
    """``map.get(name)`` of a schemaless value: null where absent."""
    if pa.types.is_map(t):
        return pc.map_lookup(arr, pa.scalar(name, t.key_type), "first")
    i = t.get_field_index(name)
    return child(arr, name) if i >= 0 else pa.nulls(len(arr), pa.string())


class HeaderFromKey(HeaderFrom):
    """``HeaderFrom$Key``: copies or moves fields of the record key into headers."""

    column = record.KEY
    aliases = ("org.apache.kafka.connect.transforms.HeaderFrom$Key",)


class HeaderFromValue(HeaderFrom):
    """``HeaderFrom$Value``: copies or moves fields of the record value into headers."""

    column = record.VALUE
    aliases = ("org.apache.kafka.connect.transforms.HeaderFrom$Value",)
