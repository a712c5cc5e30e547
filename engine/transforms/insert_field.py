"""InsertField: add record metadata or a static value as fields (Kafka's ``InsertField``).

The inserted columns come straight from the envelope (topic, partition, offset, timestamp)
or are one constant (``static.value``). With a schema the output struct appends fields
typed STRING, INT32, INT64, ``Timestamp`` and STRING, optional unless the name ends with
``!``. Schemaless (Kafka's ``Map``), the timestamp is epoch milliseconds (a long), and the
partition and timestamp are only put where they are not null. The offset exists only on
sink records: a record without one (a source record) cannot get an offset field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    is_map_like,
    null_mask,
    require_map,
    require_struct,
    struct_array,
    valid_mask,
    with_default,
)

TOPIC_FIELD = "topic.field"
PARTITION_FIELD = "partition.field"
OFFSET_FIELD = "offset.field"
TIMESTAMP_FIELD = "timestamp.field"
STATIC_FIELD = "static.field"
STATIC_VALUE = "static.value"
PURPOSE = "field insertion"
_OPTIONALITY_DOC = (
    "Suffix with <code>!</code> to make this a required field, or <code>?</code> to keep it optional "
    "(the default)."
)
_SOURCE_RECORD = (
    f"Only SinkRecord supported for [{PURPOSE}], found: org.apache.kafka.connect.source.SourceRecord"
)


@dataclass(frozen=True)
class Spec:
    """Kafka's ``InsertionSpec``: a field name, optional unless it ended with ``!``."""

    name: str
    optional: bool

    @classmethod
    def parse(cls, text: str | None) -> Spec | None:
        if text is None:
            return None
        if text.endswith("?"):
            return cls(text[:-1], True)
        if text.endswith("!"):
            return cls(text[:-1], False)
        return cls(text, True)


@dataclass(frozen=True)
class _Plan:
    output: pa.Field
    error: str | None = None


