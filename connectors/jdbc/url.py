"""``connection.url``: the JDBC forms users already have, and plain URIs.

==========================================================  =====================
form                                                        database
==========================================================  =====================
``jdbc:postgresql://host:port/db?user=u&password=p&…``      PostgreSQL
``postgresql://user:password@host:port/db?…`` (postgres://) PostgreSQL
``jdbc:sqlite:/path/to/file.db`` (``jdbc:sqlite:file.db``)  SQLite
``sqlite:////abs/path.db``, ``sqlite:///relative.db``      SQLite (as SQLAlchemy)
==========================================================  =====================

``connection.user`` / ``connection.password`` override credentials given in the URL. The
parsed :class:`ConnectionInfo` never shows the password: :meth:`ConnectionInfo.describe`
names ``host:port/db`` (or the SQLite path) and is what error messages use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from engine.spi.errors import ConfigError

POSTGRESQL = "postgresql"
SQLITE = "sqlite"
DEFAULT_PG_PORT = 5432
# JDBC driver properties that are not libpq parameters (PgJDBC names → dropped or renamed)
_JDBC_ONLY = {"user", "password", "currentschema", "loggerlevel", "loginTimeout".lower()}
_PG_RENAME = {"ssl": "sslmode", "loginTimeout": "connect_timeout"}
URL_KEY = "connection.url"


@dataclass(frozen=True, slots=True, repr=False)
class ConnectionInfo:
    dialect: str
    host: str = ""
    port: int = 0
    database: str = ""
    path: str = ""
    user: str | None = None
    password: str | None = field(default=None)
    params: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        """Where the database is, without credentials: ``host:port/db`` or the SQLite path."""
        if self.dialect == SQLITE:
            return f"sqlite:{self.path}"
        return f"{self.host}:{self.port}/{self.database}"

    def __repr__(self) -> str:
        return f"ConnectionInfo({self.describe()})"

    def adbc_uri(self) -> str:
        """The URI handed to the ADBC driver (carries the password; never log it)."""
        if self.dialect == SQLITE:
            return self.path
        auth = ""
        if self.user is not None:
            auth = quote(self.user, safe="")
            if self.password is not None:
                auth += ":" + quote(self.password, safe="")
            auth += "@"
        query = ("?" + urlencode(self.params)) if self.params else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{auth}{host}:{self.port}/{quote(self.database, safe='')}{query}"

    def with_credentials(self, user: str | None, password: str | None) -> ConnectionInfo:
        return ConnectionInfo(
            self.dialect,
            self.host,
            self.port,
            self.database,
            self.path,
            user if user else self.user,
            password if password is not None and password != "" else self.password,
            self.params,
        )


def parse_url(url: str, user: str | None = None, password: str | None = None) -> ConnectionInfo:
    """Parse ``connection.url``; ``user``/``password`` (connection.user/password) win over the URL's."""
    text = url.strip()
    if not text:
        raise ConfigError(f"Invalid value for configuration {URL_KEY}: empty", key=URL_KEY)
    lowered = text.lower()
    if lowered.startswith("jdbc:"):
        text = text[5:]
        lowered = lowered[5:]
    if lowered.startswith("sqlite:"):
        info = _sqlite(text[len("sqlite:") :])
    elif lowered.startswith(("postgresql:", "postgres:")):
        info = _postgres(text)
    else:
        scheme = lowered.split(":", 1)[0] if ":" in lowered else lowered
        raise ConfigError(
            f"Invalid value {_shown(url)} for configuration {URL_KEY}: unsupported database '{scheme}' "
            "(supported: jdbc:postgresql://…, postgresql://…, jdbc:sqlite:…, sqlite:///…)",
            key=URL_KEY,
        )
    return info.with_credentials(user, password)


def _shown(url: str) -> str:
    """The URL with any password removed, for messages."""
    try:
        parts = urlsplit(url[5:] if url.lower().startswith("jdbc:") else url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{parts.path}" if host else parts.scheme + ":" + parts.path


def _sqlite(rest: str) -> ConnectionInfo:
    path = rest
    if path.startswith("//"):  # URI form, as SQLAlchemy: sqlite:///relative.db, sqlite:////abs/path.db
        path = path[2:]
        path = path[1:] if path.startswith("/") else path
    path = unquote(path.split("?", 1)[0])
    if not path or path in (":memory:", "/:memory:"):
        raise ConfigError(
            f"Invalid value for configuration {URL_KEY}: an SQLite URL needs a database file path "
            "(jdbc:sqlite:/path/to/file.db)",
            key=URL_KEY,
        )
    return ConnectionInfo(SQLITE, path=path)


def _postgres(text: str) -> ConnectionInfo:
    try:
        parts = urlsplit(text)
        port = parts.port or DEFAULT_PG_PORT
    except ValueError as e:
        raise ConfigError(
            f"Invalid value {_shown(text)} for configuration {URL_KEY}: {e}", key=URL_KEY
        ) from None
    host = parts.hostname or "localhost"
    database = unquote(parts.path.lstrip("/")) or "postgres"
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    params: list[tuple[str, str]] = []
    # JDBC puts properties after '?' (and PgJDBC also after ';' is not supported: not a PG form)
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        lk = k.lower()
        if lk == "user":
            user = v
        elif lk == "password":
            password = v
        elif k in _PG_RENAME:
            if k == "ssl":
                params.append(("sslmode", "require" if v.lower() == "true" else "disable"))
            else:
                params.append((_PG_RENAME[k], v))
        elif lk == "currentschema":
            params.append(("options", f"-csearch_path={v}"))
        elif lk in _JDBC_ONLY:
            continue
        else:
            params.append((k, v))
    return ConnectionInfo(POSTGRESQL, host, port, database, "", user, password, tuple(params))
