"""ExtractField: replace the key/value by one of its fields (Kafka's ``ExtractField``).

With a schema the result takes the field's schema; a null struct gives a null value of that
schema. Schemaless, the value must be a map (a struct column marked schemaless) or null; a
missing field gives null. ``field.syntax.version=V2`` reads nested fields
(``a.b``, ``"`a.b`.c"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi import schema as cs
from engine.spi.config import NO_DEFAULT, ConfigDef, Importance, Type
from engine.spi.errors import DataError
from engine.transforms._common import (
    FIELD_SYNTAX_VERSION,
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    SchemaCache,
    child,
    define_field_syntax_version,
    define_replace_null_with_default,
    is_map_like,
    java_class,
    parse_field_path,
    path_field,
    require_map,
    require_struct,
    valid_mask,
    with_default,
)

FIELD = "field"
PURPOSE = "field extraction"
NESTED_PURPOSE = "nested field access"


class ExtractField(KeyOrValue):
    """``org.apache.kafka.connect.transforms.ExtractField``: base of the Key and Value variants."""

    column: ClassVar[str] = record.VALUE

    def __init__(self) -> None:
        self._path: tuple[str, ...] = ()
        self._original = ""
        self._replace_null = True
        self._fields: SchemaCache[pa.Field | None] = SchemaCache()

    @classmethod
    def config_def(cls) -> ConfigDef:
        config = ConfigDef().define(
            FIELD, Type.STRING, NO_DEFAULT, None, Importance.MEDIUM, "Field name to extract."
        )
        return define_field_syntax_version(define_replace_null_with_default(config))

    def configure(self, configs: Mapping[str, str]) -> None:
        values = self.config_def().parse(configs)
        self._original = str(values[FIELD])
        self._path = parse_field_path(self._original, str(values[FIELD_SYNTAX_VERSION]))
        self._replace_null = bool(values[REPLACE_NULL_WITH_DEFAULT])
        self._fields = SchemaCache()

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        f, arr = self.operand(batch)
        if cs.is_schemaless(f):
            require_map(f, arr, PURPOSE, null_ok=True)
            values = self._schemaless(f, arr)
            return self.with_operand(batch, cs.field(f.name, values.type, schemaless=True), values)
        out = self._fields.get(f, self._field_of)
        if out is None:
            if len(arr) == 0:
                return batch
            message = self._unknown(f)
            if not pa.types.is_struct(f.type) and arr.is_valid()[0].as_py():
                message = f"Only Struct objects supported for [{PURPOSE}], found: {java_class(f.type, False)}"
            raise DataError(message, rows=range(len(arr)))
        require_struct(f, arr, PURPOSE, null_ok=True)
        return self.with_operand(batch, out, self._with_schema(f, arr))

    def _field_of(self, f: pa.Field) -> pa.Field | None:
        return path_field(f, self._path)

    def _unknown(self, f: pa.Field) -> str:
        current: pa.Field | None = f
        for step in self._path:
            if current is None or not pa.types.is_struct(current.type):
                return "Cannot look up fields on non-struct type"
            i = current.type.get_field_index(step)
            current = current.type.field(i) if i >= 0 else None
        return f"Unknown field: {self._original}"

    def _with_schema(self, f: pa.Field, arr: pa.Array) -> pa.Array:
        """``SingleFieldPath.valueFrom(struct, withDefault)``: defaults read on the way down."""
        current, cf = arr, f
        last = len(self._path) - 1
        for i, step in enumerate(self._path):
            sub = cf.type.field(cf.type.get_field_index(step))
            parent_valid = current.is_valid() if current.null_count else None
            current = child(current, step)
            if self._replace_null or i < last:
                current = with_default(current, sub, parent_valid)
            cf = sub
        return current

    def _schemaless(self, f: pa.Field, arr: pa.Array) -> pa.Array:
        """``SingleFieldPath.valueFrom(map)``: null where a step is missing or null."""
        current, cf = arr, f
        for i, step in enumerate(self._path):
            if not is_map_like(cf):
                valid = valid_mask(current)
                if i > 0 and valid.any():
                    raise DataError(
                        f"Only Map objects supported in absence of schema for [{NESTED_PURPOSE}], found: "
                        f"{java_class(cf.type, True)}",
                        rows=np.flatnonzero(valid).tolist(),
                    )
                return pa.nulls(len(arr))
            if pa.types.is_map(cf.type):
                current = pc.map_lookup(current, pa.scalar(step, cf.type.key_type), "first")
                cf = pa.field(step, cf.type.item_type)
                continue
            index = cf.type.get_field_index(step)
            if index < 0:
                return pa.nulls(len(arr))
            current, cf = child(current, step), cf.type.field(index)
        return current


class ExtractFieldKey(ExtractField):
    """``ExtractField$Key``: replaces the record key by one of its fields."""

    column = record.KEY
    aliases = ("org.apache.kafka.connect.transforms.ExtractField$Key",)


class ExtractFieldValue(ExtractField):
    """``ExtractField$Value``: replaces the record value by one of its fields."""

    column = record.VALUE
    aliases = ("org.apache.kafka.connect.transforms.ExtractField$Value",)
