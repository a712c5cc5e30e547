"""What the built-in transforms share: the $Key/$Value split, struct access, schema caches.

* :class:`KeyOrValue` is the base of every ``X$Key`` / ``X$Value`` pair: a subclass sets
  ``column`` (:data:`~engine.spi.record.KEY` or :data:`~engine.spi.record.VALUE`) and uses
  :meth:`KeyOrValue.operand` / :meth:`KeyOrValue.with_operand` to read and replace the
  column it works on (the Arrow field carries the Connect schema, see
  :mod:`engine.spi.schema`).
* :func:`replace_column` swaps one column (and its field) of a batch.
* :func:`child` / :func:`path_child` read a struct field (or a nested path) with the parent's
  nulls applied; :func:`parse_field_path` is Kafka's ``SingleFieldPath`` (``V1`` / ``V2``).
* :class:`SchemaCache` builds output schemas once per input schema (Kafka's LRU(16));
  :func:`field_key` is the cache key (type, nullability *and* every nested metadata).
* :func:`default_scalar` / :func:`with_default` implement ``replace.null.with.default``.
* :func:`require_map` / :func:`require_struct` raise :class:`DataError` with Kafka's texts
  (``Requirements``), naming the bad rows; :func:`java_class` names an Arrow value as the
  Java class Kafka would print.
* :func:`append_headers` adds headers to every row of the headers column.
* :func:`java_float_text`, :func:`base64_text`, :func:`date_text` print values as Java does
  (``Double.toString``, ``Base64``, ``Values.dateFormatFor``), vectorized;
  :func:`header_bytes` writes header values as ``SimpleHeaderConverter`` does.

Schemaless data (a struct column whose field is marked with
:func:`engine.spi.schema.is_schemaless`) stands for Kafka's ``Map``: a key absent from the
batch's inferred struct type and a key whose value is null are the same thing.
"""

from __future__ import annotations

import base64
import decimal
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi import schema as cs
from engine.spi.config import CaseInsensitiveValidString, ConfigDef, Importance, LambdaValidator, Type
from engine.spi.errors import ConfigError, DataError
from engine.spi.transform import Transformation
from engine.spi.values import header_text, java_float_text

T = TypeVar("T")

DAY_MS = 86_400_000

REPLACE_NULL_WITH_DEFAULT = "replace.null.with.default"
REPLACE_NULL_WITH_DEFAULT_DOC = (
    "Whether to replace fields that have a default value and that are null to the default value. "
    "When set to true, the default value is used, otherwise null is used."
)
FIELD_SYNTAX_VERSION = "field.syntax.version"
FIELD_SYNTAX_VERSION_DOC = (
    "Defines the version of the syntax to access fields. If set to `V1`, then the field paths are "
    "limited to access the elements at the root level of the struct or map. If set to `V2`, the syntax "
    "will support accessing nested elements. To access nested elements, dotted notation is used. If dots "
    "are already included in the field name, then backtick pairs can be used to wrap field names "
    'containing dots. E.g. to access the subfield `baz` from a field named "foo.bar" in a struct/map the '
    'following format can be used to access its elements: "`foo.bar`.baz".'
)

# ------------------------------------------------------------------------------ config


def _non_empty_list(name: str, value: Any) -> None:
    if not value:
        raise ValueError("Empty list")


NON_EMPTY_LIST = LambdaValidator(_non_empty_list, "non-empty list")
"""Kafka's ``NonEmptyListValidator``: ``Invalid value [] for configuration k: Empty list``."""


def define_replace_null_with_default(config: ConfigDef) -> ConfigDef:
    return config.define(
        REPLACE_NULL_WITH_DEFAULT, Type.BOOLEAN, True, None, Importance.MEDIUM, REPLACE_NULL_WITH_DEFAULT_DOC
    )


def define_field_syntax_version(config: ConfigDef) -> ConfigDef:
    """Kafka's ``FieldSyntaxVersion.appendConfigTo`` (KIP-821)."""
    return config.define(
        FIELD_SYNTAX_VERSION,
        Type.STRING,
        "V1",
        CaseInsensitiveValidString.in_("V1", "V2"),
        Importance.HIGH,
        FIELD_SYNTAX_VERSION_DOC,
    )


# ------------------------------------------------------------------------------ key / value


