"""Which config values the REST API hides, and how a config read back keeps its secrets."""

from __future__ import annotations

from engine.plugins import PluginRegistry
from engine.runtime.connector_config import masked, secret_keys, unmasked

REGISTRY = PluginRegistry.discover([])


def test_password_typed_and_secret_named_keys_are_found() -> None:
    config = {
        "name": "j",
        "connector.class": "JdbcSink",
        "connection.url": "jdbc:sqlite:/tmp/x.db",
        "connection.user": "me",
        "connection.password": "pw",
        "producer.override.sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule ...",
        "consumer.override.ssl.truststore.password": "tpw",
        "topics": "t",
    }
    assert secret_keys(REGISTRY, config) == {
        "connection.password",
        "producer.override.sasl.jaas.config",
        "consumer.override.ssl.truststore.password",
    }
    shown = masked(config, secret_keys(REGISTRY, config))
    assert shown == {
        **config,
        "connection.password": "[hidden]",
        "producer.override.sasl.jaas.config": "[hidden]",
        "consumer.override.ssl.truststore.password": "[hidden]",
    }


def test_a_config_sent_back_as_read_keeps_the_stored_secrets() -> None:
    stored = {"connector.class": "JdbcSink", "connection.password": "pw", "topics": "t"}
    secrets = frozenset({"connection.password"})
    sent = {"connector.class": "JdbcSink", "connection.password": "[hidden]", "topics": "t2"}
    assert unmasked(sent, stored, secrets) == {**stored, "topics": "t2"}
    # a new password replaces the stored one; a new connector has nothing to restore
    assert unmasked({**sent, "connection.password": "new"}, stored, secrets)["connection.password"] == "new"
    assert unmasked(sent, None, secrets) == sent


def test_a_config_without_secrets_is_unchanged() -> None:
    config = {"name": "f", "connector.class": "FileStreamSink", "topics": "t", "file": "/tmp/out"}
    assert secret_keys(REGISTRY, config) == frozenset()
    assert masked(config, frozenset()) == config


def test_passwords_inside_urls_are_hidden_and_restored() -> None:
    stored = {
        "connection.url": "jdbc:postgresql://db:5432/app?user=etl&password=pw1&sslmode=require",
        "other.url": "postgresql://etl:pw2@127.0.0.1:5432/app",
        "plain": "http://example.com/a@b",
    }
    shown = masked(stored, frozenset())
    assert shown == {
        "connection.url": "jdbc:postgresql://db:5432/app?user=etl&password=[hidden]&sslmode=require",
        "other.url": "postgresql://etl:[hidden]@127.0.0.1:5432/app",
        "plain": "http://example.com/a@b",
    }
    assert unmasked(shown, stored, frozenset()) == stored
    changed = {**shown, "other.url": "postgresql://etl:[hidden]@otherhost:5432/app"}
    assert unmasked(changed, stored, frozenset())["other.url"] == changed["other.url"]  # not the same URL
