"""JsonConverter: Kafka Connect's JSON format, a whole column at a time.

Writing (``from_connect_data``) builds each row's text with Arrow string kernels: the
``{"schema":…,"payload":`` prefix is computed once per schema, the payload comes from
:class:`~engine.converters.json_codec.Encoder`, and one concatenation kernel assembles
the rows. Reading (``to_connect_data``) turns each row into an NDJSON line
``{"v":<payload>}`` with one kernel (for Kafka-written envelopes the prefix is replaced
by that wrapper) and parses the whole batch with ``pyarrow.json`` against the schema's
Arrow type; base64, decimals and dates are then fixed up with vectorized kernels. Rows
the fast path cannot take (malformed JSON, values of an unexpected JSON type, maps, other
writers' layouts) are found by bisection and read one by one with Kafka's semantics
(:func:`~engine.converters.json_schema.py_value`), which also names the bad rows.
Schemaless batches of flat objects are read without ``pyarrow.json`` by
:func:`~engine.converters.json_flat.read_flat`, with the same result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from engine.converters import HEADER, KEY, TYPE_CONFIG, converter_config_def, with_converter_type
from engine.converters.json_codec import (
    REQUIRED_NULL,
    Encoder,
    base64_decode,
    bytes_to_decimal,
    canonical,
    join,
    string_parts,
)
from engine.converters.json_flat import read_flat
from engine.converters.json_schema import (
    SchemaCache,
    dumps,
    field_from_schema,
    json_value,
    py_value,
    reader,
    schema_text,
)
from engine.spi import schema as cs
from engine.spi.config import CaseInsensitiveValidString, ConfigDef, Importance, Range, Type, Width
from engine.spi.converter import Converter, HeaderConverter
from engine.spi.errors import DataError

SCHEMAS_ENABLE = "schemas.enable"
SCHEMAS_CACHE_SIZE = "schemas.cache.size"
DECIMAL_FORMAT = "decimal.format"
REPLACE_NULL_WITH_DEFAULT = "replace.null.with.default"

ENVELOPE_ERROR = (
    'JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional '
    "fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter "
    "configuration."
)
PARSE_ERROR = "Converting byte[] to Kafka Connect data failed due to serialization error: "

_WRAP = '\n{"v":'
_WRAP_B = pa.scalar(_WRAP.encode(), pa.binary())
_CLOSE_B = pa.scalar(b"}", pa.binary())
_EMPTY_B = pa.scalar(b"", pa.binary())
_HEAD = b'{"schema":'
_TAIL = ',"payload":'
_LEAF_ROWS = 16
_MAX_PREFIXES = 64
_LEADING_ZEROS = re.compile(r'"(?:[^"\\]|\\.)*"|(?<![0-9.eE+\-])(-?)0+(?=[0-9])')
_WHITESPACE = " \t\n\r"


def _raise_constant(name: str) -> Any:
    raise ValueError(f"Non-standard token '{name}'")


_EXACT = json.JSONDecoder(parse_float=Decimal, parse_constant=_raise_constant)
_PLAIN = json.JSONDecoder(parse_constant=_raise_constant)


def parse_json(raw: bytes, exact: bool = True) -> tuple[bool, Any]:
    """One row as Jackson's ``readTree`` reads it: (present, value). Raises ValueError.

    Leading zeros are allowed (``ALLOW_LEADING_ZEROS_FOR_NUMBERS``) and anything after the
    first value is ignored, as Jackson does; an empty row is "missing".
    """
    text = raw.decode("utf-8")
    if not text.strip(_WHITESPACE):
        return False, None
    return True, _decode_value(text, _EXACT if exact else _PLAIN)[0]


def _decode_value(text: str, decoder: json.JSONDecoder) -> tuple[Any, str]:
    """The first JSON value of ``text`` and the text after it."""
    text = text.lstrip(_WHITESPACE)
    try:
        value, end = decoder.raw_decode(text)
    except ValueError:
        patched = _LEADING_ZEROS.sub(lambda m: m.group(0) if m.group(0).startswith('"') else m.group(1), text)
        if patched == text:
            raise
        value, end = decoder.raw_decode(patched)
        text = patched
    return value, text[end:]


def _payload_after(start: int) -> Callable[[bytes], tuple[bool, Any]]:
    """Reads the payload of envelopes whose first ``start`` bytes are a known schema prefix."""

    def payload(raw: bytes) -> tuple[bool, Any]:
        value, rest = _decode_value(raw[start:].decode("utf-8"), _EXACT)
        if not rest.lstrip(_WHITESPACE).startswith("}"):
            raise DataError(ENVELOPE_ERROR)
        return True, value

    return payload


@dataclass
class _Bad:
    """Bad rows of the batch being read, with the first reason for each."""

    rows: dict[int, str] = field(default_factory=dict)

    def add(self, rows: Sequence[int] | np.ndarray, message: str) -> None:
        for r in np.asarray(rows).tolist():
            self.rows.setdefault(int(r), message)

    def raise_if_any(self) -> None:
        if self.rows:
            rows = sorted(self.rows)
            raise DataError(self.rows[rows[0]], rows=rows)


@dataclass
class _Part:
    """Decoded rows of one schema: their positions in the batch and their values."""

    rows: np.ndarray
    field: pa.Field | None
    values: pa.Array


class JsonConverter(Converter, HeaderConverter):
    """``org.apache.kafka.connect.json.JsonConverter``, vectorized (also a header converter)."""

    aliases = ("org.apache.kafka.connect.json.JsonConverter",)

    def __init__(self) -> None:
        self.schemas_enable = True
        self.decimal_numeric = False
        self.replace_null = True
        self.name = "value"
        self._write_cache: SchemaCache[str] = SchemaCache(1000)
        self._read_cache: SchemaCache[pa.Field | None] = SchemaCache(1000)
        self._readers: dict[int, tuple[pa.Field, Callable[[Any], Any]]] = {}

    @classmethod
    def config_def(cls) -> ConfigDef:
        return (
            converter_config_def()
            .define(
                SCHEMAS_ENABLE,
                Type.BOOLEAN,
                True,
                None,
                Importance.HIGH,
                "Include schemas within each of the serialized values and keys.",
                group="Schemas",
                order_in_group=0,
                width=Width.MEDIUM,
                display_name="Enable Schemas",
            )
            .define(
                SCHEMAS_CACHE_SIZE,
                Type.INT,
                1000,
                Range.at_least(0),
                Importance.HIGH,
                "The maximum number of schemas that can be cached in this converter instance.",
                group="Schemas",
                order_in_group=1,
                width=Width.MEDIUM,
                display_name="Schema Cache Size",
            )
            .define(
                DECIMAL_FORMAT,
                Type.STRING,
                "BASE64",
                CaseInsensitiveValidString.in_("BASE64", "NUMERIC"),
                Importance.LOW,
                "Controls which format this converter will serialize decimals in. This value is case "
                "insensitive and can be either 'BASE64' (default) or 'NUMERIC'",
                group="Serialization",
                order_in_group=0,
                width=Width.MEDIUM,
                display_name="Decimal Format",
            )
            .define(
                REPLACE_NULL_WITH_DEFAULT,
                Type.BOOLEAN,
                True,
                None,
                Importance.LOW,
                "Whether to replace fields that have a default value and that are null to the default value. "
                "When set to true, the default value is used, otherwise null is used.",
                group="Serialization",
                order_in_group=1,
                width=Width.MEDIUM,
                display_name="Replace null with default",
            )
        )

    def configure(self, configs: Mapping[str, Any], is_key: bool | None = None) -> None:
        values = self.config_def().parse(with_converter_type(configs, is_key))
        self.schemas_enable = bool(values[SCHEMAS_ENABLE])
        self.decimal_numeric = str(values[DECIMAL_FORMAT]).upper() == "NUMERIC"
        self.replace_null = bool(values[REPLACE_NULL_WITH_DEFAULT])
        kind = values[TYPE_CONFIG]
        self.name = "key" if kind == KEY else ("header" if kind == HEADER else "value")
        size = int(values[SCHEMAS_CACHE_SIZE])
        self._write_cache = SchemaCache(size)
        self._read_cache = SchemaCache(size)
        self._readers = {}

    # ------------------------------------------------------------------ header converter

    def from_connect_header(self, topic: str, header_key: str, field: pa.Field, values: pa.Array) -> pa.Array:
        return self.from_connect_data(topic, field, values)

    def to_connect_header(self, topic: str, header_key: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
        f, values = self.to_connect_data(topic, data)
        return f.with_name(header_key), values

    # ------------------------------------------------------------------ writing

    def from_connect_data(self, topic: str, field: pa.Field, values: pa.Array) -> pa.Array:
        n = len(values)
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        values = canonical(values)
        if not cs.is_schemaless(field):
            target = cs.normalize_type(field.type)
            if values.type != target:
                try:
                    values = values.cast(target, safe=False)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                    raise DataError(
                        f"Invalid type for {cs.connect_type(field.type).upper()}: {values.type}"
                    ) from e
        if n == 0 or (values.null_count == n and (field.nullable or cs.is_schemaless(field))):
            return pa.nulls(n, pa.binary())
        prefix, suffix = self._envelope(field)
        encoder = Encoder(self.decimal_numeric, self._null_text)
        text = join([prefix, *encoder.present(field, values, _identity, None), suffix], n)
        if values.null_count:
            text = self._top_level_nulls(field, values, text, prefix, suffix, encoder)
        if encoder.bad:
            raise DataError(REQUIRED_NULL, rows=np.unique(np.concatenate(encoder.bad)).tolist())
        return text.cast(pa.binary())

    def _envelope(self, field: pa.Field) -> tuple[str, str]:
        if not self.schemas_enable:
            return "", ""
        key = pa.schema([field.with_name("f")]).serialize().to_pybytes().hex()
        text = self._write_cache.get(key)
        if text is None:
            text = schema_text(field, self.decimal_numeric, self.replace_null)
            self._write_cache.put(key, text)
        return '{"schema":' + text + ',"payload":', "}"

    def _top_level_nulls(
        self, field: pa.Field, values: pa.Array, text: pa.Array, prefix: str, suffix: str, encoder: Encoder
    ) -> pa.Array:
        valid = values.is_valid()
        if field.nullable or cs.is_schemaless(field):
            return pc.if_else(valid, text, pa.scalar(None, pa.string()))
        default = self._null_text(field)
        if default is None:
            encoder.flag_nulls(values, _identity, None)
            return text
        return pc.if_else(valid, text, prefix + default + suffix)

    def _null_text(self, f: pa.Field) -> str | None:
        if self.replace_null and cs.has_default(f):
            return dumps(json_value(cs.schema_default(f), f, self.decimal_numeric, True))
        return "null" if f.nullable else None

    # ------------------------------------------------------------------ reading

    def to_connect_data(self, topic: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
        if isinstance(data, pa.ChunkedArray):
            data = data.combine_chunks()
        if not pa.types.is_binary(data.type):
            data = data.cast(pa.binary())
        n = len(data)
        lengths = pc.fill_null(pc.binary_length(data), 0)
        present = np.asarray(lengths.to_numpy(zero_copy_only=False)) > 0
        bad = _Bad()
        parts: list[_Part] = []
        if not self.schemas_enable:
            rows = np.flatnonzero(present)
            if len(rows):  # none when all are null or empty (e.g. no keys): nothing to parse
                taken = data.take(pa.array(rows)) if len(rows) < n else data
                parts = [self._read_schemaless(taken, rows, bad)]
        else:
            empty = np.flatnonzero(
                ~present & np.asarray(data.is_valid().to_numpy(zero_copy_only=False), bool)
            )
            bad.add(empty, ENVELOPE_ERROR)
            parts = self._read_envelopes(data, np.flatnonzero(present), bad)
        bad.raise_if_any()
        return self._assemble(parts, n, bad)

    # schemas.enable=false ---------------------------------------------------------

    def _read_schemaless(self, data: pa.Array, rows: np.ndarray, bad: _Bad) -> _Part:
        values = read_flat(data)  # flat objects: the same result without pyarrow.json
        if values is None:
            wrapped = pc.binary_join_element_wise(_WRAP_B, data, _CLOSE_B, _EMPTY_B)
            values = _read_inferred(wrapped)
            if values is None:
                values = self._schemaless_slowly(
                    data, wrapped, rows, bad, lambda raw: parse_json(raw, exact=False)
                )
        return _Part(rows, None, values)

    def _schemaless_slowly(
        self,
        data: pa.Array,
        wrapped: pa.Array,
        rows: np.ndarray,
        bad: _Bad,
        parse: Callable[[bytes], tuple[bool, Any]],
    ) -> pa.Array:
        """Rows pyarrow could not type as one column.

        Malformed rows are found by bisection (only the failing blocks are parsed in Python);
        a batch without any is one whose values clash in type, and is read row by row.
        """
        suspects = [] if _mixed_types(wrapped) else _bisect(wrapped, None)
        for i in suspects:
            self._parse_row(data[i].as_py(), int(rows[i]), bad, parse)
        if bad.rows:
            return pa.nulls(len(data))
        return infer_array(
            [
                self._parse_row(raw, r, bad, parse)
                for r, raw in zip(rows.tolist(), data.to_pylist(), strict=True)
            ]
        )

    def _parse_row(self, raw: bytes, row: int, bad: _Bad, parse: Callable[[bytes], tuple[bool, Any]]) -> Any:
        try:
            return parse(raw)[1]
        except DataError as e:
            bad.add([row], str(e))
        except (ValueError, UnicodeDecodeError) as e:
            bad.add([row], PARSE_ERROR + str(e))
        return None

    # schemas.enable=true -----------------------------------------------------------

    def _read_envelopes(self, data: pa.Array, rows: np.ndarray, bad: _Bad) -> list[_Part]:
        rest = data.take(pa.array(rows)) if len(rows) < len(data) else data
        left = np.ones(len(rest), bool)
        parts: list[_Part] = []
        for _ in range(_MAX_PREFIXES):
            todo = np.flatnonzero(left)
            if not todo.size:
                break
            prefix = _envelope_prefix(rest[int(todo[0])].as_py())
            if prefix is None:
                break
            mask = np.asarray(pc.starts_with(rest, prefix).to_numpy(zero_copy_only=False), bool) & left
            left &= ~mask
            idx = np.flatnonzero(mask)
            chunk = rest.take(pa.array(idx)) if idx.size < len(rest) else rest
            parts.append(self._read_group(prefix, chunk, rows[idx], bad))
        others = np.flatnonzero(left)
        if others.size:
            parts.extend(self._read_generic(rest.take(pa.array(others)), rows[others], bad))
        return parts

    def _field_for(self, text: str) -> pa.Field | None:
        if text in self._read_cache:
            return self._read_cache.get(text)
        obj = json.loads(text, parse_float=Decimal)
        f = None if obj is None else field_from_schema(obj, self.name)
        self._read_cache.put(text, f)
        return f

    def _read_group(self, prefix: bytes, data: pa.Array, rows: np.ndarray, bad: _Bad) -> _Part:
        try:
            f = self._field_for(prefix[len(_HEAD) : -len(_TAIL)].decode("utf-8"))
        except DataError as e:
            bad.add(rows, str(e))
            return _Part(rows, None, pa.nulls(len(rows)))
        wrapped = pc.binary_replace_slice(data, 0, len(prefix), _WRAP)
        if f is None:
            values = _read_inferred(wrapped)
            if values is None:
                values = self._schemaless_slowly(data, wrapped, rows, bad, _payload_after(len(prefix)))
            return _Part(rows, None, values)
        return _Part(rows, f, self._read_typed(f, wrapped, data, rows, bad, _payload_after(len(prefix))))

    def _read_typed(
        self,
        f: pa.Field,
        wrapped: pa.Array,
        data: pa.Array,
        rows: np.ndarray,
        bad: _Bad,
        payload: Callable[[bytes], tuple[bool, Any]],
    ) -> pa.Array:
        target = _read_type(f.type, self.decimal_numeric)
        if target is None:
            chunks = [(0, len(data), None)]
        else:
            chunks = _read_chunks(wrapped, pa.schema([pa.field("v", target)]), 0, len(data))
        out = []
        for lo, hi, values in chunks:
            local = rows[lo:hi]
            if values is None:
                out.append(self._typed_slowly(f, data.slice(lo, hi - lo), local, bad, payload))
            else:
                out.append(self._finish(f, values, lambda i, local=local: local[i], None, bad))
        return out[0] if len(out) == 1 else pa.concat_arrays(out)

    def _typed_slowly(
        self,
        f: pa.Field,
        data: pa.Array,
        rows: np.ndarray,
        bad: _Bad,
        payload: Callable[[bytes], tuple[bool, Any]],
    ) -> pa.Array:
        values = []
        read = self._reader(f)
        for r, raw in zip(rows.tolist(), data.to_pylist(), strict=True):
            try:
                values.append(read(payload(raw)[1]))
            except DataError as e:
                bad.add([r], str(e))
                values.append(None)
            except (ValueError, UnicodeDecodeError) as e:
                bad.add([r], PARSE_ERROR + str(e))
                values.append(None)
        if any(r in bad.rows for r in rows.tolist()):
            return pa.nulls(len(values), f.type)
        return pa.array(values, f.type)

    def _read_generic(self, data: pa.Array, rows: np.ndarray, bad: _Bad) -> list[_Part]:
        """Envelopes in another layout (spaces, key order): parsed row by row."""
        groups: dict[str, tuple[list[int], list[Any]]] = {}
        for r, raw in zip(rows.tolist(), data.to_pylist(), strict=True):
            try:
                schema, payload = _envelope_of(raw)
            except DataError as e:
                bad.add([r], str(e))
                continue
            except (ValueError, UnicodeDecodeError) as e:
                bad.add([r], PARSE_ERROR + str(e))
                continue
            key = json.dumps(schema, sort_keys=True, default=str)
            groups.setdefault(key, ([], []))
            groups[key][0].append(r)
            groups[key][1].append((schema, payload))
        parts = []
        for key, (grows, items) in groups.items():
            try:
                f = self._generic_field(key, items[0][0])
            except DataError as e:
                bad.add(grows, str(e))
                continue
            values: list[Any] = []
            read = None if f is None else self._reader(f)
            for r, (_, payload) in zip(grows, items, strict=True):
                try:
                    values.append(payload if read is None else read(payload))
                except DataError as e:
                    bad.add([r], str(e))
                    values.append(None)
            if any(r in bad.rows for r in grows):
                continue
            arr = infer_array(values) if f is None else pa.array(values, f.type)
            parts.append(_Part(np.array(grows, np.int64), f, arr))
        return parts

    def _reader(self, f: pa.Field) -> Callable[[Any], Any]:
        """The compiled per-row reader of a (cached, hence long-lived) field."""
        key = id(f)
        hit = self._readers.get(key)
        if hit is None or hit[0] is not f:
            if len(self._readers) > 64:
                self._readers.clear()
            hit = (f, reader(f, self.replace_null))
            self._readers[key] = hit
        return hit[1]

    def _generic_field(self, key: str, schema: Any) -> pa.Field | None:
        if "\0" + key in self._read_cache:
            return self._read_cache.get("\0" + key)
        f = None if schema is None else field_from_schema(schema, self.name)
        self._read_cache.put("\0" + key, f)
        return f

    # finishing: the Arrow types pyarrow.json read → the schema's Arrow types ---------------

    def _finish(
        self,
        f: pa.Field,
        arr: pa.Array,
        top: Callable[[np.ndarray], np.ndarray],
        live: np.ndarray | None,
        bad: _Bad,
    ) -> pa.Array:
        t = f.type
        valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool) if arr.null_count else None
        inner = live if valid is None else (valid if live is None else live & valid)
        mask = arr.is_null() if arr.null_count else None
        if pa.types.is_struct(t) and t.num_fields == 0:
            out = arr
        elif pa.types.is_struct(t):
            children = [self._finish(t.field(i), arr.field(i), top, inner, bad) for i in range(t.num_fields)]
            out = pa.StructArray.from_arrays(children, fields=list(t), mask=mask)
        elif pa.types.is_list(t):
            offsets = np.asarray(arr.offsets, dtype=np.int64)
            start, rel = int(offsets[0]), offsets - int(offsets[0])
            child_live = None if inner is None else np.repeat(inner, np.diff(rel))
            child = self._finish(
                t.value_field,
                arr.values.slice(start, int(rel[-1])),
                lambda i: top(np.searchsorted(rel, i, side="right") - 1),
                child_live,
                bad,
            )
            out = pa.ListArray.from_arrays(pa.array(rel, pa.int32()), child, type=t, mask=mask)
        elif pa.types.is_binary(t):
            out, wrong = base64_decode(arr)
            self._flag(wrong, top, live, bad, "Invalid bytes field")
        elif pa.types.is_decimal(t) and not pa.types.is_decimal(arr.type):
            raw, wrong = base64_decode(arr)
            self._flag(wrong, top, live, bad, "Invalid bytes for Decimal field")
            out, wrong = bytes_to_decimal(raw, t)
            self._flag(wrong, top, live, bad, "Invalid bytes for Decimal field")
        elif pa.types.is_date32(t) or pa.types.is_time32(t) or pa.types.is_timestamp(t):
            out = arr.view(t)
        else:
            out = arr if arr.type == t else arr.cast(t)
        return self._nulls(f, out, top, live, bad)

    def _flag(
        self,
        idx: np.ndarray,
        top: Callable[[np.ndarray], np.ndarray],
        live: np.ndarray | None,
        bad: _Bad,
        msg: str,
    ) -> None:
        if live is not None:
            idx = idx[live[idx]]
        if idx.size:
            bad.add(top(idx), msg)

    def _nulls(
        self,
        f: pa.Field,
        arr: pa.Array,
        top: Callable[[np.ndarray], np.ndarray],
        live: np.ndarray | None,
        bad: _Bad,
    ) -> pa.Array:
        if not arr.null_count:
            return arr
        if self.replace_null and cs.has_default(f):
            default = py_value(cs.schema_default(f), f.remove_metadata().with_nullable(True), False)
            return arr.fill_null(pa.scalar(default, f.type))
        if not f.nullable:
            nulls = np.flatnonzero(~np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), bool))
            self._flag(
                nulls,
                top,
                live,
                bad,
                f"Invalid null value for required {cs.connect_type(f.type).upper()} field",
            )
        return arr

    # assembling ------------------------------------------------------------------

    def _assemble(self, parts: list[_Part], n: int, bad: _Bad) -> tuple[pa.Field, pa.Array]:
        parts = [p for p in parts if len(p.rows)]
        if not parts:
            return cs.field(self.name, pa.null(), schemaless=not self.schemas_enable), pa.nulls(n)
        f = _unify(parts, self.name, bad)
        bad.raise_if_any()
        arrays = [p.values if p.values.type == f.type else p.values.cast(f.type) for p in parts]
        if len(parts) == 1 and len(parts[0].rows) == n:
            return f, arrays[0]
        where = np.full(n, -1, np.int64)
        where[np.concatenate([p.rows for p in parts])] = np.arange(sum(len(p.rows) for p in parts))
        combined = arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)
        return f, combined.take(pa.array(where, mask=where < 0))

    def close(self) -> None:
        self._write_cache = SchemaCache(0)
        self._read_cache = SchemaCache(0)


def _identity(idx: np.ndarray) -> np.ndarray:
    return idx


def _unify(parts: list[_Part], name: str, bad: _Bad) -> pa.Field:
    """One field for the batch: the schemas of its records, merged when they differ."""
    last = parts[int(np.argmax([p.rows.max() for p in parts]))]
    fields = [p.field or cs.field(name, p.values.type, schemaless=True) for p in parts]
    base = last.field or cs.field(name, last.values.type, schemaless=True)
    if all(x.equals(base, check_metadata=True) for x in fields):
        return base
    try:
        typ = pa.unify_schemas([pa.schema([x.with_name("v")]) for x in fields], promote_options="permissive")[
            0
        ].type
        for p in parts:
            if p.values.type != typ:
                p.values.cast(typ)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        for p, x in zip(parts, fields, strict=True):
            if not x.equals(base, check_metadata=True):
                bad.add(
                    p.rows,
                    f"Record schema {schema_text(p.field)} is incompatible with the schema of later records",
                )
        return base
    return base.with_type(typ).with_nullable(any(x.nullable for x in fields))


def _envelope_prefix(raw: bytes) -> bytes | None:
    """``{"schema":<schema>,"payload":`` of a Kafka-written envelope, or None."""
    if not raw.startswith(_HEAD):
        return None
    try:
        text = raw.decode("utf-8")
        end = _EXACT.raw_decode(text, len(_HEAD))[1]
    except (ValueError, UnicodeDecodeError):
        return None
    if not text.startswith(_TAIL, end):
        return None
    return text[: end + len(_TAIL)].encode("utf-8")


def _envelope_of(raw: bytes) -> tuple[Any, Any]:
    present, node = parse_json(raw)
    if not present or not isinstance(node, dict) or set(node) != {"schema", "payload"}:
        raise DataError(ENVELOPE_ERROR)
    return node["schema"], node["payload"]


def _read_type(t: pa.DataType, decimal_numeric: bool) -> pa.DataType | None:
    """The type pyarrow.json reads a value of Arrow type ``t`` as (None: it cannot)."""
    if pa.types.is_binary(t):
        return pa.string()
    if pa.types.is_decimal(t):
        return t if decimal_numeric else pa.string()
    if pa.types.is_date32(t) or pa.types.is_time32(t):
        return pa.int32()
    if pa.types.is_timestamp(t):
        return pa.int64()
    if pa.types.is_struct(t):
        children = [_read_type(t.field(i).type, decimal_numeric) for i in range(t.num_fields)]
        if any(c is None for c in children):
            return None
        return pa.struct([pa.field(t.field(i).name, c) for i, c in enumerate(children)])
    if pa.types.is_list(t):
        item = _read_type(t.value_type, decimal_numeric)
        return None if item is None else pa.list_(item)
    if pa.types.is_map(t) or pa.types.is_null(t):
        return None
    return t


def _blob(wrapped: pa.Array) -> pa.Buffer:
    """The bytes of all rows of a string/binary array, back to back (no copy)."""
    offsets, _ = string_parts(wrapped)
    start, end = int(offsets[0]), int(offsets[-1])
    data = wrapped.buffers()[2]
    return pa.py_buffer(b"") if data is None else data.slice(start, end - start)


def _has_newlines(wrapped: pa.Array) -> np.ndarray | None:
    """Rows with a raw line break of their own (besides the wrapper's), or None if there are none."""
    raw = _blob(wrapped).to_pybytes() if len(wrapped) else b""
    if raw.count(b"\n") == len(wrapped) and b"\r" not in raw:
        return None
    extra = pc.greater(pc.count_substring(wrapped, "\n"), 1)
    both = pc.or_(extra, pc.match_substring(wrapped, "\r"))
    return np.asarray(both.to_numpy(zero_copy_only=False), bool)


def _parse(wrapped: pa.Array, schema: pa.Schema | None) -> pa.Array | None:
    """Parse rows ``\\n{"v":…}`` with pyarrow.json; None if any row fails."""
    n = len(wrapped)
    if n == 0:
        return None if schema is None else pa.array([], schema[0].type)
    blob = _blob(wrapped)
    opts = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error" if schema else "infer")
    read = pj.ReadOptions(use_threads=False, block_size=max(blob.size + 1, 1 << 16))
    try:
        table = pj.read_json(pa.BufferReader(blob), read_options=read, parse_options=opts)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if table.num_rows != n or table.num_columns != 1 or table.column_names[0] != "v":
        return None
    col = table.column(0)
    return col.chunk(0) if col.num_chunks == 1 else col.combine_chunks()


def _read_chunks(
    wrapped: pa.Array, schema: pa.Schema | None, lo: int, hi: int
) -> list[tuple[int, int, pa.Array | None]]:
    """Parse rows lo..hi, bisecting around failures; (lo, hi, None) marks rows to read slowly."""
    if lo == 0 and hi == len(wrapped):
        newlines = _has_newlines(wrapped)
        if newlines is not None:
            out: list[tuple[int, int, pa.Array | None]] = []
            start = 0
            for i in np.flatnonzero(newlines).tolist():
                if i > start:
                    out.extend(_read_chunks(wrapped, schema, start, i))
                out.append((i, i + 1, None))
                start = i + 1
            if start < hi:
                out.extend(_read_chunks(wrapped, schema, start, hi))
            return out
    values = _parse(wrapped.slice(lo, hi - lo), schema)
    if values is not None:
        return [(lo, hi, values)]
    if hi - lo <= _LEAF_ROWS:
        return [(lo, hi, None)]
    mid = (lo + hi) // 2
    return _read_chunks(wrapped, schema, lo, mid) + _read_chunks(wrapped, schema, mid, hi)


def _bisect(wrapped: pa.Array, schema: pa.Schema | None) -> list[int]:
    """Rows (local) that fail to parse, or sit in a small block that does."""
    out: list[int] = []
    for lo, hi, values in _read_chunks(wrapped, schema, 0, len(wrapped)):
        if values is None:
            out.extend(range(lo, hi))
    return out


def _mixed_types(wrapped: pa.Array) -> bool:
    """Whether pyarrow's inference fails on a type clash (rather than on malformed JSON)."""
    if _has_newlines(wrapped) is not None:
        return False
    opts = pj.ReadOptions(use_threads=False, block_size=max(_blob(wrapped).size + 1, 1 << 16))
    try:
        pj.read_json(pa.BufferReader(_blob(wrapped)), read_options=opts)
    except pa.ArrowInvalid as e:
        return "changed from" in str(e)
    return False


def _read_inferred(wrapped: pa.Array) -> pa.Array | None:
    """Schemaless rows with pyarrow's inference; strings it took for timestamps stay strings."""
    if _has_newlines(wrapped) is not None:
        return None
    values = _parse(wrapped, None)
    if values is None:
        return None
    try:
        values.validate(full=True)  # pyarrow's inference can drop a list's leading nulls
    except pa.ArrowInvalid:
        pass
    else:
        if not _has_timestamp(values.type):
            return values
    return _parse(wrapped, pa.schema([pa.field("v", _no_timestamps(values.type))]))


def _has_timestamp(t: pa.DataType) -> bool:
    if pa.types.is_timestamp(t):
        return True
    if pa.types.is_struct(t):
        return any(_has_timestamp(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t):
        return _has_timestamp(t.value_type)
    return False


def _no_timestamps(t: pa.DataType) -> pa.DataType:
    """The inferred type to read again with: timestamps (and all-null values) as strings."""
    if pa.types.is_timestamp(t) or pa.types.is_null(t):
        return pa.string()
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(_no_timestamps(t.field(i).type)) for i in range(t.num_fields)])
    if pa.types.is_list(t):
        return pa.list_(_no_timestamps(t.value_type))
    return t


# schemaless values that pyarrow cannot type as one column ------------------------------

_JSON_TEXT = "json"


def infer_array(values: list[Any]) -> pa.Array:
    """Python JSON values → one Arrow array; where types clash the values become JSON text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    kind: Any = None
    for v in values:
        kind = _merge(kind, _kind(v))
    return pa.array([_conform(v, kind) for v in values], _arrow_of(kind))


def _kind(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int" if -(1 << 63) <= v < (1 << 63) else "float"
    if isinstance(v, float | Decimal):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list):
        item: Any = None
        for x in v:
            item = _merge(item, _kind(x))
        return ("list", item)
    if isinstance(v, dict):
        return ("struct", {k: _kind(x) for k, x in v.items()})
    return _JSON_TEXT


def _merge(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None or a == b:
        return a
    if a in ("int", "float") and b in ("int", "float"):
        return "float"
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
        if a[0] == "list":
            return ("list", _merge(a[1], b[1]))
        keys = list(a[1]) + [k for k in b[1] if k not in a[1]]
        return ("struct", {k: _merge(a[1].get(k), b[1].get(k)) for k in keys})
    return _JSON_TEXT


def _conform(v: Any, kind: Any) -> Any:
    if v is None:
        return None
    if kind == _JSON_TEXT:
        return (
            v if isinstance(v, str) else json.dumps(v, default=str, separators=(",", ":"), ensure_ascii=False)
        )
    if kind == "float":
        return float(v)
    if isinstance(kind, tuple) and kind[0] == "list":
        return [_conform(x, kind[1]) for x in v]
    if isinstance(kind, tuple):
        return {k: _conform(v.get(k), sub) for k, sub in kind[1].items()}
    return v


def _arrow_of(kind: Any) -> pa.DataType:
    if kind is None:
        return pa.null()
    if isinstance(kind, tuple) and kind[0] == "list":
        return pa.list_(_arrow_of(kind[1]))
    if isinstance(kind, tuple):
        return pa.struct([pa.field(k, _arrow_of(sub)) for k, sub in kind[1].items()])
    return {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64()}.get(kind, pa.string())
