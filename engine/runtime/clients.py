"""Kafka client configurations: every Kafka client of the worker and its tasks is configured here.

Settings, in increasing precedence: framework defaults < the worker's top-level security keys
(``security.protocol``, ``ssl.*``, ``sasl.*``) < worker ``producer.*`` / ``consumer.*`` /
``admin.*`` < connector ``producer.override.*`` / ``consumer.override.*`` /
``admin.override.*`` (the override policy is checked when the connector is created).

Keys are librdkafka's. Most Java client keys have the same name; those that exist only in
the Java client are dropped with a warning, and a few are translated. The Java client's
security keys (see docs/kafka-security.md) are translated by :func:`security_config`; one that
cannot be translated is a :class:`ConfigError` naming it and saying what to use instead:
never silently dropped. Error messages never hold a password or a ``sasl.jaas.config`` value.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from engine.spi.errors import ConfigError

log = logging.getLogger(__name__)

# librdkafka's own log: every client of the worker and its tasks is given it ("logger").
LIBRDKAFKA_LOG = logging.getLogger("librdkafka")
# An idempotent producer's first producer-id requests to a new cluster meet its transaction
# coordinator while it loads (the embedded broker's first seconds): librdkafka retries on
# its own and logs each try as a warning. For PID_RETRY_QUIET_S from the first such retry
# in a process they are DEBUG; retries after that are warnings again, so a coordinator that
# never comes (a transaction log the cluster cannot create) is seen before the records
# time out (message.timeout.ms).
_PID_RETRY = re.compile(
    r"Failed to acquire \w+ PID from broker .*: Broker: "
    r"(Coordinator load in progress|Coordinator not available|Not coordinator): retrying"
)
PID_RETRY_QUIET_S = 15.0


class _RetriesAtDebug(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.first: float | None = None  # time.monotonic() of the first retry seen

    def filter(self, record: logging.LogRecord) -> bool:
        if logging.WARNING <= record.levelno < logging.ERROR and _PID_RETRY.search(record.getMessage()):
            now = time.monotonic()
            if self.first is None:
                self.first = now
            if now - self.first <= PID_RETRY_QUIET_S:
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
                return LIBRDKAFKA_LOG.isEnabledFor(logging.DEBUG)
        return True


LIBRDKAFKA_LOG.addFilter(_RetriesAtDebug())

# Java-client keys with no librdkafka meaning: dropped (with a warning).
_JAVA_ONLY = frozenset(
    {
        "key.serializer",
        "value.serializer",
        "key.deserializer",
        "value.deserializer",
        "buffer.memory",
        "max.block.ms",
        "interceptor.classes",
        "metric.reporters",
        "metrics.num.samples",
        "metrics.sample.window.ms",
        "metrics.recording.level",
        "partitioner.class",
        "default.api.timeout.ms",
        "exclude.internal.topics",
        "client.dns.lookup",
        "allow.auto.create.topics",
    }
)
# Java-client keys whose librdkafka name differs.
_RENAMED = {
    "max.partition.fetch.bytes": "max.partition.fetch.bytes",
    "fetch.max.wait.ms": "fetch.wait.max.ms",
    "retries": "message.send.max.retries",
}

PRODUCER_DEFAULTS: Mapping[str, str] = {
    # Idempotence keeps per-partition order with several requests in flight, where Kafka
    # Connect's own default (max.in.flight.requests.per.connection=1) serialises them.
    "enable.idempotence": "true",
    "acks": "all",
    "linger.ms": "20",
    "batch.size": "1000000",
    "batch.num.messages": "10000",
    "queue.buffering.max.messages": "1000000",
    # 16 MiB of records waiting to be sent (Java's buffer.memory is 32 MiB): ~160 ms of a
    # 100 MB/s stream, plenty next to linger.ms; librdkafka's 1 GiB let a producer that
    # is fed faster than the broker takes records (a pipelined source) hold ~100 MB more.
    "queue.buffering.max.kbytes": "16384",
    "compression.type": "none",
    # As for the consumer (below): new connections are spaced by half of this.
    "reconnect.backoff.ms": "20",
}

# The sink tasks of one connector in a worker process share a consumer prefetch of this
# many KiB (each at least PREFETCH_MIN_KB): the process runs on one core, so together they
# consume no faster than one task alone, and a queue per consumer as deep as one task's
# only holds memory (~15 MB per worker process with two sink tasks; docs/performance.md).
PREFETCH_KB = 2048
PREFETCH_MIN_KB = 512

CONSUMER_DEFAULTS: Mapping[str, str] = {
    "enable.auto.commit": "false",
    "auto.offset.reset": "earliest",
    "enable.partition.eof": "false",
    # Prefetch enough to keep a task busy, not more: librdkafka's defaults (100 000 messages
    # per partition, 64 MiB) cost ~100 MB of RSS on 8 partitions for no throughput. 20 000
    # messages are four batches (worker.batch.max.rows), ~100 ms of one task at full speed
    # (10 000 cost one task ~20 % of its records/s). The KiB (PREFETCH_KB, shared by the
    # connector's tasks in one worker process; consumer_config) also size each fetch
    # (librdkafka caps fetch.max.bytes at them unless that is set). Every sink task has a
    # consumer of its own: with a full queue one held 26 MB at 8 MiB, 14 MB at 2 MiB.
    "queued.min.messages": "20000",
    "queued.max.messages.kbytes": str(PREFETCH_KB),
    "fetch.wait.max.ms": "100",
    # Once the 2 MiB queue has been full, librdkafka waits this long before it fetches
    # again (librdkafka's own default: 1000 ms). A task taking 300 000 records/s (~40 MB/s)
    # empties it in ~50 ms: at 100 ms every sink was held near 300 000 records/s whatever
    # its CPU; at 10 ms +65-75 % records/s for sink-json and scale on 1, 2 and 4 tasks,
    # with the same or a lower peak RSS (docs/performance.md).
    "fetch.queue.backoff.ms": "10",
    "max.partition.fetch.bytes": "4194304",
    # librdkafka spaces new connections by half of this (its default 100 ms; Java's is 50):
    # a new member's group join waited ~50 ms for the connection to the broker the
    # metadata names. At 20 ms a join takes ~21 ms instead of ~60 (docs/performance.md).
    # Reconnections after a failure still back off exponentially (reconnect.backoff.max.ms).
    "reconnect.backoff.ms": "20",
}


# -- security --------------------------------------------------------------------------------

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"
_USE_INSTEAD = "use sasl.mechanism=SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN with a sasl.jaas.config of"
_SUPPORTED_SASL = f"{_USE_INSTEAD} {SCRAM_MODULE} or {PLAIN_MODULE}"

# librdkafka's own ssl.*/sasl.* keys, accepted as they are (an operator may already use them).
_NATIVE = frozenset(
    {
        "ssl.ca.location",
        "ssl.ca.pem",
        "ssl.ca.certificate.stores",
        "ssl.certificate.location",
        "ssl.certificate.pem",
        "ssl.key.location",
        "ssl.key.pem",
        "ssl.crl.location",
        "ssl.curves.list",
        "ssl.sigalgs.list",
        "ssl.providers",
        "ssl.engine.id",
        "ssl.engine.location",
        "sasl.mechanisms",
        "sasl.username",
        "sasl.password",
    }
)
# Java-only keys that change nothing librdkafka could do: dropped with a warning.
_JAVA_SSL_DROPPED = {
    "ssl.keymanager.algorithm": "librdkafka uses OpenSSL's key manager",
    "ssl.trustmanager.algorithm": "librdkafka verifies certificates with OpenSSL (PKIX)",
    "ssl.secure.random.implementation": "librdkafka uses OpenSSL's random generator",
    "ssl.protocol": "librdkafka negotiates the highest TLS version both sides support (TLS 1.2 or 1.3)",
    "ssl.enabled.protocols": "librdkafka negotiates TLS 1.2 or 1.3 with OpenSSL's defaults",
    "ssl.provider": "librdkafka uses OpenSSL",
}
# Java IANA cipher suite names -> OpenSSL names (librdkafka's ssl.cipher.suites is an OpenSSL list).
_CIPHERS = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256": "DHE-RSA-AES128-GCM-SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384": "DHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384": "ECDHE-ECDSA-AES256-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": "ECDHE-RSA-AES256-SHA384",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
}
_TLS13_CIPHERS = frozenset(
    {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
)
_JAAS = re.compile(r"^\s*([A-Za-z_$][\w$.]*)\s+(required|requisite|sufficient|optional)\b(.*?);?\s*$", re.S)
_JAAS_OPTION = re.compile(r'\s*([\w.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s";]+))', re.S)
_JKS_MAGIC = b"\xfe\xed\xfe\xed"


def is_security_key(key: str) -> bool:
    """A Java or librdkafka key that says how a client authenticates or encrypts."""
    return (
        key == "security.protocol"
        or key.startswith(("ssl.", "sasl."))
        or key == "enable.ssl.certificate.verification"
    )


def security_config(props: Mapping[str, str], names: Mapping[str, str] | None = None) -> dict[str, str]:
    """librdkafka settings for the security keys (Java client's or librdkafka's) of ``props``.

    ``names`` maps a key of ``props`` to the name the operator wrote (e.g.
    ``producer.override.sasl.jaas.config``) for error messages. Raises :class:`ConfigError`
    naming the key for anything that cannot be translated.
    """
    sec = {k: str(v) for k, v in props.items() if is_security_key(k)}

    def name(key: str) -> str:
        return (names or {}).get(key, key)

    def fail(key: str, why: str) -> ConfigError:
        return ConfigError(f"Kafka client setting {name(key)}: {why}", name(key))

    out: dict[str, str] = {}
    protocol = sec.pop("security.protocol", "").strip().upper()
    if protocol:
        if protocol not in SECURITY_PROTOCOLS:
            raise fail("security.protocol", f"'{protocol}' is not one of {', '.join(SECURITY_PROTOCOLS)}")
        out["security.protocol"] = protocol.lower()
    sasl = protocol.startswith("SASL_")

    # -- SASL -----------------------------------------------------------------------------
    mechanism = sec.pop("sasl.mechanism", "").strip().upper()
    native_mechanism = sec.get("sasl.mechanisms", "").strip().upper()
    if mechanism and native_mechanism and mechanism != native_mechanism:
        raise fail(
            "sasl.mechanism", f"'{mechanism}' contradicts sasl.mechanisms='{native_mechanism}'; set one"
        )
    mechanism = mechanism or native_mechanism
    if mechanism:
        if mechanism == "GSSAPI":
            raise fail("sasl.mechanism", f"Kerberos (GSSAPI) is not supported; {_SUPPORTED_SASL}")
        if mechanism == "OAUTHBEARER":
            raise fail("sasl.mechanism", f"OAUTHBEARER is not supported; {_SUPPORTED_SASL}")
        if mechanism not in SASL_MECHANISMS:
            raise fail("sasl.mechanism", f"'{mechanism}' is not one of {', '.join(SASL_MECHANISMS)}")
        out["sasl.mechanisms"] = mechanism
        sec.pop("sasl.mechanisms", None)
    jaas = sec.pop("sasl.jaas.config", None)
    if jaas is not None and jaas.strip():
        module, options = parse_jaas(jaas, name("sasl.jaas.config"))
        if module == PLAIN_MODULE:
            expected: tuple[str, ...] = ("PLAIN",)
        elif module == SCRAM_MODULE:
            expected = ("SCRAM-SHA-256", "SCRAM-SHA-512")
        elif module.endswith("Krb5LoginModule"):
            raise fail("sasl.jaas.config", f"Kerberos ({module}) is not supported; {_SUPPORTED_SASL}")
        elif module.endswith("OAuthBearerLoginModule"):
            raise fail("sasl.jaas.config", f"OAUTHBEARER ({module}) is not supported; {_SUPPORTED_SASL}")
        else:
            raise fail("sasl.jaas.config", f"the login module {module} is not supported; {_SUPPORTED_SASL}")
        if not mechanism:
            raise fail(
                "sasl.mechanism",
                f"not set, and the Java client's default, GSSAPI (Kerberos), is not supported; set it to "
                f"{' or '.join(expected)} to go with the {module.rsplit('.', 1)[1]} of sasl.jaas.config",
            )
        if mechanism not in expected:
            raise fail(
                "sasl.jaas.config",
                f"its {module.rsplit('.', 1)[1]} does not go with sasl.mechanism={mechanism} "
                f"(it needs {' or '.join(expected)})",
            )
        if options.pop("tokenauth", "false").lower() == "true":
            raise fail(
                "sasl.jaas.config", "delegation tokens (tokenauth=true) are not supported; use a SCRAM user"
            )
        missing = [o for o in ("username", "password") if not options.get(o)]
        if missing:
            raise fail(
                "sasl.jaas.config", f'the {module.rsplit(".", 1)[1]} needs {" and ".join(missing)}="…"'
            )
        out["sasl.username"] = options.pop("username")
        out["sasl.password"] = options.pop("password")
        for extra in options:
            log.warning(
                "Ignoring option %s of %s (librdkafka has no such setting)", extra, name("sasl.jaas.config")
            )
    elif sasl and not mechanism:
        raise fail(
            "sasl.mechanism",
            f"security.protocol={protocol} needs sasl.mechanism: the Java client's default, GSSAPI "
            f"(Kerberos), is not supported; {_SUPPORTED_SASL}",
        )
    for key in [k for k in sec if k.startswith("sasl.")]:
        if key in _NATIVE:
            out[key] = sec.pop(key)
        elif key.startswith("sasl.kerberos."):
            raise fail(key, f"Kerberos (GSSAPI) is not supported; {_SUPPORTED_SASL}")
        elif key.startswith(("sasl.oauthbearer.", "sasl.login.")) or key in (
            "sasl.client.callback.handler.class",
        ):
            raise fail(
                key,
                "custom login (OAUTHBEARER, login classes and callbacks) is not supported; "
                f"{_SUPPORTED_SASL}",
            )
        else:
            raise fail(key, f"not a setting of the Java Kafka client or of librdkafka; {_SUPPORTED_SASL}")

    # -- TLS ------------------------------------------------------------------------------
    algorithm = sec.pop("ssl.endpoint.identification.algorithm", None)
    if algorithm is not None:
        a = algorithm.strip().lower()
        if a in ("", "none"):
            out["ssl.endpoint.identification.algorithm"] = "none"
        elif a == "https":
            out["ssl.endpoint.identification.algorithm"] = "https"
        else:
            raise fail(
                "ssl.endpoint.identification.algorithm",
                f"'{algorithm}' is not supported; use https (check the broker's host name) or an empty value",
            )
    _truststore(sec, out, fail)
    _keystore(sec, out, fail)
    suites = sec.pop("ssl.cipher.suites", None)
    if suites is not None and suites.strip():
        out["ssl.cipher.suites"] = _cipher_suites(suites, fail)
    for key, why in _JAVA_SSL_DROPPED.items():
        if key in sec:
            log.warning("Ignoring Java-only client setting %s: %s", name(key), why)
            sec.pop(key)
    if "ssl.engine.factory.class" in sec:
        raise fail(
            "ssl.engine.factory.class",
            "a Java SSL engine cannot be used by librdkafka; set the certificates with "
            "ssl.truststore.* / ssl.keystore.* (PEM or PKCS12)",
        )
    for key in list(sec):
        if key in _NATIVE or key == "enable.ssl.certificate.verification":
            out[key] = sec.pop(key)
        else:
            raise fail(
                key, "not a setting of the Java Kafka client or of librdkafka (see docs/kafka-security.md)"
            )
    return out


def parse_jaas(text: str, key: str = "sasl.jaas.config") -> tuple[str, dict[str, str]]:
    """The login module and options of a one-entry JAAS config (``Module required k="v" …;``)."""
    m = _JAAS.match(text)
    if m is None:
        raise ConfigError(
            f"Kafka client setting {key}: not a JAAS login module entry "
            f'(expected: <LoginModule class> required username="…" password="…";)',
            key,
        )
    module, rest = m.group(1), m.group(3)
    options: dict[str, str] = {}
    pos = 0
    rest = rest.strip()
    while pos < len(rest):
        o = _JAAS_OPTION.match(rest, pos)
        if o is None:
            raise ConfigError(
                f"Kafka client setting {key}: cannot read the options of {module} after "
                f'{", ".join(options) or "the module name"} (expected name="value" pairs)',
                key,
            )
        value = o.group(2)
        options[o.group(1)] = re.sub(r"\\(.)", r"\1", value) if value is not None else o.group(3)
        pos = o.end()
        while pos < len(rest) and rest[pos].isspace():
            pos += 1
    return module, options


_Fail = Any  # Callable[[str, str], ConfigError]


def _store_type(sec: dict[str, str], prefix: str, path: str, fail: _Fail) -> str:
    """``ssl.<prefix>.type`` upper-cased; unset: guessed from the file's first bytes."""
    declared = sec.pop(f"ssl.{prefix}.type", "").strip().upper()
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as exc:
        raise fail(f"ssl.{prefix}.location", f"cannot read {path}: {exc.strerror}") from None
    if head.startswith(_JKS_MAGIC):
        sniffed = "JKS"
    elif b"-----BEGIN" in head:
        sniffed = "PEM"
    elif head[:1] == b"\x30":
        sniffed = "PKCS12"
    else:
        sniffed = ""
    if declared in ("", "JKS") and sniffed in ("PEM", "PKCS12"):
        return sniffed  # Java reads a PKCS12 file as JKS too (keystore.type.compat)
    if declared and declared not in ("JKS", "PKCS12", "PEM"):
        raise fail(f"ssl.{prefix}.type", f"'{declared}' is not supported; use PEM or PKCS12")
    return declared or sniffed or "JKS"


