"""A real pipeline against a SASL_SSL broker with SCRAM users, configured with the Java
client's keys in worker.properties; the clear failures of wrong credentials; the
connector.client.config.override.policy rejections. One broker for the module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from engine.broker.launcher import KafkaBroker
from tests.integration.cluster import cluster
from tests.integration.rest_client import start_rest_worker, unique, wait_until, worker_properties
from tests.integration.standalone_proc import Standalone, write_props

pytestmark = [pytest.mark.kafka, pytest.mark.processes, pytest.mark.slow]

SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
ALICE_PW = "alice-Pw-5c1d7e"
BOB_PW = "bob-Pw-9a0f3b"
WRONG_PW = "not-alice-Pw-77e2"
TRUST_PW = "trust-Pw-41b8"
SECRETS = (ALICE_PW, BOB_PW, WRONG_PW, TRUST_PW)
LINES = [f"line {i:03d} through SASL_SSL" for i in range(200)]


def jaas(user: str, password: str) -> str:
    return f'{SCRAM} required username="{user}" password="{password}";'


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaBroker]:
    with KafkaBroker(security="sasl_ssl", users={"alice": ALICE_PW, "bob": BOB_PW}) as b:
        yield b


@pytest.fixture(scope="module")
def truststore(broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The broker's CA in a PKCS12 truststore, as a Java operator has it."""
    assert broker.ca_file is not None
    ca = x509.load_pem_x509_certificate(broker.ca_file.read_bytes())
    path = tmp_path_factory.mktemp("trust") / "truststore.p12"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            None, None, None, [ca], serialization.BestAvailableEncryption(TRUST_PW.encode())
        )
    )
    return path


def secured(truststore: Path, password: str = ALICE_PW) -> dict[str, object]:
    """The worker's Java-client security keys, as in a Kafka Connect worker.properties."""
    return {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": jaas("alice", password),
        "ssl.truststore.location": truststore,
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.password": TRUST_PW,
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.enabled.protocols": "TLSv1.2,TLSv1.3",
    }


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a password appears in:\n{text[-3000:]}"


def test_pipeline_with_scram_users_and_principal_overrides(
    broker: KafkaBroker, truststore: Path, tmp_path: Path
) -> None:
    topic = unique("secure")
    admin = AdminClient(broker.client_config("alice"))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    (tmp_path / "in.txt").write_text("".join(f"{line}\n" for line in LINES))
    proc, rest = start_rest_worker(
        tmp_path,
        broker.bootstrap_servers,
        **{**secured(truststore), "connector.client.config.override.policy": "Principal"},
    )
    try:
        rest.create(
            "src",
            {
                "connector.class": "FileStreamSource",
                "tasks.max": "1",
                "file": str(tmp_path / "in.txt"),
                "topic": topic,
            },
        )
        rest.create(
            "sink",
            {
                "connector.class": "FileStreamSink",
                "tasks.max": "1",
                "file": str(tmp_path / "out.txt"),
                "topics": topic,
                # the sink's consumer logs in as another user, with the other SCRAM mechanism
                "consumer.override.sasl.mechanism": "SCRAM-SHA-256",
                "consumer.override.sasl.jaas.config": jaas("bob", BOB_PW),
            },
        )
        out = tmp_path / "out.txt"
        wait_until(lambda: out.exists() and out.read_text().count("\n") >= len(LINES), 60, "the sink file")
        assert out.read_text().splitlines() == LINES
        rest.wait_states("src", "RUNNING", ["RUNNING"])
        rest.wait_states("sink", "RUNNING", ["RUNNING"])

        # Principal: only the principal keys may be overridden
        r = rest.put(
            "/connectors/bad/config",
            {
                "connector.class": "FileStreamSink",
                "topics": topic,
                "file": "/dev/null",
                "producer.override.acks": "1",
            },
        )
        assert r.error == (
            400,
            "Connector configuration is invalid and contains the following 1 error(s):\n"
            "The 'Principal' policy does not allow 'acks' to be overridden in the connector configuration.\n"
            "You can also find the above list of errors at the endpoint "
            "`/connector-plugins/{connectorType}/config/validate`",
        )

        # a connector whose override has a wrong password: its task fails, naming the refused login
        rest.create(
            "wrong",
            {
                "connector.class": "FileStreamSink",
                "tasks.max": "1",
                "file": str(tmp_path / "never.txt"),
                "topics": topic,
                "consumer.override.sasl.jaas.config": jaas("bob", WRONG_PW),
            },
        )
        rest.wait_states("wrong", "RUNNING", ["FAILED"], timeout=30)
        trace = rest.status("wrong")["tasks"][0]["trace"]
        assert "ConnectError: Kafka refused the consumer's login: " in trace
        assert (
            "SASL authentication error: Authentication failed during authentication due to invalid "
            "credentials with SASL mechanism SCRAM-SHA-512" in trace
        )
        assert_no_secret(trace)
        assert_no_secret(json.dumps(rest.ok("GET", "/connectors/wrong/config")))
        rest.create(
            "wrong-src",
            {
                "connector.class": "FileStreamSource",
                "file": str(tmp_path / "in.txt"),
                "topic": topic,
                "producer.override.sasl.jaas.config": jaas("alice", WRONG_PW),
            },
        )
        rest.wait_states("wrong-src", "RUNNING", ["FAILED"], timeout=30)
        trace = rest.status("wrong-src")["tasks"][0]["trace"]
        assert (
            "ConnectError: Unrecoverable exception from producer send callback: "
            'KafkaError{code=_AUTHENTICATION,val=-169,str="sasl_ssl://' in trace
        )
        assert "Authentication failed during authentication due to invalid credentials" in trace
        assert_no_secret(trace)
        assert not (tmp_path / "never.txt").exists() or (tmp_path / "never.txt").read_text() == ""
        assert proc.terminate() == 0
    finally:
        proc.stop()
    assert_no_secret(proc.log())


