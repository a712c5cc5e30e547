"""``/admin/loggers``: log levels, changed live in the control plane and every worker process."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from controlplane.rest.connectors import herder
from controlplane.rest.errors import RestError, json_body
from engine.runtime.logging_context import LEVELS, set_level
from engine.runtime.messages import SetLogLevel
from engine.spi.errors import NotFoundError

_modified: dict[str, int] = {}


def _level_name(level: int) -> str:
    return {logging.WARNING: "WARN", logging.CRITICAL: "FATAL", logging.CRITICAL + 10: "OFF"}.get(
        level, logging.getLevelName(level)
    )


def _level_of(name: str) -> dict[str, Any]:
    logger = logging.getLogger() if name == "root" else logging.getLogger(name)
    return {"level": _level_name(logger.getEffectiveLevel()), "last_modified": _modified.get(name)}


def _explicit() -> list[str]:
    names = [
        n
        for n, lg in logging.Logger.manager.loggerDict.items()
        if isinstance(lg, logging.Logger) and lg.level
    ]
    return sorted({*names, "root"})


async def list_loggers(request: Request) -> Response:
    return JSONResponse({name: _level_of(name) for name in _explicit()})


async def get_logger(request: Request) -> Response:
    name = request.path_params["logger"]
    known = name == "root" or name in logging.Logger.manager.loggerDict
    if not known:
        raise NotFoundError(f"Logger {name} not found.")
    return JSONResponse(_level_of(name))


async def put_logger(request: Request) -> Response:
    name = request.path_params["logger"]
    body = await json_body(request)
    level = body.get("level") if isinstance(body, dict) else None
    if level is None:
        raise RestError(400, "Desired 'level' parameter was not specified in request.")
    if not isinstance(level, str) or level.upper() not in LEVELS:
        raise NotFoundError(f"invalid log level '{level}'.")
    affected = set_level(name, LEVELS[level.upper()])
    now = int(time.time() * 1000)
    for n in affected:
        _modified[n] = now
    supervisor = herder(request).supervisor
    for w in supervisor.workers:
        supervisor.send(w.index, SetLogLevel(name, level.upper()))
    return JSONResponse(affected)


ROUTES = [
    Route("/admin/loggers", list_loggers, methods=["GET"]),
    Route("/admin/loggers/{logger}", get_logger, methods=["GET"]),
    Route("/admin/loggers/{logger}", put_logger, methods=["PUT"]),
]
