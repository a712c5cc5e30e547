"""``/connectors`` endpoints."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from controlplane.herder import PAUSED, STARTED, STOPPED, StandaloneHerder
from controlplane.rest.errors import RestError, json_body
from controlplane.rest.forward import forwarded
from engine.spi.errors import BadRequestError, ConfigError, NotFoundError

MAX_PREVIEW_TIMEOUT_MS = 90_000  # Kafka's REST request timeout
INITIAL_STATES = {"RUNNING": STARTED, "PAUSED": PAUSED, "STOPPED": STOPPED}
CREATE_FIELDS = {"name", "config", "initial_state"}


def herder(request: Request) -> StandaloneHerder:
    h: StandaloneHerder = request.app.state.herder
    return h


def java_bool(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def location(request: Request, name: str) -> str:
    """The absolute URL of a connector, its name percent-encoded (Kafka's ``UriBuilder.path``)."""
    return f"{request.base_url}connectors/{quote(name, safe='')}"


def config_map(raw: Any, what: str = "config") -> dict[str, str | None]:
    """A JSON object of config values; numbers and booleans become strings, as in Kafka."""
    if not isinstance(raw, dict):
        raise RestError(400, f"The {what} must be a JSON object of string values")
    out: dict[str, str | None] = {}
    for k, v in raw.items():
        if v is None or isinstance(v, str):
            out[k] = v
        elif isinstance(v, bool):
            out[k] = "true" if v else "false"
        elif isinstance(v, int | float):
            out[k] = str(v)
        else:
            raise RestError(400, f"The value of config key '{k}' must be a string, number or boolean")
    return out


def check_name(name: str, config: dict[str, str | None]) -> dict[str, str | None]:
    if "/" in name:
        raise RestError(400, f"Connector name '{name}' may not contain '/'")
    given = config.get("name")
    if given is not None and given != name:
        raise RestError(
            400, f"Connector name configuration ({given}) doesn't match connector name in the URL ({name})"
        )
    return {**config, "name": name}


def _nulls(config: dict[str, str | None]) -> dict[str, str]:
    nulls = [k for k, v in config.items() if v is None]
    if nulls:
        raise ConfigError(
            f"Connector configuration is invalid and contains the following {len(nulls)} error(s):\n"
            + "\n".join("Null value can not be supplied as the configuration value." for _ in nulls)
            + "\nYou can also find the above list of errors at the endpoint "
            "`/connector-plugins/{connectorType}/config/validate`",
            nulls[0],
        )
    return {k: v for k, v in config.items() if v is not None}


async def list_connectors(request: Request) -> Response:
    h = herder(request)
    expand = request.query_params.getlist("expand")
    if not expand:
        return JSONResponse(h.names())
    out: dict[str, dict[str, Any]] = {}
    for name in h.names():
        item: dict[str, Any] = {}
        try:
            if "status" in expand:
                item["status"] = h.status(name)
            if "info" in expand:
                item["info"] = h.info(name)
        except NotFoundError:
            continue
        out[name] = item
    return JSONResponse(out)


async def create_connector(request: Request) -> Response:
    if (answer := await forwarded(request)) is not None:
        return answer
    body = await json_body(request)
    if not isinstance(body, dict):
        raise RestError(400, "The request body must be a JSON object with 'name' and 'config'")
    unknown = sorted(set(body) - CREATE_FIELDS)
    if unknown:
        raise RestError(400, f"Unrecognized field(s) in the request body: {', '.join(unknown)}")
    name = body.get("name", "")
    if not isinstance(name, str):
        raise RestError(400, "The connector 'name' must be a string")
    name = name.strip()
    if "config" not in body:
        raise RestError(400, "The request body has no 'config' object")
    config = check_name(name, config_map(body["config"]))
    state = body.get("initial_state", "RUNNING")
    if not isinstance(state, str) or state.upper() not in INITIAL_STATES:
        raise RestError(400, f"Invalid initial_state {state!r}: one of RUNNING, PAUSED, STOPPED")
    h = herder(request)
    await h.put_connector(name, _nulls(config), replace=False, target=INITIAL_STATES[state.upper()])
    return JSONResponse(h.info(name), status_code=201, headers={"Location": location(request, name)})


async def get_connector(request: Request) -> Response:
    return JSONResponse(herder(request).info(request.path_params["name"]))


async def get_config(request: Request) -> Response:
    return JSONResponse(herder(request).config(request.path_params["name"]))


async def put_config(request: Request) -> Response:
    if (answer := await forwarded(request)) is not None:
        return answer
    name = request.path_params["name"]
    config = check_name(name, config_map(await json_body(request)))
    h = herder(request)
    created = await h.put_connector(name, _nulls(config), replace=True)
    if created:
        return JSONResponse(h.info(name), status_code=201, headers={"Location": location(request, name)})
    return JSONResponse(h.info(name))


async def patch_config(request: Request) -> Response:
    if (answer := await forwarded(request)) is not None:
        return answer
    name = request.path_params["name"]
    patch = config_map(await json_body(request))
    h = herder(request)
    current: dict[str, str | None] = dict(h.config(name))
    for k, v in patch.items():
        if v is None:
            current.pop(k, None)
        else:
            current[k] = v
    await h.put_connector(name, _nulls(check_name(name, current)), replace=True)
    return JSONResponse(h.info(name))


async def delete_connector(request: Request) -> Response:
    if (answer := await forwarded(request)) is not None:
        return answer
    await herder(request).delete_connector(request.path_params["name"])
    return Response(status_code=204)


async def status(request: Request) -> Response:
    return JSONResponse(herder(request).status(request.path_params["name"]))


async def tasks(request: Request) -> Response:
    return JSONResponse(herder(request).task_infos(request.path_params["name"]))


def _task_id(request: Request) -> int:
    raw = request.path_params["task"]
    if not re.fullmatch(r"[+-]?[0-9]+", raw):
        raise RestError(404, "HTTP 404 Not Found")  # as JAX-RS answers an unparsable Integer path param
    return int(raw)


async def task_status(request: Request) -> Response:
    return JSONResponse(herder(request).task_status(request.path_params["name"], _task_id(request)))


async def restart(request: Request) -> Response:
    if (answer := await forwarded(request)) is not None:
        return answer
    name = request.path_params["name"]
    include_tasks = java_bool(request.query_params.get("includeTasks"))
    only_failed = java_bool(request.query_params.get("onlyFailed"))
    h = herder(request)
    if not include_tasks and not only_failed:
        await h.restart_connector(name)
        return Response(status_code=204)
    return JSONResponse(await h.restart(name, include_tasks, only_failed), status_code=202)


async def restart_task(request: Request) -> Response:
    name, task = request.path_params["name"], _task_id(request)
    if (answer := await forwarded(request, "task", name, task)) is not None:
        return answer
    await herder(request).restart_task(name, task)
    return Response(status_code=204)


async def _target(request: Request, target: str, status_code: int) -> Response:
    name = request.path_params["name"]
    h = herder(request)
    if name not in h.connectors:
        raise NotFoundError(f"Unknown connector {name}")
    await h.set_target(name, target)
    return Response(status_code=status_code)


async def pause(request: Request) -> Response:
    return await _target(request, PAUSED, 202)


async def resume(request: Request) -> Response:
    return await _target(request, STARTED, 202)


async def stop(request: Request) -> Response:
    if (answer := await forwarded(request)) is not None:
        return answer
    return await _target(request, STOPPED, 204)


def _tracking(request: Request, key: str, message: str) -> None:
    if (herder(request).worker_props.get(key, "true")).strip().lower() != "true":
        raise RestError(403, message)


async def topics(request: Request) -> Response:
    _tracking(request, "topic.tracking.enable", "Topic tracking is disabled.")
    name = request.path_params["name"]
    return JSONResponse({name: {"topics": herder(request).topics(name)}})


async def reset_topics(request: Request) -> Response:
    _tracking(request, "topic.tracking.enable", "Topic tracking is disabled.")
    _tracking(request, "topic.tracking.allow.reset", "Topic tracking reset is disabled.")
    herder(request).reset_topics(request.path_params["name"])
    return Response(status_code=202)


async def get_offsets(request: Request) -> Response:
    return JSONResponse({"offsets": await herder(request).offsets(request.path_params["name"])})


ALTERED = "The offsets for this connector have been altered successfully"
ALTERED_FRAMEWORK = (
    "The Connect framework-managed offsets for this connector have been altered successfully. "
    "However, if this connector manages offsets externally, they will need to be manually altered "
    "in the system that the connector uses."
)
RESET = "The offsets for this connector have been reset successfully"
RESET_FRAMEWORK = (
    "The Connect framework-managed offsets for this connector have been reset successfully. However, if this "
    "connector manages offsets externally, they will need to be manually reset in the system that the "
    "connector uses."
)


async def patch_offsets(request: Request) -> Response:
    if (forward := await forwarded(request)) is not None:
        return forward
    body = await json_body(request)
    entries = body.get("offsets") if isinstance(body, dict) else None
    if not entries:
        raise BadRequestError("Partitions / offsets need to be provided for an alter offsets request")
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BadRequestError('\'offsets\' must be a list of {"partition": …, "offset": …} objects')
    answer = await herder(request).alter_offsets(request.path_params["name"], entries)
    return JSONResponse({"message": ALTERED if answer else ALTERED_FRAMEWORK})


async def delete_offsets(request: Request) -> Response:
    if (forward := await forwarded(request)) is not None:
        return forward
    answer = await herder(request).reset_offsets(request.path_params["name"])
    return JSONResponse({"message": RESET if answer else RESET_FRAMEWORK})


async def preview(request: Request) -> Response:
    """POST /connectors/{name}/preview (arrowsmith): ``?records=N`` (default 10), ``&timeout_ms=``."""
    from controlplane.preview import preview as run

    name = request.path_params["name"]
    h = herder(request)
    config = h.config(name)
    try:
        records = int(request.query_params.get("records", "10"))
        timeout_ms = int(request.query_params.get("timeout_ms", "10000"))
    except ValueError as e:
        raise RestError(400, f"records and timeout_ms must be integers: {e}") from e
    if not 1 <= timeout_ms <= MAX_PREVIEW_TIMEOUT_MS:
        raise RestError(400, f"timeout_ms must be between 1 and {MAX_PREVIEW_TIMEOUT_MS}, not {timeout_ms}")
    return JSONResponse(await run(h, config, records, timeout_ms / 1000))


ROUTES = [
    Route("/connectors/{name}/preview", preview, methods=["POST"]),
    Route("/connectors", list_connectors, methods=["GET"]),
    Route("/connectors", create_connector, methods=["POST"]),
    Route("/connectors/{name}", get_connector, methods=["GET"]),
    Route("/connectors/{name}", delete_connector, methods=["DELETE"]),
    Route("/connectors/{name}/config", get_config, methods=["GET"]),
    Route("/connectors/{name}/config", put_config, methods=["PUT"]),
    Route("/connectors/{name}/config", patch_config, methods=["PATCH"]),
    Route("/connectors/{name}/status", status, methods=["GET"]),
    Route("/connectors/{name}/tasks", tasks, methods=["GET"]),
    Route("/connectors/{name}/tasks/{task}/status", task_status, methods=["GET"]),
    Route("/connectors/{name}/tasks/{task}/restart", restart_task, methods=["POST"]),
    Route("/connectors/{name}/restart", restart, methods=["POST"]),
    Route("/connectors/{name}/pause", pause, methods=["PUT"]),
    Route("/connectors/{name}/resume", resume, methods=["PUT"]),
    Route("/connectors/{name}/stop", stop, methods=["PUT"]),
    Route("/connectors/{name}/topics", topics, methods=["GET"]),
    Route("/connectors/{name}/topics/reset", reset_topics, methods=["PUT"]),
    Route("/connectors/{name}/offsets", get_offsets, methods=["GET"]),
    Route("/connectors/{name}/offsets", patch_offsets, methods=["PATCH"]),
    Route("/connectors/{name}/offsets", delete_offsets, methods=["DELETE"]),
]
