"""A task consumer's librdkafka defaults: ours, a pipelined sink's, the user's."""

from __future__ import annotations

from engine.runtime.clients import PIPELINED_CONSUMER_DEFAULTS, consumer_config


def test_consumer_defaults_a_pipelined_sink_replaces_and_a_user_overrides() -> None:
    plain, _ = consumer_config({"bootstrap.servers": "localhost:9092"}, "c-1", "g")
    assert (plain["fetch.queue.backoff.ms"], plain["queued.max.messages.kbytes"]) == ("100", "2048")
    piped, _ = consumer_config(
        {"bootstrap.servers": "localhost:9092"}, "c-1", "g", {}, PIPELINED_CONSUMER_DEFAULTS
    )
    assert (piped["fetch.queue.backoff.ms"], piped["queued.max.messages.kbytes"]) == ("10", "2048")
    user, _ = consumer_config(
        {"bootstrap.servers": "localhost:9092"},
        "c-1",
        "g",
        {"consumer.override.fetch.queue.backoff.ms": "250"},
        PIPELINED_CONSUMER_DEFAULTS,
    )
    assert user["fetch.queue.backoff.ms"] == "250"
