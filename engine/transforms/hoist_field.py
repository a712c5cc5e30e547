"""HoistField: wrap the key/value in a struct with one field (Kafka's ``HoistField``).

With a schema the result is a required STRUCT whose only field has the original schema; a
null value of a required schema cannot be wrapped (Kafka's ``Struct.put`` rejects it).
Schemaless, every value — null too — becomes ``{field: value}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pyarrow as pa

from engine.spi import record
from engine.spi import schema as cs
from engine.spi.config import NO_DEFAULT, ConfigDef, Importance, Type
from engine.spi.errors import DataError
from engine.transforms._common import KeyOrValue, SchemaCache, valid_mask

FIELD = "field"


class HoistField(KeyOrValue):
    """``org.apache.kafka.connect.transforms.HoistField``: base of the Key and Value variants."""

    column: ClassVar[str] = record.VALUE

    def __init__(self) -> None:
        self._name = ""
        self._fields: SchemaCache[pa.Field] = SchemaCache()

    @classmethod
    def config_def(cls) -> ConfigDef:
        return ConfigDef().define(
            FIELD,
            Type.STRING,
            NO_DEFAULT,
            None,
            Importance.MEDIUM,
            "Field name for the single field that will be created in the resulting Struct or Map.",
        )

    def configure(self, configs: Mapping[str, str]) -> None:
        self._name = str(self.config_def().parse(configs)[FIELD])
        self._fields = SchemaCache()

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        f, arr = self.operand(batch)
        if cs.is_schemaless(f):
            inner = pa.field(self._name, arr.type)
            values = pa.StructArray.from_arrays([arr], fields=[inner])
            return self.with_operand(batch, cs.field(f.name, values.type, schemaless=True), values)
        if not f.nullable and arr.null_count:
            bad = ~valid_mask(arr)
            raise DataError(
                f'Invalid value: null used for required field: "{self._name}", schema type: '
                f"{cs.connect_type(f.type).upper()}",
                rows=np.flatnonzero(bad).tolist(),
            )
        out = self._fields.get(f, self._wrap)
        return self.with_operand(batch, out, pa.StructArray.from_arrays([arr], fields=list(out.type)))

    def _wrap(self, f: pa.Field) -> pa.Field:
        return pa.field(f.name, pa.struct([f.with_name(self._name)]), nullable=False)


class HoistFieldKey(HoistField):
    """``HoistField$Key``: wraps the record key."""

    column = record.KEY
    aliases = ("org.apache.kafka.connect.transforms.HoistField$Key",)


class HoistFieldValue(HoistField):
    """``HoistField$Value``: wraps the record value."""

    column = record.VALUE
    aliases = ("org.apache.kafka.connect.transforms.HoistField$Value",)