class InsertField(KeyOrValue):
    """``org.apache.kafka.connect.transforms.InsertField``: base of the Key and Value variants."""

    column: ClassVar[str] = record.VALUE

    def __init__(self) -> None:
        self._topic: Spec | None = None
        self._partition: Spec | None = None
        self._offset: Spec | None = None
        self._timestamp: Spec | None = None
        self._static: Spec | None = None
        self._static_value: str | None = None
        self._replace_null = True
        self._plans: SchemaCache[_Plan] = SchemaCache()

    @classmethod
    def config_def(cls) -> ConfigDef:
        config = ConfigDef()
        for name, doc in (
            (TOPIC_FIELD, "Field name for Kafka topic. "),
            (PARTITION_FIELD, "Field name for Kafka partition. "),
            (OFFSET_FIELD, "Field name for Kafka offset - only applicable to sink connectors.<br/>"),
            (TIMESTAMP_FIELD, "Field name for record timestamp. "),
            (STATIC_FIELD, "Field name for static data field. "),
        ):
            config.define(name, Type.STRING, None, None, Importance.MEDIUM, doc + _OPTIONALITY_DOC)
        config.define(
            STATIC_VALUE,
            Type.STRING,
            None,
            None,
            Importance.MEDIUM,
            "Static field value, if field name configured.",
        )
        return define_replace_null_with_default(config)

    def configure(self, configs: Mapping[str, str]) -> None:
        values = self.config_def().parse(configs)
        self._topic = Spec.parse(values[TOPIC_FIELD])
        self._partition = Spec.parse(values[PARTITION_FIELD])
        self._offset = Spec.parse(values[OFFSET_FIELD])
        self._timestamp = Spec.parse(values[TIMESTAMP_FIELD])
        self._static = Spec.parse(values[STATIC_FIELD])
        self._static_value = values[STATIC_VALUE]
        self._replace_null = bool(values[REPLACE_NULL_WITH_DEFAULT])
        if not any((self._topic, self._partition, self._offset, self._timestamp, self._static)):
            raise ConfigError("No field insertion configured")
        if self._static is not None and self._static_value is None:
            raise ConfigError(
                f"Invalid value null for configuration {STATIC_VALUE}: No value specified for static field: "
                f"{values[STATIC_FIELD]}",
                key=STATIC_VALUE,
            )
        self._plans = SchemaCache()

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        f, arr = self.operand(batch)
        if len(arr) and arr.null_count == len(arr) and not cs.is_schemaless(f):
            return batch  # only tombstones: returned unchanged, with their schema
        valid = valid_mask(arr)
        plan = None
        if cs.is_schemaless(f):
            require_map(f, arr, PURPOSE, null_ok=True)
        else:
            require_struct(f, arr, PURPOSE, null_ok=True)
            plan = self._plans.get(f, self._plan)
            if plan.error is not None:
                raise DataError(plan.error, rows=np.flatnonzero(valid).tolist())
        if self._offset is not None:
            sources = valid & ~valid_mask(batch.column(record.OFFSET))
            if sources.any():
                raise DataError(_SOURCE_RECORD, rows=np.flatnonzero(sources).tolist())
        if plan is None:
            return self._schemaless(batch, f, arr)
        parent_valid = arr.is_valid() if arr.null_count else None
        columns = []
        for c in f.type:
            values = child(arr, c.name)
            columns.append(with_default(values, c, parent_valid) if self._replace_null else values)
        columns.extend(values for _, values in self._inserted(batch, schemaless=False))
        out = plan.output.with_nullable(arr.null_count > 0)
        return self.with_operand(batch, out, struct_array(columns, list(out.type), len(arr), null_mask(arr)))

    def _specs(self) -> list[tuple[Spec, pa.DataType]]:
        found = [
            (self._topic, pa.string()),
            (self._partition, pa.int32()),
            (self._offset, pa.int64()),
            (self._timestamp, pa.timestamp("ms")),
            (self._static, pa.string()),
        ]
        return [(spec, t) for spec, t in found if spec is not None]

    def _plan(self, f: pa.Field) -> _Plan:
        fields = list(f.type)
        names = {c.name for c in fields}
        for spec, t in self._specs():
            if spec.name in names:
                return _Plan(f, f"Cannot create field because of field name duplication {spec.name}")
            names.add(spec.name)
            fields.append(pa.field(spec.name, t, nullable=spec.optional))
        meta = {k: v for k, v in (f.metadata or {}).items() if k != cs.META_DEFAULT}
        return _Plan(pa.field(f.name, pa.struct(fields), nullable=False, metadata=meta or None))

    def _inserted(self, batch: pa.RecordBatch, schemaless: bool) -> list[tuple[str, pa.Array]]:
        """(field name, values) in Kafka's order of puts; null means "not put" for partition/timestamp."""
        n = batch.num_rows
        out: list[tuple[str, pa.Array]] = []
        if self._topic is not None:
            topics = batch.column(record.TOPIC)
            if pa.types.is_dictionary(topics.type):
                topics = topics.dictionary_decode()
            out.append((self._topic.name, topics.cast(pa.string())))
        if self._partition is not None:
            out.append((self._partition.name, batch.column(record.PARTITION).cast(pa.int32())))
        if self._offset is not None:
            out.append((self._offset.name, batch.column(record.OFFSET).cast(pa.int64())))
        if self._timestamp is not None:
            ts = pc.cast(batch.column(record.TIMESTAMP), pa.timestamp("ms"), safe=False)
            out.append((self._timestamp.name, ts.view(pa.int64()) if schemaless else ts))
        if self._static is not None:
            out.append((self._static.name, pa.repeat(pa.scalar(self._static_value, pa.string()), n)))
        return out

    def _schemaless(self, batch: pa.RecordBatch, f: pa.Field, arr: pa.Array) -> pa.RecordBatch:
        if not is_map_like(f):
            return batch  # no maps at all: only nulls
        if not pa.types.is_struct(f.type):
            raise DataError(
                "InsertField on schemaless map columns is not supported; use struct columns",
                rows=np.flatnonzero(valid_mask(arr)).tolist(),
            )
        names = [c.name for c in f.type]
        columns = [child(arr, c.name) for c in f.type]
        keep_old = {
            self._partition.name if self._partition else None,
            self._timestamp.name if self._timestamp else None,
        }
        for name, values in self._inserted(batch, schemaless=True):
            if name not in names:
                names.append(name)
                columns.append(values)
                continue
            i = names.index(name)
            columns[i] = _put(columns[i], values, keep_old=name in keep_old)
        fields = [pa.field(n, c.type) for n, c in zip(names, columns, strict=True)]
        values = struct_array(columns, fields, len(arr), null_mask(arr))
        return self.with_operand(batch, cs.field(f.name, values.type, schemaless=True), values)


def _put(old: pa.Array, new: pa.Array, keep_old: bool) -> pa.Array:
    """``map.put`` of a column, skipped where ``new`` is null when ``keep_old``."""
    if not keep_old or new.null_count == 0 or old.null_count == len(old):
        return new
    if old.type == new.type:
        return pc.coalesce(new, old)
    clash = valid_mask(old) & ~valid_mask(new)
    if not clash.any():
        return new
    raise DataError(
        "InsertField would mix value types in one schemaless field: the new values are "
        f"{new.type}, the values it keeps are {old.type}",
        rows=np.flatnonzero(clash).tolist(),
    )


class InsertFieldKey(InsertField):
    """``InsertField$Key``: inserts fields into the record key."""

    column = record.KEY
    aliases = ("org.apache.kafka.connect.transforms.InsertField$Key",)


class InsertFieldValue(InsertField):
    """``InsertField$Value``: inserts fields into the record value."""

    column = record.VALUE
    aliases = ("org.apache.kafka.connect.transforms.InsertField$Value",)
