"""SetSchemaMetadata: set the name and/or version of the key/value schema (Kafka's ``SetSchemaMetadata``).

Everything else of the schema (type, optionality, default, doc, parameters) is kept; only
the Arrow field's ``connect.name`` / ``connect.version`` metadata changes. A struct value
is rebuilt against the new schema, so with ``replace.null.with.default`` (the default) its
null fields that have a default read as the default, as ``Struct.get`` does in Kafka. A
schemaless column passes when it holds only nulls and fails on its other rows with
``Schema required for [updating schema metadata]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np
import pyarrow as pa

from engine.spi import record
from engine.spi import schema as cs
from engine.spi.config import ConfigDef, Importance, Type
from engine.spi.errors import ConfigError, DataError
from engine.transforms._common import (
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    SchemaCache,
    child,
    define_replace_null_with_default,
    null_mask,
    valid_mask,
    with_default,
)

SCHEMA_NAME = "schema.name"
SCHEMA_VERSION = "schema.version"
PURPOSE = "updating schema metadata"


class SetSchemaMetadata(KeyOrValue):
    """``org.apache.kafka.connect.transforms.SetSchemaMetadata``: base of the Key and Value variants."""

    column: ClassVar[str] = record.VALUE

    def __init__(self) -> None:
        self._name: str | None = None
        self._version: int | None = None
        self._replace_null = True
        self._fields: SchemaCache[pa.Field] = SchemaCache()

    @classmethod
    def config_def(cls) -> ConfigDef:
        config = (
            ConfigDef()
            .define(SCHEMA_NAME, Type.STRING, None, None, Importance.HIGH, "Schema name to set.")
            .define(SCHEMA_VERSION, Type.INT, None, None, Importance.HIGH, "Schema version to set.")
        )
        return define_replace_null_with_default(config)

    def configure(self, configs: Mapping[str, str]) -> None:
        values = self.config_def().parse(configs)
        self._name = values[SCHEMA_NAME]
        self._version = values[SCHEMA_VERSION]
        self._replace_null = bool(values[REPLACE_NULL_WITH_DEFAULT])
        if self._name is None and self._version is None:
            raise ConfigError("Neither schema name nor version configured")
        self._fields = SchemaCache()

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        f, arr = self.operand(batch)
        if cs.is_schemaless(f):
            if arr.null_count < len(arr):
                raise DataError(
                    f"Schema required for [{PURPOSE}]", rows=np.flatnonzero(valid_mask(arr)).tolist()
                )
            return batch
        out = self._fields.get(f, self._updated)
        if self._replace_null and pa.types.is_struct(f.type) and len(arr):
            arr = _with_defaults(arr, f.type)
        return self.with_operand(batch, out, arr)

    def _updated(self, f: pa.Field) -> pa.Field:
        meta = dict(f.metadata or {})
        if self._name is not None:
            meta[cs.META_NAME] = self._name.encode()
        if self._version is not None:
            meta[cs.META_VERSION] = str(self._version).encode()
        return f.with_metadata(meta)


def _with_defaults(arr: pa.Array, t: pa.StructType) -> pa.Array:
    """The struct with null children replaced by their defaults (``Struct.get``); same array if none."""
    if not any(cs.has_default(sub) for sub in t):
        return arr
    columns = [with_default(child(arr, sub.name), sub) for sub in t]
    return pa.StructArray.from_arrays(columns, fields=list(t), mask=null_mask(arr))


class SetSchemaMetadataKey(SetSchemaMetadata):
    """``SetSchemaMetadata$Key``: sets the record key's schema name/version."""

    column = record.KEY
    aliases = ("org.apache.kafka.connect.transforms.SetSchemaMetadata$Key",)


class SetSchemaMetadataValue(SetSchemaMetadata):
    """``SetSchemaMetadata$Value``: sets the record value's schema name/version."""

    column = record.VALUE
    aliases = ("org.apache.kafka.connect.transforms.SetSchemaMetadata$Value",)
