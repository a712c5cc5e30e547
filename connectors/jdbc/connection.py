"""One database connection: opened with ``connection.attempts`` and ``connection.backoff.ms``,
errors translated into arrowsmith's error tree, passwords kept out of every message.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from connectors.jdbc.dialect import Dialect, Failure, dialect_for
from connectors.jdbc.url import ConnectionInfo
from engine.spi.errors import ConnectError, DataError, RetriableError

log = logging.getLogger(__name__)


class Database:
    """A connection and its cursor; ``open()`` again after a connection failure."""

    def __init__(
        self,
        info: ConnectionInfo,
        attempts: int = 3,
        backoff_ms: int = 10000,
        stopping: threading.Event | None = None,
    ) -> None:
        self.info = info
        self.dialect: Dialect = dialect_for(info.dialect)
        self.attempts = max(1, attempts)
        self.backoff_ms = backoff_ms
        self.stopping = stopping or threading.Event()
        self.conn: Any = None
        self.cur: Any = None

    def where(self) -> str:
        return self.info.describe()

    def scrub(self, text: str) -> str:
        """``text`` with the password (and the URI that carries it) replaced by ``[hidden]``."""
        for secret in (self.info.adbc_uri(), self.info.password):
            if secret:
                text = text.replace(secret, "[hidden]")
        return text

    def open(self) -> Any:
        """Connect (``connection.attempts`` tries, ``connection.backoff.ms`` apart); the cursor."""
        if self.cur is not None:
            return self.cur
        last: BaseException | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                conn = self.dialect.connect(self.info.adbc_uri())
                cur = conn.cursor()
                self.dialect.setup_session(cur)
                self.conn, self.cur = conn, cur
                return cur
            except Exception as e:
                last = e
                log.warning(
                    "Unable to connect to database %s on attempt %d/%d: %s",
                    self.where(),
                    attempt,
                    self.attempts,
                    self.scrub(str(e)).strip(),
                )
                if attempt < self.attempts and self.stopping.wait(self.backoff_ms / 1000):
                    break
        assert last is not None
        raise RetriableError(
            f"Could not connect to database {self.where()} after {self.attempts} attempt(s): "
            f"{self.scrub(str(last)).strip()}"
        )

    def close(self) -> None:
        cur, conn, self.cur, self.conn = self.cur, self.conn, None, None
        for obj in (cur, conn):
            if obj is not None:
                try:
                    obj.close()
                except Exception as e:
                    log.debug("closing %s: %s", self.where(), self.scrub(str(e)))

    def failure(self, error: BaseException) -> Failure:
        return self.dialect.classify(error)

    def translate(self, error: BaseException, what: str) -> ConnectError:
        """A database error as a RetriableError, DataError or ConnectError naming the database."""
        if isinstance(error, ConnectError):
            return error
        kind = self.failure(error)
        text = f"{what} on {self.where()} failed: {self.scrub(str(error)).strip()}"
        if kind is Failure.RETRIABLE:
            self.close()  # the connection may be gone: the next attempt reconnects
            return RetriableError(text)
        if kind is Failure.DATA:
            return DataError(text)
        return ConnectError(text)

    def rollback_quietly(self) -> None:
        if self.cur is None:
            return
        try:
            self.cur.execute("ROLLBACK")
        except Exception as e:
            log.debug("rollback on %s: %s", self.where(), self.scrub(str(e)))
            self.close()
