"""Vectorized record generation from an Avro schema with ``arg.properties`` hints.

A schema compiles once into a tree of column makers; a *block* of :data:`BLOCK_ROWS`
records is then one numpy draw per field, put together as an Arrow struct array. Block
``k`` of task ``t`` draws from its own random stream, seeded by ``(seed, t, k)``, so record
``i`` of a task is the same whatever batches it was generated in, a restart at any
iteration continues the exact stream, and each task of a connector has its own.

Hints understood (as the Avro random generator reads them): ``range`` (``min`` ≤ x <
``max``), ``options`` (one of the list), ``regex`` (see :mod:`connectors.datagen.regex`),
``iteration`` (``start`` + ``step`` * n), ``length`` for strings. Types: int, long, float,
double, boolean, string, bytes, enum, nested records and ``["null", T]`` unions (null half
of the time). Sequences (``iteration``) interleave the tasks: task ``t`` of ``T`` takes
every ``T``-th value from ``t``, so no two tasks repeat a key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.datagen import regex
from engine.spi import schema

BLOCK_ROWS = 4096
_MASK64 = (1 << 64) - 1

Maker = Callable[["np.random.Generator", np.ndarray, int], pa.Array]
"""(random stream, sequence numbers of the rows, row count) → column. (The random stream's
type is named, not evaluated: ``np.random`` is imported only when records are generated,
not when plugin discovery imports the connector.)"""

_ARROW = {
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "string": pa.string(),
    "bytes": pa.binary(),
}
_DEFAULT_STRING = regex.parse("[a-zA-Z0-9]{8}")


class SchemaError(ValueError):
    """The schema uses a type or hint the generator does not support."""


@dataclass(frozen=True, slots=True)
class Column:
    field: pa.Field
    make: Maker


def _full_name(node: Mapping[str, Any], namespace: str | None) -> tuple[str, str | None]:
    name = str(node["name"])
    ns = node.get("namespace", namespace)
    if "." in name:
        return name, name.rpartition(".")[0]
    return (f"{ns}.{name}" if ns else name), ns


def _typed(values: np.ndarray, t: pa.DataType) -> pa.Array:
    return pa.array(values, t)


def _options(name: str, t: pa.DataType, options: list[Any]) -> Maker:
    if not options:
        raise SchemaError(f"field {name}: empty options")
    table = pa.array(options, t)

    def make(rng: np.random.Generator, seq: np.ndarray, n: int) -> pa.Array:
        return table.take(pa.array(rng.integers(0, len(table), size=n)))

    return make


def _iteration(name: str, t: pa.DataType, spec: Mapping[str, Any]) -> Maker:
    start, step = spec.get("start", 0), spec.get("step", 1)
    if pa.types.is_string(t):
        start, step = int(start), int(step)

        def make_text(rng: np.random.Generator, seq: np.ndarray, n: int) -> pa.Array:
            return pc.cast(pa.array(start + step * seq, pa.int64()), pa.string())

        return make_text
    if pa.types.is_floating(t):

        def make_float(rng: np.random.Generator, seq: np.ndarray, n: int) -> pa.Array:
            return _typed(float(start) + float(step) * seq.astype(np.float64), t)

        return make_float
    if not pa.types.is_integer(t):
        raise SchemaError(f"field {name}: iteration needs a number or string type")
    dtype = np.int32 if t == pa.int32() else np.int64

    def make_int(rng: np.random.Generator, seq: np.ndarray, n: int) -> pa.Array:
        return _typed((int(start) + int(step) * seq).astype(dtype), t)

    return make_int


def _range(name: str, t: pa.DataType, spec: Mapping[str, Any]) -> Maker:
    if pa.types.is_integer(t):
        info = np.iinfo(np.int32 if t == pa.int32() else np.int64)
        low, high = int(spec.get("min", info.min)), int(spec.get("max", info.max))
        if high < low:
            raise SchemaError(f"field {name}: range max < min")

        def make_int(rng: np.random.Generator, seq: np.ndarray, n: int) -> pa.Array:
            if high == low:
                return _typed(np.full(n, low), t)
            return _typed(rng.integers(low, high, size=n), t)

        return make_int
    if pa.types.is_floating(t):
        lo, hi = float(spec.get("min", 0.0)), float(spec.get("max", 1.0))

        def make_float(rng: np.random.Generator, seq: np.ndarray, n: int) -> pa.Array:
            return _typed(rng.uniform(lo, hi, size=n), t)

        return make_float
    raise SchemaError(f"field {name}: range needs a number type")


def _plain(name: str, t: pa.DataType, props: Mapping[str, Any]) -> Maker:
    if pa.types.is_string(t) or pa.types.is_binary(t):
        length = props.get("length")
        if isinstance(length, Mapping):
            atoms = [regex.Atom(regex.parse("[a-zA-Z0-9]")[0].chars, int(length["min"]), int(length["max"]))]
        elif length is not None:
            atoms = [regex.Atom(regex.parse("[a-zA-Z0-9]")[0].chars, int(length), int(length))]
        else:
            atoms = _DEFAULT_STRING

        def make_text(rng: np.random.Generator, seq: np.ndarray, n: int) -> pa.Array:
            out = regex.generate(atoms, rng, n)
            return out if pa.types.is_string(t) else out.cast(pa.binary())

        return make_text
    if pa.types.is_boolean(t):
        return lambda rng, seq, n: pa.array(rng.random(n) < 0.5, pa.bool_())
    if pa.types.is_floating(t):
        return lambda rng, seq, n: _typed(rng.random(n), t)
    return _range(name, t, {})


def _primitive(name: str, t: pa.DataType, props: Mapping[str, Any]) -> Maker:
    if "options" in props:
        return _options(name, t, list(props["options"]))
    if "iteration" in props:
        return _iteration(name, t, props["iteration"])
    if "regex" in props:
        if not pa.types.is_string(t):
            raise SchemaError(f"field {name}: regex needs a string type")
        try:
            atoms = regex.parse(str(props["regex"]))
        except regex.RegexError as e:
            raise SchemaError(f"field {name}: {e}") from None
        return lambda rng, seq, n: regex.generate(atoms, rng, n)
    if "range" in props:
        return _range(name, t, props["range"])
    return _plain(name, t, props)


def _nullable(inner: Column) -> Column:
    t = inner.field.type
    null = pa.scalar(None, t)

    def make(rng: np.random.Generator, seq: np.ndarray, n: int) -> pa.Array:
        is_null = pa.array(rng.random(n) < 0.5)
        return pc.if_else(is_null, null, inner.make(rng, seq, n))

    return Column(inner.field.with_nullable(True), make)


def compile_type(name: str, node: Any, namespace: str | None, doc: str | None = None) -> Column:
    """A column maker (and its Connect-schema field) for one Avro type."""
    if isinstance(node, list):
        branches = [b for b in node if b != "null"]
        if len(branches) != 1:
            raise SchemaError(f"field {name}: only unions of null and one type are supported")
        inner = compile_type(name, branches[0], namespace, doc)
        return _nullable(inner) if len(branches) < len(node) else inner
    if isinstance(node, str):
        node = {"type": node}
    if not isinstance(node, Mapping):
        raise SchemaError(f"field {name}: bad type {node!r}")
    kind = node.get("type")
    props: Mapping[str, Any] = node.get("arg.properties") or {}
    if isinstance(kind, list | Mapping):  # {"type": {...}} wrapping another type
        return compile_type(name, kind, namespace, doc)
    if kind == "record":
        return _record(name, node, namespace, doc)
    if kind == "enum":
        full, _ = _full_name(node, namespace)
        symbols = list(node.get("symbols") or [])
        make = _options(name, pa.string(), list(props.get("options", symbols)))
        return Column(schema.field(name, pa.string(), optional=False, schema_name=full, doc=doc), make)
    if kind not in _ARROW:
        raise SchemaError(f"field {name}: Avro type {kind!r} is not supported by the generator")
    t = _ARROW[str(kind)]
    return Column(schema.field(name, t, optional=False, doc=doc), _primitive(name, t, props))


def _record(name: str, node: Mapping[str, Any], namespace: str | None, doc: str | None) -> Column:
    full, ns = _full_name(node, namespace)
    columns = [compile_type(str(f["name"]), f["type"], ns, f.get("doc")) for f in node.get("fields") or []]
    if not columns:
        raise SchemaError(f"record {full} has no fields")
    fields = [c.field for c in columns]
    struct = pa.struct(fields)

    def make(rng: np.random.Generator, seq: np.ndarray, n: int) -> pa.Array:
        return pa.StructArray.from_arrays([c.make(rng, seq, n) for c in columns], fields=fields)

    return Column(
        schema.field(name, struct, optional=False, schema_name=full, doc=node.get("doc", doc)), make
    )


class RecordGenerator:
    """Records of one task: ``records(start, stop)`` gives iterations ``start``..``stop-1``."""

    def __init__(
        self, avro: Mapping[str, Any], key_field: str | None, seed: int, task: int = 0, tasks: int = 1
    ) -> None:
        if avro.get("type") != "record":
            raise SchemaError("the schema must be an Avro record")
        self.column = compile_type("value", avro, None)
        self.value_field = self.column.field
        self.key_index: int | None = None
        self.key_field: pa.Field | None = None
        if key_field:
            struct = self.value_field.type
            idx = struct.get_field_index(key_field)
            if idx < 0:
                raise SchemaError(f"schema.keyfield {key_field!r} is not a field of {avro.get('name')}")
            self.key_index = idx
            self.key_field = struct.field(idx).with_name("key")
        self.seed = seed & _MASK64
        self.task, self.tasks = task, tasks
        self._cached: tuple[int, pa.StructArray] | None = None

    def block(self, k: int) -> pa.StructArray:
        if self._cached is not None and self._cached[0] == k:
            return self._cached[1]
        rng = np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=(self.task, k)))
        )
        local = np.arange(k * BLOCK_ROWS, (k + 1) * BLOCK_ROWS, dtype=np.int64)
        values = self.column.make(rng, local * self.tasks + self.task, BLOCK_ROWS)
        assert isinstance(values, pa.StructArray)
        self._cached = (k, values)
        return values

    def records(self, start: int, stop: int) -> tuple[pa.Array | None, pa.StructArray]:
        """Keys (None without a key field) and values of iterations ``start`` ≤ i < ``stop``."""
        first, last = start // BLOCK_ROWS, (stop - 1) // BLOCK_ROWS
        blocks = [self.block(k) for k in range(first, last + 1)]
        joined = blocks[0] if len(blocks) == 1 else pa.concat_arrays(blocks)
        values = joined.slice(start - first * BLOCK_ROWS, stop - start)
        assert isinstance(values, pa.StructArray)
        keys = None if self.key_index is None else values.field(self.key_index)
        return keys, values
