"""Worker configuration: Kafka Connect's worker keys and defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import psutil

from engine.spi.config import (
    AbstractConfig,
    CaseInsensitiveValidString,
    ConfigDef,
    Importance,
    Range,
    Type,
    ValidString,
)

COMMON = "Common"

# A sink task's batch: 5 000 records (~600 KB of JSON) gave the same records/s and CPU per
# record as 10 000 in every sink scenario of `arrowsmith bench`, with 5-35 MB less peak
# memory (each batch's Message objects, Arrow arrays and numpy indexes halved; four tasks in
# two processes the most); 2 500 cost ~10 % of records/s (docs/performance.md).
WORKER_BATCH_MAX_ROWS = 5000


def _usable_cores() -> int:
    try:
        return len(psutil.Process().cpu_affinity() or []) or (os.cpu_count() or 1)
    except (AttributeError, psutil.Error):
        return os.cpu_count() or 1


def common_worker_def() -> ConfigDef:
    """Keys shared by standalone and distributed workers."""
    return _rest_security_keys(
        ConfigDef()
        .define(
            "bootstrap.servers",
            Type.LIST,
            "localhost:9092",
            importance=Importance.HIGH,
            documentation="Kafka brokers to connect to, host:port, comma-separated.",
            group=COMMON,
        )
        .define(
            "key.converter",
            Type.CLASS,
            importance=Importance.HIGH,
            documentation="Converter for record keys, e.g. org.apache.kafka.connect.json.JsonConverter. "
            "Its own keys are set with the key.converter. prefix.",
            group=COMMON,
        )
        .define(
            "value.converter",
            Type.CLASS,
            importance=Importance.HIGH,
            documentation="Converter for record values. Its own keys take the value.converter. prefix.",
            group=COMMON,
        )
        .define(
            "header.converter",
            Type.CLASS,
            "org.apache.kafka.connect.storage.SimpleHeaderConverter",
            importance=Importance.LOW,
            documentation="Converter for header values.",
            group=COMMON,
        )
        .define(
            "offset.flush.interval.ms",
            Type.LONG,
            60000,
            Range.at_least(0),
            Importance.LOW,
            "How often source offsets are written and sink offsets committed.",
            group=COMMON,
        )
        .define(
            "offset.flush.timeout.ms",
            Type.LONG,
            5000,
            Range.at_least(0),
            Importance.LOW,
            "How long to wait for acknowledgements and the offset write before giving up this round.",
            group=COMMON,
        )
        .define(
            "task.shutdown.graceful.timeout.ms",
            Type.LONG,
            5000,
            Range.at_least(0),
            Importance.LOW,
            "How long to wait, in total, for tasks to stop gracefully.",
            group=COMMON,
        )
        .define(
            "plugin.path",
            Type.LIST,
            None,
            importance=Importance.LOW,
            documentation="Directories holding plugin packages (installed distributions with arrowsmith "
            "entry points), comma-separated.",
            group=COMMON,
        )
        .define(
            "listeners",
            Type.LIST,
            "http://:8083",
            importance=Importance.LOW,
            documentation="REST listeners, http://host:port or https://host:port, comma-separated "
            "(https takes listeners.https.ssl.*, see docs/security-rest.md).",
            group=COMMON,
        )
        .define(
            "rest.advertised.host.name",
            Type.STRING,
            None,
            importance=Importance.LOW,
            documentation="Host name given to other workers and shown as worker_id.",
            group=COMMON,
        )
        .define(
            "rest.advertised.port",
            Type.INT,
            None,
            importance=Importance.LOW,
            documentation="Port given to other workers and shown in worker_id.",
            group=COMMON,
        )
        .define(
            "connector.client.config.override.policy",
            Type.STRING,
            "All",
            ValidString.in_("None", "Principal", "All"),
            Importance.MEDIUM,
            "Which producer.override.*, consumer.override.* and admin.override.* keys connectors may set.",
            group=COMMON,
        )
        .define(
            "worker.processes",
            Type.INT,
            _usable_cores(),
            Range.at_least(1),
            Importance.MEDIUM,
            "Number of worker processes that run tasks (arrowsmith). Default: the cores this node may use.",
            group=COMMON,
        )
        .define(
            "worker.batch.max.rows",
            Type.INT,
            WORKER_BATCH_MAX_ROWS,
            Range.at_least(1),
            Importance.LOW,
            "Most records a sink task consumes into one batch (arrowsmith).",
            group=COMMON,
        )
    )


REST_SECURITY = "REST security"


def _rest_security_keys(d: ConfigDef) -> ConfigDef:
    """TLS of the https listeners (Kafka Connect's names) and authentication (arrowsmith's).

    The TLS keys fall back to the plain ssl.* keys when no listeners.https.* key is set, as in
    Kafka Connect; controlplane/rest/tls.py and security.py read and check them."""
    tls: list[tuple[str, Type, str]] = [
        ("keystore.location", Type.STRING, "Keystore of the https listeners' key and certificate chain."),
        ("keystore.type", Type.STRING, "PKCS12 or PEM; default: guessed from the file (JKS is refused)."),
        ("keystore.password", Type.PASSWORD, "Password of a PKCS12 keystore."),
        ("key.password", Type.PASSWORD, "Password of the private key (an encrypted PEM key)."),
        (
            "keystore.certificate.chain",
            Type.STRING,
            "PEM certificate chain given inline (with ssl.keystore.key).",
        ),
        (
            "keystore.key",
            Type.PASSWORD,
            "PEM private key given inline (with ssl.keystore.certificate.chain).",
        ),
        (
            "truststore.location",
            Type.STRING,
            "CAs that sign client certificates and the other workers' ones.",
        ),
        ("truststore.type", Type.STRING, "PEM or PKCS12; default: guessed from the file."),
        ("truststore.password", Type.PASSWORD, "Password of a PKCS12 truststore."),
        ("truststore.certificates", Type.STRING, "PEM CA certificates given inline."),
        ("client.auth", Type.STRING, "Client certificates: none (default), requested or required."),
        (
            "enabled.protocols",
            Type.LIST,
            "TLS versions accepted; default TLSv1.2,TLSv1.3 (older are refused).",
        ),
        ("protocol", Type.STRING, "TLS, TLSv1.2 or TLSv1.3 (the versions come from ssl.enabled.protocols)."),
        ("cipher.suites", Type.LIST, "OpenSSL cipher names for TLSv1.2; default: OpenSSL's secure set."),
        (
            "endpoint.identification.algorithm",
            Type.STRING,
            "https (default) checks the other workers' host names when forwarding; empty turns that off.",
        ),
    ]
    for name, kind, doc in tls:
        d = d.define(
            f"listeners.https.ssl.{name}", kind, None, None, Importance.LOW, doc, group=REST_SECURITY
        )
    return (
        d.define(
            "rest.auth.credentials.file",
            Type.STRING,
            None,
            None,
            Importance.HIGH,
            "HTTP basic users, one 'name:role:hash' a line (role admin or read-only; scrypt or "
            "pbkdf2-sha256 hash). Plain-text passwords are refused at start.",
            group=REST_SECURITY,
        )
        .define(
            "rest.auth.tokens.file",
            Type.STRING,
            None,
            None,
            Importance.HIGH,
            "Bearer tokens, one 'name:role:sha256$<hex>' a line (the SHA-256 of the token, never the token).",
            group=REST_SECURITY,
        )
        .define(
            "rest.auth.certificate.roles",
            Type.LIST,
            "",
            None,
            Importance.MEDIUM,
            "Client certificate common names and their roles, 'cn:admin' or 'cn:read-only', comma-separated.",
            group=REST_SECURITY,
        )
        .define(
            "rest.auth.health.anonymous",
            Type.BOOLEAN,
            True,
            None,
            Importance.LOW,
            "Whether GET /health answers without credentials (for load balancers and probes).",
            group=REST_SECURITY,
        )
        .define(
            "rest.require.auth",
            Type.BOOLEAN,
            False,
            None,
            Importance.MEDIUM,
            "Refuse to start when a listener on a non-loopback address has no authentication "
            "(otherwise a loud warning).",
            group=REST_SECURITY,
        )
        .define(
            "rest.forward.auth.token",
            Type.PASSWORD,
            None,
            None,
            Importance.MEDIUM,
            "Secret shared by the workers of a cluster: sent as bearer token when a request is forwarded "
            "to another worker, and accepted as admin. Default: forward the caller's Authorization header.",
            group=REST_SECURITY,
        )
    )


KAFKA_SECURITY = "Kafka client security"


def _kafka_security_keys(d: ConfigDef) -> ConfigDef:
    """How the worker's Kafka clients authenticate (Java client names, translated to librdkafka's
    by engine/runtime/clients.py). The ssl.* keys (truststore, keystore, …) are documented in
    docs/kafka-security.md; the worker's tasks inherit all of them unless producer.*,
    consumer.* or admin.* (or a connector's *.override.*) set their own."""
    return (
        d.define(
            "security.protocol",
            Type.STRING,
            "PLAINTEXT",
            CaseInsensitiveValidString.in_("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
            Importance.MEDIUM,
            "Protocol of the connections to the brokers: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
            group=KAFKA_SECURITY,
        )
        .define(
            "sasl.mechanism",
            Type.STRING,
            None,
            None,
            Importance.MEDIUM,
            "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; required with SASL_* (GSSAPI, the Java "
            "client's default, is not supported).",
            group=KAFKA_SECURITY,
        )
        .define(
            "sasl.jaas.config",
            Type.PASSWORD,
            None,
            None,
            Importance.MEDIUM,
            "The user: org.apache.kafka.common.security.scram.ScramLoginModule (or "
            '…plain.PlainLoginModule) required username="…" password="…";',
            group=KAFKA_SECURITY,
        )
    )


CONFIG_PROVIDERS = "Config providers"


def _config_provider_keys(d: ConfigDef) -> ConfigDef:
    """Config providers (KIP-297) that resolve ``${name:path:key}`` placeholders in connector
    configs. Each provider named here has ``config.providers.<name>.class`` and its own
    ``config.providers.<name>.param.*`` keys (docs/config-providers.md)."""
    return d.define(
        "config.providers",
        Type.LIST,
        "",
        importance=Importance.LOW,
        documentation="Comma-separated names of the config providers, in the order they are loaded; "
        "each needs config.providers.<name>.class (e.g. FileConfigProvider, DirectoryConfigProvider, "
        "EnvVarConfigProvider or a plugin's class) and takes config.providers.<name>.param.* keys.",
        group=CONFIG_PROVIDERS,
    )


RESTARTS = "Automatic task restarts (arrowsmith)"
DISTRIBUTED = "Distributed"


def _restart_keys(d: ConfigDef, attempts: int) -> ConfigDef:
    """Restarts of FAILED tasks without an operator (Kafka Connect never does them)."""
    return (
        d.define(
            "task.restart.max.attempts",
            Type.INT,
            attempts,
            Range.at_least(0),
            Importance.MEDIUM,
            "How many times a FAILED task is restarted by itself before it stays FAILED; 0 = never "
            "(Kafka Connect's behaviour). A restart over REST resets the count.",
            group=RESTARTS,
        )
        .define(
            "task.restart.backoff.initial.ms",
            Type.LONG,
            1000,
            Range.at_least(0),
            Importance.LOW,
            "Wait before the first automatic restart; it doubles for each next one (±20 % jitter).",
            group=RESTARTS,
        )
        .define(
            "task.restart.backoff.max.ms",
            Type.LONG,
            60000,
            Range.at_least(0),
            Importance.LOW,
            "Longest wait between automatic restarts.",
            group=RESTARTS,
        )
    )


def standalone_worker_def() -> ConfigDef:
    d = _kafka_security_keys(common_worker_def()).define(
        "offset.storage.file.filename",
        Type.STRING,
        importance=Importance.HIGH,
        documentation="File in which source connector offsets are stored.",
        group=COMMON,
    )
    return _restart_keys(_config_provider_keys(d), 0)


def _topic_keys(d: ConfigDef, store: str, what: str, partitions: int | None) -> ConfigDef:
    d = d.define(
        f"{store}.storage.topic",
        Type.STRING,
        importance=Importance.HIGH,
        documentation=f"The compacted topic holding {what}.",
        group=DISTRIBUTED,
    ).define(
        f"{store}.storage.replication.factor",
        Type.SHORT,
        3,
        Range.at_least(-1),
        Importance.LOW,
        f"Replication factor of {store}.storage.topic when the worker creates it; -1 = the broker's default.",
        group=DISTRIBUTED,
    )
    if partitions is None:
        return d
    return d.define(
        f"{store}.storage.partitions",
        Type.INT,
        partitions,
        Range.at_least(-1),
        Importance.LOW,
        f"Partitions of {store}.storage.topic when the worker creates it; -1 = the broker's default.",
        group=DISTRIBUTED,
    )


def distributed_worker_def() -> ConfigDef:
    d = _kafka_security_keys(common_worker_def()).define(
        "group.id",
        Type.STRING,
        importance=Importance.HIGH,
        documentation="The cluster this worker belongs to: the Kafka consumer group its workers join.",
        group=DISTRIBUTED,
    )
    d = _topic_keys(d, "config", "connector configs, task configs and target states (one partition)", None)
    d = _topic_keys(d, "offset", "source connector offsets", 25)
    d = _topic_keys(d, "status", "connector and task statuses", 5)
    for key, default, doc in (
        ("session.timeout.ms", 10000, "A worker that sends no heartbeat for this long leaves the group."),
        ("heartbeat.interval.ms", 3000, "How often a worker heartbeats to the group coordinator."),
        ("rebalance.timeout.ms", 60000, "How long a worker may take to hand over revoked work."),
        ("worker.sync.timeout.ms", 3000, "How long a worker waits to catch up on the config topic."),
        (
            "scheduled.rebalance.max.delay.ms",
            300000,
            "How long the connectors and tasks of a departed worker wait for it to come back before "
            "they move to the other workers; 0 = move them at once.",
        ),
    ):
        d = d.define(key, Type.INT, default, Range.at_least(0), Importance.MEDIUM, doc, group=DISTRIBUTED)
    d = d.define(
        "rest.advertised.listener",
        Type.STRING,
        None,
        None,
        Importance.LOW,
        "Scheme of the URL given to other workers (http or https); default: that of the first listener.",
        group=DISTRIBUTED,
    )
    return _restart_keys(_config_provider_keys(d), 3)


class WorkerConfig(AbstractConfig):
    """A parsed worker configuration; the originals keep prefixed client and converter keys."""

    def __init__(self, props: Mapping[str, Any], definition: ConfigDef | None = None) -> None:
        super().__init__(definition or standalone_worker_def(), props)

    def client_props(self, prefix: str) -> dict[str, str]:
        """``producer.*`` / ``consumer.*`` / ``admin.*`` keys with the prefix removed."""
        return {k: str(v) for k, v in self.originals_with_prefix(prefix + ".").items()}
