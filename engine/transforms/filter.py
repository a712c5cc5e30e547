"""Filter: drop every record (Kafka's ``Filter``); meant to be used with a predicate.

With ``transforms.<alias>.predicate`` the runtime applies it only to the runs of records
the predicate selects (``negate`` flips them), so it drops exactly those.
"""

from __future__ import annotations

import pyarrow as pa

from engine.spi.config import ConfigDef
from engine.spi.transform import Transformation


class Filter(Transformation):
    """``org.apache.kafka.connect.transforms.Filter``: returns no records."""

    aliases = ("org.apache.kafka.connect.transforms.Filter",)

    @classmethod
    def config_def(cls) -> ConfigDef:
        return ConfigDef()

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.slice(0, 0)
