"""Flatten: nested structs become top-level fields named ``parent<delimiter>child``.

With a schema (Kafka's ``Flatten`` with a STRUCT schema) the flattened schema is built once
per input schema: a field is optional when it or any ancestor is optional, a default comes
from the field or else from its ancestors' defaults, arrays are kept, and a MAP anywhere is
an error. Values are read as ``Struct.get`` does (null fields with a default read as the
default). Schemaless (a struct column marked schemaless, Kafka's ``Map``), nested maps are
merged the same way, whatever the batch's inferred struct type holds. A null key/value
(tombstone) stays null.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi import schema as cs
from engine.spi.config import ConfigDef, Importance, Type
from engine.spi.errors import DataError
from engine.transforms._common import (
    KeyOrValue,
    SchemaCache,
    child,
    is_map_like,
    java_class,
    null_mask,
    require_map,
    require_struct,
    struct_array,
    valid_mask,
    with_default,
)

DELIMITER = "delimiter"
PURPOSE = "flattening"
_KEPT = (
    cs.INT8,
    cs.INT16,
    cs.INT32,
    cs.INT64,
    cs.FLOAT32,
    cs.FLOAT64,
    cs.BOOLEAN,
    cs.STRING,
    cs.BYTES,
    cs.ARRAY,
)


@dataclass(frozen=True)
class _Leaf:
    path: tuple[str, ...]
    field: pa.Field


@dataclass(frozen=True)
class _Plan:
    """The flattened schema of one input schema (or why Kafka cannot build it)."""

    leaves: tuple[_Leaf, ...]
    output: pa.Field
    error: str | None = None


class Flatten(KeyOrValue):
    """``org.apache.kafka.connect.transforms.Flatten``: base of the Key and Value variants."""

    column: ClassVar[str] = record.VALUE

    def __init__(self) -> None:
        self._delimiter = "."
        self._plans: SchemaCache[_Plan] = SchemaCache()

    @classmethod
    def config_def(cls) -> ConfigDef:
        return ConfigDef().define(
            DELIMITER,
            Type.STRING,
            ".",
            None,
            Importance.MEDIUM,
            "Delimiter to insert between field names from the input record when generating field names for "
            "the output record",
        )

    def configure(self, configs: Mapping[str, str]) -> None:
        self._delimiter = str(self.config_def().parse(configs)[DELIMITER])
        self._plans = SchemaCache()

    def _name(self, prefix: str, name: str) -> str:
        return name if not prefix else prefix + self._delimiter + name

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        f, arr = self.operand(batch)
        if len(arr) and arr.null_count == len(arr) and not cs.is_schemaless(f):
            return batch  # only tombstones: returned unchanged, with their schema
        if cs.is_schemaless(f):
            require_map(f, arr, PURPOSE, null_ok=True)
            if not is_map_like(f):
                return batch  # no maps at all: only nulls
            names, columns = self._schemaless(arr, f.type, "")
            fields = [pa.field(n, c.type) for n, c in zip(names, columns, strict=True)]
            values = struct_array(columns, fields, len(arr), null_mask(arr))
            return self.with_operand(batch, cs.field(f.name, values.type, schemaless=True), values)
        require_struct(f, arr, PURPOSE, null_ok=True)
        plan = self._plans.get(f, self._plan)
        if plan.error is not None:
            raise DataError(plan.error, rows=np.flatnonzero(valid_mask(arr)).tolist())
        columns = self._leaf_values(f, arr, plan)
        values = struct_array(columns, [leaf.field for leaf in plan.leaves], len(arr), null_mask(arr))
        out = plan.output.with_nullable(arr.null_count > 0)
        return self.with_operand(batch, out, values)

    # -- with a schema

    def _plan(self, f: pa.Field) -> _Plan:
        leaves: list[_Leaf] = []
        try:
            self._build(f, (), "", bool(f.nullable), cs.schema_default(f), leaves)
        except DataError as e:
            return _Plan((), f, str(e))
        names = [leaf.field.name for leaf in leaves]
        for i, name in enumerate(names):
            if name in names[:i]:
                return _Plan((), f, f"Cannot create field because of field name duplication {name}")
        meta = {k: v for k, v in (f.metadata or {}).items() if k != cs.META_DEFAULT}
        output = pa.field(
            f.name, pa.struct([leaf.field for leaf in leaves]), nullable=False, metadata=meta or None
        )
        return _Plan(tuple(leaves), output)

    def _build(
        self,
        f: pa.Field,
        path: tuple[str, ...],
        prefix: str,
        optional: bool,
        parent_default: Any,
        leaves: list[_Leaf],
    ) -> None:
        for c in f.type:
            name = self._name(prefix, c.name)
            c_optional = optional or bool(c.nullable)
            default = cs.schema_default(c)
            if default is None and isinstance(parent_default, dict):
                default = parent_default.get(c.name)
            kind = cs.connect_type(c.type)
            if kind == cs.STRUCT:
                self._build(c, (*path, c.name), name, c_optional, default, leaves)
            elif kind in _KEPT:
                leaves.append(_Leaf((*path, c.name), _leaf_field(c, name, c_optional, default)))
            else:
                raise DataError(
                    f"Flatten transformation does not support {kind.upper()} for record with schemas "
                    f"(for field {name})."
                )

    @staticmethod
    def _leaf_values(f: pa.Field, arr: pa.Array, plan: _Plan) -> list[pa.Array]:
        """Each leaf read as ``Struct.get`` at every level (defaults where the parent is not null)."""
        cache: dict[tuple[str, ...], tuple[pa.Array, pa.Field]] = {(): (arr, f)}

        def at(path: tuple[str, ...]) -> tuple[pa.Array, pa.Field]:
            hit = cache.get(path)
            if hit is not None:
                return hit
            parent, pf = at(path[:-1])
            sub = pf.type.field(pf.type.get_field_index(path[-1]))
            parent_valid = parent.is_valid() if parent.null_count else None
            values = with_default(child(parent, path[-1]), sub, parent_valid)
            cache[path] = (values, sub)
            return values, sub

        return [at(leaf.path)[0] for leaf in plan.leaves]

    # -- schemaless

    def _schemaless(self, arr: pa.Array, t: pa.DataType, prefix: str) -> tuple[list[str], list[pa.Array]]:
        names: list[str] = []
        columns: list[pa.Array] = []
        for key, values in _entries(arr, t):
            name = self._name(prefix, key)
            vt = values.type
            if pa.types.is_struct(vt) or pa.types.is_map(vt):
                sub_names, sub_columns = self._schemaless(values, vt, name)
                pairs = zip(sub_names, sub_columns, strict=True)
            elif _kept_schemaless(vt):
                pairs = zip([name], [values], strict=True)
            else:
                valid = valid_mask(values)
                if valid.any():
                    raise DataError(
                        "Flatten transformation was passed a value of type class "
                        f"{java_class(vt, True)} which is not supported by Connect's data API",
                        rows=np.flatnonzero(valid).tolist(),
                    )
                pairs = zip([name], [values], strict=True)
            for n, column in pairs:
                if n in names:  # two paths flatten to one name: the later non-null value wins
                    i = names.index(n)
                    columns[i] = _merge(columns[i], column)
                else:
                    names.append(n)
                    columns.append(column)
        return names, columns


def _leaf_field(c: pa.Field, name: str, optional: bool, default: Any) -> pa.Field:
    """``convertFieldSchema``: the field's name/version/doc/parameters, new optionality and default."""
    meta = {k: v for k, v in (c.metadata or {}).items() if k != cs.META_DEFAULT}
    if default is not None:
        meta[cs.META_DEFAULT] = json.dumps(default, separators=(",", ":")).encode()
    return pa.field(name, c.type, nullable=optional, metadata=meta or None)


