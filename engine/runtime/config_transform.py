"""Config provider placeholders: ``${provider:path:key}`` and ``${provider:key}`` (KIP-297).

The worker keys ``config.providers=<name>,…``, ``config.providers.<name>.class`` and
``config.providers.<name>.param.*`` name the providers; :class:`ConfigTransformer` resolves
a connector config with them, following Kafka's ``ConfigTransformer``:

* a placeholder whose provider is not configured is left as it is;
* a key the provider does not have is left as it is (logged as a warning, the placeholder
  is no secret);
* a provider that fails (unreadable file, path outside ``allowed.paths``, env variable
  outside the allow-list) raises a ConfigError that names the provider and the path.

Where it runs: the herder resolves a config in the control plane just before it validates
it or starts the Connector instance (``start``, ``task_configs``); each worker process
resolves a task's connector and task configs when it starts the task. Stored configs, REST
responses and task configs keep the placeholders: :meth:`ConfigTransformer.reverse` puts
them back into the task configs a connector generated from resolved values. Every resolved
value is registered with :mod:`engine.runtime.secret_scrubber`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from engine.runtime import secret_scrubber
from engine.spi.errors import ConfigError, ConnectError

if TYPE_CHECKING:
    from engine.plugins import PluginRegistry
    from engine.runtime.messages import TaskSpec
    from engine.spi.provider import ConfigProvider

log = logging.getLogger(__name__)

CONFIG_PROVIDERS: Final = "config.providers"
# Kafka's ConfigTransformer.DEFAULT_PATTERN: ${provider:[path:]key}
PATTERN: Final = re.compile(r"\$\{([^}]*?):(?:([^}]*?):)?([^}]*?)\}")


def has_placeholder(value: str | None) -> bool:
    return value is not None and PATTERN.search(value) is not None


def only_placeholders(value: str | None) -> bool:
    """True if ``value`` is nothing but placeholders (safe to show: it holds no secret)."""
    return bool(value) and PATTERN.sub("", value or "") == ""


@dataclass(frozen=True, slots=True)
class Resolved:
    """A config with its placeholders replaced; ``values`` maps each resolved placeholder's
    text (``${file:/p:k}``) to its value."""

    config: dict[str, str]
    values: dict[str, str] = field(default_factory=dict)


class ConfigTransformer:
    """Resolves placeholders with a set of configured providers (by name)."""

    def __init__(self, providers: Mapping[str, ConfigProvider] | None = None) -> None:
        self.providers = dict(providers or {})

    @classmethod
    def from_worker_props(cls, props: Mapping[str, str], registry: PluginRegistry) -> ConfigTransformer:
        """The providers named by ``config.providers``, each configured with its ``param.*`` keys."""
        from engine.plugins import PluginType

        names = [n.strip() for n in str(props.get(CONFIG_PROVIDERS) or "").split(",") if n.strip()]
        providers: dict[str, ConfigProvider] = {}
        for name in names:
            key = f"{CONFIG_PROVIDERS}.{name}.class"
            class_name = props.get(key)
            if not class_name:
                raise ConfigError(
                    f"Config provider {name} is listed in {CONFIG_PROVIDERS} but {key} is not set", key
                )
            try:
                provider_cls = registry.resolve(str(class_name), PluginType.CONFIG_PROVIDER)
            except ConnectError as e:
                raise ConfigError(f"Invalid value {class_name} for configuration {key}: {e}", key) from None
            provider: ConfigProvider = provider_cls()  # type: ignore[assignment]
            prefix = f"{CONFIG_PROVIDERS}.{name}.param."
            provider.configure({k[len(prefix) :]: str(v) for k, v in props.items() if k.startswith(prefix)})
            providers[name] = provider
        return cls(providers)

    def transform(self, config: Mapping[str, str]) -> Resolved:
        """``config`` with the placeholders of configured providers resolved."""
        wanted: dict[tuple[str, str], set[str]] = {}
        for value in config.values():
            for m in PATTERN.finditer(value or ""):
                if m.group(1) in self.providers:
                    wanted.setdefault((m.group(1), m.group(2) or ""), set()).add(m.group(3))
        if not wanted:
            return Resolved(dict(config))
        found: dict[tuple[str, str], Mapping[str, str]] = {}
        for (name, path), keys in wanted.items():
            found[(name, path)] = self._get(name, path, keys)
        values: dict[str, str] = {}

        def replace(m: re.Match[str]) -> str:
            name, path, key = m.group(1), m.group(2) or "", m.group(3)
            data = found.get((name, path))
            if data is None:
                return m.group(0)
            value = data.get(key)
            if value is None:
                log.warning(
                    "Config provider %s has no key %s at path %r; %s left as is", name, key, path, m.group(0)
                )
                return m.group(0)
            values[m.group(0)] = value
            return value

        out = {k: v if not v else PATTERN.sub(replace, v) for k, v in config.items()}
        secret_scrubber.register(values.values())
        return Resolved(out, values)

    def _get(self, name: str, path: str, keys: set[str]) -> Mapping[str, str]:
        try:
            return self.providers[name].get(path, frozenset(keys)).data
        except ConfigError as e:
            raise ConfigError(f"Config provider {name} could not resolve path {path!r}: {e}", e.key) from None
        except Exception as e:
            raise ConfigError(
                f"Config provider {name} failed on path {path!r}: {type(e).__name__}: {e}"
            ) from None

    @staticmethod
    def reverse(raw: Mapping[str, str], resolved: Resolved, task_config: Mapping[str, str]) -> dict[str, str]:
        """A task config generated from ``resolved`` with the placeholders put back.

        A key the connector passed through unchanged gets the raw value (Kafka's
        ``reverseTransform``); any other value equal to a resolved value, or containing a
        resolved value of at least MIN_LENGTH characters, gets the placeholder text in its
        place (the worker resolves it again when it starts the task)."""
        if not resolved.values:
            return dict(task_config)
        by_value: dict[str, str] = {}
        for text, value in resolved.values.items():
            by_value.setdefault(value, text)
        long = sorted((v for v in by_value if len(v) >= secret_scrubber.MIN_LENGTH), key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(v) for v in long)) if long else None
        out: dict[str, str] = {}
        for key, value in task_config.items():
            raw_value = raw.get(key)
            if raw_value is not None and has_placeholder(raw_value) and resolved.config.get(key) == value:
                out[key] = raw_value
            elif value in by_value:
                out[key] = by_value[value]
            elif pattern is not None and value:
                out[key] = pattern.sub(lambda m: by_value[m.group(0)], value)
            else:
                out[key] = value
        return out

    def close(self) -> None:
        for name, provider in self.providers.items():
            try:
                provider.close()
            except Exception:
                log.exception("Config provider %s raised in close()", name)


_cache: dict[tuple[tuple[str, str], ...], ConfigTransformer] = {}
_cache_lock = threading.Lock()


def transformer_for(props: Mapping[str, str], registry: PluginRegistry) -> ConfigTransformer:
    """The transformer of a worker config, built once per process and provider settings."""
    key = tuple(sorted((k, str(v)) for k, v in props.items() if k.startswith(CONFIG_PROVIDERS)))
    with _cache_lock:
        transformer = _cache.get(key)
        if transformer is None:
            transformer = _cache[key] = ConfigTransformer.from_worker_props(props, registry)
        return transformer


def resolve_spec_configs(
    props: Mapping[str, str],
    registry: PluginRegistry,
    connector_config: Mapping[str, str],
    task_config: Mapping[str, str],
) -> tuple[dict[str, str], dict[str, str]]:
    """A task's connector and task configs resolved, in the worker process that runs it; the
    values of their secret keys are registered with the scrubber."""
    from engine.runtime.connector_config import SECRET_SUFFIXES, secret_keys

    # the worker's own secrets (Kafka client passwords, a JAAS line) are scrubbed here too
    secret_scrubber.register(str(v) for k, v in props.items() if k.lower().endswith(SECRET_SUFFIXES))
    transformer = transformer_for(props, registry)
    connector = transformer.transform(connector_config).config
    task = transformer.transform(task_config).config
    keys = secret_keys(registry, connector_config) | secret_keys(
        registry, {**connector_config, **task_config}
    )
    secret_scrubber.register_config(connector, keys)
    secret_scrubber.register_config(task, keys)
    return connector, task


def resolved_spec(spec: TaskSpec, registry: PluginRegistry) -> TaskSpec:
    """``spec`` with its connector and task configs resolved (in the worker process only)."""
    connector, task = resolve_spec_configs(
        spec.worker_config, registry, spec.connector_config, spec.task_config
    )
    if connector == spec.connector_config and task == spec.task_config:
        return spec
    return dataclasses.replace(spec, connector_config=connector, task_config=task)
