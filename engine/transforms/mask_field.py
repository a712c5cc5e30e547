"""MaskField: replace listed fields by an "empty" value of their type (Kafka's ``MaskField``).

A non-null value becomes ``false``, ``0`` (same width), ``0.0``, a zero decimal, the epoch
(dates, times, timestamps), ``""``, an empty list or an empty map; a null value stays null.
With ``replacement``, numbers and strings get the replacement converted to their type as
Kafka's ``Values`` does (``new BigDecimal(text)``, then Java's narrowing: ``300`` masks an
INT8 as 44, ``1.5`` an INT32 as 1); other types cannot take a replacement.

With a schema the value must be a struct (a null value fails: MaskField has no tombstone
guard), the schema is unchanged, and fields not in the schema are ignored. Schemaless, the
value must be a map (a struct or map column marked schemaless) and listed fields that are
absent are added with null. With ``replace.null.with.default`` (the default) a null field
whose schema has a default reads as the default — and is then masked.

Each field's masking is decided once per input schema; applying it is one ``if_else`` per
masked field.
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi import schema as cs
from engine.spi.config import NO_DEFAULT, ConfigDef, Importance, NonEmptyString, Type
from engine.spi.errors import DataError
from engine.transforms._common import (
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    SchemaCache,
    child,
    define_replace_null_with_default,
    java_class,
    null_mask,
    require_map,
    require_struct,
    struct_array,
    valid_mask,
    with_default,
)
from engine.transforms._validators import NON_EMPTY_LIST

FIELDS = "fields"
REPLACEMENT = "replacement"
PURPOSE = "mask fields"
_FIELDS_DOC = "Names of fields to mask."

_BIG_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True, slots=True)
class _Mask:
    """How one field is masked: by ``value`` (a scalar of its type), else it fails with ``error``.

    ``empty_struct`` marks a schemaless nested map, which becomes ``{}`` (a struct with no fields).
    """

    value: pa.Scalar | None = None
    error: str | None = None
    empty_struct: bool = False


class MaskField(KeyOrValue):
    """``org.apache.kafka.connect.transforms.MaskField``: base of the Key and Value variants."""

    column: ClassVar[str] = record.VALUE

    def __init__(self) -> None:
        self._fields: tuple[str, ...] = ()
        self._replacement: str | None = None
        self._replace_null = True
        self._masks: SchemaCache[dict[str, _Mask]] = SchemaCache()

    @classmethod
    def config_def(cls) -> ConfigDef:
        config = (
            ConfigDef()
            .define(
                FIELDS, Type.LIST, NO_DEFAULT, NON_EMPTY_LIST, Importance.HIGH, "Names of fields to mask."
            )
            .define(
                REPLACEMENT,
                Type.STRING,
                None,
                NonEmptyString(),
                Importance.LOW,
                "Custom value replacement, that will be applied to all 'fields' values (numeric or "
                "non-empty string values only).",
            )
        )
        return define_replace_null_with_default(config)

    def configure(self, configs: Mapping[str, str]) -> None:
        values = self.config_def().parse(configs)
        self._fields = tuple(dict.fromkeys(values[FIELDS]))
        self._replacement = values[REPLACEMENT]
        self._replace_null = bool(values[REPLACE_NULL_WITH_DEFAULT])
        self._masks = SchemaCache()

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        f, arr = self.operand(batch)
        schemaless = cs.is_schemaless(f)
        failures: list[DataError] = []
        try:
            if schemaless:
                require_map(f, arr, PURPOSE, null_ok=False)
            else:
                require_struct(f, arr, PURPOSE, null_ok=False)
        except DataError as err:
            failures.append(err)
        if not pa.types.is_struct(f.type):
            if pa.types.is_map(f.type):
                try:
                    masked_map = self._mask_map(arr)
                except DataError as err:
                    failures.append(err)
                _raise_all(failures)
                return self.with_operand(batch, f, masked_map)
            _raise_all(failures)
            return batch  # an empty schemaless batch of no particular type
        masks = self._masks.get(f, lambda fld: self._plan(fld, schemaless))
        originals = [child(arr, sub.name) for sub in f.type]
        if self._replace_null and not schemaless:
            originals = [with_default(values, sub) for values, sub in zip(originals, f.type, strict=True)]
        try:
            _check(masks, f.type, originals)
        except DataError as err:
            failures.append(err)
        _raise_all(failures)
        children: list[pa.Array] = []
        fields: list[pa.Field] = []
        for sub, values in zip(f.type, originals, strict=True):
            mask = masks.get(sub.name)
            masked = values if mask is None else _apply(mask, values)
            children.append(masked)
            fields.append(sub.with_type(masked.type))
        if schemaless:
            for name in self._fields:
                if f.type.get_field_index(name) < 0:
                    children.append(pa.nulls(len(arr)))
                    fields.append(pa.field(name, pa.null()))
        masked = struct_array(children, fields, len(arr), null_mask(arr))
        out = f if not schemaless else cs.field(f.name, masked.type, schemaless=True)
        return self.with_operand(batch, out, masked)

    def _plan(self, f: pa.Field, schemaless: bool) -> dict[str, _Mask]:
        listed = set(self._fields)
        return {sub.name: self._mask_for(sub.type, schemaless) for sub in f.type if sub.name in listed}

    def _mask_for(self, t: pa.DataType, schemaless: bool) -> _Mask:
        if self._replacement is None:
            return _empty_value(t, schemaless)
        return _replacement_value(t, self._replacement, schemaless)

    def _mask_map(self, arr: pa.Array) -> pa.Array:
        """A schemaless map column: listed keys masked, absent listed keys added with null."""
        mask = self._mask_for(arr.type.item_type, True)
        entries = arr.values
        keys, items = entries.field(0), entries.field(1)
        n = len(arr)
        offsets = np.asarray(arr.offsets, np.int64)
        first, last = int(offsets[0]), int(offsets[-1])
        keys, items = keys.slice(first, last - first), items.slice(first, last - first)
        listed = pc.fill_null(pc.is_in(keys, pa.array(self._fields, keys.type)), False)
        if mask.error is not None and pc.any(pc.and_(listed, pc.is_valid(items))).as_py():
            parents = np.repeat(np.arange(n), np.diff(offsets))
            hit = np.asarray(pc.and_(listed, pc.is_valid(items)).to_numpy(zero_copy_only=False), bool)
            raise DataError(mask.error, rows=sorted(set(parents[hit].tolist())))
        if mask.value is not None:
            items = pc.if_else(pc.and_(listed, pc.is_valid(items)), mask.value, items)
        parents = np.repeat(np.arange(n), np.diff(offsets))
        columns: list[tuple[pa.Array, pa.Array]] = []
        for name in self._fields:
            has = np.zeros(n, bool)
            has[parents[np.asarray(pc.equal(keys, name).to_numpy(zero_copy_only=False), bool)]] = True
            columns.append((pa.array(~has), pa.scalar(name, keys.type)))
        return _append_entries(arr, offsets - first, keys, items, columns)


def _raise_all(failures: list[DataError]) -> None:
    """One DataError naming every failing row, with the message of the first of them."""
    if not failures:
        return
    if len(failures) == 1:
        raise failures[0]
    first = min(failures, key=lambda e: min(e.rows, default=0))
    rows = sorted({r for e in failures for r in e.rows})
    raise DataError(str(first), rows=rows)


def _check(masks: Mapping[str, _Mask], t: pa.StructType, values: list[pa.Array]) -> None:
    """Fail on the rows with a value that cannot be masked (Kafka's message: the first such field)."""
    message: str | None = None
    bad = np.zeros(len(values[0]) if values else 0, bool)
    for sub, column in zip(t, values, strict=True):
        mask = masks.get(sub.name)
        if mask is not None and mask.error is not None and column.null_count < len(column):
            message = message or mask.error
            bad |= valid_mask(column)
    if message is not None:
        raise DataError(message, rows=np.flatnonzero(bad).tolist())


def _apply(mask: _Mask, values: pa.Array) -> pa.Array:
    if mask.error is not None:
        return values  # only nulls (see _check)
    if mask.empty_struct:
        return struct_array([], [], len(values), null_mask(values))
    if mask.value is None or pa.types.is_null(values.type):
        return values
    return pc.if_else(pc.is_null(values), pa.scalar(None, values.type), mask.value)


def _cannot(t: pa.DataType, schemaless: bool) -> str:
    return f"Cannot mask value of type: class {java_class(t, schemaless)}"


def _empty_value(t: pa.DataType, schemaless: bool) -> _Mask:
    """``maskWithNullValue``: the "empty" value of a type (or the error Kafka raises)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t):
        return _Mask()
    if pa.types.is_boolean(t):
        return _Mask(pa.scalar(False, t))
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return _Mask(pa.scalar(0, t) if not pa.types.is_floating(t) else pa.scalar(0.0, t))
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _Mask(pa.scalar("", t))
    if pa.types.is_temporal(t) and not pa.types.is_duration(t) and not pa.types.is_interval(t):
        storage = pa.int64() if pa.types.is_timestamp(t) or pa.types.is_date64(t) else pa.int32()
        if pa.types.is_time64(t):
            storage = pa.int64()
        return _Mask(pa.array([0], storage).view(t)[0])
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_map(t):
        return _Mask(pa.scalar([], t))
    if pa.types.is_struct(t) and schemaless:
        return _Mask(empty_struct=True)
    return _Mask(error=_cannot(t, schemaless))


def _replacement_value(t: pa.DataType, text: str, schemaless: bool) -> _Mask:
    """``maskWithCustomReplacement``: the replacement converted to a number or string type."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t):
        return _Mask()
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _Mask(pa.scalar(text, t))
    numeric = pa.types.is_integer(t) or pa.types.is_floating(t)
    if not numeric and not pa.types.is_decimal(t):
        return _Mask(
            error=f"Cannot mask value of type class {java_class(t, schemaless)} with custom replacement."
        )
    if not _BIG_DECIMAL.fullmatch(text):
        suffix = "a number" if numeric else "number"
        return _Mask(error=f"Unable to convert {text} (class java.lang.String) to {suffix}")
    number = decimal.Decimal(text)
    if pa.types.is_decimal(t):
        scaled = number.quantize(decimal.Decimal(1).scaleb(-t.scale), rounding=decimal.ROUND_HALF_UP)
        return _Mask(pa.scalar(scaled, t))
    if pa.types.is_floating(t):
        return _Mask(pa.scalar(_float_of(number), t))
    return _Mask(pa.scalar(_java_narrow(int(number), t.bit_width, pa.types.is_signed_integer(t)), t))


def _float_of(number: decimal.Decimal) -> float:
    """``new BigDecimal(text).doubleValue()`` (a BigDecimal has no negative zero)."""
    if number.is_zero():
        return 0.0
    try:
        return float(number)
    except OverflowError:
        return float("inf") if number > 0 else float("-inf")


def _java_narrow(value: int, bits: int, signed: bool) -> int:
    """``BigDecimal.longValue()`` then Java's cast to ``bits``: keep the low bits (two's complement)."""
    low = value & ((1 << bits) - 1)
    if signed and low >= 1 << (bits - 1):
        low -= 1 << bits
    return low


def _append_entries(
    arr: pa.Array,
    offsets: np.ndarray,
    keys: pa.Array,
    items: pa.Array,
    columns: list[tuple[pa.Array, Any]],
) -> pa.Array:
    """Map rows with, for each (where, key) of ``columns``, an entry ``key → null`` where ``where``."""
    n = len(arr)
    add = np.stack([np.asarray(w.to_numpy(zero_copy_only=False), bool) for w, _ in columns], axis=1)
    old = np.diff(offsets)
    new_lengths = old + add.sum(axis=1)
    new_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(new_lengths, out=new_offsets[1:])
    take = np.empty(int(new_offsets[-1]), np.int64)
    rows_of_old = np.repeat(np.arange(n), old)
    within = np.arange(int(old.sum())) - np.repeat(offsets[:-1], old)
    take[new_offsets[:-1][rows_of_old] + within] = offsets[:-1][rows_of_old] + within
    base = len(keys)
    slot = new_offsets[:-1] + old
    extra_keys: list[Any] = []
    for j, (_, key) in enumerate(columns):
        rows = np.flatnonzero(add[:, j])
        take[slot[rows]] = base + len(extra_keys) + np.arange(rows.size)
        slot[rows] += 1
        extra_keys.extend([key] * rows.size)
    all_keys = pa.concat_arrays([keys, pa.array(extra_keys, keys.type)])
    all_items = pa.concat_arrays([items, pa.nulls(len(extra_keys), items.type)])
    index = pa.array(take)
    return pa.MapArray.from_arrays(
        pa.array(new_offsets.astype(np.int32)),
        all_keys.take(index),
        all_items.take(index),
        type=arr.type,
        mask=null_mask(arr),
    )


class MaskFieldKey(MaskField):
    """``MaskField$Key``: masks fields of the record key."""

    column = record.KEY
    aliases = ("org.apache.kafka.connect.transforms.MaskField$Key",)


class MaskFieldValue(MaskField):
    """``MaskField$Value``: masks fields of the record value."""

    column = record.VALUE
    aliases = ("org.apache.kafka.connect.transforms.MaskField$Value",)
