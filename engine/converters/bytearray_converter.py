"""ByteArrayConverter: bytes pass through unchanged, in both directions.

Writing accepts a BYTES schema (Arrow binary, large binary, binary view, fixed-size
binary) or a schemaless column; anything else is a DataError, as in Kafka. Reading gives an
optional bytes column.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from engine.converters import HEADER, KEY, TYPE_CONFIG, converter_config_def, with_converter_type
from engine.spi import schema as cs
from engine.spi.config import ConfigDef
from engine.spi.converter import Converter, HeaderConverter
from engine.spi.errors import DataError

_BINARY_LIKE = (
    pa.types.is_binary,
    pa.types.is_large_binary,
    pa.types.is_binary_view,
    pa.types.is_fixed_size_binary,
)


def _is_binary(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return any(check(t) for check in _BINARY_LIKE) or pa.types.is_null(t)


class ByteArrayConverter(Converter, HeaderConverter):
    """``org.apache.kafka.connect.converters.ByteArrayConverter`` (also a header converter)."""

    aliases = ("org.apache.kafka.connect.converters.ByteArrayConverter",)

    def __init__(self) -> None:
        self.name = "value"

    @classmethod
    def config_def(cls) -> ConfigDef:
        return converter_config_def()

    def configure(self, configs: Mapping[str, Any], is_key: bool | None = None) -> None:
        kind = with_converter_type(configs, is_key).get(TYPE_CONFIG)
        self.name = "key" if kind == KEY else ("header" if kind == HEADER else "value")

    def from_connect_header(self, topic: str, header_key: str, field: pa.Field, values: pa.Array) -> pa.Array:
        return self.from_connect_data(topic, field, values)

    def to_connect_header(self, topic: str, header_key: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
        return pa.field(header_key, pa.binary()), self.to_connect_data(topic, data)[1]

    def from_connect_data(self, topic: str, field: pa.Field, values: pa.Array) -> pa.Array:
        schemaless = cs.is_schemaless(field)
        if not schemaless and (not _is_binary(field.type) or cs.schema_name(field) == cs.DECIMAL):
            raise DataError(
                f"Invalid schema type for ByteArrayConverter: {cs.connect_type(field.type).upper()}"
            )
        if not _is_binary(values.type):
            raise DataError(f"ByteArrayConverter is not compatible with objects of type {values.type}")
        return _as_binary(values)

    def to_connect_data(self, topic: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
        return pa.field(self.name, pa.binary()), _as_binary(data)


def _as_binary(values: pa.Array) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    return values if pa.types.is_binary(values.type) else values.cast(pa.binary())
