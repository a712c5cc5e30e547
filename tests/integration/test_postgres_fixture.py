"""The PostgreSQL fixture itself: a real server, logical WAL, a fresh database per test."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg2


def test_server_has_logical_wal_and_fresh_database(pg_database: str) -> None:
    conn = psycopg2.connect(pg_database)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW wal_level")
            assert cur.fetchone() == ("logical",)
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
            assert cur.fetchone() == (0,)
            cur.execute("CREATE TABLE t (id int primary key)")
            cur.execute("INSERT INTO t VALUES (1), (2)")
            cur.execute("SELECT array_agg(id ORDER BY id) FROM t")
            assert cur.fetchone() == ([1, 2],)
    finally:
        conn.close()


def test_wrong_password_is_refused(pg_database: str) -> None:
    parts = urlsplit(pg_database)
    netloc = f"{parts.username}:wrong-password@{parts.hostname}:{parts.port}"
    bad = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    try:
        psycopg2.connect(bad).close()
    except psycopg2.OperationalError as exc:
        assert "password authentication failed" in str(exc)
    else:
        raise AssertionError("a wrong password was accepted")
