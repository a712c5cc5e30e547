"""pytest plugin: one real PostgreSQL server for the test session.

Enable it with ``pytest_plugins = ["engine.testing.pytest_postgres"]``. Fixtures:

* ``postgres_server`` (session): a :class:`engine.testing.postgres.PostgresServer` started
  for the session (``wal_level=logical``), or None when ``POSTGRES_URL`` names a server.
  Without PostgreSQL's binaries the tests using it fail with the install hint.
* ``postgres_url`` (session): ``postgresql://user:password@127.0.0.1:port/postgres``.
* ``pg_database`` (function): a fresh database named after the test; returns its URL and
  drops it afterwards (with any replication slot left on it).

When a test that used the server fails, its report gets the tail of the server log.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Generator, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from engine.testing.postgres import PostgresServer, postgres_url_from_env

REPORT_LOG_LINES = 40
_SERVER = pytest.StashKey[PostgresServer]()
_USES_SERVER = frozenset({"postgres_server", "postgres_url", "pg_database"})


@pytest.fixture(scope="session")
def postgres_server(request: pytest.FixtureRequest) -> Iterator[PostgresServer | None]:
    if postgres_url_from_env() is not None:
        yield None
        return
    server = PostgresServer()
    server.start()
    request.session.stash[_SERVER] = server
    try:
        yield server
    finally:
        del request.session.stash[_SERVER]
        server.destroy()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer | None) -> str:
    if postgres_server is not None:
        return postgres_server.url()
    env = postgres_url_from_env()
    assert env is not None
    return env


def with_database(url: str, database: str) -> str:
    """``url`` with its path replaced by ``/database``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def admin_execute(url: str, *statements: str) -> None:
    """Run statements in autocommit mode (CREATE/DROP DATABASE cannot run in a transaction)."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
    finally:
        conn.close()


@pytest.fixture
def pg_database(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database for this test; yields its URL."""
    stem = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower()).strip("_")[:40] or "db"
    name = f"t_{stem}_{uuid.uuid4().hex[:6]}"
    admin_execute(postgres_url, f'CREATE DATABASE "{name}"')
    try:
        yield with_database(postgres_url, name)
    finally:
        admin_execute(
            postgres_url,
            f"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
            f"WHERE database = '{name}' AND active_pid IS NOT NULL",
            f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '{name}'",
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[Any]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _USES_SERVER.intersection(getattr(item, "fixturenames", ())):
        server = item.session.stash.get(_SERVER, None)
        if server is not None:
            text = server.log_tail(REPORT_LOG_LINES) or "(empty)"
            report.sections.append((f"PostgreSQL log {server.log_file} (last lines)", text))
    return report
