"""Serve the REST app with uvicorn inside the control plane's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette

from engine.spi.errors import ConfigError

log = logging.getLogger(__name__)


def parse_listener(listener: str) -> tuple[str, int]:
    """``http://host:port`` → (host, port); an empty host means every interface."""
    parts = urlsplit(listener.strip())
    if parts.scheme not in {"http", "https"}:
        raise ConfigError(
            f"Invalid value {listener} for configuration listeners: expected http://host:port", "listeners"
        )
    if parts.scheme == "https":
        raise ConfigError("https listeners are not supported yet; use http://", "listeners")
    try:
        port = parts.port if parts.port is not None else 8083
    except ValueError as e:
        raise ConfigError(f"Invalid value {listener} for configuration listeners: {e}", "listeners") from e
    return parts.hostname or "0.0.0.0", port


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: the control plane owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class RestServer:
    def __init__(self, app: Starlette, listener: str) -> None:
        host, port = parse_listener(listener)
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", access_log=False
        )
        self.server = _Server(config)
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self) -> str:
        self._task = asyncio.get_running_loop().create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise OSError("REST server failed to start")
            await asyncio.sleep(0.02)
        sock = self.server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        self.url = f"http://{host}:{port}/"
        log.info("REST server listening at %s", self.url)
        return self.url

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task
