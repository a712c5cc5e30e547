"""ReplaceField: keep, drop and rename fields (Kafka's ``ReplaceField``).

``exclude`` wins over ``include`` (empty = all); ``renames`` maps ``old:new``; both name the
*original* fields. A null key/value passes through (still null). With a schema the value
must be a struct; the new struct schema keeps the kept fields in their order (renamed),
the schema's name, version, doc and parameters, and — as Kafka's
``SchemaUtil.copySchemaBasics`` does — drops its default and makes it required. As for the
other transforms whose output Kafka makes required: a batch of tombstones only is returned
unchanged, a batch without tombstones gets exactly Kafka's schema, and a batch mixing both
gets that schema marked optional. Two fields renamed to one name fail as in Kafka
(``Cannot create field because of field name duplication``). Schemaless, the value must be
a map (a struct or map column marked schemaless); when two entries end up with one name the
later one wins, as ``HashMap.put`` does.

The plan — which child goes where, under what name — is made once per input schema; a
batch costs one struct rebuild (no copy of the kept children).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi import schema as cs
from engine.spi.config import ConfigDef, Importance, LambdaValidator, Type
from engine.spi.errors import ConfigError, DataError
from engine.transforms._common import (
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    SchemaCache,
    child,
    define_replace_null_with_default,
    null_mask,
    require_map,
    require_struct,
    struct_array,
    valid_mask,
    with_default,
)
from engine.transforms._validators import ANY_LIST

EXCLUDE = "exclude"
INCLUDE = "include"
RENAMES = "renames"
PURPOSE = "field replacement"
_RENAMES_VALID = "list of colon-delimited pairs, e.g. <code>foo:bar,abc:xyz</code>"


def parse_renames(mappings: list[str]) -> dict[str, str]:
    """``old:new`` pairs (Java's ``split(":")``: trailing empty parts are dropped, so ``a:`` fails)."""
    out: dict[str, str] = {}
    for mapping in mappings:
        parts = mapping.split(":")
        while parts and parts[-1] == "":
            parts.pop()
        if len(parts) != 2:
            raise ConfigError(
                f"Invalid value [{', '.join(mappings)}] for configuration {RENAMES}: "
                f"Invalid rename mapping: {mapping}",
                key=RENAMES,
            )
        out[parts[0]] = parts[1]
    return out


def _check_renames(name: str, value: Any) -> None:
    parse_renames(list(value or ()))


@dataclass(frozen=True, slots=True)
class _Plan:
    """Which input children to keep (by index), as which output fields; or why it fails."""

    sources: tuple[int, ...]
    fields: tuple[pa.Field, ...]
    error: str | None = None


class ReplaceField(KeyOrValue):
    """``org.apache.kafka.connect.transforms.ReplaceField``: base of the Key and Value variants."""

    column: ClassVar[str] = record.VALUE

    def __init__(self) -> None:
        self._exclude: frozenset[str] = frozenset()
        self._include: frozenset[str] = frozenset()
        self._renames: dict[str, str] = {}
        self._replace_null = True
        self._plans: SchemaCache[_Plan] = SchemaCache()

    @classmethod
    def config_def(cls) -> ConfigDef:
        config = (
            ConfigDef()
            .define(
                EXCLUDE,
                Type.LIST,
                [],
                ANY_LIST,
                Importance.MEDIUM,
                "Fields to exclude. This takes precedence over the fields to include.",
            )
            .define(
                INCLUDE,
                Type.LIST,
                [],
                ANY_LIST,
                Importance.MEDIUM,
                "Fields to include. If specified, only these fields will be used.",
            )
            .define(
                RENAMES,
                Type.LIST,
                [],
                LambdaValidator(
                    _check_renames, "list of colon-delimited pairs, e.g. <code>foo:bar,abc:xyz</code>"
                ),
                Importance.MEDIUM,
                "Field rename mappings.",
            )
        )
        return define_replace_null_with_default(config)

    def configure(self, configs: Mapping[str, str]) -> None:
        values = self.config_def().parse(configs)
        self._exclude = frozenset(values[EXCLUDE])
        self._include = frozenset(values[INCLUDE])
        self._renames = parse_renames(list(values[RENAMES]))
        self._replace_null = bool(values[REPLACE_NULL_WITH_DEFAULT])
        self._plans = SchemaCache()

    def _keep(self, name: str) -> bool:
        return name not in self._exclude and (not self._include or name in self._include)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        f, arr = self.operand(batch)
        schemaless = cs.is_schemaless(f)
        if schemaless:
            require_map(f, arr, PURPOSE, null_ok=True)
        else:
            require_struct(f, arr, PURPOSE, null_ok=True)
        if pa.types.is_map(f.type):
            return self.with_operand(batch, f, self._replace_map(arr))
        if not pa.types.is_struct(f.type):
            return batch  # only nulls: passed through
        if len(arr) and arr.null_count == len(arr) and not schemaless:
            return batch  # only tombstones: unchanged, with their schema, as in Kafka
        plan = self._plans.get(f, lambda fld: self._plan(fld, schemaless))
        if plan.error is not None and arr.null_count < len(arr):
            raise DataError(plan.error, rows=np.flatnonzero(valid_mask(arr)).tolist())
        columns = []
        for i in plan.sources:
            values = child(arr, f.type.field(i).name)
            if self._replace_null and not schemaless:
                values = with_default(values, f.type.field(i))
            columns.append(values)
        struct = struct_array(columns, plan.fields, len(arr), null_mask(arr))
        out = self._output_field(f, struct.type, schemaless)
        return self.with_operand(batch, out if schemaless else out.with_nullable(arr.null_count > 0), struct)

    def _plan(self, f: pa.Field, schemaless: bool) -> _Plan:
        chosen: dict[str, tuple[int, pa.Field]] = {}
        error: str | None = None
        for i, sub in enumerate(f.type):
            if not self._keep(sub.name):
                continue
            name = self._renames.get(sub.name, sub.name)
            if name in chosen:
                if not schemaless and error is None:
                    error = f"Cannot create field because of field name duplication {name}"
                chosen.pop(name)  # HashMap.put: the later entry wins
            chosen[name] = (i, sub.with_name(name))
        kept = sorted(chosen.values(), key=lambda pair: pair[0])
        return _Plan(tuple(i for i, _ in kept), tuple(fld for _, fld in kept), error)

    @staticmethod
    def _output_field(f: pa.Field, t: pa.DataType, schemaless: bool) -> pa.Field:
        if schemaless:
            return cs.field(f.name, t, schemaless=True)
        meta = {k: v for k, v in (f.metadata or {}).items() if k != cs.META_DEFAULT}
        return pa.field(f.name, t, nullable=False, metadata=meta or None)

    def _replace_map(self, arr: pa.Array) -> pa.Array:
        """A schemaless map column: entries filtered by key, keys renamed."""
        offsets = np.asarray(arr.offsets, np.int64)
        first, last = int(offsets[0]), int(offsets[-1])
        keys = arr.keys.slice(first, last - first)
        items = arr.items.slice(first, last - first)
        keep = np.ones(len(keys), bool)
        if self._exclude:
            keep &= ~_flags(pc.is_in(keys, pa.array(sorted(self._exclude), keys.type)))
        if self._include:
            keep &= _flags(pc.is_in(keys, pa.array(sorted(self._include), keys.type)))
        if self._renames:
            old = pa.array(list(self._renames), keys.type)
            new = pa.array(list(self._renames.values()), keys.type)
            position = pc.index_in(keys, old)
            keys = pc.if_else(pc.is_null(position), keys, new.take(pc.fill_null(position, 0)))
        parents = np.repeat(np.arange(len(arr)), np.diff(offsets))
        counts = np.bincount(parents[keep], minlength=len(arr))
        new_offsets = np.zeros(len(arr) + 1, np.int32)
        np.cumsum(counts, out=new_offsets[1:])
        index = pa.array(np.flatnonzero(keep))
        return pa.MapArray.from_arrays(
            pa.array(new_offsets),
            keys.take(index),
            items.take(index),
            type=arr.type,
            mask=null_mask(arr),
        )


def _flags(mask: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), bool)


class ReplaceFieldKey(ReplaceField):
    """``ReplaceField$Key``: filters and renames fields of the record key."""

    column = record.KEY
    aliases = ("org.apache.kafka.connect.transforms.ReplaceField$Key",)


class ReplaceFieldValue(ReplaceField):
    """``ReplaceField$Value``: filters and renames fields of the record value."""

    column = record.VALUE
    aliases = ("org.apache.kafka.connect.transforms.ReplaceField$Value",)
