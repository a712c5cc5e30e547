"""Authentication and the two roles, checked once per HTTP request before any route runs.

A request proves who it is with HTTP basic credentials (users of ``rest.auth.credentials.file``),
a bearer token (``rest.auth.tokens.file``, or the cluster's ``rest.forward.auth.token``), or a
client certificate whose common name ``rest.auth.certificate.roles`` maps to a role. Missing
or wrong credentials answer 401 with ``WWW-Authenticate``; a read-only caller that writes
answers 403. Both bodies are the API's usual ``{"error_code", "message"}`` and say nothing
about which part was wrong.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from controlplane.rest.credentials import ADMIN, Entry, hash_password, token_digest, verify_password

READ_METHODS = frozenset({"GET", "HEAD"})
PEER_CN = "arrowsmith.peer_cn"
CACHE_SIZE = 1024
REALM = "arrowsmith"
MISSING = "Authentication required"
INVALID = "Invalid credentials"
FORBIDDEN = "Forbidden: this user may only read (GET, HEAD)"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str


class Authenticator:
    def __init__(
        self,
        users: dict[str, Entry],
        tokens: Iterable[tuple[Entry, bytes]],
        certificate_roles: dict[str, str],
        forward_token: str | None,
    ) -> None:
        self.users = users
        self.tokens = list(tokens)
        self.certificate_roles = certificate_roles
        self._forward = token_digest(forward_token) if forward_token else None
        # Verified (user, password) pairs, keyed by an HMAC under a per-process key: the KDF is
        # paid once per credential, not per request. Failures are never cached.
        self._cache_key = secrets.token_bytes(32)
        self._cache: OrderedDict[bytes, Principal] = OrderedDict()
        self._dummy = hash_password(secrets.token_urlsafe(16)) if users else ""

    @property
    def enabled(self) -> bool:
        return bool(self.users or self.tokens or self.certificate_roles)

    def challenge(self) -> list[tuple[bytes, bytes]]:
        out = []
        if self.users:
            out.append((b"www-authenticate", f'Basic realm="{REALM}", charset="UTF-8"'.encode()))
        if self.tokens or self._forward or not self.users:
            out.append((b"www-authenticate", f'Bearer realm="{REALM}"'.encode()))
        return out

    async def authenticate(
        self, authorization: str | None, peer_cn: str | None
    ) -> tuple[Principal | None, str]:
        """The caller, or None and the 401 message."""
        if authorization is None:
            role = self.certificate_roles.get(peer_cn) if peer_cn else None
            return (Principal(f"CN={peer_cn}", role), "") if role else (None, MISSING)
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "basic" and self.users:
            return await self._basic(value), INVALID
        if scheme.lower() == "bearer":
            return self._bearer(value), INVALID
        return None, INVALID

    async def _basic(self, value: str) -> Principal | None:
        try:
            user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        if not sep:
            return None
        key = hmac.new(self._cache_key, f"{user}\0{password}".encode(), hashlib.sha256).digest()
        if (hit := self._cache.get(key)) is not None:
            self._cache.move_to_end(key)
            return hit
        entry = self.users.get(user)
        # An unknown user costs the same KDF as a known one: timing tells nothing.
        ok = await asyncio.to_thread(verify_password, password, entry.secret if entry else self._dummy)
        if not ok or entry is None:
            return None
        principal = Principal(user, entry.role)
        self._cache[key] = principal
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return principal

    def _bearer(self, token: str) -> Principal | None:
        digest = token_digest(token)
        found: Principal | None = None
        if self._forward is not None and hmac.compare_digest(digest, self._forward):
            found = Principal("worker", ADMIN)
        for entry, expected in self.tokens:  # no early exit: every entry is compared
            if hmac.compare_digest(digest, expected) and found is None:
                found = Principal(entry.name, entry.role)
        return found


def _error(status: int, message: str, extra: list[tuple[bytes, bytes]]) -> tuple[dict[str, Any], bytes]:
    body = json.dumps({"error_code": status, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    return {"type": "http.response.start", "status": status, "headers": headers}, body


class AuthMiddleware:
    """ASGI middleware: authenticate, check the role, then pass the request on."""

    def __init__(self, app: ASGIApp, auth: Authenticator, open_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.auth = auth
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        authorization = None
        for k, v in scope["headers"]:
            if k == b"authorization":
                authorization = v.decode("latin-1")
                break
        peer_cn = scope.get("state", {}).get(PEER_CN)
        principal, message = await self.auth.authenticate(authorization, peer_cn)
        if principal is None:
            start, body = _error(401, message, self.auth.challenge())
        elif principal.role != ADMIN and scope["method"] not in READ_METHODS:
            start, body = _error(403, FORBIDDEN, [])
        else:
            scope.setdefault("state", {})["principal"] = principal
            await self.app(scope, receive, send)
            return
        await send(start)
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def common_name(cert: Any) -> str | None:
    """The subject CN of a certificate as ``SSLSocket.getpeercert()`` gives it."""
    if not cert:
        return None
    for rdn in cert.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                return str(value)
    return None
