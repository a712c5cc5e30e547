"""JsonConverter's schema JSON ↔ Arrow fields, and JSON values read against a schema.

* :func:`schema_text` writes a field's Connect schema exactly as Kafka's
  ``JsonConverter.asJsonSchema`` + Jackson do: compact, keys in Kafka's order (``type``;
  ``fields`` / ``items`` / ``keys``,``values``; ``optional``; ``name``; ``version``; ``doc``;
  ``parameters``; ``default``), each struct field's schema followed by ``"field"``.
* :func:`field_from_schema` is ``asConnectSchema``: the parsed ``"schema"`` object → an
  Arrow field carrying the Connect schema (see :mod:`engine.spi.schema`).
* :func:`py_value` converts one parsed JSON value against a field (``convertToConnect``);
  it is the per-row path the converter falls back to for rows the vectorized reader
  rejects or cannot express (maps), and it decides which rows are bad.
* :func:`dumps` serializes Python JSON values as Jackson would (floats as Java prints
  them, :class:`JavaFloat` for FLOAT32, :class:`~decimal.Decimal` as ``BigDecimal``).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections import OrderedDict
from collections.abc import Callable, Mapping
from decimal import Context, Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

import pyarrow as pa

from engine.converters.json_codec import escape_text
from engine.spi import schema as cs
from engine.spi.errors import DataError
from engine.spi.values import java_double_text

META_KEY_OPTIONAL = b"connect.key.optional"
"""On a map's key field: the Connect key schema was optional (Arrow map keys never are)."""

T = TypeVar("T")
_EXACT = Context(prec=1000)
"""Decimal arithmetic without rounding (the default context keeps 28 digits)."""

_LOGICAL_PHYSICAL = {cs.DECIMAL: cs.BYTES, cs.DATE: cs.INT32, cs.TIME: cs.INT32, cs.TIMESTAMP: cs.INT64}
_NODE_TYPES = ((bool, "BOOLEAN"), (str, "STRING"), (dict, "OBJECT"), (list, "ARRAY"), (int, "NUMBER"))


class JavaFloat(float):
    """A FLOAT32 value: :func:`dumps` prints it as ``Float.toString`` does."""


def node_type(value: Any) -> str:
    """Jackson's node type name of a parsed JSON value (for error messages)."""
    if value is None:
        return "NULL"
    for typ, name in _NODE_TYPES:
        if isinstance(value, typ):
            return name
    return "NUMBER"


# ---------------------------------------------------------------------------- writing