class KeyOrValue(Transformation):
    """Base of a transform with ``$Key`` and ``$Value`` variants.

    The two variants are two subclasses that differ only in ``column`` (and ``aliases``)::

        class CastKey(Cast):
            column = KEY
            aliases = ("org.apache.kafka.connect.transforms.Cast$Key",)
    """

    column: ClassVar[str] = record.VALUE

    def operand(self, batch: pa.RecordBatch) -> tuple[pa.Field, pa.Array]:
        """The field (Connect schema) and the array this variant works on."""
        i = batch.schema.get_field_index(self.column)
        if i < 0:
            raise DataError(f"The batch has no {self.column} column")
        return batch.schema.field(i), batch.column(i)

    def with_operand(self, batch: pa.RecordBatch, field: pa.Field, array: pa.Array) -> pa.RecordBatch:
        """``batch`` with this variant's column replaced (the field is renamed to the column)."""
        return replace_column(batch, self.column, field, array)


def replace_column(batch: pa.RecordBatch, name: str, field: pa.Field, array: pa.Array) -> pa.RecordBatch:
    """``batch`` with column ``name`` replaced by ``array`` typed by ``field`` (renamed to ``name``)."""
    i = batch.schema.get_field_index(name)
    if i < 0:
        raise DataError(f"The batch has no {name} column")
    return batch.set_column(i, field.with_name(name), array)


def rows(mask: pa.Array | np.ndarray) -> list[int]:
    """Indices where a boolean mask is true (nulls count as false)."""
    if isinstance(mask, np.ndarray):
        out: list[int] = np.flatnonzero(mask).tolist()
        return out
    flags = np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), bool)
    found: list[int] = np.flatnonzero(flags).tolist()
    return found


def valid_mask(array: pa.Array) -> np.ndarray:
    """A numpy bool array, true where ``array`` is not null."""
    if array.null_count == 0:
        return np.ones(len(array), bool)
    return np.asarray(array.is_valid().to_numpy(zero_copy_only=False), bool)


# ------------------------------------------------------------------------------ errors


def is_map_like(field: pa.Field) -> bool:
    """A schemaless value that stands for a Kafka ``Map``: a struct or a map column."""
    return bool(pa.types.is_struct(field.type) or pa.types.is_map(field.type))


def java_class(t: pa.DataType, schemaless: bool) -> str:
    """The Java class of a Connect value of Arrow type ``t`` (Kafka's ``nullSafeClassName``)."""
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t):
        return "null"
    if pa.types.is_struct(t):
        return "java.util.HashMap" if schemaless else "org.apache.kafka.connect.data.Struct"
    if pa.types.is_map(t):
        return "java.util.HashMap"
    if pa.types.is_decimal(t):
        return "java.math.BigDecimal"
    if pa.types.is_temporal(t):
        return "java.util.Date"
    names = {
        cs.INT8: "java.lang.Byte",
        cs.INT16: "java.lang.Short",
        cs.INT32: "java.lang.Integer",
        cs.INT64: "java.lang.Long",
        cs.FLOAT32: "java.lang.Float",
        cs.FLOAT64: "java.lang.Double",
        cs.BOOLEAN: "java.lang.Boolean",
        cs.STRING: "java.lang.String",
        cs.BYTES: "[B",
        cs.ARRAY: "java.util.ArrayList",
    }
    return names.get(cs.connect_type(t), "java.lang.Object")


def require_map(field: pa.Field, array: pa.Array, purpose: str, null_ok: bool) -> None:
    """Kafka's ``requireMap`` (``requireMapOrNull`` when ``null_ok``) over a schemaless column.

    A non-struct column fails on every non-null row (and, unless ``null_ok``, on null rows
    with ``found: null``); a struct column fails only on null rows when not ``null_ok``.
    """
    base = f"Only Map objects supported in absence of schema for [{purpose}], found: "
    valid = valid_mask(array)
    if not is_map_like(field):
        bad = valid if null_ok else np.ones(len(array), bool)
        if bad.any():
            found = java_class(field.type, True) if valid[bad][0] else "null"
            raise DataError(base + found, rows=rows(bad))
    elif not null_ok and not valid.all():
        raise DataError(base + "null", rows=rows(~valid))


def require_struct(field: pa.Field, array: pa.Array, purpose: str, null_ok: bool) -> None:
    """Kafka's ``requireStruct`` (``requireStructOrNull`` when ``null_ok``) over a column with schema."""
    base = f"Only Struct objects supported for [{purpose}], found: "
    valid = valid_mask(array)
    if not pa.types.is_struct(field.type):
        bad = valid if null_ok else np.ones(len(array), bool)
        if bad.any():
            found = java_class(field.type, False) if valid[bad][0] else "null"
            raise DataError(base + found, rows=rows(bad))
    elif not null_ok and not valid.all():
        raise DataError(base + "null", rows=rows(~valid))