def _kept_schemaless(t: pa.DataType) -> bool:
    if pa.types.is_null(t) or pa.types.is_dictionary(t):
        return True
    if pa.types.is_decimal(t) or pa.types.is_temporal(t):
        return False
    try:
        return cs.connect_type(t) in _KEPT
    except DataError:
        return False


def _entries(arr: pa.Array, t: pa.DataType) -> list[tuple[str, pa.Array]]:
    """The (key, values) of a schemaless map: struct children, or the keys a map column holds."""
    if pa.types.is_struct(t):
        return [(c.name, child(arr, c.name)) for c in t]
    if len(arr) == 0:
        return []
    offsets = arr.offsets
    first, last = offsets[0].as_py(), offsets[-1].as_py()
    keys = pc.unique(arr.keys.slice(first, last - first)).to_pylist()
    return [(str(k), pc.map_lookup(arr, pa.scalar(k, t.key_type), "first")) for k in keys if k is not None]


def _merge(earlier: pa.Array, later: pa.Array) -> pa.Array:
    if earlier.type == later.type:
        return pc.coalesce(later, earlier)
    if pa.types.is_null(later.type):
        return earlier
    if pa.types.is_null(earlier.type):
        return later
    raise DataError(
        "Flatten of schemaless data produced one field name from values of different types",
        rows=np.flatnonzero(valid_mask(later) & valid_mask(earlier)).tolist(),
    )


class FlattenKey(Flatten):
    """``Flatten$Key``: flattens the record key."""

    column = record.KEY
    aliases = ("org.apache.kafka.connect.transforms.Flatten$Key",)


class FlattenValue(Flatten):
    """``Flatten$Value``: flattens the record value."""

    column = record.VALUE
    aliases = ("org.apache.kafka.connect.transforms.Flatten$Value",)
