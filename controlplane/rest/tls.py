"""TLS for the REST listeners: Kafka Connect's ``listeners.https.ssl.*`` keys to an SSLContext.

Kafka's rule for which keys apply: when any ``listeners.https.`` key is set, only the prefixed
keys count; otherwise the worker's plain ``ssl.*`` keys (those of its Kafka clients) do.
Keystores and truststores are PEM or PKCS#12 (JKS is Java's own format: convert it with
``keytool -importkeystore -deststoretype PKCS12``). The same settings make the client context
a worker uses to forward requests to the other workers: it trusts the truststore and presents
the keystore's certificate, so mutual TLS between workers needs nothing more.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from engine.spi.errors import ConfigError

PREFIX = "listeners.https."
CLIENT_AUTH = {"none": ssl.CERT_NONE, "requested": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
PROTOCOLS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}
JKS_MAGIC = b"\xfe\xed\xfe\xed"


def ssl_settings(props: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The key prefix in use and the ``ssl.*`` settings (names without the listener prefix)."""
    prefixed = {k[len(PREFIX) :]: v for k, v in props.items() if k.startswith(PREFIX)}
    if prefixed:
        return PREFIX, {k: str(v) for k, v in prefixed.items() if k.startswith("ssl.")}
    return "", {k: str(v) for k, v in props.items() if k.startswith("ssl.")}


@dataclass(frozen=True)
class TlsSettings:
    prefix: str  # "listeners.https." or "": how the keys are named in messages
    keystore_location: str | None
    keystore_type: str | None
    keystore_password: str | None
    key_password: str | None
    keystore_chain: str | None  # PEM text (ssl.keystore.certificate.chain)
    keystore_key: str | None  # PEM text (ssl.keystore.key)
    truststore_location: str | None
    truststore_type: str | None
    truststore_password: str | None
    truststore_certificates: str | None  # PEM text
    client_auth: str
    min_version: ssl.TLSVersion
    max_version: ssl.TLSVersion
    cipher_suites: str | None
    check_hostname: bool

    @classmethod
    def from_props(cls, props: Mapping[str, str]) -> TlsSettings:
        prefix, s = ssl_settings(props)

        def get(key: str) -> str | None:
            value = s.get(key, "").strip()
            return value or None

        auth_key = "ssl.client.auth" if "ssl.client.auth" in s else "ssl.client.authentication"
        client_auth = (get(auth_key) or "none").lower()
        if client_auth not in CLIENT_AUTH:
            raise ConfigError(
                f"Invalid value {client_auth} for configuration {prefix}{auth_key}: "
                "expected none, requested or required",
                prefix + auth_key,
            )
        names = [
            p.strip() for p in (get("ssl.enabled.protocols") or "TLSv1.2,TLSv1.3").split(",") if p.strip()
        ]
        bad = [p for p in names if p not in PROTOCOLS]
        if bad or not names:
            raise ConfigError(
                f"Invalid value {','.join(names)} for configuration {prefix}ssl.enabled.protocols: "
                f"{', '.join(bad) or 'none given'} not supported; the REST listeners speak TLSv1.2 "
                f"and TLSv1.3 (set {PREFIX}ssl.enabled.protocols to give them their own)",
                prefix + "ssl.enabled.protocols",
            )
        versions = sorted(PROTOCOLS[p] for p in names)
        protocol = get("ssl.protocol")
        if protocol is not None and protocol not in {"TLS", "TLSv1.2", "TLSv1.3"}:
            raise ConfigError(
                f"Invalid value {protocol} for configuration {prefix}ssl.protocol: "
                "use TLSv1.3, TLSv1.2 or TLS",
                prefix + "ssl.protocol",
            )
        algo = s.get("ssl.endpoint.identification.algorithm", "https").strip().lower()
        return cls(
            prefix=prefix,
            keystore_location=get("ssl.keystore.location"),
            keystore_type=get("ssl.keystore.type"),
            keystore_password=get("ssl.keystore.password"),
            key_password=get("ssl.key.password"),
            keystore_chain=get("ssl.keystore.certificate.chain"),
            keystore_key=get("ssl.keystore.key"),
            truststore_location=get("ssl.truststore.location"),
            truststore_type=get("ssl.truststore.type"),
            truststore_password=get("ssl.truststore.password"),
            truststore_certificates=get("ssl.truststore.certificates"),
            client_auth=client_auth,
            min_version=versions[0],
            max_version=versions[-1],
            cipher_suites=get("ssl.cipher.suites"),
            check_hostname=algo == "https",
        )

    def key(self, name: str) -> str:
        return self.prefix + name

    @property
    def has_keystore(self) -> bool:
        return bool(self.keystore_location or self.keystore_chain)

    @property
    def has_truststore(self) -> bool:
        return bool(self.truststore_location or self.truststore_certificates)


