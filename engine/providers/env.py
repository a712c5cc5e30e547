"""EnvVarConfigProvider: environment variables of the worker, ``${env:NAME}`` (KIP-887)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Set
from typing import ClassVar

from engine.spi.config import ConfigDef, Importance, Type
from engine.spi.errors import ConfigError
from engine.spi.provider import ConfigData, ConfigProvider

ALLOWLIST_PATTERN_CONFIG = "allowlist.pattern"
NAME = "EnvVarConfigProvider"


class EnvVarConfigProvider(ConfigProvider):
    """A key is the name of an environment variable; there is no path (``${env:NAME}``).

    ``allowlist.pattern`` is a regular expression the whole name must match (default ``.*``,
    as Kafka's). Asking for a variable outside the allow-list is an error naming it and the
    pattern (Kafka silently leaves the placeholder unresolved); a variable that is simply
    not set leaves the placeholder as it is.
    """

    aliases: ClassVar[tuple[str, ...]] = ("org.apache.kafka.common.config.provider.EnvVarConfigProvider",)

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._pattern = re.compile(".*")

    @classmethod
    def config_def(cls) -> ConfigDef:
        return ConfigDef().define(
            ALLOWLIST_PATTERN_CONFIG,
            Type.STRING,
            ".*",
            importance=Importance.MEDIUM,
            documentation="Regular expression the names of the environment variables this provider may "
            "read must match as a whole.",
        )

    def configure(self, configs: Mapping[str, str]) -> None:
        pattern = configs.get(ALLOWLIST_PATTERN_CONFIG) or ".*"
        try:
            self._pattern = re.compile(pattern)
        except re.error as e:
            raise ConfigError(
                f"{NAME}: {ALLOWLIST_PATTERN_CONFIG} {pattern!r} is not a valid regular expression: {e}",
                ALLOWLIST_PATTERN_CONFIG,
            ) from None

    def get(self, path: str, keys: Set[str] | None = None) -> ConfigData:
        if path:
            raise ConfigError(f"{NAME}: paths are not supported, use ${{env:NAME}} (got path {path!r})")
        environ = os.environ if self._environ is None else self._environ
        if keys is None:
            return ConfigData({k: v for k, v in environ.items() if self._pattern.fullmatch(k)})
        refused = sorted(k for k in keys if not self._pattern.fullmatch(k))
        if refused:
            raise ConfigError(
                f"{NAME}: environment variable {', '.join(refused)} is not allowed by "
                f"{ALLOWLIST_PATTERN_CONFIG}={self._pattern.pattern}",
                ALLOWLIST_PATTERN_CONFIG,
            )
        return ConfigData({k: environ[k] for k in keys if k in environ})
