"""StringConverter: values as text in ``converter.encoding``, read back as optional strings.

Writing prints each value as Java's ``toString()`` would in Kafka Connect, vectorized with
Arrow kernels: strings as they are, integers and booleans as usual, floats as
``Double.toString`` (``1.0``, ``1.0E7``), decimals as ``BigDecimal.toString``, structs as
``Struct{name=value,…}`` (null fields left out), lists as ``[a, b]``, maps as ``{k=v, k2=v2}``,
dates and times as ``java.util.Date.toString()`` in UTC (``Thu Jan 01 00:00:00 UTC 1970``).
Bytes are written unchanged at the top level (Java would print ``[B@1b6d3586``) and as
base64 inside a struct, list or map.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.converters import HEADER, KEY, TYPE_CONFIG, converter_config_def, with_converter_type
from engine.converters.json_codec import base64_encode, canonical, join
from engine.spi.config import ConfigDef, Importance, Type, Width
from engine.spi.converter import Converter, HeaderConverter
from engine.spi.errors import ConfigError, DataError
from engine.spi.values import java_float_text

ENCODING = "converter.encoding"

_JAVA_NAMES = {"UTF-16": "utf-16-be"}  # Java's UTF-16 writes big-endian (with a BOM)
_UTF8 = {"utf-8", "utf_8", "utf8", "u8"}


class StringConverter(Converter, HeaderConverter):
    """``org.apache.kafka.connect.storage.StringConverter`` (also a header converter)."""

    aliases = ("org.apache.kafka.connect.storage.StringConverter",)

    def __init__(self) -> None:
        self.encoding = "UTF-8"
        self.codec = "utf-8"
        self.name = "value"

    @classmethod
    def config_def(cls) -> ConfigDef:
        return converter_config_def().define(
            ENCODING,
            Type.STRING,
            "UTF-8",
            None,
            Importance.HIGH,
            "The name of the Java character set to use for encoding strings as byte arrays.",
            width=Width.MEDIUM,
            display_name="Encoding",
        )

    def configure(self, configs: Mapping[str, Any], is_key: bool | None = None) -> None:
        values = self.config_def().parse(with_converter_type(configs, is_key))
        self.encoding = str(values[ENCODING])
        try:
            self.codec = codecs.lookup(_JAVA_NAMES.get(self.encoding.upper(), self.encoding)).name
        except LookupError:
            raise ConfigError(
                f"Invalid value {self.encoding} for configuration {ENCODING}: unknown character set",
                key=ENCODING,
            ) from None
        kind = values[TYPE_CONFIG]
        self.name = "key" if kind == KEY else ("header" if kind == HEADER else "value")

    def from_connect_header(self, topic: str, header_key: str, field: pa.Field, values: pa.Array) -> pa.Array:
        return self.from_connect_data(topic, field, values)

    def to_connect_header(self, topic: str, header_key: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
        return pa.field(header_key, pa.string()), self.to_connect_data(topic, data)[1]

    def from_connect_data(self, topic: str, field: pa.Field, values: pa.Array) -> pa.Array:
        values = canonical(values)
        if pa.types.is_binary(values.type):
            return values
        return encode_text(java_text(values), self.codec, self.encoding)

    def to_connect_data(self, topic: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
        data = canonical(data)
        return pa.field(self.name, pa.string()), decode_text(data, self.codec, self.encoding)


def encode_text(text: pa.Array, codec: str, java_name: str) -> pa.Array:
    """A string array → bytes in ``codec`` (unmappable characters become ``?``, as in Java)."""
    if codec.replace("-", "_") in _UTF8 or (
        _ascii_compatible(codec) and pc.all(pc.string_is_ascii(text)).as_py()
    ):
        return text.cast(pa.binary())
    bom = b"\xfe\xff" if java_name.upper() == "UTF-16" else b""
    return pa.array(
        [None if s is None else bom + s.encode(codec, "replace") for s in text.to_pylist()], pa.binary()
    )


def decode_text(data: pa.Array, codec: str, java_name: str) -> pa.Array:
    """Bytes in ``codec`` → strings; malformed input becomes U+FFFD, as Java's ``new String`` does."""
    if codec.replace("-", "_") in _UTF8 or _ascii_compatible(codec):
        try:
            text = data.cast(pa.string())
            if codec.replace("-", "_") in _UTF8 or pc.all(pc.string_is_ascii(text)).as_py() is not False:
                return text
        except pa.ArrowInvalid:
            pass
    out = []
    for raw in data.to_pylist():
        if raw is not None and java_name.upper() == "UTF-16":
            out.append(
                raw.decode("utf-16" if raw[:2] in (b"\xfe\xff", b"\xff\xfe") else "utf-16-be", "replace")
            )
        else:
            out.append(None if raw is None else raw.decode(codec, "replace"))
    return pa.array(out, pa.string())