def server_context(tls: TlsSettings) -> ssl.SSLContext:
    """The context of an https listener; ConfigError names the key at fault."""
    if not tls.has_keystore:
        raise ConfigError(
            f"An https listener needs a certificate: set {tls.key('ssl.keystore.location')} "
            f"(PKCS12 or PEM) or {tls.key('ssl.keystore.certificate.chain')} "
            f"and {tls.key('ssl.keystore.key')}",
            tls.key("ssl.keystore.location"),
        )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _configure(ctx, tls)
    ctx.verify_mode = CLIENT_AUTH[tls.client_auth]
    if tls.client_auth != "none":
        if not tls.has_truststore:
            raise ConfigError(
                f"{tls.key('ssl.client.auth')}={tls.client_auth} needs the CAs that sign client "
                f"certificates: set {tls.key('ssl.truststore.location')}",
                tls.key("ssl.truststore.location"),
            )
        ctx.load_verify_locations(cadata=trusted_pem(tls))
    return ctx


def client_context(tls: TlsSettings) -> ssl.SSLContext:
    """The context a worker forwards requests with: trusts the truststore (else the system's
    CAs) and presents the keystore's certificate when there is one."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = tls.check_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    if tls.has_truststore:
        ctx.load_verify_locations(cadata=trusted_pem(tls))
    else:
        ctx.load_default_certs()
    if tls.has_keystore:
        _configure(ctx, tls)
    else:
        ctx.minimum_version, ctx.maximum_version = tls.min_version, tls.max_version
    return ctx


def _configure(ctx: ssl.SSLContext, tls: TlsSettings) -> None:
    ctx.minimum_version, ctx.maximum_version = tls.min_version, tls.max_version
    if tls.cipher_suites:
        try:
            ctx.set_ciphers(tls.cipher_suites.replace(",", ":"))
        except ssl.SSLError as e:
            raise ConfigError(
                f"Invalid value for configuration {tls.key('ssl.cipher.suites')}: {e} "
                "(OpenSSL cipher names are expected)",
                tls.key("ssl.cipher.suites"),
            ) from e
    with _keystore_pem(tls) as (certfile, password):
        try:
            ctx.load_cert_chain(certfile, password=password)
        except ssl.SSLError as e:
            raise ConfigError(
                f"Could not load the key and certificate of {tls.key('ssl.keystore.location')}: {e} "
                f"(is {tls.key('ssl.key.password')} right?)",
                tls.key("ssl.keystore.location"),
            ) from e


def _store_type(location: str, declared: str | None, key: str) -> str:
    data = _read(location, key)
    kind = (declared or "").upper()
    if kind == "JKS" or data.startswith(JKS_MAGIC):
        raise ConfigError(
            f"{key}={location} is a JKS store, which arrowsmith does not read: convert it with "
            "`keytool -importkeystore -srckeystore <jks> -destkeystore <p12> -deststoretype PKCS12` "
            "and set the type to PKCS12 (or use PEM)",
            key,
        )
    if kind in ("PEM", "PKCS12"):
        return kind
    if kind:
        raise ConfigError(f"Invalid store type {declared} for {key}: expected PEM or PKCS12", key)
    return "PEM" if b"-----BEGIN" in data else "PKCS12"


def _read(location: str, key: str) -> bytes:
    try:
        return Path(location).read_bytes()
    except OSError as e:
        raise ConfigError(f"Cannot read {key}={location}: {e.strerror}", key) from e


@contextmanager
def _keystore_pem(tls: TlsSettings) -> Iterator[tuple[str, str | None]]:
    """A PEM file holding the key and the certificate chain, and the key's password.

    A PKCS#12 store or inline PEM goes through a private temporary file (mode 0600 in a 0700
    directory, deleted as soon as the context has loaded it; the key in it is encrypted with
    a one-off password)."""
    key = tls.key("ssl.keystore.location")
    if tls.keystore_location and tls.keystore_chain:
        raise ConfigError(f"Set either {key} or {tls.key('ssl.keystore.certificate.chain')}, not both", key)
    if tls.keystore_location:
        kind = _store_type(tls.keystore_location, tls.keystore_type, tls.key("ssl.keystore.type"))
        if kind == "PEM":
            yield tls.keystore_location, tls.key_password
            return
        pem, one_off = _pkcs12_to_pem(_read(tls.keystore_location, key), tls)
        password: str | None = one_off
    else:
        if not tls.keystore_key:
            raise ConfigError(
                f"{tls.key('ssl.keystore.certificate.chain')} needs {tls.key('ssl.keystore.key')}",
                tls.key("ssl.keystore.key"),
            )
        assert tls.keystore_chain is not None
        pem = f"{tls.keystore_key}\n{tls.keystore_chain}\n".encode()
        password = tls.key_password
    with tempfile.TemporaryDirectory(prefix="arrowsmith-tls-") as d:
        path = os.path.join(d, "keystore.pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        yield path, password


def _pkcs12_to_pem(data: bytes, tls: TlsSettings) -> tuple[bytes, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    key = tls.key("ssl.keystore.location")
    try:
        store = pkcs12.load_pkcs12(data, (tls.keystore_password or "").encode() or None)
    except ValueError as e:
        raise ConfigError(
            f"Could not open the PKCS12 keystore {key}={tls.keystore_location}: wrong "
            f"{tls.key('ssl.keystore.password')} or not a PKCS12 file",
            tls.key("ssl.keystore.password"),
        ) from e
    if store.key is None or store.cert is None:
        raise ConfigError(
            f"The keystore {key}={tls.keystore_location} holds no private key and certificate", key
        )
    one_off = secrets.token_urlsafe(24)
    out = store.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(one_off.encode()),
    )
    for cert in [store.cert.certificate, *(c.certificate for c in store.additional_certs)]:
        out += cert.public_bytes(serialization.Encoding.PEM)
    return out, one_off


def trusted_pem(tls: TlsSettings) -> str:
    """The truststore's CA certificates as PEM text."""
    if tls.truststore_certificates:
        return tls.truststore_certificates
    assert tls.truststore_location is not None
    key = tls.key("ssl.truststore.location")
    kind = _store_type(tls.truststore_location, tls.truststore_type, tls.key("ssl.truststore.type"))
    data = _read(tls.truststore_location, key)
    if kind == "PEM":
        return data.decode("ascii", errors="replace")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        store = pkcs12.load_pkcs12(data, (tls.truststore_password or "").encode() or None)
    except ValueError as e:
        raise ConfigError(
            f"Could not open the PKCS12 truststore {key}={tls.truststore_location}: wrong "
            f"{tls.key('ssl.truststore.password')} or not a PKCS12 file",
            tls.key("ssl.truststore.password"),
        ) from e
    certs = [c.certificate for c in store.additional_certs]
    if store.cert is not None:
        certs.append(store.cert.certificate)
    if not certs:
        raise ConfigError(f"The truststore {key}={tls.truststore_location} holds no certificate", key)
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)
