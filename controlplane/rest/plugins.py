"""``/connector-plugins`` endpoints."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from controlplane.rest.connectors import config_map, herder, java_bool
from controlplane.rest.errors import RestError, json_body
from engine.plugins import PluginDesc, PluginRegistry, PluginType, plugin_type
from engine.runtime.connector_config import sink_connector_def, source_connector_def, validate
from engine.spi.connector import SinkConnector
from engine.spi.errors import NotFoundError, PluginError

CONNECTOR_TYPES = (PluginType.SINK, PluginType.SOURCE)
VALID_TYPES = "sink, source, converter, header_converter, transformation, predicate"


def plugin_json(desc: PluginDesc) -> dict[str, Any]:
    out: dict[str, Any] = {"class": desc.class_name, "type": str(desc.type)}
    if desc.version and desc.version != "undefined":
        out["version"] = desc.version
    return out


async def list_plugins(request: Request) -> Response:
    registry = herder(request).registry
    connectors_only = request.query_params.get("connectorsOnly")
    only = connectors_only is None or java_bool(connectors_only)
    kinds = CONNECTOR_TYPES if only else tuple(t for t in PluginType if t is not PluginType.CONFIG_PROVIDER)
    return JSONResponse([plugin_json(d) for d in registry.plugins(kinds)])


def _resolve(request: Request) -> type[Any]:
    name = request.path_params["plugin"]
    registry = herder(request).registry
    try:
        cls = registry.resolve(name)
    except PluginError as e:
        raise NotFoundError(f"Unknown plugin {name}.") from e
    if plugin_type(cls) is PluginType.CONFIG_PROVIDER:
        raise RestError(400, f"Invalid plugin class {name}. Valid types are {VALID_TYPES}.")
    return cls


async def plugin_config(request: Request) -> Response:
    cls = _resolve(request)
    own = cls.config_def()
    keys = [own.config_key_info(k) for k in own.keys().values() if not k.internal]
    if plugin_type(cls) in CONNECTOR_TYPES:
        base = sink_connector_def() if issubclass(cls, SinkConnector) else source_connector_def()
        keys += [base.config_key_info(k) for n, k in base.keys().items() if n not in own.keys()]  # noqa: SIM118 - a Mapping view
    return JSONResponse(keys)


def _pruned(name: str) -> str:
    simple = name.replace(":", ".").rsplit(".", 1)[-1]
    return simple[: -len("Connector")] if simple.endswith("Connector") else simple


def _same_plugin(registry: PluginRegistry, included: str, requested: str) -> bool:
    """Kafka compares pruned names; aliases of one class (short, Python, Apache names) also match."""
    if _pruned(included) == _pruned(requested):
        return True
    try:
        return registry.resolve(included, CONNECTOR_TYPES) is registry.resolve(requested, CONNECTOR_TYPES)
    except PluginError:
        return False


async def validate_config(request: Request) -> Response:
    name = request.path_params["plugin"]
    config = config_map(await json_body(request))
    cls_name = config.get("connector.class")
    h = herder(request)
    if cls_name is not None and not _same_plugin(h.registry, cls_name, name):
        raise RestError(400, f"Included connector type {cls_name} does not match request type {name}")
    policy = h.worker_props.get("connector.client.config.override.policy", "All")
    result = await asyncio.to_thread(validate, h.registry, config, policy)
    return JSONResponse(result)


ROUTES = [
    Route("/connector-plugins", list_plugins, methods=["GET"]),
    Route("/connector-plugins/{plugin}/config", plugin_config, methods=["GET"]),
    Route("/connector-plugins/{plugin}/config/validate", validate_config, methods=["PUT"]),
]
