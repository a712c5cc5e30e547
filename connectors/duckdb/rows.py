"""Envelope batch → the rows of a table: key and value columns side by side, by ``pk.mode``.

Everything here is column work on Arrow arrays (``StructArray.flatten``, ``is_null``):
no Python per record.

* ``none``: the value's fields.
* ``kafka``: ``__connect_topic``, ``__connect_partition``, ``__connect_offset`` (or the three
  ``pk.fields`` names), then the value's fields.
* ``record_key``: the key's fields (a struct key: ``pk.fields`` or all of them; a primitive
  key: one column named ``pk.fields[0]``, default ``__connect_key``), then the value's other fields.
* ``record_value``: the value's fields; the key columns are ``pk.fields`` (default: all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from engine.spi.errors import ConfigError, DataError

NONE, KAFKA, RECORD_KEY, RECORD_VALUE = "none", "kafka", "record_key", "record_value"
KAFKA_PK = ("__connect_topic", "__connect_partition", "__connect_offset")
DEFAULT_KEY_COLUMN = "__connect_key"


@dataclass
class Rows:
    """The table rows of a batch: ``table`` (one row per record), its key columns, the
    tombstones (value null) and the records that cannot become rows, with the reason."""

    table: pa.Table
    fields: list[pa.Field]  # the columns, nullable as the schemas say (for CREATE TABLE)
    keys: list[str]
    tombstone: np.ndarray
    bad: dict[int, str] = field(default_factory=dict)


def _struct_columns(arr: pa.Array, what: str) -> tuple[list[pa.Field], list[pa.Array]]:
    if not pa.types.is_struct(arr.type):
        raise DataError(f"the record {what} must be a struct (schema type STRUCT), not {arr.type}")
    st = arr.type
    return [st.field(i) for i in range(st.num_fields)], list(arr.flatten())


def _pick(fields: list[pa.Field], cols: list[pa.Array], names: Sequence[str], what: str) -> list[int]:
    have = [f.name for f in fields]
    missing = [n for n in names if n not in have]
    if missing:
        raise DataError(f"pk.fields {missing} are not fields of the record {what} ({have})")
    return [have.index(n) for n in names]


def build(batch: pa.RecordBatch, pk_mode: str, pk_fields: Sequence[str], whitelist: Sequence[str]) -> Rows:
    """The rows of ``batch`` for the table (see the module docstring)."""
    value = batch.column("value")
    tomb = value.is_null().to_numpy(zero_copy_only=False)
    n = batch.num_rows
    names: list[str] = []
    arrays: list[pa.Array] = []
    nullable: list[bool] = []
    keys: list[str] = []
    bad: dict[int, str] = {}

    def add(name: str, arr: pa.Array, optional: bool) -> None:
        if name.lower() in (x.lower() for x in names):
            return
        names.append(name)
        arrays.append(arr)
        nullable.append(optional)

    if pk_mode == KAFKA:
        key_names = list(pk_fields) or list(KAFKA_PK)
        if len(key_names) != 3:
            raise ConfigError(
                "pk.mode=kafka needs three pk.fields (topic, partition, offset)", key="pk.fields"
            )
        for name, col in zip(key_names, ("topic", "partition", "offset"), strict=True):
            add(name, batch.column(col), False)
        keys = key_names
    elif pk_mode == RECORD_KEY:
        key = batch.column("key")
        if pa.types.is_struct(key.type):
            kf, kc = _struct_columns(key, "key")
            idx = _pick(kf, kc, pk_fields, "key") if pk_fields else list(range(len(kf)))
            for i in idx:
                add(kf[i].name, kc[i], False)
                keys.append(kf[i].name)
        else:
            if len(pk_fields) > 1:
                raise ConfigError(
                    "a primitive key fills one column: give one pk.fields name", key="pk.fields"
                )
            name = pk_fields[0] if pk_fields else DEFAULT_KEY_COLUMN
            add(name, key, False)
            keys = [name]
        missing = np.zeros(n, dtype=bool)
        for arr in arrays:
            missing |= arr.is_null().to_numpy(zero_copy_only=False)
        for r in np.flatnonzero(missing).tolist():
            bad[r] = "pk.mode=record_key and the record has a null key (or key field)"

    live = ~tomb
    if live.any():
        vf, vc = _struct_columns(value, "value")
        value_names = [f.name for f in vf]
        if pk_mode == RECORD_VALUE:
            idx = _pick(vf, vc, pk_fields, "value") if pk_fields else list(range(len(vf)))
            keys = [vf[i].name for i in idx]
            for i in idx:
                add(vf[i].name, vc[i], False)
        allowed = set(whitelist) | set(keys) if whitelist else None
        for f, col in zip(vf, vc, strict=True):
            if allowed is None or f.name in allowed:
                add(f.name, col, f.nullable)
        if pk_mode == RECORD_VALUE:
            missing = np.zeros(n, dtype=bool)
            for name in keys:
                missing |= vc[value_names.index(name)].is_null().to_numpy(zero_copy_only=False)
            for r in np.flatnonzero(missing & live).tolist():
                bad[r] = "pk.mode=record_value and a pk field is null"
    elif pk_mode == RECORD_VALUE:
        keys = list(pk_fields)
    fields = [
        pa.field(name, arr.type, nullable=opt) for name, arr, opt in zip(names, arrays, nullable, strict=True)
    ]
    schema_ = pa.schema([f.with_nullable(True) for f in fields])  # tombstone rows are null
    table = pa.Table.from_arrays(arrays, schema=schema_) if arrays else pa.table({"__empty": pa.nulls(n)})
    return Rows(table, fields, keys, tomb, bad)
