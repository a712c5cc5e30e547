"""REST users and tokens: the files, their hashed entries, and a command line to make them.

Credentials file (``rest.auth.credentials.file``), one user a line::

    # username:role:hash
    alice:admin:scrypt$n=32768,r=8,p=1$<salt>$<hash>
    bob:read-only:pbkdf2-sha256$i=600000$<salt>$<hash>

Tokens file (``rest.auth.tokens.file``), one bearer token a line::

    # name:role:sha256$<hex digest of the token>
    ci:admin:sha256$9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08

Roles are ``admin`` (every request) and ``read-only`` (GET and HEAD). Salts and hashes are
base64 (standard alphabet, padded). Lines starting with ``#`` and blank lines are skipped.
Anything that is not one of these hashes is refused at start: plain-text passwords never work.

Make entries with ``python -m controlplane.rest.credentials hash --user alice --role admin``
(reads the password without echo, or from stdin) and ``… token --name ci --role admin``
(prints a new random token once, and the line to add).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import hashlib
import hmac
import re
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.spi.errors import ConfigError

ADMIN = "admin"
READ_ONLY = "read-only"
ROLES = (ADMIN, READ_ONLY)
SCRYPT_DEFAULT = {"n": 1 << 15, "r": 8, "p": 1}
PBKDF2_DEFAULT_ITERATIONS = 600_000
SCRYPT_MAX_MEMORY = 256 << 20
TOKEN_RE = re.compile(r"sha256\$([0-9a-f]{64})")


@dataclass(frozen=True)
class Entry:
    name: str
    role: str
    secret: str  # the encoded hash


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def hash_password(password: str, scheme: str = "scrypt", iterations: int = PBKDF2_DEFAULT_ITERATIONS) -> str:
    """``scheme$params$salt$hash`` for a password (scrypt, or pbkdf2-sha256 with ``iterations``)."""
    salt = secrets.token_bytes(16)
    if scheme == "scrypt":
        params = SCRYPT_DEFAULT
        digest = hashlib.scrypt(password.encode(), salt=salt, **params, maxmem=SCRYPT_MAX_MEMORY, dklen=32)
        return f"scrypt$n={params['n']},r={params['r']},p={params['p']}${_b64(salt)}${_b64(digest)}"
    if scheme == "pbkdf2-sha256":
        i = iterations
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, i, 32)
        return f"pbkdf2-sha256$i={i}${_b64(salt)}${_b64(digest)}"
    raise ValueError(f"unknown scheme {scheme}: use scrypt or pbkdf2-sha256")


def _parse(encoded: str) -> tuple[str, dict[str, int], bytes, bytes]:
    """Scheme, parameters, salt and hash; ValueError when it is not a hash we know."""
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] not in ("scrypt", "pbkdf2-sha256"):
        raise ValueError("not a scrypt$… or pbkdf2-sha256$… hash")
    scheme, raw_params, salt, digest = parts
    try:
        params = {k: int(v) for k, v in (p.split("=", 1) for p in raw_params.split(","))}
        salt_b, digest_b = _unb64(salt), _unb64(digest)
    except (ValueError, binascii.Error) as e:
        raise ValueError(f"malformed {scheme} hash") from e
    need = {"n", "r", "p"} if scheme == "scrypt" else {"i"}
    if set(params) != need or not salt_b or len(digest_b) < 16:
        raise ValueError(f"malformed {scheme} hash: expected parameters {','.join(sorted(need))}")
    return scheme, params, salt_b, digest_b


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches; compares in constant time."""
    scheme, params, salt, digest = _parse(encoded)
    if scheme == "scrypt":
        got = hashlib.scrypt(
            password.encode(),
            salt=salt,
            n=params["n"],
            r=params["r"],
            p=params["p"],
            maxmem=SCRYPT_MAX_MEMORY,
            dklen=len(digest),
        )
    else:
        got = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, params["i"], len(digest))
    return hmac.compare_digest(got, digest)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def hash_token(token: str) -> str:
    return "sha256$" + token_digest(token).hex()


def _lines(path: str, key: str) -> list[tuple[int, str, str, str]]:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigError(f"Cannot read {key}={path}: {e.strerror}", key) from e
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":", 2)
        if len(fields) != 3 or not fields[0]:
            raise ConfigError(f"{key}={path} line {n}: expected name:role:hash", key)
        name, role, secret = fields
        if role not in ROLES:
            raise ConfigError(
                f"{key}={path} line {n} ({name}): unknown role '{role}'; expected admin or read-only", key
            )
        out.append((n, name, role, secret))
    return out


def read_users(path: str, key: str = "rest.auth.credentials.file") -> dict[str, Entry]:
    users: dict[str, Entry] = {}
    for n, name, role, secret in _lines(path, key):
        try:
            _parse(secret)
        except ValueError as e:
            # The secret itself is never repeated: it may be a plain-text password.
            raise ConfigError(
                f"{key}={path} line {n} (user {name}): the password is not hashed ({e}); plain-text "
                f"passwords are refused. Make the line with: python -m controlplane.rest.credentials "
                f"hash --user {name} --role {role}",
                key,
            ) from None
        if name in users:
            raise ConfigError(f"{key}={path} line {n}: user {name} appears twice", key)
        users[name] = Entry(name, role, secret)
    return users


def read_tokens(path: str, key: str = "rest.auth.tokens.file") -> list[tuple[Entry, bytes]]:
    tokens: list[tuple[Entry, bytes]] = []
    for n, name, role, secret in _lines(path, key):
        m = TOKEN_RE.fullmatch(secret)
        if m is None:
            raise ConfigError(
                f"{key}={path} line {n} ({name}): the token is not hashed (expected sha256$<64 hex "
                "digits>); plain-text tokens are refused. Make one with: python -m "
                f"controlplane.rest.credentials token --name {name} --role {role}",
                key,
            )
        tokens.append((Entry(name, role, secret), bytes.fromhex(m.group(1))))
    return tokens


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("arrowsmith: error: the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m controlplane.rest.credentials", description="Make REST credentials file lines."
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser(
        "hash", help="a user line for rest.auth.credentials.file (password from the terminal or stdin)"
    )
    h.add_argument("--user", required=True)
    h.add_argument("--role", choices=ROLES, default=READ_ONLY)
    h.add_argument("--scheme", choices=("scrypt", "pbkdf2-sha256"), default="scrypt")
    t = sub.add_parser("token", help="a new random bearer token and its line for rest.auth.tokens.file")
    t.add_argument("--name", required=True)
    t.add_argument("--role", choices=ROLES, default=READ_ONLY)
    args = parser.parse_args(argv)
    name = args.user if args.cmd == "hash" else args.name
    if ":" in name or not name:
        parser.error("the name may not be empty or contain ':'")
    if args.cmd == "hash":
        password = _read_password()
        if not password:
            parser.error("empty password")
        print(f"{name}:{args.role}:{hash_password(password, args.scheme)}")
    else:
        token = secrets.token_urlsafe(32)
        print(f"token (shown once, give it to the client): {token}", file=sys.stderr)
        print(f"{name}:{args.role}:{hash_token(token)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
