"""Converters: bytes ↔ typed Arrow arrays, a whole column at a time.

``from_connect_data`` serializes (source side: typed column → binary column for the
producer); ``to_connect_data`` deserializes (sink side: binary column from the consumer →
typed column and its Connect schema as an Arrow field). Nulls stay nulls (tombstones).

A converter that cannot handle some rows raises :class:`engine.spi.errors.DataError`
with ``rows`` set to their indices when it can tell; the runtime then reports those rows
and goes on with the others in order.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

import pyarrow as pa

from engine.spi.plugin import Plugin


class Converter(Plugin, abc.ABC):
    def configure(self, configs: Mapping[str, str], is_key: bool) -> None:
        """Configure with the converter's own keys (prefix already stripped)."""

    @abc.abstractmethod
    def from_connect_data(self, topic: str, field: pa.Field, values: pa.Array) -> pa.Array:
        """Serialize ``values`` (whose Connect schema is ``field``) to a binary array."""

    @abc.abstractmethod
    def to_connect_data(self, topic: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
        """Deserialize a binary array to typed values and their schema field."""

    def close(self) -> None:
        """Release resources."""


class HeaderConverter(Plugin, abc.ABC):
    """Converts header values; headers travel as binary in the envelope."""

    def configure(self, configs: Mapping[str, str]) -> None:
        """Configure with the converter's own keys (prefix already stripped)."""

    @abc.abstractmethod
    def from_connect_header(self, topic: str, header_key: str, field: pa.Field, values: pa.Array) -> pa.Array:
        """Serialize typed header values to a binary array."""

    @abc.abstractmethod
    def to_connect_header(self, topic: str, header_key: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
        """Deserialize binary header values to typed values and their schema field."""

    def close(self) -> None:
        """Release resources."""
