"""Forwarding of REST writes to the worker that must handle them (distributed mode).

Kafka Connect's rule: a request without ``forward`` may be forwarded with ``forward=true``
(one more hop allowed); one with ``forward=true`` is forwarded with ``forward=false``; one
with ``forward=false`` that is still on the wrong worker is refused with 409. The method,
path, query and body go unchanged; of the headers only ``Authorization`` and
``Content-Type`` are copied. The answer comes back as the other worker gave it. A worker
that refuses the connection has just left: that is a 409 to retry, as during a rebalance.

With security on (docs/security-rest.md): a worker with ``rest.forward.auth.token`` sends that
cluster-wide token as its bearer credentials instead of the caller's (the caller has already
been authenticated and authorised here); without it the caller's ``Authorization`` goes on as
Kafka Connect does. To an https worker it connects with the listeners' TLS settings: the
truststore to check the other worker's certificate, the keystore as its client certificate.
"""

from __future__ import annotations

import asyncio
import http.client
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from controlplane.rest.errors import RestError
from controlplane.rest.security import RestSecurity

CONFLICT = "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
TIMEOUT_S = 90.0  # Kafka's REST request timeout
COPIED_HEADERS = ("authorization", "content-type")
RETURNED_HEADERS = ("content-type", "location")


async def forwarded(
    request: Request, kind: str = "leader", name: str | None = None, task: int | None = None
) -> Response | None:
    """The other worker's answer when this request belongs there; None to handle it here."""
    target = request.app.state.herder.forward_target(kind, name, task)
    if target is None:
        return None
    hop = request.query_params.get("forward")
    if hop is not None and hop.strip().lower() != "true":
        raise RestError(409, CONFLICT)
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "forward"]
    query.append(("forward", "false" if hop is not None else "true"))
    body = await request.body()
    headers = {k: v for k, v in request.headers.items() if k in COPIED_HEADERS}
    security: RestSecurity = request.app.state.rest_security
    if security.forward_token:
        headers["authorization"] = f"Bearer {security.forward_token}"
    path = request.url.path + "?" + urlencode(query)
    return await asyncio.to_thread(_send, security, target, request.method, path, body, headers)


def _send(
    security: RestSecurity, base_url: str, method: str, path: str, body: bytes, headers: dict[str, str]
) -> Response:
    parts = urlsplit(base_url)
    host = parts.hostname or "127.0.0.1"
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, parts.port, timeout=TIMEOUT_S, context=security.client_ssl())
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=TIMEOUT_S)
    try:
        conn.request(method, path, body=body or None, headers=headers)
        resp = conn.getresponse()
        content = resp.read()
        out = {k.lower(): v for k, v in resp.getheaders() if k.lower() in RETURNED_HEADERS}
        return Response(content, status_code=resp.status, headers=out)
    except (ConnectionRefusedError, ConnectionResetError) as e:
        # The worker has just gone (its group membership ends with it): retriable, as a
        # rebalance is. Kafka Connect answers 500 here.
        raise RestError(
            409, f"{CONFLICT}: the worker at {base_url} that must handle it cannot be reached ({e})"
        ) from e
    except OSError as e:
        raise RestError(500, f"Could not forward the request to {base_url}: {e}") from e
    finally:
        conn.close()
