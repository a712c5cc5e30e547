"""DropHeaders: remove every header whose key is listed (Kafka's ``DropHeaders``).

One membership test over the flattened header keys and one filter of the entries; the
key and value columns are not touched.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi.config import NO_DEFAULT, ConfigDef, Importance, Type
from engine.spi.transform import Transformation
from engine.transforms._common import NON_EMPTY_LIST, replace_column

HEADERS = "headers"


class DropHeaders(Transformation):
    """``org.apache.kafka.connect.transforms.DropHeaders``."""

    aliases = ("org.apache.kafka.connect.transforms.DropHeaders",)

    def __init__(self) -> None:
        self._keys = pa.array([], pa.string())

    @classmethod
    def config_def(cls) -> ConfigDef:
        return ConfigDef().define(
            HEADERS,
            Type.LIST,
            NO_DEFAULT,
            NON_EMPTY_LIST,
            Importance.HIGH,
            "The name of the headers to be removed.",
        )

    def configure(self, configs: Mapping[str, str]) -> None:
        names = self.config_def().parse(configs)[HEADERS]
        self._keys = pa.array(sorted(set(names)), pa.string())

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        i = batch.schema.get_field_index(record.HEADERS)
        headers = batch.column(i)
        if batch.num_rows == 0 or len(headers.values) == 0:
            return batch
        return replace_column(batch, record.HEADERS, batch.schema.field(i), drop(headers, self._keys))


def drop(headers: pa.Array, keys: pa.Array) -> pa.Array:
    """``headers`` without the entries whose key is in ``keys`` (null rows stay null)."""
    offsets = np.asarray(headers.offsets.to_numpy(zero_copy_only=False), np.int64)
    first, last = int(offsets[0]), int(offsets[-1])
    entries = headers.values.slice(first, last - first)
    hit = pc.fill_null(pc.is_in(pc.struct_field(entries, [0]), value_set=keys), False)
    keep = ~np.asarray(hit.to_numpy(zero_copy_only=False), bool)
    if keep.all():
        return headers
    kept_before = np.concatenate(([0], np.cumsum(keep)))
    new_offsets = kept_before[offsets - first].astype(np.int32)
    mask = headers.is_null() if headers.null_count else None
    return pa.ListArray.from_arrays(
        pa.array(new_offsets), entries.filter(pa.array(keep)), type=headers.type, mask=mask
    )
