"""ValueToKey: a new record key made of fields of the value (Kafka's ``ValueToKey``).

With a schema the value must be a struct and the key becomes a required struct of the
listed fields with their schemas (``Field does not exist: f`` otherwise); with
``replace.null.with.default`` (the default) null fields read as their defaults. Schemaless
the value must be a map (a struct or map column marked schemaless) and the key is a map of
the listed fields (absent ones null). A null value (tombstone) fails in both modes, as in
Kafka: put a ``RecordIsTombstone`` predicate with ``negate=true`` in front of it. The value
is untouched.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi import schema as cs
from engine.spi.config import NO_DEFAULT, ConfigDef, Importance, Type
from engine.spi.errors import DataError
from engine.spi.transform import Transformation
from engine.transforms._common import (
    REPLACE_NULL_WITH_DEFAULT,
    SchemaCache,
    child,
    child_field,
    define_replace_null_with_default,
    replace_column,
    require_map,
    require_struct,
    with_default,
)
from engine.transforms._validators import NON_EMPTY_LIST

FIELDS = "fields"
PURPOSE = "copying fields from value to key"
_NOT_STRUCT = f"Only Struct objects supported for [{PURPOSE}], found: "


class ValueToKey(Transformation):
    """``org.apache.kafka.connect.transforms.ValueToKey``."""

    aliases = ("org.apache.kafka.connect.transforms.ValueToKey",)

    def __init__(self) -> None:
        self._fields: tuple[str, ...] = ()
        self._replace_null = True
        self._keys: SchemaCache[pa.Field | str] = SchemaCache()

    @classmethod
    def config_def(cls) -> ConfigDef:
        config = ConfigDef().define(
            FIELDS,
            Type.LIST,
            NO_DEFAULT,
            NON_EMPTY_LIST,
            Importance.HIGH,
            "Field names on the record value to extract as the record key.",
        )
        return define_replace_null_with_default(config)

    def configure(self, configs: Mapping[str, str]) -> None:
        values = self.config_def().parse(configs)
        self._fields = tuple(dict.fromkeys(values[FIELDS]))
        self._replace_null = bool(values[REPLACE_NULL_WITH_DEFAULT])
        self._keys = SchemaCache()

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        f = batch.schema.field(record.VALUE)
        arr = batch.column(record.VALUE)
        if cs.is_schemaless(f):
            require_map(f, arr, PURPOSE, null_ok=False)
            columns = [self._lookup(f, arr, name) for name in self._fields]
            key = pa.StructArray.from_arrays(columns, names=list(self._fields))
            return replace_column(batch, record.KEY, cs.field(record.KEY, key.type, schemaless=True), key)
        if not pa.types.is_struct(f.type):
            require_struct(f, arr, PURPOSE, null_ok=False)
            return batch  # no rows
        key_field = self._keys.get(f, self._key_field)
        if isinstance(key_field, str):  # every record fails: a missing field, or no value at all
            if len(arr):
                first = key_field if arr[0].is_valid else f"{_NOT_STRUCT}null"
                raise DataError(first, rows=range(len(arr)))
            return batch
        require_struct(f, arr, PURPOSE, null_ok=False)
        columns = []
        for sub in key_field.type:
            values = child(arr, sub.name)
            columns.append(with_default(values, sub) if self._replace_null else values)
        key = pa.StructArray.from_arrays(columns, fields=list(key_field.type))
        return replace_column(batch, record.KEY, key_field, key)

    def _key_field(self, f: pa.Field) -> pa.Field | str:
        """The key's struct field, or Kafka's message when a listed field is missing."""
        fields = []
        for name in self._fields:
            sub = child_field(f, name)
            if sub is None:
                return f"Field does not exist: {name}"
            fields.append(sub)
        return pa.field(record.KEY, pa.struct(fields), nullable=False)

    @staticmethod
    def _lookup(f: pa.Field, arr: pa.Array, name: str) -> pa.Array:
        """``map.get(name)`` on a schemaless column (null where absent)."""
        if pa.types.is_struct(f.type):
            return child(arr, name) if f.type.get_field_index(name) >= 0 else pa.nulls(len(arr))
        if pa.types.is_map(f.type):
            found: pa.Array = pc.map_lookup(arr, pa.scalar(name, f.type.key_type), "first")
            return found
        return pa.nulls(len(arr))