def _truststore(sec: dict[str, str], out: dict[str, str], fail: _Fail) -> None:
    inline = sec.pop("ssl.truststore.certificates", None)
    if inline is not None and inline.strip():
        out["ssl.ca.pem"] = inline
    path = sec.pop("ssl.truststore.location", "").strip()
    password = sec.pop("ssl.truststore.password", None)
    if not path:
        sec.pop("ssl.truststore.type", None)
        return
    kind = _store_type(sec, "truststore", path, fail)
    if kind == "PEM":
        out["ssl.ca.location"] = path
    elif kind == "JKS":
        raise fail(
            "ssl.truststore.location",
            f"{path} is a JKS truststore, which librdkafka cannot read; convert it to PEM: "
            f"keytool -exportcert -rfc -alias <alias> -keystore {path} -file ca.pem "
            "(for each CA), then set ssl.truststore.type=PEM and ssl.truststore.location=ca.pem",
        )
    else:
        out["ssl.ca.location"] = _pkcs12_truststore_pem(path, password, fail)


def _keystore(sec: dict[str, str], out: dict[str, str], fail: _Fail) -> None:
    key_password = sec.pop("ssl.key.password", None)
    inline_key = sec.pop("ssl.keystore.key", None)
    inline_chain = sec.pop("ssl.keystore.certificate.chain", None)
    if inline_key is not None and inline_key.strip():
        out["ssl.key.pem"] = inline_key
        if not (inline_chain or "").strip():
            raise fail("ssl.keystore.key", "needs ssl.keystore.certificate.chain (the PEM certificates) too")
        out["ssl.certificate.pem"] = inline_chain or ""
        if key_password:
            out["ssl.key.password"] = key_password
    path = sec.pop("ssl.keystore.location", "").strip()
    password = sec.pop("ssl.keystore.password", None)
    if not path:
        sec.pop("ssl.keystore.type", None)
        if key_password and "ssl.key.location" in sec:
            out["ssl.key.password"] = key_password
        return
    kind = _store_type(sec, "keystore", path, fail)
    if kind == "PEM":
        out["ssl.certificate.location"] = path
        out["ssl.key.location"] = path
        if key_password:
            out["ssl.key.password"] = key_password
    elif kind == "JKS":
        raise fail(
            "ssl.keystore.location",
            f"{path} is a JKS keystore, which librdkafka cannot read; convert it to PKCS12: "
            f"keytool -importkeystore -srckeystore {path} -destkeystore keystore.p12 "
            "-deststoretype PKCS12, then set ssl.keystore.type=PKCS12 and ssl.keystore.location=keystore.p12",
        )
    else:
        if key_password and password is not None and key_password != password:
            raise fail(
                "ssl.key.password",
                "librdkafka reads a PKCS12 keystore with one password (ssl.keystore.password); "
                "re-export the keystore with the key protected by the keystore's password",
            )
        out["ssl.keystore.location"] = path
        if password is not None or key_password:
            out["ssl.keystore.password"] = password if password is not None else key_password or ""


