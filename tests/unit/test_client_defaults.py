"""A task consumer's librdkafka defaults: ours, and the user's over them."""

from __future__ import annotations

from engine.runtime.clients import consumer_config


def test_consumer_defaults_and_a_user_override() -> None:
    plain, max_poll = consumer_config({"bootstrap.servers": "localhost:9092"}, "c-1", "g")
    assert max_poll is None
    assert (plain["fetch.queue.backoff.ms"], plain["queued.max.messages.kbytes"]) == ("10", "2048")
    assert (plain["client.id"], plain["group.id"], plain["enable.auto.commit"]) == ("c-1", "g", "false")
    user, max_poll = consumer_config(
        {"bootstrap.servers": "localhost:9092", "consumer.queued.max.messages.kbytes": "4096"},
        "c-1",
        "g",
        {"consumer.override.fetch.queue.backoff.ms": "250", "consumer.override.max.poll.records": "500"},
    )
    assert user["fetch.queue.backoff.ms"] == "250" and user["queued.max.messages.kbytes"] == "4096"
    assert max_poll == 500