def require_schema(field: pa.Field, array: pa.Array, purpose: str) -> None:
    """Kafka's ``requireSchema``: fails on every row of a schemaless column."""
    if cs.is_schemaless(field) and len(array):
        raise DataError(f"Schema required for [{purpose}]", rows=range(len(array)))


# ------------------------------------------------------------------------------ struct access


def struct_array(
    columns: Sequence[pa.Array], fields: Sequence[pa.Field], length: int, mask: pa.Array | None = None
) -> pa.StructArray:
    """``pa.StructArray.from_arrays`` that also works with no fields; ``mask`` true = null row."""
    if fields:
        return pa.StructArray.from_arrays(list(columns), fields=list(fields), mask=mask)
    validity = None
    if mask is not None and pc.any(mask).as_py():
        validity = pc.invert(mask).buffers()[1]
    return pa.StructArray.from_buffers(pa.struct([]), length, [validity], null_count=-1 if validity else 0)


def null_mask(array: pa.Array) -> pa.Array | None:
    """``array.is_null()`` when it has nulls, else None (the ``mask`` of :func:`struct_array`)."""
    return array.is_null() if array.null_count else None


def child(array: pa.Array, name: str) -> pa.Array:
    """Struct field ``name`` of ``array`` with the parent's nulls applied."""
    return pc.struct_field(array, [array.type.get_field_index(name)])


def child_field(field: pa.Field, name: str) -> pa.Field | None:
    """The field named ``name`` of a struct field, or None."""
    t = field.type
    if not pa.types.is_struct(t):
        return None
    i = t.get_field_index(name)
    return None if i < 0 else t.field(i)


def path_field(field: pa.Field, steps: Sequence[str]) -> pa.Field | None:
    """``SingleFieldPath.fieldFrom``: the field at a nested path, or None."""
    current: pa.Field | None = field
    for step in steps:
        if current is None:
            return None
        current = child_field(current, step)
    return current


def path_child(array: pa.Array, field: pa.Field, steps: Sequence[str], replace_null: bool) -> pa.Array:
    """``SingleFieldPath.valueFrom``: the values at a path (null where a step is null).

    With ``replace_null`` a null field whose schema has a default reads as the default (at
    every step, as ``Struct.get`` does), except where the parent itself is null.
    """
    current, f = array, field
    for step in steps:
        sub = child_field(f, step)
        if sub is None:
            raise DataError(f"Unknown field: {step}")
        parent_valid = current.is_valid() if current.null_count else None
        current, f = child(current, step), sub
        if replace_null:
            current = with_default(current, f, parent_valid)
    return current


def parse_field_path(text: str, version: str) -> tuple[str, ...]:
    """Kafka's ``SingleFieldPath``: ``V1`` is one top-level name, ``V2`` a dotted path.

    In ``V2`` backticks quote a step containing dots (``"`foo.bar`.baz"``) and a backslash
    escapes a backtick inside quotes; a trailing dot adds an empty last step.
    """
    if version.upper() == "V1":
        return (text,)
    steps: list[str] = []
    idx, n = 0, len(text)
    while 0 <= idx < n:
        if text[idx] != "`":
            start = idx
            idx = text.find(".", idx)
            if idx >= 0:
                steps.append(text[start:idx])
                idx += 1
            else:
                steps.append(text[start:])
            continue
        backtick_at = idx
        idx += 1
        part: list[str] = []
        start = idx
        while True:
            idx = text.find("`", idx)
            if idx == -1:
                _incomplete_backticks(text, backtick_at)
            escaped = text[idx - 1] == "\\"
            if idx >= n - 1:
                if escaped:
                    _incomplete_backticks(text, backtick_at)
                part.append(text[start:idx])
                steps.append("".join(part))
                idx += 1
                break
            if text[idx + 1] != ".":
                idx += 1
                continue
            if escaped:
                part.append(text[start : idx - 1] + "`")
                idx += 1
                start = idx
                continue
            part.append(text[start:idx])
            steps.append("".join(part))
            idx += 2
            break
    if text.endswith("."):
        steps.append("")
    return tuple(steps)


def _incomplete_backticks(path: str, at: int) -> None:
    raise ConfigError(
        f"Incomplete backtick pair in path: [{path}], consider adding a backslash before backtick at "
        f"position {at} to escape it"
    )


# ------------------------------------------------------------------------------ schema cache


