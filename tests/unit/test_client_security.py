"""The Java client's security keys translated to librdkafka's (engine/runtime/clients.py).

Certificates and stores are made in the test (trustme, cryptography); every translated
configuration is also handed to a real librdkafka client, which checks each key and loads
each file when it is created.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12

from engine.runtime import connector_config
from engine.runtime.clients import (
    consumer_config,
    kafka_config,
    parse_jaas,
    producer_config,
    security_config,
)
from engine.spi.errors import ConfigError

PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
SECRET = "s3cr3t-Pa55word"
USE = f"sasl.mechanism=SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN with a sasl.jaas.config of {SCRAM} or {PLAIN}"


def jaas(module: str = SCRAM, user: str = "alice", password: str = SECRET) -> str:
    return f'{module} required username="{user}" password="{password}";'


@dataclass(frozen=True)
class Stores:
    ca_pem: Path
    ca_der: bytes  # the CA certificate, to compare with what a conversion wrote
    truststore_p12: Path
    keystore_p12: Path
    keystore_pem: Path  # key and certificate chain in one file
    jks: Path
    key_pem: str
    chain_pem: str


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    d = tmp_path_factory.mktemp("stores")
    ca = trustme.CA()
    leaf = ca.issue_cert("client.example")
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)  # trustme's default
    chain = [x509.load_pem_x509_certificate(b.bytes()) for b in leaf.cert_chain_pems]
    ca_pem = d / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    trust = d / "truststore.p12"
    trust.write_bytes(
        pkcs12.serialize_key_and_certificates(
            None, None, None, [ca_cert], serialization.BestAvailableEncryption(b"trust-pw")
        )
    )
    keystore = d / "keystore.p12"
    keystore.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"client",
            key,
            chain[0],
            chain[1:],
            serialization.BestAvailableEncryption(b"store-pw"),
        )
    )
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    chain_pem = "".join(b.bytes().decode() for b in leaf.cert_chain_pems)
    pem = d / "keystore.pem"
    pem.write_text(pkcs8 + chain_pem)
    jks = d / "truststore.jks"
    jks.write_bytes(b"\xfe\xed\xfe\xed\x00\x00\x00\x02" + os.urandom(64))
    return Stores(
        ca_pem, ca_cert.public_bytes(serialization.Encoding.DER), trust, keystore, pem, jks, pkcs8, chain_pem
    )


def accepted_by_librdkafka(conf: dict[str, str]) -> None:
    """librdkafka checks every key and loads every file when a client is created."""
    Producer({"bootstrap.servers": "127.0.0.1:1", **conf}).flush(0)


def error(props: dict[str, str], names: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        security_config(props, names)
    assert SECRET not in str(info.value)
    return info.value


# -- security.protocol and SASL ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [
        ("PLAINTEXT", "plaintext"),
        ("SSL", "ssl"),
        ("SASL_PLAINTEXT", "sasl_plaintext"),
        ("sasl_ssl", "sasl_ssl"),
    ],
)
def test_security_protocols(protocol: str, expected: str) -> None:
    props = {"security.protocol": protocol}
    if expected.startswith("sasl"):
        props.update({"sasl.mechanism": "PLAIN", "sasl.jaas.config": jaas(PLAIN)})
    conf = security_config(props)
    assert conf["security.protocol"] == expected
    accepted_by_librdkafka(conf)


def test_unknown_security_protocol() -> None:
    e = error({"security.protocol": "TLS"})
    assert str(e) == (
        "Kafka client setting security.protocol: 'TLS' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
    )
    assert e.key == "security.protocol"


@pytest.mark.parametrize(
    ("mechanism", "module"), [("PLAIN", PLAIN), ("SCRAM-SHA-256", SCRAM), ("SCRAM-SHA-512", SCRAM)]
)
def test_sasl_mechanisms_and_login_modules(mechanism: str, module: str) -> None:
    conf = security_config(
        {"security.protocol": "SASL_SSL", "sasl.mechanism": mechanism, "sasl.jaas.config": jaas(module)}
    )
    assert conf == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanisms": mechanism,
        "sasl.username": "alice",
        "sasl.password": SECRET,
    }
    accepted_by_librdkafka(conf)


def test_jaas_values_quoted_escaped_unquoted_and_extra_options(caplog: pytest.LogCaptureFixture) -> None:
    module, options = parse_jaas(
        f'{SCRAM} required\n  username=bob password="a \\"quoted\\" p;w=" serviceName="kafka" ;'
    )
    assert module == SCRAM
    assert options == {"username": "bob", "password": 'a "quoted" p;w=', "serviceName": "kafka"}
    with caplog.at_level(logging.WARNING, "engine.runtime.clients"):
        conf = security_config(
            {
                "sasl.mechanism": "SCRAM-SHA-256",
                "sasl.jaas.config": f'{SCRAM} required username="bob" password="{SECRET}" extra="x";',
            }
        )
    assert (conf["sasl.username"], conf["sasl.password"]) == ("bob", SECRET)
    assert [r.getMessage() for r in caplog.records] == [
        "Ignoring option extra of sasl.jaas.config (librdkafka has no such setting)"
    ]


@pytest.mark.parametrize(
    ("props", "message"),
    [
        (
            {"sasl.mechanism": "GSSAPI"},
            f"Kafka client setting sasl.mechanism: Kerberos (GSSAPI) is not supported; use {USE}",
        ),
        (
            {"sasl.mechanism": "OAUTHBEARER"},
            f"Kafka client setting sasl.mechanism: OAUTHBEARER is not supported; use {USE}",
        ),
        (
            {"sasl.mechanism": "SCRAM-SHA-1"},
            "Kafka client setting sasl.mechanism: 'SCRAM-SHA-1' is not one of PLAIN, SCRAM-SHA-256, "
            "SCRAM-SHA-512",
        ),
        (
            {"security.protocol": "SASL_SSL", "sasl.jaas.config": jaas()},
            "Kafka client setting sasl.mechanism: not set, and the Java client's default, GSSAPI (Kerberos), "
            "is not supported; set it to SCRAM-SHA-256 or SCRAM-SHA-512 to go with the ScramLoginModule of "
            "sasl.jaas.config",
        ),
        (
            {"security.protocol": "SASL_PLAINTEXT"},
            "Kafka client setting sasl.mechanism: security.protocol=SASL_PLAINTEXT needs sasl.mechanism: the "
            "Java client's default, GSSAPI (Kerberos), is not supported; use sasl.mechanism=SCRAM-SHA-256, "
            f"SCRAM-SHA-512 or PLAIN with a sasl.jaas.config of {SCRAM} or {PLAIN}",
        ),
        (
            {"sasl.mechanism": "PLAIN", "sasl.jaas.config": jaas(SCRAM)},
            "Kafka client setting sasl.jaas.config: its ScramLoginModule does not go with "
            "sasl.mechanism=PLAIN (it needs SCRAM-SHA-256 or SCRAM-SHA-512)",
        ),
        (
            {"sasl.mechanism": "PLAIN", "sasl.jaas.config": f'{PLAIN} required username="alice";'},
            'Kafka client setting sasl.jaas.config: the PlainLoginModule needs password="…"',
        ),
        (
            {"sasl.mechanism": "PLAIN", "sasl.jaas.config": f"{PLAIN} required;"},
            'Kafka client setting sasl.jaas.config: the PlainLoginModule needs username and password="…"',
        ),
        (
            {
                "sasl.mechanism": "SCRAM-SHA-256",
                "sasl.jaas.config": f'{SCRAM} required username="t" password="{SECRET}" tokenauth="true";',
            },
            "Kafka client setting sasl.jaas.config: delegation tokens (tokenauth=true) are not supported; "
            "use a SCRAM user",
        ),
        (
            {
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": "com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true "
                f'keyTab="/k" principal="p" password="{SECRET}";',
            },
            "Kafka client setting sasl.jaas.config: Kerberos (com.sun.security.auth.module.Krb5LoginModule) "
            "is not supported; use sasl.mechanism=SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN with a "
            f"sasl.jaas.config of {SCRAM} or {PLAIN}",
        ),
        (
            {
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule "
                f'required clientSecret="{SECRET}";',
            },
            "Kafka client setting sasl.jaas.config: OAUTHBEARER "
            "(org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule) is not supported; use "
            f"{USE}",
        ),
        (
            {
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": f'com.example.Login required password="{SECRET}";',
            },
            "Kafka client setting sasl.jaas.config: the login module com.example.Login is not supported; use "
            f"{USE}",
        ),
        (
            {"sasl.mechanism": "PLAIN", "sasl.jaas.config": f'username="alice" password="{SECRET}"'},
            "Kafka client setting sasl.jaas.config: not a JAAS login module entry (expected: <LoginModule "
            'class> required username="…" password="…";)',
        ),
        (
            {
                "sasl.mechanism": "PLAIN",
                "sasl.jaas.config": f'{PLAIN} required username="alice" pass{SECRET}',
            },
            "Kafka client setting sasl.jaas.config: cannot read the options of "
            f'{PLAIN} after username (expected name="value" pairs)',
        ),
        (
            {"sasl.mechanism": "PLAIN", "sasl.mechanisms": "SCRAM-SHA-256"},
            "Kafka client setting sasl.mechanism: 'PLAIN' contradicts sasl.mechanisms='SCRAM-SHA-256'; "
            "set one",
        ),
    ],
)
def test_sasl_errors(props: dict[str, str], message: str) -> None:
    assert str(error(props)) == message


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("sasl.kerberos.service.name", "kerberos"),
        ("sasl.kerberos.kinit.cmd", "kerberos"),
        ("sasl.login.callback.handler.class", "login"),
        ("sasl.login.refresh.window.factor", "login"),
        ("sasl.login.class", "login"),
        ("sasl.oauthbearer.token.endpoint.url", "login"),
        ("sasl.client.callback.handler.class", "login"),
        ("sasl.frobnicate", "unknown"),
    ],
)
def test_unsupported_sasl_keys(key: str, kind: str) -> None:
    e = error({"sasl.mechanism": "PLAIN", "sasl.jaas.config": jaas(PLAIN), key: "x"})
    why = {
        "kerberos": "Kerberos (GSSAPI) is not supported",
        "login": "custom login (OAUTHBEARER, login classes and callbacks) is not supported",
        "unknown": "not a setting of the Java Kafka client or of librdkafka",
    }[kind]
    assert str(e) == (
        f"Kafka client setting {key}: {why}; use sasl.mechanism=SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN "
        f"with a sasl.jaas.config of {SCRAM} or {PLAIN}"
    )
    assert e.key == key


def test_librdkafka_native_keys_pass_through(stores: Stores) -> None:
    native = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-256",
        "sasl.username": "alice",
        "sasl.password": SECRET,
        "ssl.ca.location": str(stores.ca_pem),
        "enable.ssl.certificate.verification": "true",
    }
    conf = security_config(native)
    assert conf == {**native, "security.protocol": "sasl_ssl"}
    accepted_by_librdkafka(conf)


# -- TLS -----------------------------------------------------------------------------------------


def test_pem_truststore(stores: Stores) -> None:
    path = str(stores.ca_pem)
    for props in (
        {"ssl.truststore.location": path, "ssl.truststore.type": "PEM"},
        {"ssl.truststore.location": path},  # Java's default type is JKS: the file says PEM
    ):
        conf = security_config({"security.protocol": "SSL", **props})
        assert conf == {"security.protocol": "ssl", "ssl.ca.location": path}
        accepted_by_librdkafka(conf)


def test_inline_truststore_certificates(stores: Stores) -> None:
    pem = stores.ca_pem.read_text()
    conf = security_config({"security.protocol": "SSL", "ssl.truststore.certificates": pem})
    assert conf == {"security.protocol": "ssl", "ssl.ca.pem": pem}
    accepted_by_librdkafka(conf)


def test_pkcs12_truststore_is_converted_to_a_private_pem_file(stores: Stores) -> None:
    props = {
        "security.protocol": "SSL",
        "ssl.truststore.location": str(stores.truststore_p12),
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.password": "trust-pw",
    }
    conf = security_config(props)
    pem = Path(conf["ssl.ca.location"])
    assert pem != stores.truststore_p12
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    certs = x509.load_pem_x509_certificates(pem.read_bytes())
    assert [c.public_bytes(serialization.Encoding.DER) for c in certs] == [stores.ca_der]
    assert security_config(props)["ssl.ca.location"] == str(pem)  # converted once
    accepted_by_librdkafka(conf)


def test_pkcs12_truststore_with_a_wrong_password(stores: Stores) -> None:
    e = error(
        {
            "ssl.truststore.location": str(stores.truststore_p12),
            "ssl.truststore.type": "PKCS12",
            "ssl.truststore.password": SECRET,
        }
    )
    assert str(e) == (
        f"Kafka client setting ssl.truststore.location: cannot read the PKCS12 truststore "
        f"{stores.truststore_p12} (wrong ssl.truststore.password, or not PKCS12)"
    )


def test_pkcs12_truststore_without_the_cryptography_package(
    stores: Stores, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.serialization", None)
    e = error(
        {
            "ssl.truststore.location": str(stores.truststore_p12),
            "ssl.truststore.type": "PKCS12",
            "ssl.truststore.password": "other-pw",
        }
    )
    p = stores.truststore_p12
    assert str(e) == (
        f"Kafka client setting ssl.truststore.location: {p} is a PKCS12 truststore, which librdkafka "
        "cannot read, and the cryptography package that converts it is not installed; pip install "
        f"cryptography, or convert it to PEM: openssl pkcs12 -in {p} -nokeys -out ca.pem, then set "
        "ssl.truststore.type=PEM"
    )


def test_jks_truststore_is_refused_with_the_conversion(stores: Stores) -> None:
    for props in ({"ssl.truststore.type": "JKS"}, {}):
        e = error({"ssl.truststore.location": str(stores.jks), "ssl.truststore.password": SECRET, **props})
        assert str(e) == (
            f"Kafka client setting ssl.truststore.location: {stores.jks} is a JKS truststore, which "
            f"librdkafka cannot read; convert it to PEM: keytool -exportcert -rfc -alias <alias> -keystore "
            f"{stores.jks} -file ca.pem (for each CA), then set ssl.truststore.type=PEM and "
            "ssl.truststore.location=ca.pem"
        )


def test_missing_store_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.p12"
    e = error({"ssl.keystore.location": str(missing)})
    assert (
        str(e)
        == f"Kafka client setting ssl.keystore.location: cannot read {missing}: No such file or directory"
    )


def test_unsupported_store_type(stores: Stores) -> None:
    e = error({"ssl.truststore.location": str(stores.jks), "ssl.truststore.type": "BCFKS"})
    assert str(e) == "Kafka client setting ssl.truststore.type: 'BCFKS' is not supported; use PEM or PKCS12"


def test_pkcs12_keystore_is_read_by_librdkafka(stores: Stores) -> None:
    props = {
        "security.protocol": "SSL",
        "ssl.keystore.location": str(stores.keystore_p12),
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.password": "store-pw",
        "ssl.key.password": "store-pw",
        "ssl.truststore.location": str(stores.ca_pem),
        "ssl.truststore.type": "PEM",
    }
    conf = security_config(props)
    assert conf == {
        "security.protocol": "ssl",
        "ssl.keystore.location": str(stores.keystore_p12),
        "ssl.keystore.password": "store-pw",
        "ssl.ca.location": str(stores.ca_pem),
    }
    accepted_by_librdkafka(conf)


def test_pkcs12_keystore_with_another_key_password(stores: Stores) -> None:
    e = error(
        {
            "ssl.keystore.location": str(stores.keystore_p12),
            "ssl.keystore.password": "store-pw",
            "ssl.key.password": SECRET,
        }
    )
    assert str(e) == (
        "Kafka client setting ssl.key.password: librdkafka reads a PKCS12 keystore with one password "
        "(ssl.keystore.password); re-export the keystore with the key protected by the keystore's password"
    )


def test_pem_keystore_file(stores: Stores) -> None:
    path = str(stores.keystore_pem)
    conf = security_config(
        {"security.protocol": "SSL", "ssl.keystore.location": path, "ssl.keystore.type": "PEM"}
    )
    assert conf == {"security.protocol": "ssl", "ssl.certificate.location": path, "ssl.key.location": path}
    accepted_by_librdkafka(conf)


def test_inline_pem_keystore(stores: Stores) -> None:
    conf = security_config(
        {
            "security.protocol": "SSL",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.key": stores.key_pem,
            "ssl.keystore.certificate.chain": stores.chain_pem,
        }
    )
    assert conf == {
        "security.protocol": "ssl",
        "ssl.key.pem": stores.key_pem,
        "ssl.certificate.pem": stores.chain_pem,
    }
    accepted_by_librdkafka(conf)
    e = error({"ssl.keystore.key": stores.key_pem})
    assert str(e) == (
        "Kafka client setting ssl.keystore.key: needs ssl.keystore.certificate.chain "
        "(the PEM certificates) too"
    )


def test_jks_keystore_is_refused_with_the_conversion(stores: Stores) -> None:
    e = error({"ssl.keystore.location": str(stores.jks), "ssl.keystore.password": SECRET})
    assert str(e) == (
        f"Kafka client setting ssl.keystore.location: {stores.jks} is a JKS keystore, which librdkafka "
        f"cannot read; convert it to PKCS12: keytool -importkeystore -srckeystore {stores.jks} -destkeystore "
        "keystore.p12 -deststoretype PKCS12, then set ssl.keystore.type=PKCS12 and "
        "ssl.keystore.location=keystore.p12"
    )


@pytest.mark.parametrize(("java", "librdkafka"), [("", "none"), ("https", "https"), ("HTTPS", "https")])
def test_endpoint_identification(java: str, librdkafka: str) -> None:
    conf = security_config({"security.protocol": "SSL", "ssl.endpoint.identification.algorithm": java})
    assert conf == {"security.protocol": "ssl", "ssl.endpoint.identification.algorithm": librdkafka}
    accepted_by_librdkafka(conf)


def test_unknown_endpoint_identification() -> None:
    e = error({"ssl.endpoint.identification.algorithm": "ldaps"})
    assert str(e) == (
        "Kafka client setting ssl.endpoint.identification.algorithm: 'ldaps' is not supported; use https "
        "(check the broker's host name) or an empty value"
    )


def test_java_only_tls_keys_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "engine.runtime.clients"):
        conf = security_config(
            {
                "security.protocol": "SSL",
                "ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
                "ssl.protocol": "TLSv1.3",
                "ssl.keymanager.algorithm": "SunX509",
                "ssl.trustmanager.algorithm": "PKIX",
            }
        )
    assert conf == {"security.protocol": "ssl"}
    assert sorted(r.getMessage() for r in caplog.records) == [
        "Ignoring Java-only client setting ssl.enabled.protocols: librdkafka negotiates TLS 1.2 or 1.3 "
        "with OpenSSL's defaults",
        "Ignoring Java-only client setting ssl.keymanager.algorithm: librdkafka uses OpenSSL's key manager",
        "Ignoring Java-only client setting ssl.protocol: librdkafka negotiates the highest TLS version both "
        "sides support (TLS 1.2 or 1.3)",
        "Ignoring Java-only client setting ssl.trustmanager.algorithm: librdkafka verifies certificates "
        "with OpenSSL (PKIX)",
    ]


def test_ssl_engine_factory_is_refused() -> None:
    e = error({"ssl.engine.factory.class": "com.example.Factory"})
    assert str(e) == (
        "Kafka client setting ssl.engine.factory.class: a Java SSL engine cannot be used by librdkafka; set "
        "the certificates with ssl.truststore.* / ssl.keystore.* (PEM or PKCS12)"
    )


def test_unknown_ssl_key() -> None:
    e = error({"ssl.truststore.magic": "x"})
    assert str(e) == (
        "Kafka client setting ssl.truststore.magic: not a setting of the Java Kafka client or of librdkafka "
        "(see docs/kafka-security.md)"
    )


def test_cipher_suites() -> None:
    conf = security_config(
        {
            "security.protocol": "SSL",
            "ssl.cipher.suites": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256,"
            "ECDHE-ECDSA-AES256-GCM-SHA384",
        }
    )
    assert conf["ssl.cipher.suites"] == "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"
    accepted_by_librdkafka(conf)
    e = error({"ssl.cipher.suites": "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"})
    assert str(e) == (
        "Kafka client setting ssl.cipher.suites: no OpenSSL name known for the Java cipher suite "
        "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA; write the list with OpenSSL's names (e.g. "
        "ECDHE-RSA-AES128-GCM-SHA256), as librdkafka takes them"
    )


# -- where the settings come from ----------------------------------------------------------------

WORKER = {
    "bootstrap.servers": "127.0.0.1:9093",
    "security.protocol": "SASL_SSL",
    "sasl.mechanism": "SCRAM-SHA-512",
    "sasl.jaas.config": jaas(user="worker"),
    "producer.linger.ms": "5",
    "consumer.max.poll.records": "77",
    "admin.sasl.jaas.config": jaas(user="admin"),
    "offset.storage.file.filename": "/tmp/x",
}


def test_worker_clients_task_clients_and_overrides() -> None:
    own = kafka_config(WORKER)
    assert own == {
        "bootstrap.servers": "127.0.0.1:9093",
        "security.protocol": "sasl_ssl",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "worker",
        "sasl.password": SECRET,
    }
    assert kafka_config(WORKER, "admin")["sasl.username"] == "admin"
    producer = producer_config(WORKER, "p-1", {"producer.override.sasl.jaas.config": jaas(user="conn")})
    assert (producer["sasl.username"], producer["linger.ms"], producer["client.id"]) == ("conn", "5", "p-1")
    assert producer["security.protocol"] == "sasl_ssl"  # inherited from the worker's top level
    consumer, max_poll = consumer_config(
        WORKER,
        "c-1",
        "g",
        {
            "consumer.override.sasl.mechanism": "PLAIN",
            "consumer.override.sasl.jaas.config": jaas(PLAIN, user="plain-user"),
            "producer.override.sasl.jaas.config": jaas(user="not-for-consumers"),
        },
    )
    assert max_poll == 77
    assert (consumer["sasl.mechanisms"], consumer["sasl.username"]) == ("PLAIN", "plain-user")
    AdminClient(dict[str, Any](own))
    accepted_by_librdkafka(producer)
    Consumer(consumer).close()


def test_errors_name_the_key_as_written() -> None:
    with pytest.raises(ConfigError) as info:
        producer_config(
            WORKER, "p", {"producer.override.sasl.jaas.config": f'{PLAIN} required password="{SECRET}";'}
        )
    assert str(info.value) == (
        "Kafka client setting producer.override.sasl.jaas.config: its PlainLoginModule does not go with "
        "sasl.mechanism=SCRAM-SHA-512 (it needs PLAIN)"
    )
    assert info.value.key == "producer.override.sasl.jaas.config"
    with pytest.raises(ConfigError) as info:
        kafka_config({**WORKER, "admin.sasl.kerberos.service.name": "kafka"}, "admin")
    assert info.value.key == "admin.sasl.kerberos.service.name"


# -- connector.client.config.override.policy ------------------------------------------------------


def test_principal_keys_are_kafkas() -> None:
    assert {"sasl.jaas.config", "sasl.mechanism", "security.protocol"} == connector_config.PRINCIPAL_KEYS


@pytest.mark.parametrize(
    ("policy", "key", "allowed"),
    [
        ("None", "producer.override.sasl.jaas.config", False),
        ("None", "consumer.override.security.protocol", False),
        ("Principal", "producer.override.sasl.jaas.config", True),
        ("Principal", "consumer.override.sasl.mechanism", True),
        ("Principal", "admin.override.security.protocol", True),
        ("Principal", "producer.override.acks", False),
        ("Principal", "consumer.override.ssl.truststore.location", False),
        ("All", "producer.override.acks", True),
    ],
)
def test_override_policy(policy: str, key: str, allowed: bool) -> None:
    (value,) = connector_config.override_values({key: "v", "name": "c"}, policy)
    client_key = key.split(".override.", 1)[1]
    assert value.errors == (
        []
        if allowed
        else [
            f"The '{policy}' policy does not allow '{client_key}' to be overridden in the connector "
            "configuration."
        ]
    )


# -- the broker launcher's options (no JVM started) -----------------------------------------------


def test_launcher_security_options_are_checked() -> None:
    from engine.broker.launcher import KafkaBroker, SaslSslSetup
    from engine.spi.errors import ConnectError

    with pytest.raises(
        ConnectError, match=r"^KafkaBroker security must be one of plaintext, sasl_ssl, not 'ssl'$"
    ):
        KafkaBroker(security="ssl")
    with pytest.raises(ConnectError, match=r"^KafkaBroker users need security='sasl_ssl'$"):
        KafkaBroker(users={"alice": "pw"})
    with pytest.raises(
        ConnectError, match=r"^SASL user 'alice': a name or password cannot be empty or hold any of"
    ):
        SaslSslSetup.generate({"alice": 'pw"; evil'})
    assert KafkaBroker().client_properties() == {}


def test_sasl_ssl_server_properties() -> None:
    from engine.broker.launcher import BROKER_USER, SaslSslSetup, sasl_ssl_properties

    setup = SaslSslSetup.generate({"alice": "alice-pw"})
    assert set(setup.users) == {BROKER_USER, "alice"}
    assert setup.key_pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, as Kafka's PEM keystore wants
    props = sasl_ssl_properties(setup, 9093, 9094)
    assert props["listeners"] == "SASL_SSL://127.0.0.1:9093,CONTROLLER://127.0.0.1:9094"
    assert props["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    assert 'user_alice="alice-pw"' in props["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    assert props["ssl.truststore.certificates"] == setup.ca_pem
