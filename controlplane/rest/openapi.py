"""The OpenAPI description of the REST API (GET /openapi.json)."""

from __future__ import annotations

from typing import Any

from engine import __version__

_ERROR = {"$ref": "#/components/schemas/Error"}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_TASK = {"name": "task", "in": "path", "required": True, "schema": {"type": "integer"}}
_CONFIG = {"type": "object", "additionalProperties": {"type": ["string", "null"]}}


def _op(
    summary: str,
    status: int,
    params: list[dict[str, Any]] | None = None,
    body: Any = None,
    errors: tuple[int, ...] = (404,),
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {str(status): {"description": "OK"}}}
    for e in errors:
        op["responses"][str(e)] = {
            "description": "Error",
            "content": {"application/json": {"schema": _ERROR}},
        }
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return op


def _q(name: str, kind: str = "boolean", many: bool = False) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array", "items": {"type": "string"}} if many else {"type": kind}
    return {"name": name, "in": "query", "required": False, "schema": schema}


def spec() -> dict[str, Any]:
    offsets = {"type": "object", "properties": {"offsets": {"type": "array", "items": {"type": "object"}}}}
    create = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "config": _CONFIG,
            "initial_state": {"type": "string", "enum": ["RUNNING", "PAUSED", "STOPPED"]},
        },
        "required": ["name", "config"],
    }
    paths: dict[str, Any] = {
        "/": {"get": _op("Worker version and Kafka cluster id", 200, errors=())},
        "/health": {"get": _op("Worker health", 200, errors=(503,))},
        "/connectors": {
            "get": _op("List connectors", 200, [_q("expand", many=True)], errors=()),
            "post": _op("Create a connector", 201, body=create, errors=(400, 409, 415)),
        },
        "/connectors/{name}": {
            "get": _op("Connector info", 200, [_NAME]),
            "delete": _op("Delete a connector", 204, [_NAME]),
        },
        "/connectors/{name}/config": {
            "get": _op("Connector config", 200, [_NAME]),
            "put": _op("Create or update a connector", 200, [_NAME], _CONFIG, (400, 415)),
            "patch": _op("Patch a connector config", 200, [_NAME], _CONFIG, (400, 404, 415)),
        },
        "/connectors/{name}/status": {"get": _op("Connector status", 200, [_NAME])},
        "/connectors/{name}/tasks": {"get": _op("Task configs", 200, [_NAME])},
        "/connectors/{name}/tasks/{task}/status": {"get": _op("Task status", 200, [_NAME, _TASK])},
        "/connectors/{name}/tasks/{task}/restart": {"post": _op("Restart a task", 204, [_NAME, _TASK])},
        "/connectors/{name}/restart": {
            "post": _op("Restart a connector", 204, [_NAME, _q("includeTasks"), _q("onlyFailed")])
        },
        "/connectors/{name}/pause": {"put": _op("Pause a connector", 202, [_NAME])},
        "/connectors/{name}/resume": {"put": _op("Resume a connector", 202, [_NAME])},
        "/connectors/{name}/stop": {"put": _op("Stop a connector", 204, [_NAME])},
        "/connectors/{name}/topics": {"get": _op("Active topics", 200, [_NAME], errors=(403,))},
        "/connectors/{name}/topics/reset": {"put": _op("Reset active topics", 202, [_NAME], errors=(403,))},
        "/connectors/{name}/offsets": {
            "get": _op("Connector offsets", 200, [_NAME]),
            "patch": _op("Alter offsets (connector STOPPED)", 200, [_NAME], offsets, (400, 404, 415)),
            "delete": _op("Reset offsets (connector STOPPED)", 200, [_NAME], errors=(400, 404)),
        },
        "/connectors/{name}/preview": {
            "post": _op(
                "Preview records through the connector's converters (arrowsmith)",
                200,
                [_NAME, _q("records", "integer"), _q("timeout_ms", "integer")],
                errors=(400, 404),
            )
        },
        "/connector-plugins": {"get": _op("List plugins", 200, [_q("connectorsOnly")], errors=())},
        "/connector-plugins/{plugin}/config": {
            "get": _op("Plugin config keys", 200, [{**_NAME, "name": "plugin"}], errors=(400, 404))
        },
        "/connector-plugins/{plugin}/config/validate": {
            "put": _op("Validate a connector config", 200, [{**_NAME, "name": "plugin"}], _CONFIG, (400, 415))
        },
        "/admin/loggers": {"get": _op("Log levels", 200, errors=())},
        "/admin/loggers/{logger}": {
            "get": _op("A logger's level", 200, [{**_NAME, "name": "logger"}]),
            "put": _op(
                "Set a log level",
                200,
                [{**_NAME, "name": "logger"}],
                {"type": "object", "properties": {"level": {"type": "string"}}},
                (400, 404, 415),
            ),
        },
        "/metrics": {"get": _op("Prometheus metrics, text format (arrowsmith)", 200, errors=())},
        "/openapi.json": {"get": _op("This description", 200, errors=())},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "arrowsmith REST API (Kafka Connect compatible)", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error_code": {"type": "integer"}, "message": {"type": "string"}},
                    "required": ["error_code", "message"],
                }
            }
        },
    }
