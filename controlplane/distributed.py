"""Distributed mode: ``connect-distributed worker.properties``.

The worker checks the broker, creates or checks the internal topics, starts its REST server
(the URL other workers reach it at is its identity in the group), then joins the cluster:
the :class:`~controlplane.distributed_herder.DistributedHerder` does the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from urllib.parse import urlsplit

from controlplane.distributed_herder import DistributedHerder, client_props
from controlplane.rest.app import create_app
from controlplane.rest.security import RestSecurity, bind_listeners
from controlplane.rest.server import RestServer
from controlplane.standalone import Prepared, prepare, serve
from controlplane.stores.topics import ensure_topics, internal_topic_specs
from engine.runtime.worker_config import distributed_worker_def

log = logging.getLogger(__name__)


def prepare_distributed(worker_file: str, log_level: str | None = None) -> Prepared:
    return prepare(worker_file, [], distributed_worker_def(), log_level=log_level)


def advertised_url(props: Mapping[str, str], bound_url: str) -> str:
    """The URL given to other workers: rest.advertised.* over what the server is bound to."""
    bound = urlsplit(bound_url)
    scheme = props.get("rest.advertised.listener") or bound.scheme
    host = props.get("rest.advertised.host.name") or bound.hostname
    if host in (None, "", "0.0.0.0", "::"):
        import socket

        host = socket.gethostname()
    port = props.get("rest.advertised.port") or bound.port
    return f"{scheme}://{host}:{port}/"


async def run(prepared: Prepared, log_level: str = "INFO") -> int:
    worker = prepared.worker
    bootstrap = ",".join(worker.get("bootstrap.servers"))
    props = {k: str(v) for k, v in prepared.worker_props.items()}
    props["bootstrap.servers"] = bootstrap
    security = RestSecurity.from_props(props)
    security.check_exposure()
    cluster_id = await prepared.cluster_id()
    await asyncio.to_thread(ensure_topics, client_props(props), internal_topic_specs(props))
    herder = DistributedHerder(props, prepared.registry, worker.get("worker.processes"), log_level)
    herder.kafka_cluster_id = cluster_id
    rest = RestServer(create_app(herder, security=security), bind_listeners(worker.get("listeners")))
    herder.bind(advertised_url(props, await rest.start()))
    log.info("Worker %s joining group %s", herder.worker_id, props["group.id"])

    async def joined() -> None:
        return None

    return await serve(herder, joined, rest=rest)


def run_blocking(prepared: Prepared, log_level: str = "INFO") -> int:
    import uvloop

    return uvloop.run(run(prepared, log_level))
