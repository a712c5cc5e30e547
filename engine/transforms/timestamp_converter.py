"""TimestampConverter: convert timestamps between text, epoch numbers and Connect's logical types.

Kafka's ``TimestampConverter``: the whole key/value (``field`` empty) or one field of it is
read as a timestamp and written as ``target.type``:

==============  =====================  ===========================================
target.type     Arrow type             value
==============  =====================  ===========================================
``string``      string                 ``format`` (SimpleDateFormat, UTC)
``unix``        int64                  epoch in ``unix.precision`` (ms by default)
``Date``        date32                 the day (time cut off, UTC)
``Time``        time32[ms]             the time of day (UTC)
``Timestamp``   timestamp[ms]          the instant
==============  =====================  ===========================================

The input kind comes from the schema (Timestamp/Date/Time logical types, STRING = text in
``format``, INT64 = unix) or, schemaless, from the value (a timestamp/date/time, a long, a
string). Everything passes through epoch milliseconds: sub-millisecond precision is lost,
as in Kafka. Null stays null. With a ``field`` the value must be a struct (schemaless: a
map); a schemaless map gets the field added (null) when it is missing.

Every step is a numpy/Arrow operation over the whole column; SimpleDateFormat patterns are
compiled once (see :mod:`engine.transforms._date_format`). Schemaless map columns (Arrow
``map``, not ``struct``) cannot take a converted field of another type and fail.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from engine.spi import record
from engine.spi import schema as cs
from engine.spi.config import NO_DEFAULT, ConfigDef, Importance, Type, ValidString
from engine.spi.errors import ConfigError, DataError
from engine.transforms._common import (
    REPLACE_NULL_WITH_DEFAULT,
    KeyOrValue,
    SchemaCache,
    child,
    define_replace_null_with_default,
    instant_millis,
    java_class,
    null_mask,
    require_map,
    require_struct,
    struct_array,
    valid_mask,
    with_default,
)
from engine.transforms._date_format import DAY_MS, DateFormat, DateFormatError

FIELD = "field"
TARGET_TYPE = "target.type"
FORMAT = "format"
UNIX_PRECISION = "unix.precision"
PURPOSE = "converting timestamp formats"

STRING, UNIX, DATE, TIME, TIMESTAMP = "string", "unix", "Date", "Time", "Timestamp"
TARGETS: dict[str, pa.DataType] = {
    STRING: pa.string(),
    UNIX: pa.int64(),
    DATE: pa.date32(),
    TIME: pa.time32("ms"),
    TIMESTAMP: pa.timestamp("ms"),
}
_UNITS = {"milliseconds": 1, "seconds": 1000, "microseconds": -1000, "nanoseconds": -1_000_000}
"""Milliseconds per unit (positive) or units per millisecond (negative)."""
_LONG_MAX = 2**63 - 1
_BAD_PATTERN = "TimestampConverter requires a SimpleDateFormat-compatible pattern for string timestamps: "
_NO_FORMAT = "TimestampConverter requires format option to be specified when using string timestamps"


def schema_text(f: pa.Field) -> str:
    """``ConnectSchema.toString``: ``Schema{INT32}`` or ``Schema{name:INT32}``."""
    kind = cs.connect_type(f.type).upper().replace("FLOAT", "FLOAT32").replace("DOUBLE", "FLOAT64")
    name = cs.schema_name(f)
    return f"Schema{{{name}:{kind}}}" if name else f"Schema{{{kind}}}"


def kind_of_schema(f: pa.Field) -> str | None:
    """``timestampTypeFromSchema``: the input kind a schema stands for, or None."""
    name = cs.schema_name(f)
    if name == cs.TIMESTAMP:
        return TIMESTAMP
    if name == cs.DATE:
        return DATE
    if name == cs.TIME:
        return TIME
    kind = cs.connect_type(f.type) if not pa.types.is_null(f.type) else None
    if kind == cs.STRING:
        return STRING
    if kind == cs.INT64:
        return UNIX
    return None


def kind_of_value(t: pa.DataType) -> str | None:
    """``inferTimestampType`` on schemaless data: a java.util.Date, a Long or a String; else None."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t):
        return TIMESTAMP
    if pa.types.is_int64(t):
        return UNIX
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return STRING
    return None


