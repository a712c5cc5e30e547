"""Transformations and predicates: pure functions of whole record batches.

A transformation maps an envelope batch to an envelope batch: it may change columns,
drop rows (a filter) but never reorder them. A predicate maps a batch to a boolean
mask. Neither does I/O nor mutates its input; both build what they need (compiled
regexes, output schemas) once per input schema, not per batch.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

import pyarrow as pa

from engine.spi.plugin import Plugin


class Transformation(Plugin, abc.ABC):
    def configure(self, configs: Mapping[str, str]) -> None:
        """Configure with the transform's own keys (``transforms.<alias>.`` stripped)."""

    @abc.abstractmethod
    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch: ...

    def close(self) -> None:
        """Release resources."""


class Predicate(Plugin, abc.ABC):
    def configure(self, configs: Mapping[str, str]) -> None:
        """Configure with the predicate's own keys (``predicates.<alias>.`` stripped)."""

    @abc.abstractmethod
    def test(self, batch: pa.RecordBatch) -> pa.BooleanArray:
        """A mask with one non-null boolean per row."""

    def close(self) -> None:
        """Release resources."""
