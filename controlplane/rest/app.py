"""The REST application: Kafka Connect's API on starlette."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from controlplane import metrics
from controlplane.herder import StandaloneHerder
from controlplane.rest import connectors, loggers, plugins
from controlplane.rest.auth import AuthMiddleware
from controlplane.rest.errors import HANDLERS
from controlplane.rest.openapi import spec
from controlplane.rest.security import RestSecurity
from engine import __version__

COMMIT = "0000000000000000"


async def root(request: Request) -> Response:
    h: StandaloneHerder = request.app.state.herder
    return JSONResponse({"version": __version__, "commit": COMMIT, "kafka_cluster_id": h.kafka_cluster_id})


async def health(request: Request) -> Response:
    h: StandaloneHerder = request.app.state.herder
    if not h.started:
        return JSONResponse(
            {"status": "starting", "message": "Worker is still starting up."}, status_code=503
        )
    return JSONResponse(
        {"status": "healthy", "message": "Worker has completed startup and is ready to handle requests."}
    )


async def openapi(request: Request) -> Response:
    return JSONResponse(spec())


def create_app(
    herder: StandaloneHerder, extra_routes: list[Any] | None = None, security: RestSecurity | None = None
) -> Starlette:
    """The app; ``security`` (default: read from the herder's worker properties) adds
    authentication when users, tokens or certificate roles are configured."""
    security = security or RestSecurity.from_props(herder.worker_props)
    middleware = []
    if security.auth.enabled:
        open_paths = frozenset({"/health"} if security.health_anonymous else ())
        middleware.append(Middleware(AuthMiddleware, auth=security.auth, open_paths=open_paths))
    app = Starlette(routes=all_routes(extra_routes), exception_handlers=HANDLERS, middleware=middleware)
    app.state.rest_security = security
    app.state.herder = herder
    app.state.metrics_registry = metrics.registry_for(herder)
    return app


def all_routes(extra_routes: list[Any] | None = None) -> list[Any]:
    """Every route the API serves."""
    return [
        Route("/", root, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *connectors.ROUTES,
        *plugins.ROUTES,
        *loggers.ROUTES,
        *metrics.ROUTES,
        *(extra_routes or []),
    ]
