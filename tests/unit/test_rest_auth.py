"""REST security pieces on their own: hashes, files, TLS key rules, exposure checks, the authenticator."""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path

import pytest
import trustme

from controlplane.rest.auth import INVALID, MISSING, Authenticator, Principal
from controlplane.rest.credentials import (
    hash_password,
    hash_token,
    main,
    read_tokens,
    read_users,
    verify_password,
)
from controlplane.rest.security import RestSecurity, parse_listeners
from controlplane.rest.tls import TlsSettings, server_context
from engine.spi.errors import ConfigError


@pytest.mark.parametrize("scheme", ["scrypt", "pbkdf2-sha256"])
def test_hash_round_trip_and_salted(scheme: str) -> None:
    a, b = hash_password("pw", scheme, iterations=1000), hash_password("pw", scheme, iterations=1000)
    assert a != b and a.startswith(scheme + "$")
    assert verify_password("pw", a) and not verify_password("pW", a)


def test_users_file_refuses_plain_text_without_echoing_it(tmp_path: Path) -> None:
    f = tmp_path / "users"
    f.write_text(
        f"# comment\n\nalice:admin:{hash_password('x', 'pbkdf2-sha256', 1000)}\nbob:read-only:s3cr3t\n"
    )
    with pytest.raises(ConfigError) as e:
        read_users(str(f))
    assert "line 4 (user bob): the password is not hashed" in str(e.value)
    assert "s3cr3t" not in str(e.value) and e.value.key == "rest.auth.credentials.file"
    f.write_text("alice:root:scrypt$n=2,r=1,p=1$AA==$AAAAAAAAAAAAAAAAAAAAAA==\n")
    with pytest.raises(ConfigError, match="unknown role 'root'"):
        read_users(str(f))


def test_tokens_file_holds_hashes_only(tmp_path: Path) -> None:
    f = tmp_path / "tokens"
    f.write_text(f"ci:admin:{hash_token('t0k')}\n")
    [(entry, digest)] = read_tokens(str(f))
    assert (entry.name, entry.role, len(digest)) == ("ci", "admin", 32)
    f.write_text("ci:admin:t0k\n")
    with pytest.raises(ConfigError, match="the token is not hashed") as e:
        read_tokens(str(f))
    assert "t0k" not in str(e.value)


def test_cli_hash_reads_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("pa:ss\n"))
    assert main(["hash", "--user", "carol", "--role", "admin", "--scheme", "pbkdf2-sha256"]) == 0
    name, role, secret = capsys.readouterr().out.strip().split(":", 2)
    assert (name, role) == ("carol", "admin") and verify_password("pa:ss", secret)


def test_listener_prefixed_keys_win_over_plain_ssl_keys() -> None:
    plain = {"ssl.client.auth": "required", "ssl.keystore.location": "/k.p12"}
    s = TlsSettings.from_props(plain)
    assert (s.prefix, s.client_auth, s.keystore_location) == ("", "required", "/k.p12")
    s = TlsSettings.from_props({**plain, "listeners.https.ssl.keystore.location": "/rest.pem"})
    assert (s.prefix, s.client_auth, s.keystore_location) == ("listeners.https.", "none", "/rest.pem")
    s = TlsSettings.from_props({"listeners.https.ssl.client.authentication": "requested"})
    assert s.client_auth == "requested"


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"listeners.https.ssl.client.auth": "maybe"}, "expected none, requested or required"),
        ({"listeners.https.ssl.enabled.protocols": "TLSv1.1,TLSv1.2"}, "TLSv1.1 not supported"),
        ({"listeners.https.ssl.protocol": "SSLv3"}, "use TLSv1.3, TLSv1.2 or TLS"),
    ],
)
def test_bad_tls_settings_name_the_key(props: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        TlsSettings.from_props(props)
    assert e.value.key == next(iter(props))


def test_keystore_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="An https listener needs a certificate"):
        RestSecurity.from_props({"listeners": "https://127.0.0.1:0"})
    jks = tmp_path / "k.jks"
    jks.write_bytes(b"\xfe\xed\xfe\xed\x00\x00")
    with pytest.raises(ConfigError, match="is a JKS store") as e:
        server_context(TlsSettings.from_props({"listeners.https.ssl.keystore.location": str(jks)}))
    assert "keytool -importkeystore" in str(e.value)
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    props = {
        "listeners": "https://127.0.0.1:0",
        "listeners.https.ssl.keystore.certificate.chain": b"".join(
            b.bytes() for b in leaf.cert_chain_pems
        ).decode(),
        "listeners.https.ssl.keystore.key": leaf.private_key_pem.bytes().decode(),
        "listeners.https.ssl.client.auth": "required",
    }
    with pytest.raises(ConfigError, match="needs the CAs that sign client certificates"):
        RestSecurity.from_props(props)
    props["listeners.https.ssl.truststore.certificates"] = ca.cert_pem.bytes().decode()
    assert RestSecurity.from_props(props).server_ssl.verify_mode.name == "CERT_REQUIRED"


