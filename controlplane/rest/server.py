"""Serve the REST app with uvicorn inside the control plane's event loop: one uvicorn server
per listener (``listeners=http://…,https://…``), https ones with the worker's TLS context.

The caller binds the listening sockets first (:func:`~controlplane.rest.security.bind_listeners`,
no uvicorn needed), so a standalone worker knows its port and fails on a taken one before
anything starts, and serves them once its connectors are created: importing uvicorn and
starlette then overlaps the tasks' start in the worker processes. A request that arrives in
between waits in the socket's backlog."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.h11_impl import H11Protocol

from controlplane.rest.auth import PEER_CN, common_name
from controlplane.rest.security import BoundListener, RestSecurity, advertised_listener

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: the control plane owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class TlsH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with the client certificate's CN in each request's state."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        cn = common_name(transport.get_extra_info("peercert"))
        if cn is not None:
            self.app_state = {**self.app_state, PEER_CN: cn}


class RestServer:
    def __init__(self, app: Starlette, bound: Sequence[BoundListener]) -> None:
        """Serve ``app`` on listeners bound already (:func:`bind_listeners`)."""
        security: RestSecurity = app.state.rest_security
        self.bound = list(bound)
        self.servers: list[_Server] = []
        for li in (b.listener for b in self.bound):
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
        for bound, server in zip(self.bound, self.servers, strict=True):
            li = bound.listener
            task = loop.create_task(server.serve(sockets=bound.sockets))
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
        self.url = self.urls[self.bound.index(advertised_listener(self.bound, self.advertised_scheme))]
        return self.url

    async def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True
        for task in self._tasks:
            await task
        for bound in self.bound:  # those of a server never started
            bound.close()
