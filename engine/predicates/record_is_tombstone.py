"""RecordIsTombstone: true for records whose value is null (Kafka's ``RecordIsTombstone``)."""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi.config import ConfigDef
from engine.spi.transform import Predicate


class RecordIsTombstone(Predicate):
    """``org.apache.kafka.connect.transforms.predicates.RecordIsTombstone``."""

    aliases = ("org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",)

    @classmethod
    def config_def(cls) -> ConfigDef:
        return ConfigDef()

    def configure(self, configs: Mapping[str, str]) -> None:
        """No configuration."""

    def test(self, batch: pa.RecordBatch) -> pa.BooleanArray:
        mask: pa.BooleanArray = pc.is_null(batch.column(record.VALUE))
        return mask

    def __repr__(self) -> str:
        return "RecordIsTombstone{}"
