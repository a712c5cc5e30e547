"""The REST security settings of a worker, read once from its properties.

:class:`RestSecurity` gathers the listeners, their TLS, the authenticator, and what the
worker forwards with; :meth:`RestSecurity.check_exposure` warns (or, with
``rest.require.auth=true``, refuses to start) when a listener on a non-loopback address
lets anyone in.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from controlplane.rest.auth import Authenticator
from controlplane.rest.credentials import ROLES, read_tokens, read_users
from controlplane.rest.tls import PREFIX, TlsSettings, client_context, server_context
from engine.spi.errors import ConfigError, ConnectError

log = logging.getLogger(__name__)

CREDENTIALS_FILE = "rest.auth.credentials.file"
TOKENS_FILE = "rest.auth.tokens.file"
CERTIFICATE_ROLES = "rest.auth.certificate.roles"
HEALTH_ANONYMOUS = "rest.auth.health.anonymous"
REQUIRE_AUTH = "rest.require.auth"
FORWARD_TOKEN = "rest.forward.auth.token"


@dataclass(frozen=True)
class Listener:
    scheme: str
    host: str  # "" = every interface
    port: int

    @property
    def bind_host(self) -> str:
        return self.host or "0.0.0.0"

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False  # "" (every interface) or a host name


def parse_listener(listener: str) -> Listener:
    """``http://host:port`` or ``https://host:port``; an empty host means every interface."""
    parts = urlsplit(listener.strip())
    if parts.scheme not in {"http", "https"}:
        raise ConfigError(
            f"Invalid value {listener} for configuration listeners: expected http://host:port or https://host:port",
            "listeners",
        )
    try:
        port = parts.port if parts.port is not None else 8083
    except ValueError as e:
        raise ConfigError(f"Invalid value {listener} for configuration listeners: {e}", "listeners") from e
    return Listener(parts.scheme, parts.hostname or "", port)


def parse_listeners(value: str | Sequence[str]) -> list[Listener]:
    items = value.split(",") if isinstance(value, str) else list(value)
    listeners = [parse_listener(v) for v in items if v.strip()]
    if not listeners:
        raise ConfigError("Invalid value for configuration listeners: no listener given", "listeners")
    return listeners


@dataclass
class BoundListener:
    """A listener's sockets, bound and listening (connections wait in the backlog until the
    REST server serves them)."""

    listener: Listener
    sockets: list[socket.socket]

    def port(self) -> int:
        """The port bound (the one chosen by the system for port 0)."""
        return int(self.sockets[0].getsockname()[1])

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def advertised_listener(bound: Sequence[BoundListener], scheme: str | None) -> BoundListener:
    """The listener other workers and status reports name: the first of ``scheme``
    (rest.advertised.listener's), else the first."""
    return next((b for b in bound if b.listener.scheme == scheme), bound[0])


