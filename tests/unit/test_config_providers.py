"""Config providers (file, directory, env), the placeholder resolver and the secret scrubber."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping, Set
from pathlib import Path
from typing import ClassVar

import pytest

from engine.plugins import PluginRegistry
from engine.providers import DirectoryConfigProvider, EnvVarConfigProvider, FileConfigProvider
from engine.runtime import secret_scrubber
from engine.runtime.config_transform import ConfigTransformer, Resolved, resolved_spec
from engine.runtime.connector_config import masked, secret_keys
from engine.runtime.messages import PreviewDone, TaskSpec, TaskStatus
from engine.spi.errors import ConfigError
from engine.spi.provider import ConfigData, ConfigProvider

REGISTRY = PluginRegistry.discover([])


@pytest.fixture(autouse=True)
def _forget_secrets() -> Iterator[None]:
    secret_scrubber.clear()
    yield
    secret_scrubber.clear()


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    d = tmp_path / "secrets"
    d.mkdir()
    (d / "db.properties").write_text(
        "# database\nuser=alice\npassword = s3cr3t-Pa55\nurl: jdbc:postgresql://db/x\nmulti=a\\\n  b\n"
    )
    (d / "api-key").write_text("k-123456\n")
    (d / "token").write_text("tok-abcdef")
    (d / "sub").mkdir()
    (d / "sub" / "inner").write_text("inner")
    return d


# -- FileConfigProvider ---------------------------------------------------------------------
def test_file_provider_reads_the_keys_of_a_properties_file(secrets_dir: Path) -> None:
    p = FileConfigProvider()
    p.configure({})
    path = str(secrets_dir / "db.properties")
    assert p.get(path).data == {
        "user": "alice",
        "password": "s3cr3t-Pa55",
        "url": "jdbc:postgresql://db/x",
        "multi": "ab",
    }
    assert p.get(path, {"password", "missing"}).data == {"password": "s3cr3t-Pa55"}
    assert p.get(path).ttl_ms is None


def test_file_provider_errors_name_the_path(secrets_dir: Path) -> None:
    p = FileConfigProvider()
    p.configure({})
    with pytest.raises(ConfigError, match=r"cannot read properties from file .*/nope.properties"):
        p.get(str(secrets_dir / "nope.properties"), {"k"})


def test_file_provider_allowed_paths(secrets_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.properties"
    outside.write_text("k=v\n")
    p = FileConfigProvider()
    p.configure({"allowed.paths": f" {secrets_dir} ,"})
    assert p.get(str(secrets_dir / "db.properties"), {"user"}).data == {"user": "alice"}
    with pytest.raises(ConfigError, match=r"path .*outside.properties is not allowed; allowed.paths is"):
        p.get(str(outside), {"k"})
    with pytest.raises(ConfigError, match="is not allowed"):  # .. does not climb out
        p.get(f"{secrets_dir}/../outside.properties", {"k"})
    (secrets_dir / "link.properties").symlink_to(outside)
    with pytest.raises(ConfigError, match="is not allowed"):  # nor does a symbolic link
        p.get(str(secrets_dir / "link.properties"), {"k"})
    # a single allowed file
    p.configure({"allowed.paths": str(outside)})
    assert p.get(str(outside), {"k"}).data == {"k": "v"}
    with pytest.raises(ConfigError, match="is not allowed"):
        p.get(str(secrets_dir / "db.properties"), {"user"})


def test_allowed_paths_must_be_absolute_and_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("Path relative/dir in allowed.paths is not absolute")):
        FileConfigProvider().configure({"allowed.paths": "relative/dir"})
    with pytest.raises(ConfigError, match=r"Path .*/missing in allowed.paths does not exist"):
        DirectoryConfigProvider().configure({"allowed.paths": str(tmp_path / "missing")})


# -- DirectoryConfigProvider ----------------------------------------------------------------
def test_directory_provider_returns_file_contents(secrets_dir: Path) -> None:
    p = DirectoryConfigProvider()
    p.configure({"allowed.paths": str(secrets_dir)})
    data = p.get(str(secrets_dir), {"api-key", "token", "absent", "sub"}).data
    assert data == {"api-key": "k-123456\n", "token": "tok-abcdef"}  # content as is; no directories
    everything = p.get(str(secrets_dir)).data
    assert set(everything) == {"db.properties", "api-key", "token"}


def test_directory_provider_refuses_keys_that_leave_the_directory(secrets_dir: Path) -> None:
    p = DirectoryConfigProvider()
    p.configure({})
    for key in ("../secrets/token", "sub/inner", ".."):
        with pytest.raises(ConfigError, match="does not name a file directly in"):
            p.get(str(secrets_dir), {key})
    with pytest.raises(ConfigError, match="is not a directory"):
        p.get(str(secrets_dir / "token"), {"x"})


def test_directory_provider_allowed_paths(secrets_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "token").write_text("x")
    p = DirectoryConfigProvider()
    p.configure({"allowed.paths": str(secrets_dir)})
    with pytest.raises(ConfigError, match=r"DirectoryConfigProvider: path .*/other is not allowed"):
        p.get(str(other), {"token"})
    assert p.get(str(secrets_dir / "sub"), {"inner"}).data == {"inner": "inner"}
    (secrets_dir / "escape").symlink_to(other / "token")
    with pytest.raises(ConfigError, match="is not allowed"):
        p.get(str(secrets_dir), {"escape"})


# -- EnvVarConfigProvider -------------------------------------------------------------------
def test_env_provider_allowlist() -> None:
    env = {"DB_PASSWORD": "pw-env-1", "DB_USER": "bob", "HOME": "/root"}
    p = EnvVarConfigProvider(env)
    p.configure({"allowlist.pattern": "DB_.*"})
    assert p.get("", {"DB_PASSWORD", "DB_MISSING"}).data == {"DB_PASSWORD": "pw-env-1"}
    assert p.get("").data == {"DB_PASSWORD": "pw-env-1", "DB_USER": "bob"}
    with pytest.raises(
        ConfigError, match=r"environment variable HOME is not allowed by allowlist.pattern=DB_\.\*"
    ):
        p.get("", {"HOME", "DB_USER"})
    with pytest.raises(ConfigError, match="paths are not supported"):
        p.get("/some/path", {"DB_USER"})


def test_env_provider_defaults_to_every_variable_and_rejects_bad_patterns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ARROWSMITH_TEST_VAR", "v-1234")
    p = EnvVarConfigProvider()
    p.configure({})
    assert p.get("", {"ARROWSMITH_TEST_VAR"}).data == {"ARROWSMITH_TEST_VAR": "v-1234"}
    with pytest.raises(
        ConfigError, match=re.escape("allowlist.pattern '(' is not a valid regular expression")
    ):
        p.configure({"allowlist.pattern": "("})


# -- the resolver ---------------------------------------------------------------------------
class UpperConfigProvider(ConfigProvider):
    """A third-party provider: the key, upper-cased, prefixed with the path."""

    aliases: ClassVar[tuple[str, ...]] = ()
    calls: ClassVar[list[tuple[str, frozenset[str] | None]]] = []

    def configure(self, configs: Mapping[str, str]) -> None:
        self.suffix = configs.get("suffix", "")

    def get(self, path: str, keys: Set[str] | None = None) -> ConfigData:
        UpperConfigProvider.calls.append((path, None if keys is None else frozenset(keys)))
        if path == "boom":
            raise RuntimeError("backend down")
        return ConfigData({k: f"{path}{k.upper()}{self.suffix}" for k in keys or () if k != "absent"})


def _transformer(secrets_dir: Path, env: Mapping[str, str] | None = None) -> ConfigTransformer:
    props = {
        "config.providers": "file, dir,env,up",
        "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
        "config.providers.file.param.allowed.paths": str(secrets_dir),
        "config.providers.dir.class": "DirectoryConfigProvider",
        "config.providers.env.class": "EnvVar",
        "config.providers.env.param.allowlist.pattern": "APP_.*",
        "config.providers.up.class": f"{__name__}.UpperConfigProvider",
        "config.providers.up.param.suffix": "!",
    }
    t = ConfigTransformer.from_worker_props(props, REGISTRY)
    if env is not None:
        t.providers["env"] = EnvVarConfigProvider(env)
        t.providers["env"].configure({"allowlist.pattern": "APP_.*"})
    return t


def test_resolver_replaces_placeholders_of_each_provider(secrets_dir: Path) -> None:
    t = _transformer(secrets_dir, {"APP_TOKEN": "env-token-9", "OTHER": "x"})
    props = str(secrets_dir / "db.properties")
    UpperConfigProvider.calls.clear()
    r = t.transform(
        {
            "connection.password": f"${{file:{props}:password}}",
            "connection.url": f"${{file:{props}:url}}?user=${{file:{props}:user}}",
            "api.key": f"${{dir:{secrets_dir}:api-key}}",
            "token": "${env:APP_TOKEN}",
            "plugin": "${up:p/:abc}",
            "plain": "no placeholder",
            "empty": "",
        }
    )
    assert r.config == {
        "connection.password": "s3cr3t-Pa55",
        "connection.url": "jdbc:postgresql://db/x?user=alice",
        "api.key": "k-123456\n",
        "token": "env-token-9",
        "plugin": "p/ABC!",
        "plain": "no placeholder",
        "empty": "",
    }
    assert r.values[f"${{file:{props}:password}}"] == "s3cr3t-Pa55"
    assert r.values["${env:APP_TOKEN}"] == "env-token-9"
    assert UpperConfigProvider.calls == [("p/", frozenset({"abc"}))]  # one call per provider and path


def test_resolver_leaves_unknown_providers_and_missing_keys_as_they_are(
    secrets_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    t = _transformer(secrets_dir, {})
    props = str(secrets_dir / "db.properties")
    config = {
        "a": "${vault:secret/db:password}",
        "b": f"${{file:{props}:nokey}}",
        "c": "${env:APP_UNSET}",
        "d": "${notaplaceholder}",
    }
    with caplog.at_level(logging.WARNING, "engine.runtime.config_transform"):
        r = t.transform(config)
    assert r.config == config
    assert r.values == {}
    assert f"Config provider file has no key nokey at path '{props}'" in caplog.text
    assert "vault" not in caplog.text  # an unknown provider is not ours to judge


def test_resolver_errors_are_clear(secrets_dir: Path, tmp_path: Path) -> None:
    t = _transformer(secrets_dir, {"APP_X": "1", "HOME": "/root"})
    with pytest.raises(ConfigError) as e:
        t.transform({"k": "${env:HOME}"})
    assert str(e.value) == (
        "Config provider env could not resolve path '': EnvVarConfigProvider: environment variable HOME "
        "is not allowed by allowlist.pattern=APP_.*"
    )
    outside = tmp_path / "o.properties"
    outside.write_text("k=v")
    with pytest.raises(ConfigError, match=r"Config provider file could not resolve path '.*/o.properties': "):
        t.transform({"k": f"${{file:{outside}:k}}"})
    with pytest.raises(
        ConfigError, match=r"Config provider up failed on path 'boom': RuntimeError: backend down"
    ):
        t.transform({"k": "${up:boom:k}"})


def test_provider_settings_errors() -> None:
    with pytest.raises(ConfigError, match=re.escape("Config provider x is listed in config.providers but ")):
        ConfigTransformer.from_worker_props({"config.providers": "x"}, REGISTRY)
    with pytest.raises(
        ConfigError, match=re.escape("Invalid value NoSuch for configuration config.providers.x.class")
    ):
        ConfigTransformer.from_worker_props(
            {"config.providers": "x", "config.providers.x.class": "NoSuch"}, REGISTRY
        )
    assert ConfigTransformer.from_worker_props({}, REGISTRY).providers == {}


def test_reverse_puts_the_placeholders_back() -> None:
    raw = {
        "file": "${file:/s/c.properties:out}",
        "connection.password": "${env:APP_PW}",
        "flag": "${env:APP_FLAG}",
        "topics": "t",
    }
    resolved = Resolved(
        {"file": "/data/out.txt", "connection.password": "pw-98765", "flag": "on", "topics": "t"},
        {
            "${file:/s/c.properties:out}": "/data/out.txt",
            "${env:APP_PW}": "pw-98765",
            "${env:APP_FLAG}": "on",
        },
    )
    generated = {
        "file": "/data/out.txt",  # passed through: the raw value (Kafka's reverse transform)
        "password": "pw-98765",  # renamed: the placeholder for the value
        "dsn": "user=a password=pw-98765 host=h",  # embedded: the placeholder in its place
        "mode": "on",  # a short value only when equal
        "note": "turned on",
        "topics": "t",
    }
    assert ConfigTransformer.reverse(raw, resolved, generated) == {
        "file": "${file:/s/c.properties:out}",
        "password": "${env:APP_PW}",
        "dsn": "user=a password=${env:APP_PW} host=h",
        "mode": "${env:APP_FLAG}",
        "note": "turned on",
        "topics": "t",
    }
    assert ConfigTransformer.reverse(raw, Resolved(dict(raw)), {"x": "y"}) == {"x": "y"}


def test_the_worker_resolves_a_task_spec_and_registers_its_secrets(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_DB_PASSWORD", "env-pw-4242")
    worker = {
        "config.providers": "env,dir",
        "config.providers.env.class": "EnvVarConfigProvider",
        "config.providers.env.param.allowlist.pattern": "APP_.*",
        "config.providers.dir.class": "DirectoryConfigProvider",
    }
    connector = {
        "connector.class": "JdbcSink",
        "connection.url": "jdbc:sqlite:/tmp/x.db",
        "connection.password": "${env:APP_DB_PASSWORD}",
        "connection.user": f"${{dir:{secrets_dir}:token}}",
        "topics": "t",
    }
    spec = TaskSpec("c", 0, connector, {**connector, "task.class": "x.Y"}, worker)
    out = resolved_spec(spec, REGISTRY)
    assert out.connector_config["connection.password"] == "env-pw-4242"
    assert out.task_config["connection.user"] == "tok-abcdef"
    assert spec.connector_config["connection.password"] == "${env:APP_DB_PASSWORD}"  # the original is kept
    assert secret_scrubber.scrub("pw env-pw-4242 and tok-abcdef") == "pw [hidden] and [hidden]"
    plain = TaskSpec("c", 0, {"connector.class": "FileStreamSink", "topics": "t"}, {}, {})
    assert resolved_spec(plain, REGISTRY) is plain


# -- REST display ---------------------------------------------------------------------------
def test_a_password_key_holding_only_placeholders_is_shown() -> None:
    config = {
        "connector.class": "JdbcSink",
        "connection.url": "jdbc:sqlite:/tmp/x.db",
        "connection.password": "${file:/etc/secrets/db.properties:password}",
        "consumer.override.sasl.jaas.config": 'PlainLoginModule required password="${env:PW}";',
        "topics": "t",
    }
    shown = masked(config, secret_keys(REGISTRY, config))
    assert shown["connection.password"] == "${file:/etc/secrets/db.properties:password}"
    assert shown["consumer.override.sasl.jaas.config"] == "[hidden]"


# -- the scrubber ---------------------------------------------------------------------------
def test_scrub_replaces_registered_values_longest_first() -> None:
    secret_scrubber.register(["abc", "s3cr3t", "s3cr3t-longer", None, "[hidden]"])
    assert secret_scrubber.scrub("abc s3cr3t s3cr3t-longer") == "abc [hidden] [hidden]"  # abc is too short
    assert secret_scrubber.scrub_optional(None) is None


def test_log_records_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    secret_scrubber.install()
    secret_scrubber.register(["hunter22"])
    lg = logging.getLogger("tests.scrubber")
    with caplog.at_level(logging.INFO, "tests.scrubber"):
        lg.info("password is %s, user %s", "hunter22", "bob")
        try:
            raise ValueError("bad password hunter22")
        except ValueError:
            lg.exception("failed with %r", {"pw": "hunter22"})
        lg.info("nothing secret %d", 5)
    text = "\n".join(logging.Formatter().format(r) for r in caplog.records)
    assert "hunter22" not in text
    assert "password is [hidden], user bob" in text
    assert "ValueError: bad password [hidden]" in text
    assert caplog.records[2].args == (5,)  # untouched records keep their arguments


def test_status_traces_leave_the_worker_scrubbed() -> None:
    status = TaskStatus("c", 0, "FAILED", "Traceback ...\nRuntimeError: token=tok-abcdef", os.getpid())
    assert secret_scrubber.scrub_message(status) is status  # nothing registered yet
    secret_scrubber.register(["tok-abcdef"])
    assert secret_scrubber.scrub_message(status).trace == "Traceback ...\nRuntimeError: token=[hidden]"
    done = PreviewDone(1, 0, "ValueError: tok-abcdef")
    assert secret_scrubber.scrub_message(done).error == "ValueError: [hidden]"