def _ascii_compatible(codec: str) -> bool:
    try:
        return "abc~".encode(codec) == b"abc~" and codec not in ("utf-7", "utf_7")
    except (UnicodeError, LookupError):
        return False


# Java toString -------------------------------------------------------------------------

_DAY_MS = 86_400_000


def java_text(arr: pa.Array) -> pa.Array:
    """Each value as Java's ``toString()`` prints it; nulls stay null."""
    t = arr.type
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    if pa.types.is_string(t):
        return arr
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_decimal(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_floating(t):
        return java_float_text(arr)
    if pa.types.is_binary(t):
        return base64_encode(arr)
    if pa.types.is_date32(t):
        return _date_text(pc.multiply(arr.view(pa.int32()).cast(pa.int64()), _DAY_MS))
    if pa.types.is_time32(t):
        return _date_text(arr.view(pa.int32()).cast(pa.int64()))
    if pa.types.is_timestamp(t):
        return _date_text(arr.view(pa.int64()))
    if pa.types.is_struct(t):
        return _struct_text(arr)
    if pa.types.is_map(t):
        keys, items, offsets = _children(arr, arr.keys), _children(arr, arr.items), _rel_offsets(arr)
        entries = join([_null_word(java_text(keys)), "=", _null_word(java_text(items))], len(keys))
        return _wrap(arr, offsets, entries, "{", ", ", "}")
    if pa.types.is_list(t):
        items = _children(arr, arr.values)
        return _wrap(arr, _rel_offsets(arr), _null_word(java_text(items)), "[", ", ", "]")
    raise DataError(f"Failed to serialize unexpected value type {t}")


def _date_text(ms: pa.Array) -> pa.Array:
    """``java.util.Date.toString()`` of epoch milliseconds, in UTC."""
    millis = np.asarray(ms.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    mask = None if not ms.null_count else ~np.asarray(ms.is_valid().to_numpy(zero_copy_only=False), bool)
    seconds = pa.array(np.floor_divide(millis, 1000), pa.int64(), mask=mask).view(pa.timestamp("s"))
    return pc.strftime(seconds, format="%a %b %d %H:%M:%S UTC %Y")


def _null_word(text: pa.Array) -> pa.Array:
    return text.fill_null("null") if text.null_count else text


def _rel_offsets(arr: pa.Array) -> np.ndarray:
    offsets: np.ndarray = np.asarray(arr.offsets, dtype=np.int64)
    rel: np.ndarray = offsets - offsets[0]
    return rel


def _children(arr: pa.Array, child: pa.Array) -> pa.Array:
    offsets = np.asarray(arr.offsets, dtype=np.int64)
    return child.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _wrap(
    arr: pa.Array, offsets: np.ndarray, entries: pa.Array, opening: str, sep: str, closing: str
) -> pa.Array:
    lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), entries)
    text = join([opening, pc.binary_join(lists, sep), closing], len(arr))
    return pc.if_else(arr.is_valid(), text, pa.scalar(None, pa.string())) if arr.null_count else text


def _struct_text(arr: pa.Array) -> pa.Array:
    """``Struct{a=1,b=x}``: the fields that are not null, in order."""
    n, t = len(arr), arr.type
    if t.num_fields == 0:
        return _wrap(arr, np.zeros(n + 1, np.int64), pa.array([], pa.string()), "Struct{", ",", "}")
    parts = []
    for i in range(t.num_fields):
        child = arr.field(i)
        text = join([t.field(i).name + "=", java_text(child)], n)
        parts.append(
            pc.if_else(child.is_valid(), text, pa.scalar(None, pa.string())) if child.null_count else text
        )
    order = (np.arange(t.num_fields)[None, :] * n + np.arange(n)[:, None]).reshape(-1)
    flat = pa.concat_arrays(parts).take(pa.array(order))
    present = np.asarray(flat.is_valid().to_numpy(zero_copy_only=False), bool)
    counts = present.reshape(n, t.num_fields).sum(axis=1)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    kept = flat.filter(pa.array(present)) if not present.all() else flat
    return _wrap(arr, offsets, kept, "Struct{", ",", "}")
