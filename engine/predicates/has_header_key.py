"""HasHeaderKey: true for records with at least one header named ``name`` (Kafka's ``HasHeaderKey``)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi.config import NO_DEFAULT, ConfigDef, Importance, NonEmptyString, Type
from engine.spi.transform import Predicate

NAME = "name"


class HasHeaderKey(Predicate):
    """``org.apache.kafka.connect.transforms.predicates.HasHeaderKey``.

    One comparison over all header keys of the batch, then the rows that own a match.
    """

    aliases = ("org.apache.kafka.connect.transforms.predicates.HasHeaderKey",)

    def __init__(self) -> None:
        self._name = ""

    @classmethod
    def config_def(cls) -> ConfigDef:
        return ConfigDef().define(
            NAME, Type.STRING, NO_DEFAULT, NonEmptyString(), Importance.MEDIUM, "The header name."
        )

    def configure(self, configs: Mapping[str, str]) -> None:
        self._name = str(self.config_def().parse(configs)[NAME])

    def test(self, batch: pa.RecordBatch) -> pa.BooleanArray:
        headers = batch.column(record.HEADERS)
        n = len(headers)
        flat = pc.list_flatten(headers)
        if len(flat) == 0:
            return pa.array(np.zeros(n, bool))
        hit = np.asarray(pc.fill_null(pc.equal(pc.struct_field(flat, [0]), self._name), False), bool)
        owners = np.asarray(pc.list_parent_indices(headers), np.int64)[hit]
        out = np.zeros(n, bool)
        out[owners] = True
        return pa.array(out)

    def __repr__(self) -> str:
        return f"HasHeaderKey{{name='{self._name}'}}"
