"""The one place where errors become HTTP statuses and ``{"error_code", "message"}`` bodies."""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.runtime import secret_scrubber
from engine.spi.errors import (
    AlreadyExistsError,
    BadRequestError,
    ConfigError,
    ConflictError,
    ConnectError,
    NotFoundError,
    PluginError,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20


class RestError(Exception):
    """An explicit status with a message (Kafka's ConnectRestException)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def status_of(err: BaseException) -> int:
    if isinstance(err, RestError):
        return err.status
    if isinstance(err, NotFoundError):
        return 404
    if isinstance(err, AlreadyExistsError | ConflictError):
        return 409
    if isinstance(err, BadRequestError | ConfigError | PluginError):
        return 400
    return 500


def error_response(status: int, message: str) -> JSONResponse:
    """The error body; known secret values (resolved config-provider values) read ``[hidden]``."""
    return JSONResponse({"error_code": status, "message": secret_scrubber.scrub(message)}, status_code=status)


async def on_error(request: Request, exc: Exception) -> Response:
    status = status_of(exc)
    message = exc.message if isinstance(exc, RestError) else str(exc)
    if status >= 500:
        log.error("Uncaught exception in REST call to %s: %s", request.url.path, exc, exc_info=exc)
    return error_response(status, message)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    texts = {404: "HTTP 404 Not Found", 405: "HTTP 405 Method Not Allowed"}
    return error_response(exc.status_code, texts.get(exc.status_code, str(exc.detail)))


# Starlette gives the ``Exception`` handler to its ServerErrorMiddleware, which answers and then
# re-raises (uvicorn logs "Exception in ASGI application"): errors we answer on purpose need their
# own entries.
HANDLERS: dict[Any, Any] = {
    HTTPException: on_http_error,
    RestError: on_error,
    ConnectError: on_error,
    Exception: on_error,
}


async def json_body(request: Request) -> Any:
    """The request body as JSON: 415 for another content type, 413 when too large, 400 when malformed."""
    ctype = request.headers.get("content-type", "")
    if ctype.split(";")[0].strip().lower() != "application/json":
        raise RestError(415, f"Unsupported content type '{ctype or 'none'}': send application/json")
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise RestError(
            413, f"Request body of {length} bytes is larger than the limit of {MAX_BODY_BYTES} bytes"
        )
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise RestError(413, f"Request body is larger than the limit of {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RestError(400, f"Request body is not valid JSON: {e}") from e