def field_key(field: pa.Field) -> bytes:
    """A cache key for a field: name, type, nullability and all nested metadata.

    (``pa.Field.__eq__`` and ``pa.DataType.__eq__`` ignore nested metadata, which carries
    Connect schema names, versions and defaults.)
    """
    return bytes(pa.schema([field]).serialize())


class SchemaCache(Generic[T]):
    """What a transform derives from an input schema, built once per schema (LRU, 16 entries).

    ``cache.get(field, build)`` returns ``build(field)`` computed at most once per distinct
    input field (see :func:`field_key`).
    """

    def __init__(self, size: int = 16) -> None:
        self._size = size
        self._entries: OrderedDict[bytes, T] = OrderedDict()

    def get(self, field: pa.Field, build: Callable[[pa.Field], T]) -> T:
        key = field_key(field)
        hit = self._entries.get(key)
        if hit is not None:
            self._entries.move_to_end(key)
            return hit
        value = build(field)
        self._entries[key] = value
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return value


# ------------------------------------------------------------------------------ defaults


def py_default(payload: Any, field: pa.Field) -> Any:
    """A default in its metadata (JsonConverter payload) form → a Python value of the field's type."""
    if payload is None:
        return None
    t = field.type
    if pa.types.is_decimal(t):
        unscaled = int.from_bytes(base64.b64decode(payload), "big", signed=True)
        return decimal.Decimal(unscaled).scaleb(-t.scale)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return base64.b64decode(payload)
    if pa.types.is_struct(t):
        return {c.name: py_default(payload.get(c.name), c) for c in t}
    if pa.types.is_map(t):
        pairs = payload.items() if isinstance(payload, dict) else payload
        return [(py_default(k, t.key_field), py_default(v, t.item_field)) for k, v in pairs]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return [py_default(v, t.value_field) for v in payload]
    return payload


def default_scalar(field: pa.Field) -> pa.Scalar | None:
    """The field's Connect default as an Arrow scalar of its type, or None without one."""
    if not cs.has_default(field):
        return None
    payload = cs.schema_default(field)
    if payload is None:
        return None
    t = field.type
    if pa.types.is_temporal(t):
        storage = pa.int64() if pa.types.is_timestamp(t) else pa.int32()
        return pa.array([payload], storage).cast(t)[0]
    return pa.scalar(py_default(payload, field), t)


def with_default(array: pa.Array, field: pa.Field, where: pa.Array | None = None) -> pa.Array:
    """Null entries replaced by the field's default (``Struct.get``), if it has one.

    ``where`` (a boolean array) limits the replacement to rows where it is true: pass the
    parent struct's validity so that a null parent stays null.
    """
    default = default_scalar(field)
    if default is None or array.null_count == 0:
        return array
    if where is None:
        return array.fill_null(default)
    return pc.if_else(pc.and_(pc.is_null(array), where), default, array)


# ------------------------------------------------------------------------------ headers


def append_headers(headers: pa.Array, entries: Sequence[tuple[str, pa.Array]]) -> pa.Array:
    """The headers column with ``(key, values)`` headers appended to every row, in order.

    ``values`` are binary arrays as long as ``headers`` (a null value is a header with a
    null value). A null headers row counts as no headers. Output offsets start at zero.
    """
    n = len(headers)
    k = len(entries)
    if k == 0:
        return headers
    header_struct = record.HEADER_TYPE.value_type
    flat = headers.values
    starts = np.asarray(headers.offsets.to_numpy(zero_copy_only=False)[:-1], np.int64)
    old = np.asarray(pc.fill_null(pc.list_value_length(headers), 0).to_numpy(zero_copy_only=False), np.int64)
    lengths = old + k
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    take = np.empty(total, np.int64)
    # old entries keep their order at the start of each row
    dest_rows = np.repeat(np.arange(n), old)
    first = offsets[:-1]
    within = np.arange(int(old.sum())) - np.repeat(np.cumsum(old) - old, old)
    take[first[dest_rows] + within] = starts[dest_rows] + within
    base = len(flat)
    for j in range(k):
        take[first + old + j] = base + j * n + np.arange(n)
    keys = pa.concat_arrays([pa.repeat(pa.scalar(key, pa.string()), n) for key, _ in entries])
    vals = pa.concat_arrays([v.cast(pa.binary()) for _, v in entries])
    added = pa.StructArray.from_arrays([keys, vals], fields=list(header_struct))
    merged = pa.concat_arrays([flat.cast(header_struct), added]).take(pa.array(take))
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), merged, type=record.HEADER_TYPE)


