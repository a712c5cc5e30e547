"""The transformation chain of a connector: ``transforms=a,b`` with their predicates.

A predicate splits a batch into contiguous runs of matching and non-matching rows (never
two piles), the transform applies to the matching runs, and the runs are put back in
their order, so a conditional transform never reorders records. Adjacent pieces whose
schemas agree are joined again; pieces whose schemas differ (a transform changed the
value's type for some rows only) stay separate batches, in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.plugins import PluginRegistry, PluginType
from engine.spi.errors import ConfigError, DataError
from engine.spi.transform import Predicate, Transformation

_RESERVED = ("type", "predicate", "negate")
Runner = Callable[[Callable[[pa.RecordBatch], list[pa.RecordBatch]], pa.RecordBatch], list[pa.RecordBatch]]


def _aliases(value: str | None) -> list[str]:
    return [a.strip() for a in (value or "").split(",") if a.strip()]


def _own(config: Mapping[str, str], prefix: str) -> dict[str, str]:
    return {
        k[len(prefix) :]: v
        for k, v in config.items()
        if k.startswith(prefix) and k[len(prefix) :] not in _RESERVED
    }


@dataclass
class Step:
    alias: str
    transform: Transformation
    predicate: Predicate | None = None
    negate: bool = False

    def apply(self, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        try:
            return self._apply(batch)
        except Exception as e:
            # for the error handler and the dead-letter queue headers
            e.stage = "TRANSFORMATION"  # type: ignore[attr-defined]
            e.class_name = f"{type(self.transform).__module__}.{type(self.transform).__qualname__}"  # type: ignore[attr-defined]
            raise

    def _apply(self, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        if self.predicate is None or batch.num_rows == 0:
            return [self.transform.apply(batch)]
        mask = self.predicate.test(batch)
        if self.negate:
            mask = pc.invert(mask)
        flags = mask.to_numpy(zero_copy_only=False).astype(bool)
        if flags.all():
            return [self.transform.apply(batch)]
        if not flags.any():
            return [batch]
        cuts = np.flatnonzero(flags[1:] != flags[:-1]) + 1
        starts = np.concatenate(([0], cuts))
        ends = np.concatenate((cuts, [len(flags)]))
        pieces = []
        failed: list[tuple[int, DataError]] = []
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            part = batch.slice(a, b - a)
            if not flags[a]:
                pieces.append(part)
                continue
            try:
                pieces.append(self.transform.apply(part))
            except DataError as e:
                if not e.rows:
                    raise  # the runtime searches the whole batch
                failed.append((a, e))
        if failed:
            # every run's bad rows, as rows of the whole batch
            first = failed[0][1]
            error = DataError(str(first), rows=[a + r for a, e in failed for r in e.rows])
            raise error from first
        return join_adjacent(pieces)


def join_adjacent(pieces: list[pa.RecordBatch]) -> list[pa.RecordBatch]:
    """Concatenate neighbours with equal schemas; keep the order; drop empty pieces."""
    out: list[list[pa.RecordBatch]] = []
    for p in pieces:
        if p.num_rows == 0:
            continue
        if out and out[-1][0].schema.equals(p.schema, check_metadata=True):
            out[-1].append(p)
        else:
            out.append([p])
    return [g[0] if len(g) == 1 else pa.Table.from_batches(g).combine_chunks().to_batches()[0] for g in out]


class TransformChain:
    def __init__(self, registry: PluginRegistry, config: Mapping[str, str]) -> None:
        predicates: dict[str, Predicate] = {}
        for alias in _aliases(config.get("predicates")):
            cls = registry.resolve(config.get(f"predicates.{alias}.type", ""), PluginType.PREDICATE)
            pred: Predicate = cls()  # type: ignore[assignment]
            pred.configure(_own(config, f"predicates.{alias}."))
            predicates[alias] = pred
        self.steps: list[Step] = []
        for alias in _aliases(config.get("transforms")):
            prefix = f"transforms.{alias}."
            cls = registry.resolve(config.get(prefix + "type", ""), PluginType.TRANSFORMATION)
            transform: Transformation = cls()  # type: ignore[assignment]
            transform.configure(_own(config, prefix))
            pred_alias = config.get(prefix + "predicate")
            if pred_alias and pred_alias not in predicates:
                raise ConfigError(
                    f"Transform {alias} names predicate {pred_alias}, which is not in predicates",
                    prefix + "predicate",
                )
            negate = (config.get(prefix + "negate") or "false").strip().lower() == "true"
            self.steps.append(
                Step(alias, transform, predicates.get(pred_alias) if pred_alias else None, negate)
            )
        self._predicates = list(predicates.values())

    def __bool__(self) -> bool:
        return bool(self.steps)

    def apply(self, batch: pa.RecordBatch, run: Runner | None = None) -> list[pa.RecordBatch]:
        """The transformed batch, as one or more batches in order (none if all were dropped).

        ``run(step, batch)`` runs each step (the error handler passes itself here, so a
        failing step is retried on its good records alone, not the whole chain).
        """
        batches = [batch]
        for step in self.steps:
            out: list[pa.RecordBatch] = []
            for b in batches:
                out.extend(step.apply(b) if run is None else run(step.apply, b))
            batches = join_adjacent(out)
            if not batches:
                return []
        return batches

    def close(self) -> None:
        for step in self.steps:
            step.transform.close()
        for p in self._predicates:
            p.close()
