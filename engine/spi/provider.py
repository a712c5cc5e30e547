"""Config providers: resolve ``${provider:path:key}`` placeholders (KIP-297)."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Set
from dataclasses import dataclass

from engine.spi.plugin import Plugin


@dataclass(frozen=True, slots=True)
class ConfigData:
    data: Mapping[str, str]
    ttl_ms: int | None = None


class ConfigProvider(Plugin, abc.ABC):
    def configure(self, configs: Mapping[str, str]) -> None:
        """Configure with ``config.providers.<name>.param.*`` (prefix stripped)."""

    @abc.abstractmethod
    def get(self, path: str, keys: Set[str] | None = None) -> ConfigData:
        """Values at ``path``; only ``keys`` when given."""

    def close(self) -> None:
        """Release resources."""