# ------------------------------------------------------------------------------ Java text

_B64 = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)


def base64_text(arr: pa.Array) -> pa.Array:
    """Binary → padded standard base64 (``Base64.getEncoder()``); nulls stay null."""
    arr = arr.cast(pa.binary())
    n = len(arr)
    valid = valid_mask(arr)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], np.int32)[arr.offset : arr.offset + n + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    lengths = np.where(valid, np.diff(offsets), 0)
    groups = (lengths + 2) // 3
    padded = np.zeros(int(groups.sum()) * 3, np.uint8)
    dst = np.cumsum(groups * 3) - groups * 3
    src_pos, dst_pos = _ragged(offsets[:-1], lengths), _ragged(dst, lengths)
    padded[dst_pos] = data[src_pos]
    trip = padded.reshape(-1, 3).astype(np.uint32)
    word = (trip[:, 0] << 16) | (trip[:, 1] << 8) | trip[:, 2]
    quads = np.stack([(word >> 18) & 63, (word >> 12) & 63, (word >> 6) & 63, word & 63], axis=1)
    chars = _B64[quads].reshape(-1)
    out_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(groups * 4, out=out_offsets[1:])
    rem = lengths % 3
    ends = out_offsets[1:]
    chars[ends[rem == 1] - 2] = ord("=")
    chars[ends[rem >= 1] - 1] = ord("=")
    validity = None if valid.all() else pa.array(valid).buffers()[1]
    return pa.Array.from_buffers(
        pa.string(),
        n,
        [validity, pa.py_buffer(out_offsets.astype(np.int32)), pa.py_buffer(np.ascontiguousarray(chars))],
    )


def _ragged(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lengths)
    out: np.ndarray = np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lengths), lengths)
    return out


def date_text(millis: pa.Array) -> pa.Array:
    """``Values.dateFormatFor(d).format(d)`` in UTC: a time below one day, a date at midnight, else both."""
    text = pc.cast(pc.cast(millis.cast(pa.int64()), pa.timestamp("ms")), pa.string())
    date = pc.utf8_slice_codeunits(text, 0, -13)
    clock = pc.binary_join_element_wise(pc.utf8_slice_codeunits(text, -12), "Z", "")
    full = pc.binary_join_element_wise(date, "T", clock, "")
    is_time = pc.less(millis, pa.scalar(DAY_MS, millis.type))
    is_date = pc.equal(pc.subtract(millis, pc.multiply(pc.divide(millis, DAY_MS), DAY_MS)), 0)
    return pc.if_else(is_time, clock, pc.if_else(is_date, date, full))


def logical_encoding(arr: pa.Array) -> pa.Array:
    """Date/Time/Timestamp values as their Connect encoding (days, or millis)."""
    t = arr.type
    if pa.types.is_date32(t):
        return arr.view(pa.int32())
    if pa.types.is_date64(t):
        return pc.divide(arr.view(pa.int64()), DAY_MS).cast(pa.int32())
    if pa.types.is_time(t):
        return pc.cast(arr, pa.time32("ms")).view(pa.int32())
    return pc.cast(arr, pa.timestamp("ms"), safe=False).view(pa.int64())


def instant_millis(arr: pa.Array) -> pa.Array:
    """The ``java.util.Date`` behind a logical value, as epoch millis."""
    t = arr.type
    encoded = logical_encoding(arr)
    if pa.types.is_date(t):
        return pc.multiply(encoded.cast(pa.int64()), DAY_MS)
    return encoded.cast(pa.int64())


def header_bytes(values: pa.Array) -> pa.Array:
    """Header values as ``SimpleHeaderConverter`` writes them (see :func:`engine.spi.values.header_text`).

    Floats, bytes, decimals and dates/times take vectorized paths here; strings, integers and
    booleans are one cast there; structs, lists and maps are printed value by value there.
    """
    t = values.type
    if pa.types.is_dictionary(t):
        values = values.dictionary_decode()
        t = values.type
    if pa.types.is_float32(t) or pa.types.is_float64(t):
        text = java_float_text(values)
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t):
        text = base64_text(values)
    elif pa.types.is_decimal(t):
        text = pc.cast(values, pa.string())
    elif pa.types.is_date(t) or pa.types.is_time(t) or pa.types.is_timestamp(t):
        text = date_text(instant_millis(values))
        if values.null_count:
            text = pc.if_else(values.is_valid(), text, pa.scalar(None, pa.string()))
    else:
        return header_text(values)
    return text.cast(pa.binary())