def dumps(value: Any) -> str:
    """Compact JSON as Jackson writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return '"' + escape_text(value) + '"'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = java_double_text(value, isinstance(value, JavaFloat))
        return text if math.isfinite(value) else f'"{text}"'
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return '"' + base64.b64encode(value).decode("ascii") + '"'
    if isinstance(value, Mapping):
        return "{" + ",".join(f'"{escape_text(str(k))}":{dumps(v)}' for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise DataError(f"Couldn't convert {value!r} to JSON.")


def schema_text(field: pa.Field | None, decimal_numeric: bool = False, replace_null: bool = True) -> str:
    """The ``"schema"`` JSON of a field (``null`` for a schemaless one)."""
    if field is None or cs.is_schemaless(field):
        return "null"
    return dumps(schema_object(field, decimal_numeric, replace_null))


def schema_object(f: pa.Field, decimal_numeric: bool = False, replace_null: bool = True) -> dict[str, Any]:
    t = f.type
    out: dict[str, Any] = {"type": cs.connect_type(t)}
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_struct(t):
        out["fields"] = [
            {**schema_object(t.field(i), decimal_numeric, replace_null), "field": t.field(i).name}
            for i in range(t.num_fields)
        ]
    elif pa.types.is_map(t):
        key = t.key_field.with_nullable(bool((t.key_field.metadata or {}).get(META_KEY_OPTIONAL)))
        out["keys"] = schema_object(key, decimal_numeric, replace_null)
        out["values"] = schema_object(t.item_field, decimal_numeric, replace_null)
    elif out["type"] == cs.ARRAY:
        out["items"] = schema_object(t.value_field, decimal_numeric, replace_null)
    out["optional"] = bool(f.nullable)
    name, version, doc = cs.schema_name(f), cs.schema_version(f), cs.schema_doc(f)
    if name is not None:
        out["name"] = name
    if version is not None:
        out["version"] = version
    if doc is not None:
        out["doc"] = doc
    params = cs.schema_parameters(f)
    if params is not None:
        first = {k: params[k] for k in (cs.DECIMAL_SCALE_PARAM,) if k in params and pa.types.is_decimal(t)}
        out["parameters"] = {**first, **{k: v for k, v in params.items() if k not in first}}
    if cs.has_default(f):
        default = json_value(cs.schema_default(f), f, decimal_numeric, replace_null)
        if default is not None:
            out["default"] = default
    return out


def json_value(value: Any, f: pa.Field, decimal_numeric: bool, replace_null: bool) -> Any:
    """A payload-form value (as stored in a field's default) as Kafka's ``convertToJson`` writes it."""
    if value is None:
        if cs.has_default(f) and replace_null:
            return json_value(cs.schema_default(f), f.remove_metadata(), decimal_numeric, replace_null)
        if f.nullable:
            return None
        raise DataError("Conversion error: null value for field that is required and has no default value")
    t = f.type
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_decimal(t):
        d = decimal_of(value, t.scale)
        return d if decimal_numeric else base64.b64encode(unscaled_bytes(d, t.scale)).decode("ascii")
    if pa.types.is_floating(t):
        return JavaFloat(value) if cs.connect_type(t) == cs.FLOAT32 else float(value)
    if pa.types.is_integer(t) or pa.types.is_temporal(t):
        return int(value)
    if pa.types.is_struct(t):
        return {c.name: json_value(value.get(c.name), c, decimal_numeric, replace_null) for c in t}
    if pa.types.is_map(t):
        pairs = value.items() if isinstance(value, Mapping) else value
        conv = [
            (
                json_value(k, t.key_field, decimal_numeric, replace_null),
                json_value(v, t.item_field, decimal_numeric, replace_null),
            )
            for k, v in pairs
        ]
        return dict(conv) if cs.connect_type(t.key_type) == cs.STRING else [list(p) for p in conv]
    if cs.connect_type(t) == cs.ARRAY:
        return [json_value(v, t.value_field, decimal_numeric, replace_null) for v in value]
    return value


def decimal_of(value: Any, scale: int) -> Decimal:
    """A Decimal from its payload form: base64 of the unscaled bytes, or a number."""
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as e:
            raise DataError("Invalid bytes for Decimal field") from e
        if not raw:
            raise DataError("Invalid bytes for Decimal field")
        return _EXACT.scaleb(Decimal(int.from_bytes(raw, "big", signed=True)), -scale)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise DataError(
            "Invalid type for Decimal, underlying representation should be numeric or bytes but was "
            + node_type(value)
        )
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def unscaled_bytes(d: Decimal, scale: int) -> bytes:
    """``Decimal.fromLogical``: the unscaled value at ``scale`` as minimal two's-complement bytes."""
    unscaled = int(_EXACT.scaleb(d, scale).to_integral_value(context=_EXACT))
    return unscaled.to_bytes(unscaled.bit_length() // 8 + 1, "big", signed=True)


# ---------------------------------------------------------------------------- reading


def field_from_schema(obj: Any, name: str) -> pa.Field:
    """``asConnectSchema``: a parsed schema object → an Arrow field named ``name``."""
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise DataError("Schema must contain 'type' field")
    type_name: str = obj["type"]
    logical = obj.get("name") if isinstance(obj.get("name"), str) else None
    params = _parameters(obj.get("parameters"))
    key_optional = False
    if logical in _LOGICAL_PHYSICAL and _LOGICAL_PHYSICAL[logical] == type_name:
        typ = cs.arrow_type(type_name, logical_name=logical, parameters=params)
    elif type_name == cs.ARRAY:
        items = obj.get("items")
        if items is None:
            raise DataError("Array schema did not specify the element type")
        typ = cs.arrow_type(type_name, items=field_from_schema(items, "item"))
    elif type_name == cs.MAP:
        if "keys" not in obj:
            raise DataError("Map schema did not specify the key type")
        if "values" not in obj:
            raise DataError("Map schema did not specify the value type")
        keys = field_from_schema(obj["keys"], "key")
        key_optional = keys.nullable
        if key_optional:
            keys = keys.with_metadata({**(keys.metadata or {}), META_KEY_OPTIONAL: b"true"})
        typ = cs.arrow_type(type_name, keys=keys, values=field_from_schema(obj["values"], "value"))
    elif type_name == cs.STRUCT:
        fields = obj.get("fields")
        if not isinstance(fields, list):
            raise DataError('Struct schema\'s "fields" argument is not an array.')
        children = []
        for child in fields:
            child_name = child.get("field") if isinstance(child, dict) else None
            if not isinstance(child_name, str):
                raise DataError("Struct schema's field name not specified properly")
            children.append(field_from_schema(child, child_name))
        typ = cs.arrow_type(type_name, fields=children)
    else:
        try:
            typ = cs.arrow_type(type_name)
        except DataError:
            raise DataError("Unknown schema type: " + type_name) from None
    return _with_attributes(obj, name, typ, logical, params)


def _parameters(raw: Any) -> dict[str, str] | None:
    if not isinstance(raw, dict):
        return None
    if not all(isinstance(v, str) for v in raw.values()):
        raise DataError("Schema parameters must have string values.")
    return dict(raw)


def _with_attributes(
    obj: dict[str, Any], name: str, typ: pa.DataType, logical: str | None, params: Any
) -> pa.Field:
    implicit = logical is not None and cs.schema_name(pa.field("x", typ)) == logical
    version = obj.get("version")
    version = version if isinstance(version, int) and not isinstance(version, bool) else None
    if implicit and version == 1:
        version = None
    if implicit and params:
        params = {
            k: v for k, v in params.items() if k not in (cs.DECIMAL_SCALE_PARAM, cs.DECIMAL_PRECISION_PARAM)
        }
    doc = obj.get("doc") if isinstance(obj.get("doc"), str) else None
    f = cs.field(
        name,
        typ,
        optional=obj.get("optional") is True,
        schema_name=None if implicit else logical,
        version=version,
        doc=doc,
        parameters=params or None,
    )
    default = obj.get("default")
    if default is None:
        return f
    payload = payload_default(py_value(default, f, True), f)
    return cs.field(
        name,
        typ,
        optional=f.nullable,
        schema_name=None if implicit else logical,
        version=version,
        doc=doc,
        parameters=params or None,
        default=payload,
        has_default=True,
    )


def payload_default(value: Any, f: pa.Field) -> Any:
    """A value as :func:`py_value` returns it → the JSON payload form stored in metadata."""
    if value is None:
        return None
    t = f.type
    if pa.types.is_decimal(t):
        return base64.b64encode(unscaled_bytes(value, t.scale)).decode("ascii")
    if pa.types.is_binary(t):
        return base64.b64encode(value).decode("ascii")
    if pa.types.is_struct(t):
        return {c.name: payload_default(value.get(c.name), c) for c in t}
    if pa.types.is_map(t):
        pairs = [(payload_default(k, t.key_field), payload_default(v, t.item_field)) for k, v in value]
        return dict(pairs) if pa.types.is_string(t.key_type) else [list(p) for p in pairs]
    if pa.types.is_list(t):
        return [payload_default(v, t.value_field) for v in value]
    return value


# ---------------------------------------------------------------------------- values

Reader = Callable[[Any], Any]


def py_value(node: Any, f: pa.Field, replace_null: bool) -> Any:
    """One parsed JSON value → the Python value of ``f``'s Arrow type (Kafka's ``convertToConnect``).

    Raises DataError where Kafka does, and also where Kafka would silently read a value of
    the wrong JSON type as 0 or null. For many rows, compile once with :func:`reader`.
    """
    return reader(f, replace_null)(node)


def reader(f: pa.Field, replace_null: bool) -> Reader:
    """:func:`py_value` for one field, with the type dispatch done once."""
    convert = _type_reader(f.type, replace_null)
    nullable = bool(f.nullable)
    default: list[Any] = []
    if replace_null and cs.has_default(f):
        default.append(reader(f.remove_metadata().with_nullable(True), False)(cs.schema_default(f)))
    message = f"Invalid null value for required {cs.connect_type(f.type).upper()} field"

    def read(node: Any) -> Any:
        if node is None:
            if default:
                return default[0]
            if nullable:
                return None
            raise DataError(message)
        return convert(node)

    return read


def _type_reader(t: pa.DataType, replace_null: bool) -> Reader:
    if pa.types.is_struct(t):
        children = [(c.name, reader(c, replace_null)) for c in t]

        def struct(node: Any) -> Any:
            if type(node) is not dict:
                raise DataError("Structs should be encoded as JSON objects, but found " + node_type(node))
            return {name: read(node.get(name)) for name, read in children}

        return struct
    if pa.types.is_map(t):
        return _map_reader(t, replace_null)
    if pa.types.is_list(t):
        item = reader(t.value_field, replace_null)

        def array(node: Any) -> Any:
            if type(node) is not list:
                raise DataError(f"Invalid type for ARRAY: {node_type(node)}")
            return [item(v) for v in node]

        return array
    return _primitive_reader(t)


def _map_reader(t: pa.MapType, replace_null: bool) -> Reader:
    value = reader(t.item_field, replace_null)
    if pa.types.is_string(t.key_type):

        def object_map(node: Any) -> Any:
            if type(node) is not dict:
                raise DataError(
                    "Maps with string fields should be encoded as JSON objects, but found " + node_type(node)
                )
            return [(k, value(v)) for k, v in node.items()]

        return object_map
    key = reader(t.key_field.with_nullable(False), replace_null)

    def pairs_map(node: Any) -> Any:
        if type(node) is not list:
            raise DataError(
                "Maps with non-string fields should be encoded as JSON array of tuples, but found "
                + node_type(node)
            )
        out = []
        for entry in node:
            if type(entry) is not list:
                raise DataError("Found invalid map entry instead of array tuple: " + node_type(entry))
            if len(entry) != 2:
                raise DataError(f"Found invalid map entry, expected length 2 but found :{len(entry)}")
            out.append((key(entry[0]), value(entry[1])))
        return out

    return pairs_map


_INT_BITS = {8: 7, 16: 15, 32: 31, 64: 63}


def _primitive_reader(t: pa.DataType) -> Reader:
    type_name = cs.connect_type(t).upper()
    if pa.types.is_decimal(t):
        return _decimal_reader(t)
    if pa.types.is_integer(t) or pa.types.is_temporal(t):
        return _integer_reader(t, type_name)
    if pa.types.is_floating(t):

        def floating(node: Any) -> Any:
            kind = type(node)
            if kind is float or kind is int or kind is Decimal:
                return float(node)
            if kind is str and node in ("NaN", "Infinity", "-Infinity"):
                return float(node)
            raise DataError(f"Invalid type for {type_name}: {node_type(node)}")

        return floating
    if pa.types.is_boolean(t):
        return _exactly(bool, "Invalid type for BOOLEAN: ")
    if pa.types.is_string(t):
        return _exactly(str, "Invalid type for STRING: ")
    if pa.types.is_binary(t):

        def binary(node: Any) -> Any:
            if type(node) is not str:
                raise DataError("Invalid bytes field")
            try:
                return base64.b64decode(node, validate=True)
            except (binascii.Error, ValueError) as e:
                raise DataError("Invalid bytes field") from e

        return binary
    return _exactly(type(None), f"Invalid type for {type_name}: ")


def _exactly(kind: type, message: str) -> Reader:
    def check(node: Any) -> Any:
        if type(node) is not kind:
            raise DataError(message + node_type(node))
        return node

    return check


def _integer_reader(t: pa.DataType, type_name: str) -> Reader:
    width = t.bit_width if pa.types.is_integer(t) else (64 if pa.types.is_timestamp(t) else 32)
    low, high = -(1 << _INT_BITS[width]), (1 << _INT_BITS[width]) - 1
    name = cs.schema_name(pa.field("x", t))
    if name is not None:
        word = "integral" if name == cs.TIMESTAMP else "integer"
        wrong = (
            f"Invalid type for {name.rsplit('.', 1)[-1]}, underlying representation should be {word} but was "
        )
    else:
        wrong = f"Invalid type for {type_name}: "

    def integer(node: Any) -> Any:
        kind = type(node)
        if kind is not int:
            integral = (kind is float or kind is Decimal) and math.isfinite(node) and node == int(node)
            if not integral:
                raise DataError(wrong + node_type(node))
            node = int(node)
        if not low <= node <= high:
            raise DataError(f"Value {node} is out of range for {type_name}")
        return node

    return integer


def _decimal_reader(t: pa.DataType) -> Reader:
    quantum = Decimal(f"1E{-t.scale}")

    def decimal(node: Any) -> Any:
        d = decimal_of(node, t.scale)
        try:
            q = d.quantize(quantum, context=_EXACT)
        except InvalidOperation:
            q = None
        if q is None or q != d or len(q.as_tuple().digits) > t.precision:
            raise DataError(f"Decimal value {d} does not fit decimal({t.precision}, {t.scale})")
        return q

    return decimal


class SchemaCache(Generic[T]):
    """LRU of schema JSON text → what it translates to (``schemas.cache.size`` entries)."""

    def __init__(self, size: int) -> None:
        self._size = max(int(size), 0)
        self._items: OrderedDict[str, T] = OrderedDict()

    def __contains__(self, text: str) -> bool:
        return text in self._items

    def get(self, text: str) -> T | None:
        if text not in self._items:
            return None
        self._items.move_to_end(text)
        return self._items[text]

    def put(self, text: str, value: T) -> None:
        if self._size == 0:
            return
        self._items[text] = value
        self._items.move_to_end(text)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
