"""``allowed.paths`` (KIP-993): the only places a file or directory provider may read."""

from __future__ import annotations

import os
from collections.abc import Mapping

from engine.spi.config import ConfigDef, Importance, Type
from engine.spi.errors import ConfigError
from engine.spi.provider import ConfigProvider

ALLOWED_PATHS_CONFIG = "allowed.paths"


class AllowedPaths:
    """Absolute paths a provider may read below; ``None`` (the key unset) allows every path.

    A requested path is compared after resolving ``..`` and symbolic links on both sides, so
    neither ``/allowed/../etc/passwd`` nor a link inside an allowed directory that points out
    of it gets through.
    """

    def __init__(self, configs: Mapping[str, str]) -> None:
        raw = configs.get(ALLOWED_PATHS_CONFIG)
        self.roots: tuple[str, ...] | None = None
        if raw is None or not str(raw).strip():
            return
        roots = []
        for part in str(raw).split(","):
            path = part.strip()
            if not path:
                continue
            if not os.path.isabs(path):
                raise ConfigError(
                    f"Path {path} in {ALLOWED_PATHS_CONFIG} is not absolute", ALLOWED_PATHS_CONFIG
                )
            if not os.path.exists(path):
                raise ConfigError(
                    f"Path {path} in {ALLOWED_PATHS_CONFIG} does not exist", ALLOWED_PATHS_CONFIG
                )
            roots.append(os.path.realpath(path))
        self.roots = tuple(roots)

    def check(self, path: str, provider: str) -> str:
        """The real path of ``path``; ConfigError if it lies outside every allowed path."""
        if not path:
            raise ConfigError(f"{provider}: a path is required (${{provider:/path:key}})")
        real = os.path.realpath(path)
        if self.roots is None:
            return real
        for root in self.roots:
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                return real
        raise ConfigError(
            f"{provider}: path {path} is not allowed; {ALLOWED_PATHS_CONFIG} is {','.join(self.roots)}",
            ALLOWED_PATHS_CONFIG,
        )


class PathConfigProvider(ConfigProvider):
    """A provider that reads files, limited by ``allowed.paths``; subclasses say what the
    setting covers in ``ALLOWED_PATHS_DOC``."""

    ALLOWED_PATHS_DOC = "Comma-separated absolute paths this provider may read below. Unset: any path."

    def __init__(self) -> None:
        self._allowed = AllowedPaths({})

    @classmethod
    def config_def(cls) -> ConfigDef:
        return ConfigDef().define(
            ALLOWED_PATHS_CONFIG,
            Type.STRING,
            None,
            importance=Importance.MEDIUM,
            documentation=cls.ALLOWED_PATHS_DOC,
        )

    def configure(self, configs: Mapping[str, str]) -> None:
        self._allowed = AllowedPaths(configs)
