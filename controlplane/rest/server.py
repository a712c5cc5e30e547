"""Serve the REST app with uvicorn inside the control plane's event loop: one uvicorn server
per listener (``listeners=http://…,https://…``), https ones with the worker's TLS context."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence

import uvicorn
from starlette.applications import Starlette

from controlplane.rest.auth import TlsH11Protocol
from controlplane.rest.security import Listener, RestSecurity, parse_listeners

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: the control plane owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class RestServer:
    def __init__(self, app: Starlette, listeners: str | Sequence[str]) -> None:
        security: RestSecurity = app.state.rest_security
        self.listeners: list[Listener] = parse_listeners(listeners)
        self.servers: list[_Server] = []
        for li in self.listeners:
            config = uvicorn.Config(
                app,
                host=li.bind_host,
                port=li.port,
                log_level="warning",
                lifespan="off",
                access_log=False,
                http=TlsH11Protocol if li.scheme == "https" else "auto",
            )
            if li.scheme == "https":
                config.load()
                config.ssl = security.server_ssl
            self.servers.append(_Server(config))
        self.advertised_scheme = security.advertised_scheme
        self._tasks: list[asyncio.Task[None]] = []
        self.urls: list[str] = []
        self.url = ""

    async def start(self) -> str:
        """Start every listener; the URL of the advertised one (rest.advertised.listener's
        scheme, else the first listener)."""
        loop = asyncio.get_running_loop()
        for li, server in zip(self.listeners, self.servers, strict=True):
            task = loop.create_task(server.serve())
            self._tasks.append(task)
            while not server.started:
                if task.done():
                    task.result()
                    raise OSError(f"REST server failed to start on {li.scheme}://{li.bind_host}:{li.port}")
                await asyncio.sleep(0.002)  # it starts in a few ms: part of every start-up
            host, port = server.servers[0].sockets[0].getsockname()[:2]
            url = f"{li.scheme}://{host}:{port}/"
            self.urls.append(url)
            log.info("REST server listening at %s", url)
        chosen = [
            u for u, li in zip(self.urls, self.listeners, strict=True) if li.scheme == self.advertised_scheme
        ]
        self.url = (chosen or self.urls)[0]
        return self.url

    async def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True
        for task in self._tasks:
            await task
