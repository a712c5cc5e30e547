"""Previews (arrowsmith only): sample records through a connector's converters, in a worker
process, delivered back through the shared-memory ring and rendered as JSON rows."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from engine.plugins import PluginType
from engine.runtime.messages import Preview, PreviewDone, TaskSpec
from engine.spi.connector import Connector, SinkConnector
from engine.spi.errors import BadRequestError
from engine.transport import RingClosedError, RingReader, create_ring

if TYPE_CHECKING:
    from controlplane.herder import StandaloneHerder

RING_BYTES = 64 << 20
MAX_RECORDS = 10_000
_ids = itertools.count(1)


def jsonable(value: Any) -> Any:
    """A preview cell as JSON: text for UTF-8 bytes (else ``base64:…``), ISO dates, exact decimals."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def render(batch: pa.RecordBatch) -> dict[str, Any]:
    return {
        "schema": {f.name: str(f.type) for f in batch.schema},
        "records": [jsonable(row) for row in batch.to_pylist()],
    }


async def preview(
    herder: StandaloneHerder, config: Mapping[str, str], records: int, timeout_s: float
) -> dict[str, Any]:
    if not 1 <= records <= MAX_RECORDS:
        raise BadRequestError(f"records must be between 1 and {MAX_RECORDS}, not {records}")
    await asyncio.to_thread(herder.validate, config)
    cls = herder.registry.resolve(config["connector.class"], (PluginType.SOURCE, PluginType.SINK))
    connector: Connector = cls()  # type: ignore[assignment]
    await asyncio.to_thread(connector.start, config)
    try:
        configs = await asyncio.to_thread(connector.task_configs, 1)
        task_cls = connector.task_class()
    finally:
        await asyncio.to_thread(connector.stop)
    task_config = {
        **(configs[0] if configs else config),
        "task.class": f"{task_cls.__module__}.{task_cls.__qualname__}",
    }
    is_sink = issubclass(cls, SinkConnector)
    name = config["name"]
    spec = TaskSpec(
        connector=name,
        task=0,
        connector_config=dict(config),
        task_config=task_config,
        worker_config=herder.worker_props,
        offsets=[] if is_sink else herder.offset_store.offsets(name),
    )
    request_id = next(_ids)
    done: asyncio.Future[PreviewDone] = asyncio.get_running_loop().create_future()
    herder.previews[request_id] = done
    writer_end, reader_end = create_ring(RING_BYTES, name=f"arrowsmith-preview-{request_id}")
    try:
        worker = min(herder.supervisor.workers, key=lambda w: len(w.tasks)).index
        herder.supervisor.send(worker, Preview(request_id, spec, records, timeout_s, writer_end))
        writer_end.close()
        with RingReader(reader_end) as reader:
            try:
                batch = await asyncio.to_thread(reader.read, timeout_s + 30)
            except RingClosedError:
                batch = None
            result = await asyncio.wait_for(done, 30)
            if result.error:
                raise BadRequestError(f"Preview of {name} failed: {result.error}")
            body = render(batch) if batch is not None else {"schema": {}, "records": []}
            del batch
    finally:
        herder.previews.pop(request_id, None)
    return {"name": name, "type": "sink" if is_sink else "source", **body}