@dataclass(frozen=True, slots=True)
class _Plan:
    """Field mode with a schema: where the field is, its input kind and the output struct field."""

    index: int
    kind: str | None
    error: str | None
    out: pa.Field


class TimestampConverter(KeyOrValue):
    """``org.apache.kafka.connect.transforms.TimestampConverter``: base of the Key and Value variants."""

    column: ClassVar[str] = record.VALUE

    def __init__(self) -> None:
        self._field = ""
        self._target = TIMESTAMP
        self._format: DateFormat | None = None
        self._unit = 1
        self._replace_null = True
        self._plans: SchemaCache[_Plan] = SchemaCache()

    @classmethod
    def config_def(cls) -> ConfigDef:
        config = (
            ConfigDef()
            .define(
                FIELD,
                Type.STRING,
                "",
                None,
                Importance.HIGH,
                "The field containing the timestamp, or empty if the entire value is a timestamp",
            )
            .define(
                TARGET_TYPE,
                Type.STRING,
                NO_DEFAULT,
                ValidString.in_(STRING, UNIX, DATE, TIME, TIMESTAMP),
                Importance.HIGH,
                "The desired timestamp representation: string, unix, Date, Time, or Timestamp",
            )
            .define(
                FORMAT,
                Type.STRING,
                "",
                None,
                Importance.MEDIUM,
                "A SimpleDateFormat-compatible format for the timestamp. Used to generate the output when "
                "type=string or used to parse the input if the input is a string.",
            )
            .define(
                UNIX_PRECISION,
                Type.STRING,
                "milliseconds",
                ValidString.in_("nanoseconds", "microseconds", "milliseconds", "seconds"),
                Importance.LOW,
                "The desired Unix precision for the timestamp: seconds, milliseconds, microseconds, or "
                "nanoseconds. Used to generate the output when type=unix or used to parse the input if the "
                "input is a Long.Note: This SMT will cause precision loss during conversions from, and to, "
                "values with sub-millisecond components.",
            )
        )
        return define_replace_null_with_default(config)

    def configure(self, configs: Mapping[str, str]) -> None:
        values = self.config_def().parse(configs)
        self._field = str(values[FIELD])
        self._target = str(values[TARGET_TYPE])
        pattern = str(values[FORMAT])
        self._unit = _UNITS[str(values[UNIX_PRECISION])]
        self._replace_null = bool(values[REPLACE_NULL_WITH_DEFAULT])
        if self._target == STRING and not pattern.strip():
            raise ConfigError(_NO_FORMAT, key=FORMAT)
        self._format = None
        if pattern.strip():
            try:
                self._format = DateFormat(pattern)
            except DateFormatError as err:
                raise ConfigError(
                    f"Invalid value java.lang.IllegalArgumentException: {err} for configuration "
                    f"{_BAD_PATTERN}{pattern}",
                    key=FORMAT,
                ) from None
        self._plans = SchemaCache()

    # ------------------------------------------------------------------ batches

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        f, arr = self.operand(batch)
        if cs.is_schemaless(f):
            out_field, out = self._schemaless(f, arr)
        elif not self._field:
            out_field, out = self._whole(f, arr)
        else:
            out_field, out = self._in_struct(f, arr)
        return self.with_operand(batch, out_field, out)

    def _whole(self, f: pa.Field, arr: pa.Array) -> tuple[pa.Field, pa.Array]:
        kind = kind_of_schema(f)
        if kind is None:
            if len(arr):
                message = f"Schema {schema_text(f)} does not correspond to a known timestamp type format"
                raise DataError(message, rows=range(len(arr)))
            return pa.field(f.name, TARGETS[self._target], nullable=f.nullable), pa.nulls(
                0, TARGETS[self._target]
            )
        return pa.field(f.name, TARGETS[self._target], nullable=f.nullable), self.convert(arr, kind)

    def _in_struct(self, f: pa.Field, arr: pa.Array) -> tuple[pa.Field, pa.Array]:
        require_struct(f, arr, PURPOSE, null_ok=True)
        if not pa.types.is_struct(f.type):
            return f, arr  # only nulls
        plan = self._plans.get(f, self._plan)
        columns = [child(arr, sub.name) for sub in f.type]
        if self._replace_null:
            columns = [with_default(c, sub) for c, sub in zip(columns, f.type, strict=True)]
        if plan.index >= 0:
            target = columns[plan.index]
            if plan.error is not None:
                parents = valid_mask(arr)
                if parents.any():
                    raise DataError(plan.error, rows=np.flatnonzero(parents).tolist())
                columns[plan.index] = pa.nulls(len(arr), TARGETS[self._target])
            else:
                assert plan.kind is not None
                columns[plan.index] = self.convert(target, plan.kind)
        return plan.out, struct_array(columns, list(plan.out.type), len(arr), null_mask(arr))

    def _plan(self, f: pa.Field) -> _Plan:
        index = f.type.get_field_index(self._field)
        kind: str | None = None
        error: str | None = None
        fields = list(f.type)
        if index >= 0:
            sub = fields[index]
            kind = kind_of_schema(sub)
            if kind is None:
                error = f"Schema {schema_text(sub)} does not correspond to a known timestamp type format"
            fields[index] = pa.field(sub.name, TARGETS[self._target], nullable=sub.nullable)
        meta = {k: v for k, v in (f.metadata or {}).items() if k != cs.META_DEFAULT}
        if cs.has_default(f) and cs.schema_default(f) is not None and index >= 0 and kind is not None:
            meta[cs.META_DEFAULT] = _default_text(
                cs.schema_default(f), f.type.field(index), fields[index], self
            )
        elif cs.has_default(f):
            meta[cs.META_DEFAULT] = (f.metadata or {})[cs.META_DEFAULT]
        out = pa.field(f.name, pa.struct(fields), nullable=f.nullable, metadata=meta or None)
        return _Plan(index, kind, error, out)

    def _schemaless(self, f: pa.Field, arr: pa.Array) -> tuple[pa.Field, pa.Array]:
        if not self._field:
            values = self._schemaless_values(arr)
            return cs.field(f.name, values.type, schemaless=True), values
        require_map(f, arr, PURPOSE, null_ok=True)
        n = len(arr)
        if pa.types.is_map(f.type):
            if arr.null_count < n:
                raise DataError(
                    f"TimestampConverter cannot set field {self._field} of a schemaless map column of "
                    f"{f.type}; its values have one type",
                    rows=np.flatnonzero(valid_mask(arr)).tolist(),
                )
            return f, arr
        if not pa.types.is_struct(f.type):
            return f, arr  # only nulls
        columns = [child(arr, sub.name) for sub in f.type]
        fields = list(f.type)
        index = f.type.get_field_index(self._field)
        if index >= 0:
            columns[index] = self._schemaless_values(columns[index])
            fields[index] = pa.field(self._field, columns[index].type)
        else:
            columns.append(pa.nulls(n, TARGETS[self._target]))
            fields.append(pa.field(self._field, TARGETS[self._target]))
        values = struct_array(columns, fields, n, null_mask(arr))
        return cs.field(f.name, values.type, schemaless=True), values

    def _schemaless_values(self, arr: pa.Array) -> pa.Array:
        if pa.types.is_null(arr.type):
            return pa.nulls(len(arr), TARGETS[self._target])
        kind = kind_of_value(arr.type)
        if kind is None:
            if arr.null_count == len(arr):
                return pa.nulls(len(arr), TARGETS[self._target])
            name = java_class(arr.type, True)
            raise DataError(
                f"TimestampConverter does not support class {name} objects as timestamps",
                rows=np.flatnonzero(valid_mask(arr)).tolist(),
            )
        return self.convert(arr, kind)

    # ------------------------------------------------------------------ conversion

    def convert(self, arr: pa.Array, kind: str) -> pa.Array:
        """Values of input ``kind`` → the target type (null stays null)."""
        return self.from_millis(self.to_millis(arr, kind))

    def to_millis(self, arr: pa.Array, kind: str) -> pa.Array:
        """Epoch milliseconds (int64) of values of an input kind; DataError names unparsable rows."""
        if pa.types.is_dictionary(arr.type):
            arr = arr.dictionary_decode()
        if kind == STRING:
            if self._format is None:
                if arr.null_count < len(arr):
                    raise DataError(_NO_FORMAT, rows=np.flatnonzero(valid_mask(arr)).tolist())
                return pa.nulls(len(arr), pa.int64())
            millis, bad = self._format.parse(arr)
            if bad:
                raise DataError(
                    f"Could not parse timestamp: value ({arr[bad[0]].as_py()}) does not match pattern "
                    f"({self._format.pattern})",
                    rows=bad,
                )
            return millis
        if kind == UNIX:
            return _scale(arr.cast(pa.int64()), self._unit)
        if pa.types.is_temporal(arr.type):
            return instant_millis(arr)
        return arr.cast(pa.int64())

    def from_millis(self, millis: pa.Array) -> pa.Array:
        """Epoch milliseconds → the target type."""
        target = self._target
        if target == STRING:
            assert self._format is not None
            return self._format.format(millis)
        if target == UNIX:
            return _scale(millis, -self._unit if self._unit != 1 else 1)
        if target == TIMESTAMP:
            return millis.view(pa.timestamp("ms"))
        values = np.asarray(millis.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
        mask = (
            np.asarray(millis.is_null().to_numpy(zero_copy_only=False), bool) if millis.null_count else None
        )
        if target == DATE:
            days = np.floor_divide(values, DAY_MS).astype(np.int32)
            return pa.array(days, pa.int32(), mask=mask).view(pa.date32())
        clock = np.mod(values, DAY_MS).astype(np.int32)
        return pa.array(clock, pa.int32(), mask=mask).view(pa.time32("ms"))


def _null_flags(values: pa.Array) -> np.ndarray | None:
    return np.asarray(values.is_null().to_numpy(zero_copy_only=False), bool) if values.null_count else None


def _scale(values: pa.Array, unit: int) -> pa.Array:
    """Java's ``TimeUnit`` conversion: ``unit`` > 0 multiplies (saturating), < 0 divides (toward zero)."""
    if unit == 1:
        return values
    raw = np.asarray(values.fill_null(0).to_numpy(zero_copy_only=False), np.int64)
    mask = _null_flags(values)
    if unit > 0:
        limit = _LONG_MAX // unit
        with np.errstate(over="ignore"):
            out = raw * unit
        out = np.where(raw > limit, _LONG_MAX, np.where(raw < -limit, -_LONG_MAX - 1, out))
    else:
        divisor = -unit
        out = np.floor_divide(raw, divisor)
        out = out + ((raw % divisor != 0) & (raw < 0))
    return pa.array(out, pa.int64(), mask=mask)


def _default_text(payload: Any, sub: pa.Field, converted: pa.Field, owner: TimestampConverter) -> bytes:
    """A struct default (JsonConverter payload form) with its timestamp field converted too."""
    if not isinstance(payload, dict):
        return json.dumps(payload, separators=(",", ":")).encode()
    value = payload.get(sub.name)
    if value is None:
        return json.dumps(payload, separators=(",", ":")).encode()
    kind = kind_of_schema(sub)
    assert kind is not None
    storage = _payload_array(value, sub.type)
    out = owner.convert(storage, kind)[0].as_py()
    updated = dict(payload)
    updated[sub.name] = _payload_of(out, converted.type)
    return json.dumps(updated, separators=(",", ":")).encode()


def _payload_array(value: Any, t: pa.DataType) -> pa.Array:
    if pa.types.is_timestamp(t):
        return pa.array([value], pa.int64()).cast(t)
    if pa.types.is_date32(t) or pa.types.is_time32(t):
        return pa.array([value], pa.int32()).view(t)
    return pa.array([value], t)


def _payload_of(value: Any, t: pa.DataType) -> Any:
    """A converted default value in JsonConverter payload form (days, millis of day, epoch millis)."""
    if pa.types.is_date32(t):
        return (value - dt.date(1970, 1, 1)).days
    if pa.types.is_time32(t):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + value.microsecond // 1000
    if pa.types.is_timestamp(t):
        return pa.scalar(value, pa.timestamp("ms")).cast(pa.int64()).as_py()
    return value


class TimestampConverterKey(TimestampConverter):
    """``TimestampConverter$Key``: converts the record key (or a field of it)."""

    column = record.KEY
    aliases = ("org.apache.kafka.connect.transforms.TimestampConverter$Key",)


class TimestampConverterValue(TimestampConverter):
    """``TimestampConverter$Value``: converts the record value (or a field of it)."""

    column = record.VALUE
    aliases = ("org.apache.kafka.connect.transforms.TimestampConverter$Value",)