def test_distributed_worker_internal_topics_and_admin_through_sasl_ssl(
    broker: KafkaBroker, truststore: Path, tmp_path: Path
) -> None:
    """The config, offset and status topics, the group membership and the admin client of a
    distributed worker take the worker's security keys too."""
    topic = unique("secure-dist")
    (tmp_path / "in.txt").write_text("".join(f"{line}\n" for line in LINES))
    out = tmp_path / "out.txt"
    with cluster(tmp_path, broker.bootstrap_servers, 1, **secured(truststore)) as c:
        c.start(0)
        c.create(
            0,
            f"{topic}-src",
            {"connector.class": "FileStreamSource", "file": str(tmp_path / "in.txt"), "topic": topic},
        )
        c.create(0, f"{topic}-sink", {"connector.class": "FileStreamSink", "file": str(out), "topics": topic})
        wait_until(lambda: out.exists() and out.read_text().count("\n") >= len(LINES), 60, "the sink file")
        assert out.read_text().splitlines() == LINES

        def committed() -> object:
            body = c.clients[0].ok("GET", f"/connectors/{topic}-sink/offsets")
            return (
                body
                if body["offsets"] and body["offsets"][0]["offset"]["kafka_offset"] == len(LINES)
                else None
            )

        offsets = wait_until(committed, 30, "the sink's committed offsets")
        assert offsets == {
            "offsets": [
                {"partition": {"kafka_topic": topic, "kafka_partition": 0}, "offset": {"kafka_offset": 200}}
            ]
        }
        assert c.terminate(0) == 0
        log = c.procs[0].log()
    assert_no_secret(log)


def _failed_start(tmp_path: Path, worker: Path) -> str:
    """Start a standalone worker that must exit with 1 by itself; its log."""
    proc = Standalone(tmp_path, worker)
    try:
        code = proc.proc.wait(30)
    finally:
        proc.stop()
    log = proc.log()
    assert code == 1, log
    return log


def test_worker_with_a_wrong_password_exits_naming_authentication(
    broker: KafkaBroker, truststore: Path, tmp_path: Path
) -> None:
    worker = worker_properties(tmp_path, broker.bootstrap_servers, **secured(truststore, WRONG_PW))
    log = _failed_start(tmp_path, worker)
    assert (
        f"Kafka at bootstrap.servers={broker.bootstrap_servers} refused the worker (authentication failed): "
        f"sasl_ssl://{broker.bootstrap_servers}/bootstrap: SASL authentication error: Authentication failed "
        "during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
    ) in log
    assert_no_secret(log)


def test_policy_none_refuses_a_principal_override_at_start(
    broker: KafkaBroker, truststore: Path, tmp_path: Path
) -> None:
    worker = worker_properties(
        tmp_path,
        broker.bootstrap_servers,
        **{**secured(truststore), "connector.client.config.override.policy": "None"},
    )
    connector = write_props(
        tmp_path / "sink.properties",
        {
            "name": "sink",
            "connector.class": "FileStreamSink",
            "topics": "t",
            "file": tmp_path / "out.txt",
            "producer.override.sasl.jaas.config": jaas("bob", BOB_PW),
        },
    )
    proc = Standalone(tmp_path, worker, connector)
    try:
        code = proc.proc.wait(30)
    finally:
        proc.stop()
    log = proc.log()
    assert code == 1, log
    assert (
        "The 'None' policy does not allow 'sasl.jaas.config' to be overridden in the connector configuration."
        in log
    )
    assert_no_secret(log)


def test_broker_client_properties_are_the_java_keys(broker: KafkaBroker) -> None:
    assert broker.client_properties("bob", "SCRAM-SHA-256") == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.jaas.config": jaas("bob", BOB_PW),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(broker.ca_file),
    }
    for mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        md = AdminClient(broker.client_config("bob", mechanism)).list_topics(timeout=20)
        assert list(md.brokers) == [1]


def test_an_untranslatable_client_key_stops_the_worker_at_start(
    broker: KafkaBroker, truststore: Path, tmp_path: Path
) -> None:
    jks = tmp_path / "keystore.jks"
    jks.write_bytes(b"\xfe\xed\xfe\xed\x00\x00\x00\x02")
    worker = worker_properties(
        tmp_path, broker.bootstrap_servers, **secured(truststore), **{"producer.ssl.keystore.location": jks}
    )
    log = _failed_start(tmp_path, worker)
    assert (
        f"arrowsmith: error: Kafka client setting producer.ssl.keystore.location: {jks} is a JKS keystore, "
        "which librdkafka cannot read; convert it to PKCS12: keytool -importkeystore -srckeystore "
    ) in log
    assert_no_secret(log)
