"""SimpleHeaderConverter: header values as text, read back with Kafka's type inference.

Writing is Kafka's ``Values.convertToString``: strings as they are, numbers and booleans as
Java prints them, bytes as base64, lists ``[a,b]``, maps ``{k:v}``, structs
``{"name":value}`` (strings inside quoted, with ``\\`` and ``"`` escaped), dates and times
as ISO-8601 (``2020-01-01``, ``12:34:56.789Z``, ``2020-01-01T12:34:56.789Z`` — chosen by
value, as Kafka does). Reading is ``Values.parseString``: integers become the narrowest of
INT8..INT64, other numbers FLOAT32 (FLOAT64 or Decimal when FLOAT32 overflows), ``true`` /
``false`` BOOLEAN, ``[..]`` arrays, ``{..}`` maps, ISO dates/times their logical types, the
rest (and the empty string) strings; ``null`` is null.

A batch column has one Arrow type, where Kafka types each value on its own: numbers widen
to a common type as Kafka's ``SchemaMerger`` does, and when the values of a batch have no
common type the whole column stays text (the values as they were). Plain strings — the
common case — are recognized with one regex kernel; only candidates are parsed in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from engine.spi.config import ConfigDef
from engine.spi.converter import HeaderConverter
from engine.spi.values import convert_to_string, header_text, parse_column, parse_string

__all__ = ["SimpleHeaderConverter", "convert_to_string", "parse_string"]


class SimpleHeaderConverter(HeaderConverter):
    """``org.apache.kafka.connect.storage.SimpleHeaderConverter`` (the logic is Kafka's
    ``Values``, in :mod:`engine.spi.values`, shared with the transforms that write headers)."""

    aliases = ("org.apache.kafka.connect.storage.SimpleHeaderConverter",)

    @classmethod
    def config_def(cls) -> ConfigDef:
        return ConfigDef()

    def configure(self, configs: Mapping[str, Any]) -> None:
        """Nothing to configure."""

    def from_connect_header(self, topic: str, header_key: str, field: pa.Field, values: pa.Array) -> pa.Array:
        return header_text(values)

    def to_connect_header(self, topic: str, header_key: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
        return parse_column(header_key, data)
