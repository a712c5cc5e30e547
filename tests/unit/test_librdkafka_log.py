"""librdkafka's log: a new cluster's producer-id retries are DEBUG for a while, everything
else as given."""

from __future__ import annotations

import logging

import pytest

from engine.runtime import clients
from engine.runtime.clients import LIBRDKAFKA_LOG

RETRY = (
    "GETPID [connector-producer-src-0#producer-2] [thrd:main]: Failed to acquire idempotence PID "
    "from broker 127.0.0.1:34253/1: Broker: Coordinator load in progress: retrying"
)


@pytest.fixture(autouse=True)
def fresh_window(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a process that has seen no retry yet."""
    for f in LIBRDKAFKA_LOG.filters:
        if hasattr(f, "first"):
            monkeypatch.setattr(f, "first", None)


def _log(level: int, fmt: str, *args: object) -> None:
    # as confluent-kafka calls the logger it is given
    LIBRDKAFKA_LOG.log(level, fmt, *args)


@pytest.mark.parametrize(
    "reason", ["Coordinator load in progress", "Coordinator not available", "Not coordinator"]
)
def test_producer_id_retries_are_debug(caplog: pytest.LogCaptureFixture, reason: str) -> None:
    message = RETRY.replace("Coordinator load in progress", reason)
    with caplog.at_level(logging.INFO, logger="librdkafka"):
        _log(logging.WARNING, "%s [%s] %s", "GETPID", "p", message)
    assert caplog.records == []
    with caplog.at_level(logging.DEBUG, logger="librdkafka"):
        _log(logging.WARNING, "%s", message)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("DEBUG", message)]


def test_other_librdkafka_warnings_and_errors_stay(caplog: pytest.LogCaptureFixture) -> None:
    other = "FAIL [thrd:127.0.0.1:1/bootstrap]: 127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed"
    fatal = RETRY.replace(": retrying", ": giving up")
    with caplog.at_level(logging.INFO, logger="librdkafka"):
        _log(logging.WARNING, "%s", other)
        _log(logging.WARNING, "%s", fatal)
        _log(logging.ERROR, "%s", RETRY)  # an error is never lowered
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", other),
        ("WARNING", fatal),
        ("ERROR", RETRY),
    ]


def test_retries_that_go_on_are_warnings_again(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A coordinator that never comes (a transaction log the cluster cannot create) is seen
    once the quiet window has passed."""
    now = [1000.0]
    monkeypatch.setattr(clients.time, "monotonic", lambda: now[0])
    with caplog.at_level(logging.INFO, logger="librdkafka"):
        _log(logging.WARNING, "%s", RETRY)  # the first: the window starts
        now[0] += clients.PID_RETRY_QUIET_S
        _log(logging.WARNING, "%s", RETRY)  # still inside
        now[0] += 0.5
        _log(logging.WARNING, "%s", RETRY)  # past it
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [("WARNING", RETRY)]