def test_exposure_warns_or_refuses(caplog: pytest.LogCaptureFixture) -> None:
    assert [
        li.loopback for li in parse_listeners("http://127.0.0.1:1,http://[::1]:2,http://localhost:3")
    ] == [
        True,
        True,
        True,
    ]
    assert [li.loopback for li in parse_listeners("http://:1,http://10.0.0.1:2,http://example.com:3")] == [
        False,
        False,
        False,
    ]
    with caplog.at_level(logging.WARNING):
        RestSecurity.from_props({"listeners": "http://127.0.0.1:8083"}).check_exposure()
        assert not caplog.records
        RestSecurity.from_props({"listeners": "http://:8083"}).check_exposure()
    assert "0.0.0.0:8083 listens on a non-loopback address WITHOUT AUTHENTICATION" in caplog.text
    with pytest.raises(
        ConfigError, match=r"rest.require.auth=true but the REST listener http://10.1.2.3:1"
    ) as e:
        RestSecurity.from_props(
            {"listeners": "http://10.1.2.3:1", "rest.require.auth": "true"}
        ).check_exposure()
    assert e.value.key == "rest.require.auth"


def _basic(user: str, pw: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_authenticator(tmp_path: Path) -> None:
    f = tmp_path / "users"
    f.write_text(f"alice:admin:{hash_password('pw', 'pbkdf2-sha256', 1000)}\n")
    t = tmp_path / "tokens"
    t.write_text(f"dash:read-only:{hash_token('tok')}\n")
    auth = Authenticator(read_users(str(f)), read_tokens(str(t)), {"ops": "admin"}, "internal")

    def run(header: str | None, cn: str | None = None) -> tuple[Principal | None, str]:
        return asyncio.run(auth.authenticate(header, cn))

    assert run(_basic("alice", "pw")) == (Principal("alice", "admin"), INVALID)
    assert run(_basic("alice", "pw"))[0] == Principal("alice", "admin")  # from the cache
    assert run(_basic("alice", "pX")) == (None, INVALID)
    assert run(_basic("eve", "pw")) == (None, INVALID)
    assert run("Bearer tok")[0] == Principal("dash", "read-only")
    assert run("Bearer internal")[0] == Principal("worker", "admin")
    assert run("Bearer nope") == (None, INVALID)
    assert run(None) == (None, MISSING)
    assert run(None, "ops")[0] == Principal("CN=ops", "admin")
    assert run(None, "stranger") == (None, MISSING)


def test_plain_ssl_keys_of_the_kafka_clients_do_not_matter_without_an_https_listener() -> None:
    props = {
        "listeners": "http://127.0.0.1:0",
        "ssl.enabled.protocols": "TLSv1.1",
        "ssl.keystore.type": "JKS",
    }
    assert RestSecurity.from_props(props).tls.prefix == ""
    with pytest.raises(ConfigError, match=r"TLSv1\.1 not supported"):
        RestSecurity.from_props({**props, "listeners": "https://127.0.0.1:0"})


def test_pkcs12_truststore_and_encrypted_pem_key(tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    ca = trustme.CA()
    leaf = ca.issue_cert("localhost")
    key = serialization.load_pem_private_key(leaf.private_key_pem.bytes(), None)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"kp"),
    )
    (tmp_path / "k.pem").write_bytes(encrypted + b"".join(b.bytes() for b in leaf.cert_chain_pems))
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    (tmp_path / "trust.p12").write_bytes(
        pkcs12.serialize_key_and_certificates(
            None, None, None, [ca_cert], serialization.BestAvailableEncryption(b"tp")
        )
    )
    props = {
        "listeners": "https://127.0.0.1:0",
        "listeners.https.ssl.keystore.location": str(tmp_path / "k.pem"),
        "listeners.https.ssl.key.password": "kp",
        "listeners.https.ssl.truststore.location": str(tmp_path / "trust.p12"),
        "listeners.https.ssl.truststore.password": "tp",
        "listeners.https.ssl.client.auth": "requested",
    }
    ctx = RestSecurity.from_props(props).server_ssl
    assert ctx.verify_mode.name == "CERT_OPTIONAL" and len(ctx.get_ca_certs()) == 1
    with pytest.raises(ConfigError, match=r"\(is listeners\.https\.ssl\.key\.password right\?\)"):
        RestSecurity.from_props({**props, "listeners.https.ssl.key.password": "wrong"})
    with pytest.raises(ConfigError, match=r"wrong listeners\.https\.ssl\.truststore\.password"):
        RestSecurity.from_props({**props, "listeners.https.ssl.truststore.password": "wrong"})