def _cipher_suites(suites: str, fail: _Fail) -> str:
    names: list[str] = []
    for suite in (s.strip() for s in suites.split(",")):
        if not suite:
            continue
        if suite in _CIPHERS:
            names.append(_CIPHERS[suite])
        elif suite in _TLS13_CIPHERS:
            log.warning(
                "Ignoring TLS 1.3 cipher suite %s in ssl.cipher.suites: OpenSSL enables it itself", suite
            )
        elif suite.startswith(("TLS_", "SSL_")):
            raise fail(
                "ssl.cipher.suites",
                f"no OpenSSL name known for the Java cipher suite {suite}; write the list with OpenSSL's "
                "names (e.g. ECDHE-RSA-AES128-GCM-SHA256), as librdkafka takes them",
            )
        else:
            names.append(suite)  # already an OpenSSL name
    return ":".join(names) if names else "DEFAULT"


_converted: dict[tuple[str, float, str | None], str] = {}
_converted_lock = threading.Lock()


def _pkcs12_truststore_pem(path: str, password: str | None, fail: _Fail) -> str:
    """The certificates of a PKCS12 truststore in a PEM file only this user can read (cached)."""
    try:
        from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
    except ImportError:
        raise fail(
            "ssl.truststore.location",
            f"{path} is a PKCS12 truststore, which librdkafka cannot read, and the cryptography package "
            "that converts it is not installed; pip install cryptography, or convert it to PEM: "
            f"openssl pkcs12 -in {path} -nokeys -out ca.pem, then set ssl.truststore.type=PEM",
        ) from None
    try:
        mtime = os.stat(path).st_mtime
    except OSError as exc:
        raise fail("ssl.truststore.location", f"cannot read {path}: {exc.strerror}") from None
    cache_key = (path, mtime, password)
    with _converted_lock:
        done = _converted.get(cache_key)
        if done is not None and os.path.exists(done):
            return done
        try:
            store = pkcs12.load_pkcs12(Path(path).read_bytes(), password.encode() if password else None)
        except (ValueError, OSError):
            raise fail(
                "ssl.truststore.location",
                f"cannot read the PKCS12 truststore {path} (wrong ssl.truststore.password, or not PKCS12)",
            ) from None
        certs = [c.certificate for c in store.additional_certs]
        if store.cert is not None:
            certs.append(store.cert.certificate)
        if not certs:
            raise fail("ssl.truststore.location", f"the PKCS12 truststore {path} holds no certificate")
        fd, pem = tempfile.mkstemp(prefix="arrowsmith-truststore-", suffix=".pem")  # mode 0600
        with os.fdopen(fd, "wb") as f:
            f.write(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
        atexit.register(_remove, pem)
        _converted[cache_key] = pem
        return pem


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# -- configurations ----------------------------------------------------------------------------


def translate(props: Mapping[str, str], names: Mapping[str, str] | None = None) -> dict[str, str]:
    """Map Java client keys onto librdkafka's; drop the ones it does not know (security keys:
    :func:`security_config`, which raises rather than drops)."""
    out: dict[str, str] = {}
    for key, value in props.items():
        if is_security_key(key):
            continue
        if key in _JAVA_ONLY:
            log.warning("Ignoring Java-only client setting %s (librdkafka has no such setting)", key)
            continue
        out[_RENAMED.get(key, key)] = str(value)
    out.update(security_config(props, names))
    return out


def worker_security(worker_props: Mapping[str, Any]) -> dict[str, str]:
    """The worker's top-level security keys (Java names), as Kafka Connect's internal clients use them."""
    return {k: str(v) for k, v in worker_props.items() if is_security_key(k)}


def client_settings(
    worker_props: Mapping[str, Any], kind: str | None, connector_props: Mapping[str, Any] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Java-named settings of a ``kind`` (producer, consumer, admin; None: the worker's own
    clients) client, and for each the key the operator wrote: worker top-level security keys <
    ``<kind>.*`` < the connector's ``<kind>.override.*``."""
    merged = worker_security(worker_props)
    names = {k: k for k in merged}
    if kind is not None:
        for source, prefix in ((worker_props, f"{kind}."), (connector_props or {}, f"{kind}.override.")):
            for k, v in prefixed({str(a): str(b) for a, b in source.items()}, prefix).items():
                merged[k] = v
                names[k] = prefix + k
    return merged, names


def kafka_config(
    worker_props: Mapping[str, Any], kind: str | None = None, connector_props: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """librdkafka settings (``bootstrap.servers`` and security included) of a Kafka client:
    the one function every client of the worker and its tasks is configured through."""
    merged, names = client_settings(worker_props, kind, connector_props)
    conf = {"bootstrap.servers": _bootstrap(worker_props)}
    conf.update(translate(merged, names))
    return conf


def check_client_settings(worker_props: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` if the worker's own, producer, consumer or admin client
    settings cannot be translated (at start, rather than in every task)."""
    for kind in (None, "producer", "consumer", "admin"):
        kafka_config(worker_props, kind)


def security_only(conf: Mapping[str, Any]) -> dict[str, Any]:
    """``bootstrap.servers`` and the security settings of a librdkafka config (for an admin
    client beside a producer or consumer)."""
    return {k: v for k, v in conf.items() if k == "bootstrap.servers" or is_security_key(k)}


def _bootstrap(worker_props: Mapping[str, Any]) -> str:
    value = worker_props.get("bootstrap.servers") or "localhost:9092"
    return ",".join(value) if isinstance(value, list) else str(value)


def producer_config(
    worker_props: Mapping[str, Any], client_id: str, connector_props: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """A task's producer: defaults < worker security < ``producer.*`` < ``producer.override.*``."""
    conf = {"client.id": client_id, **PRODUCER_DEFAULTS}
    conf.update(kafka_config(worker_props, "producer", connector_props))
    return conf


def request_producer_id(producer: Any, timeout: float = 5.0) -> None:
    """Have an idempotent producer ask for its producer id now rather than in 500 ms.

    librdkafka asks for the id after a metadata response, from a broker that is up. The
    first response comes from the bootstrap connection, which librdkafka then closes to
    connect to the broker by the id the metadata names: no broker is up at that moment,
    and unless another metadata response comes once the new connection is up, the next try
    is its fixed 500 ms timer. Records produced right at the start (a pipelined source's
    producing process finds batches waiting) were held that long. Two metadata requests
    make sure one is answered over the new connection: the id follows at once (~25 ms from
    the producer's creation on one host instead of ~505). A failed request is left to
    librdkafka's own retries. Thread-safe: it may run on a thread beside produce() calls."""
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + timeout
    for _ in range(2):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            producer.list_topics(timeout=remaining)
        except KafkaException as e:
            log.debug("Metadata request for the producer id failed: %s", e)
            return


def request_producer_id_soon(producer: Any) -> None:
    """:func:`request_producer_id` on a daemon thread (which holds the producer until it
    ends), for a caller that produces at once."""
    threading.Thread(target=request_producer_id, args=(producer,), name="producer-id", daemon=True).start()


def consumer_config(
    worker_props: Mapping[str, Any],
    client_id: str,
    group_id: str,
    connector_props: Mapping[str, Any] | None = None,
    share: int = 1,
) -> tuple[dict[str, str], int | None]:
    """A task's consumer config, and ``max.poll.records`` if set (it sizes our batches):
    :data:`CONSUMER_DEFAULTS` with the prefetch of one of ``share`` consumers in a worker
    process (:data:`PREFETCH_KB`), then the user's settings."""
    merged, names = client_settings(worker_props, "consumer", connector_props)
    max_poll = merged.pop("max.poll.records", None)
    conf = {"client.id": client_id, "group.id": group_id, **CONSUMER_DEFAULTS}
    conf["queued.max.messages.kbytes"] = str(max(PREFETCH_MIN_KB, PREFETCH_KB // max(1, share)))
    conf["bootstrap.servers"] = _bootstrap(worker_props)
    conf.update(translate(merged, names))
    return conf, int(max_poll) if max_poll is not None else None


def prefixed(props: Mapping[str, str], prefix: str) -> dict[str, str]:
    """The keys of ``props`` that start with ``prefix``, without it (``producer.acks`` → ``acks``)."""
    return {k[len(prefix) :]: v for k, v in props.items() if k.startswith(prefix)}