def bind_listener(listener: Listener, backlog: int = 2048) -> BoundListener:
    """Bind ``listener``'s address as asyncio's ``create_server`` would (every address its host
    resolves to, SO_REUSEADDR, IPv6 sockets IPv6-only); a taken port is a clear error."""
    where = f"{listener.scheme}://{listener.host}:{listener.port}"
    try:
        infos = socket.getaddrinfo(
            listener.bind_host, listener.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as e:
        raise ConfigError(f"Invalid value {where} for configuration listeners: {e}", "listeners") from e
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError as e:
        for sock in sockets:
            sock.close()
        raise ConnectError(f"The REST server cannot listen on {where} (listeners): {e.strerror or e}") from e
    return BoundListener(listener, sockets)


def bind_listeners(value: str | Sequence[str]) -> list[BoundListener]:
    """Bind every listener of the ``listeners`` setting (none stays bound if one fails)."""
    bound: list[BoundListener] = []
    try:
        for listener in parse_listeners(value):
            bound.append(bind_listener(listener))
    except BaseException:
        for b in bound:
            b.close()
        raise
    return bound


def _flag(props: Mapping[str, str], key: str, default: bool) -> bool:
    value = str(props.get(key, default)).strip().lower()
    if value not in ("true", "false"):
        raise ConfigError(f"Invalid value {value} for configuration {key}: expected true or false", key)
    return value == "true"


def _certificate_roles(props: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in str(props.get(CERTIFICATE_ROLES) or "").split(","):
        if not item.strip():
            continue
        cn, sep, role = item.strip().rpartition(":")
        if not sep or not cn or role not in ROLES:
            raise ConfigError(
                f"Invalid value {item.strip()} in configuration {CERTIFICATE_ROLES}: expected "
                "<common name>:admin or <common name>:read-only",
                CERTIFICATE_ROLES,
            )
        out[cn] = role
    return out


@dataclass
class RestSecurity:
    listeners: list[Listener]
    tls: TlsSettings
    auth: Authenticator
    require_auth: bool
    health_anonymous: bool
    forward_token: str | None
    advertised_scheme: str | None
    _server_ctx: ssl.SSLContext | None = None
    _client_ctx: ssl.SSLContext | None = None

    @classmethod
    def from_props(cls, props: Mapping[str, str]) -> RestSecurity:
        """Read and check everything (files, keystores) now: ConfigError names the key at fault."""
        props = {k: str(v) for k, v in props.items()}
        listeners = parse_listeners(props.get("listeners") or "http://:8083")
        https = any(li.scheme == "https" for li in listeners)
        # The plain ssl.* keys are the Kafka clients' own: they count only for an https listener.
        tls = TlsSettings.from_props(
            props if https else {k: v for k, v in props.items() if k.startswith(PREFIX)}
        )
        users = read_users(props[CREDENTIALS_FILE]) if props.get(CREDENTIALS_FILE) else {}
        tokens = read_tokens(props[TOKENS_FILE]) if props.get(TOKENS_FILE) else []
        forward = props.get(FORWARD_TOKEN) or None
        sec = cls(
            listeners=listeners,
            tls=tls,
            auth=Authenticator(users, tokens, _certificate_roles(props), forward),
            require_auth=_flag(props, REQUIRE_AUTH, False),
            health_anonymous=_flag(props, HEALTH_ANONYMOUS, True),
            forward_token=forward,
            advertised_scheme=props.get("rest.advertised.listener") or None,
        )
        if https:
            sec._server_ctx = server_context(tls)
        if sec.auth.certificate_roles and tls.client_auth == "none":
            raise ConfigError(
                f"{CERTIFICATE_ROLES} needs client certificates: set {tls.key('ssl.client.auth')} to "
                "requested or required",
                CERTIFICATE_ROLES,
            )
        return sec

    @property
    def server_ssl(self) -> ssl.SSLContext:
        assert self._server_ctx is not None
        return self._server_ctx

    def client_ssl(self) -> ssl.SSLContext:
        """The context for forwarding to another worker's https listener (made once)."""
        if self._client_ctx is None:
            self._client_ctx = client_context(self.tls)
        return self._client_ctx

    def open_to_anyone(self, listener: Listener) -> bool:
        if self.auth.enabled:
            return False
        return not (listener.scheme == "https" and self.tls.client_auth == "required")

    def check_exposure(self) -> None:
        """Warn loudly about a non-loopback listener that anyone may use; with
        rest.require.auth=true, that is a ConfigError."""
        for li in self.listeners:
            where = f"{li.scheme}://{li.host or '0.0.0.0'}:{li.port}"
            if not li.loopback and self.open_to_anyone(li):
                if self.require_auth:
                    raise ConfigError(
                        f"{REQUIRE_AUTH}=true but the REST listener {where} is not on a loopback address "
                        f"and has no authentication: set {CREDENTIALS_FILE} or {TOKENS_FILE}, or "
                        f"listen on https with {self.tls.key('ssl.client.auth')}=required",
                        REQUIRE_AUTH,
                    )
                log.warning(
                    "!!! SECURITY WARNING: the REST API at %s listens on a non-loopback address WITHOUT "
                    "AUTHENTICATION: anyone who can reach it can create connectors and run code on this "
                    "worker. Set %s or %s (see docs/security-rest.md), or %s=true to refuse to start.",
                    where,
                    CREDENTIALS_FILE,
                    TOKENS_FILE,
                    REQUIRE_AUTH,
                )
            elif not li.loopback and li.scheme == "http" and self.auth.users:
                log.warning(
                    "The REST listener %s takes passwords over plain http on a non-loopback address: "
                    "use an https listener",
                    where,
                )
