"""DirectoryConfigProvider: one value per file of a directory, ``${directory:/run/secrets:db-password}``
(KIP-632), the shape of Docker and Kubernetes secret mounts."""

from __future__ import annotations

import os
from collections.abc import Set
from typing import ClassVar

from engine.providers.allowed_paths import PathConfigProvider
from engine.spi.errors import ConfigError
from engine.spi.provider import ConfigData

NAME = "DirectoryConfigProvider"


class DirectoryConfigProvider(PathConfigProvider):
    """The path is a directory; a key is the name of a regular file directly in it and its
    value the file's whole content (UTF-8, trailing newline kept, as Kafka does).

    Sub-directories are not read, and a key naming anything outside the directory
    (``../x``, ``a/b``) is an error.
    """

    aliases: ClassVar[tuple[str, ...]] = ("org.apache.kafka.common.config.provider.DirectoryConfigProvider",)

    ALLOWED_PATHS_DOC = (
        "Comma-separated absolute paths this provider may read below. Unset: any "
        "directory the worker can read."
    )

    def get(self, path: str, keys: Set[str] | None = None) -> ConfigData:
        real = self._allowed.check(path, NAME)
        if not os.path.isdir(real):
            raise ConfigError(f"{NAME}: {path} is not a directory")
        if keys is None:
            try:
                names = [n for n in os.listdir(real) if not n.startswith(".")]
            except OSError as e:
                raise ConfigError(f"{NAME}: cannot list {path}: {e.strerror or e}") from None
        else:
            names = sorted(keys)
        data: dict[str, str] = {}
        for name in names:
            if not name or name in (".", "..") or os.sep in name or (os.altsep and os.altsep in name):
                raise ConfigError(f"{NAME}: key {name!r} does not name a file directly in {path}")
            file = os.path.join(real, name)
            if not os.path.isfile(file):
                continue  # missing or not a regular file: the placeholder stays unresolved
            self._allowed.check(file, NAME)  # a link that leads out of the allowed paths
            try:
                with open(file, encoding="utf-8") as f:
                    data[name] = f.read()
            except OSError as e:
                raise ConfigError(f"{NAME}: cannot read {file}: {e.strerror or e}") from None
        return ConfigData(data)
