"""Result columns → Connect values (source side), one plan per result schema.

A plan is built once per result schema and applied to whole Arrow batches: casts only,
no per-row Python. What each database's columns become is in the dialects
(:meth:`connectors.jdbc.dialect.Dialect.to_connect`) and in docs/jdbc.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from connectors.jdbc.dialect import Dialect
from engine.spi import schema
from engine.spi.errors import DataError


@dataclass(frozen=True)
class _Step:
    name: str
    target: pa.DataType
    how: str | None


def _time_text(arr: pa.Array) -> pa.Array:
    """``HH:MM:SS[.fff]`` text → time32[ms]."""
    s = arr.cast(pa.string())
    h = pc.utf8_slice_codeunits(s, 0, 2).cast(pa.int32())
    m = pc.utf8_slice_codeunits(s, 3, 5).cast(pa.int32())
    sec = pc.utf8_slice_codeunits(s, 6, 100)
    secs = pc.if_else(pc.equal(sec, ""), pa.scalar("0"), sec).cast(pa.float64())
    ms = pc.add(
        pc.multiply(pc.add(pc.multiply(h, 60), m), 60_000), pc.round(pc.multiply(secs, 1000)).cast(pa.int32())
    )
    return ms.cast(pa.int32()).cast(pa.time32("ms"))


class ResultPlan:
    """Turns result batches of one schema into a Connect STRUCT column."""

    def __init__(
        self,
        dialect: Dialect,
        result: pa.Schema,
        declared: Mapping[str, str] | None = None,
        not_null: Mapping[str, bool] | None = None,
        schema_name: str | None = None,
    ) -> None:
        self.steps: list[_Step] = []
        fields = []
        for f in result:
            target, how = dialect.to_connect(f, (declared or {}).get(f.name))
            self.steps.append(_Step(f.name, target, how))
            fields.append(schema.field(f.name, target, optional=not (not_null or {}).get(f.name, False)))
        self.struct = pa.struct(fields)
        self.value_field = schema.field("value", self.struct, optional=False, schema_name=schema_name)

    def convert(self, batch: pa.RecordBatch) -> pa.StructArray:
        arrays = []
        for i, step in enumerate(self.steps):
            arr = batch.column(i)
            try:
                if step.how == "storage":
                    arr = arr.storage.cast(step.target)
                elif step.how == "truncate":
                    arr = arr.cast(step.target, safe=False)
                elif step.how == "text":
                    arr = arr.cast(pa.string())
                elif step.how == "time_text":
                    arr = _time_text(arr)
                elif arr.null_count == len(arr):
                    arr = pa.nulls(len(arr), step.target)  # SQLite types all-null results as int64
                elif arr.type != step.target:
                    try:
                        arr = arr.cast(step.target)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                        arr = arr.cast(pa.string()).cast(step.target)  # e.g. SQLite's 3 or 1.5 → decimal
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
                raise DataError(f"Column '{step.name}' cannot be read as {step.target}: {e}") from None
            arrays.append(arr)
        return pa.StructArray.from_arrays(arrays, fields=list(self.struct))
