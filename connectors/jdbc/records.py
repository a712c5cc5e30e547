"""Sink records → table rows: the primary key (pk.mode, pk.fields), the value fields
(fields.whitelist), and which rows are deletes (tombstones with delete.enabled).

Works on whole columns: a batch's key and value have one Arrow type each, so the mapping
(which struct children become which columns) is decided once per type and cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import schema
from engine.spi.errors import ConfigError, DataError

KAFKA_PK_DEFAULTS = ("__connect_topic", "__connect_partition", "__connect_offset")
KEY_DEFAULT = "__connect_key"


@dataclass(frozen=True)
class Rows:
    """Rows for one table, in record order: ``table`` holds the pk columns then the value
    columns; ``fields`` their Connect schemas (for CREATE/ALTER); ``deletes`` marks tombstones;
    ``bad`` marks rows that cannot be written at all (with ``why``)."""

    table: pa.Table
    fields: list[pa.Field]
    pk: list[str]
    deletes: np.ndarray
    bad: np.ndarray
    why: str


def _is_nested(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_struct(t)
        or pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_map(t)
        or pa.types.is_fixed_size_list(t)
    )


def _flat(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


class RecordMapper:
    def __init__(
        self, pk_mode: str, pk_fields: Sequence[str], whitelist: Sequence[str], delete_enabled: bool
    ) -> None:
        self.pk_mode = pk_mode
        self.pk_fields = list(pk_fields)
        self.whitelist = set(whitelist)
        self.delete_enabled = delete_enabled
        if pk_mode == "kafka" and self.pk_fields and len(self.pk_fields) != 3:
            raise ConfigError(
                "PK mode for table is kafka so pk.fields must contain exactly 3 names (topic, partition, "
                f"offset), got {self.pk_fields}",
                key="pk.fields",
            )
        if delete_enabled and pk_mode != "record_key":
            raise ConfigError("Deletes are only supported for pk.mode record_key", key="delete.enabled")

    def map(self, batch: pa.RecordBatch) -> Rows:
        n = batch.num_rows
        value = batch.column("value")
        tomb = value.is_null().to_numpy(zero_copy_only=False) if value.null_count else np.zeros(n, bool)
        vtype = value.type
        if not pa.types.is_struct(vtype):
            if value.null_count < n:
                raise DataError(
                    "The JDBC sink requires records with a non-null Struct value and non-null Struct schema "
                    f"(a value converter with schemas), but found values of type {vtype}"
                )
            vtype = pa.struct([])
            value = pa.nulls(n, vtype)
        vfields = [vtype.field(i) for i in range(vtype.num_fields)]
        for f in vfields:
            if _is_nested(f.type):
                raise DataError(
                    f"Field '{f.name}' is a nested {schema.connect_type(f.type).upper()}: "
                    "the JDBC sink writes flat structs only (use the Flatten transform)"
                )
        bad = np.zeros(n, bool)
        why = ""
        if not self.delete_enabled and tomb.any():
            bad |= tomb
            why = "a tombstone (null value) and delete.enabled=false"
        deletes = tomb & self.delete_enabled
        cols: list[pa.Array] = []
        fields: list[pa.Field] = []
        pk: list[str] = []
        value_names = [f.name for f in vfields]
        if self.pk_mode == "kafka":
            names = self.pk_fields or list(KAFKA_PK_DEFAULTS)
            for name, col, typ in zip(
                names, ("topic", "partition", "offset"), (pa.string(), pa.int32(), pa.int64()), strict=True
            ):
                cols.append(batch.column(col).cast(typ))
                fields.append(pa.field(name, typ, nullable=False))
            pk = names
        elif self.pk_mode == "record_key":
            key = batch.column("key")
            ktype = _flat(key.type)
            if pa.types.is_struct(ktype):
                knames = [ktype.field(i).name for i in range(ktype.num_fields)]
                names = self.pk_fields or knames
                for name in names:
                    if name not in knames:
                        raise ConfigError(
                            f"PK field '{name}' not found in the record key's fields {knames}",
                            key="pk.fields",
                        )
                    child = pc.struct_field(key, name)
                    if _is_nested(child.type):
                        raise DataError(f"Key field '{name}' is nested: only flat keys can be primary keys")
                    cols.append(child)
                    fields.append(pa.field(name, ktype.field(name).type, nullable=False))
            else:
                if pa.types.is_null(ktype) or _is_nested(ktype):
                    raise DataError(
                        f"pk.mode record_key needs a primitive or flat STRUCT key, but the key is {key.type}"
                    )
                if len(self.pk_fields) > 1:
                    raise ConfigError(
                        "Need exactly one PK column defined since the key schema for records is a primitive "
                        f"type, defined columns are: {self.pk_fields}",
                        key="pk.fields",
                    )
                names = self.pk_fields or [KEY_DEFAULT]
                cols.append(key.dictionary_decode() if pa.types.is_dictionary(key.type) else key)
                fields.append(pa.field(names[0], ktype, nullable=False))
            pk = list(names)
            nullkey = np.zeros(n, bool)
            for c in cols:
                if c.null_count:
                    nullkey |= c.is_null().to_numpy(zero_copy_only=False)
            if nullkey.any():
                bad |= nullkey
                why = why or "a null primary key (pk.mode record_key)"
        elif self.pk_mode == "record_value":
            names = self.pk_fields or value_names
            for name in names:
                if name not in value_names:
                    raise ConfigError(
                        f"PK field '{name}' not found in the record value's fields {value_names}",
                        key="pk.fields",
                    )
            pk = list(names)
        pk_set = set(pk)
        for f in vfields:
            if self.pk_mode == "record_value" and f.name in pk_set:
                cols.append(pc.struct_field(value, f.name))
                fields.append(f.with_nullable(False))
        for f in vfields:
            if f.name in pk_set:
                continue
            if self.whitelist and f.name not in self.whitelist:
                continue
            cols.append(pc.struct_field(value, f.name))
            fields.append(f)
        order = pk + [f.name for f in fields if f.name not in pk_set]
        by_name = {f.name: (f, c) for f, c in zip(fields, cols, strict=True)}
        if len(by_name) != len(fields):
            raise DataError(
                f"Duplicate column names among the key and value fields: {[f.name for f in fields]}"
            )
        ordered = [by_name[name] for name in order]
        table = pa.Table.from_arrays(
            [c.dictionary_decode() if pa.types.is_dictionary(c.type) else c for _, c in ordered],
            schema=pa.schema([f.with_type(_flat(f.type)).with_nullable(True) for f, _ in ordered]),
        )
        return Rows(table, [f.with_type(_flat(f.type)) for f, _ in ordered], pk, deletes, bad, why)
