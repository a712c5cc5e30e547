"""Key/value conversion of whole envelope batches, one converter call per topic run."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping

import pyarrow as pa
import pyarrow.compute as pc

from engine.plugins import PluginRegistry, PluginType
from engine.spi.converter import Converter, HeaderConverter
from engine.spi.errors import ConfigError, DataError
from engine.spi.record import KEY, VALUE


def _sub(props: Mapping[str, str], prefix: str) -> dict[str, str]:
    p = prefix + "."
    return {k[len(p) :]: v for k, v in props.items() if k.startswith(p)}


def _pick(
    worker: Mapping[str, str], connector: Mapping[str, str], key: str
) -> tuple[str | None, dict[str, str]]:
    """The converter class for ``key`` and its settings: the connector's when it names one."""
    if connector.get(key):
        return connector[key], _sub(connector, key)
    return worker.get(key), _sub(worker, key)


def topic_runs(topics: pa.Array) -> Iterator[tuple[int, int, str]]:
    """Contiguous runs of one topic: (start, length, topic)."""
    n = len(topics)
    if n == 0:
        return
    if n == 1 or pc.all(pc.equal(topics, topics[0])).as_py():
        yield 0, n, str(topics[0].as_py())
        return
    changes = pc.not_equal(topics[1:], topics[:-1])
    starts = [0, *[i + 1 for i in pc.indices_nonzero(changes).to_pylist()], n]
    for a, b in itertools.pairwise(starts):
        yield a, b - a, str(topics[a].as_py())


class BatchConverter:
    """Applies the key, value (and header) converters a task is configured with."""

    def __init__(
        self, registry: PluginRegistry, worker: Mapping[str, str], connector: Mapping[str, str]
    ) -> None:
        self.key = self._converter(registry, worker, connector, "key.converter", is_key=True)
        self.value = self._converter(registry, worker, connector, "value.converter", is_key=False)
        self._registry = registry
        self._header_setting = _pick(worker, connector, "header.converter")
        self._header: HeaderConverter | None = None

    @property
    def header(self) -> HeaderConverter:
        """The header converter, made when first needed (header values travel as bytes)."""
        if self._header is None:
            name, conf = self._header_setting
            cls = self._registry.resolve(name or "SimpleHeaderConverter", PluginType.HEADER_CONVERTER)
            header: HeaderConverter = cls()  # type: ignore[assignment]
            header.configure({**conf, "converter.type": "header"})
            self._header = header
        return self._header

    @staticmethod
    def _converter(
        registry: PluginRegistry,
        worker: Mapping[str, str],
        connector: Mapping[str, str],
        key: str,
        is_key: bool,
    ) -> Converter:
        name, conf = _pick(worker, connector, key)
        if not name:
            raise ConfigError(f'Missing required configuration "{key}" which has no default value.', key)
        conv: Converter = registry.resolve(name, PluginType.CONVERTER)()  # type: ignore[assignment]
        conv.configure({**conf, "converter.type": "key" if is_key else "value"}, is_key)
        return conv

    def serialize(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Typed key/value columns → binary, for the producer. Raises DataError(rows=…)."""
        topics = batch.column("topic")
        schema = batch.schema
        key_field, value_field = schema.field(KEY), schema.field(VALUE)
        keys, values = batch.column(KEY), batch.column(VALUE)
        out_k: list[pa.Array] = []
        out_v: list[pa.Array] = []
        for start, length, topic in topic_runs(topics):
            k = keys.slice(start, length)
            v = values.slice(start, length)
            out_k.append(self._call(self.key.from_connect_data, topic, key_field, k, start, "key"))
            out_v.append(self._call(self.value.from_connect_data, topic, value_field, v, start, "value"))
        if not out_k:
            out_k, out_v = [pa.array([], pa.binary())], [pa.array([], pa.binary())]
        cols = list(batch.columns)
        cols[schema.get_field_index(KEY)] = _concat(out_k)
        cols[schema.get_field_index(VALUE)] = _concat(out_v)
        new_schema = schema.set(schema.get_field_index(KEY), pa.field(KEY, cols[4].type)).set(
            schema.get_field_index(VALUE), pa.field(VALUE, cols[5].type)
        )
        return pa.RecordBatch.from_arrays(cols, schema=new_schema)

    def deserialize(self, batch: pa.RecordBatch) -> list[pa.RecordBatch]:
        """Binary key/value columns → typed, one batch per topic run whose schema differs."""
        out: list[pa.RecordBatch] = []
        topics = batch.column("topic")
        ki, vi = batch.schema.get_field_index(KEY), batch.schema.get_field_index(VALUE)
        for start, length, topic in topic_runs(topics):
            part = batch.slice(start, length)
            kf, k = self._call2(self.key.to_connect_data, topic, part.column(KEY), start, "key")
            vf, v = self._call2(self.value.to_connect_data, topic, part.column(VALUE), start, "value")
            cols = list(part.columns)
            cols[ki], cols[vi] = k, v
            schema = part.schema.set(ki, kf.with_name(KEY)).set(vi, vf.with_name(VALUE))
            converted = pa.RecordBatch.from_arrays(cols, schema=schema)
            if out and out[-1].schema.equals(converted.schema, check_metadata=True):
                out[-1] = pa.Table.from_batches([out[-1], converted]).combine_chunks().to_batches()[0]
            else:
                out.append(converted)
        return out

    @staticmethod
    def _call(
        fn: Callable[[str, pa.Field, pa.Array], pa.Array],
        topic: str,
        field: pa.Field,
        arr: pa.Array,
        start: int,
        what: str,
    ) -> pa.Array:
        try:
            return fn(topic, field, arr)
        except DataError as e:
            raise _shift(e, start, what) from e

    @staticmethod
    def _call2(
        fn: Callable[[str, pa.Array], tuple[pa.Field, pa.Array]],
        topic: str,
        arr: pa.Array,
        start: int,
        what: str,
    ) -> tuple[pa.Field, pa.Array]:
        try:
            return fn(topic, arr)
        except DataError as e:
            raise _shift(e, start, what) from e

    def close(self) -> None:
        self.key.close()
        self.value.close()
        if self._header is not None:
            self._header.close()


def _concat(arrays: list[pa.Array]) -> pa.Array:
    return arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)


def _shift(err: DataError, start: int, what: str) -> DataError:
    shifted = DataError(f"Converting {what} failed: {err}", [r + start for r in err.rows])
    shifted.stage = "KEY_CONVERTER" if what == "key" else "VALUE_CONVERTER"  # type: ignore[attr-defined]
    return shifted


def class_path(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"
