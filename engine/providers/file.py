"""FileConfigProvider: the keys of a Java properties file, ``${file:/path/to/file.properties:key}``."""

from __future__ import annotations

from collections.abc import Set
from typing import ClassVar

from engine.properties import parse_properties
from engine.providers.allowed_paths import PathConfigProvider
from engine.spi.errors import ConfigError
from engine.spi.provider import ConfigData


class FileConfigProvider(PathConfigProvider):
    """Reads a properties file; the path is the file, each key one of its properties.

    ``allowed.paths`` (KIP-993) limits the files it may read. A file that cannot be read, or
    lies outside ``allowed.paths``, is an error that names the path (Kafka logs a warning and
    returns nothing).
    """

    aliases: ClassVar[tuple[str, ...]] = ("org.apache.kafka.common.config.provider.FileConfigProvider",)

    ALLOWED_PATHS_DOC = (
        "Comma-separated absolute paths this provider may read: a file, or every file "
        "below a directory. Unset: any file the worker can read."
    )

    def get(self, path: str, keys: Set[str] | None = None) -> ConfigData:
        real = self._allowed.check(path, "FileConfigProvider")
        try:
            with open(real, encoding="utf-8") as f:
                props = parse_properties(f.read())
        except OSError as e:
            raise ConfigError(
                f"FileConfigProvider: cannot read properties from file {path}: {e.strerror or e}"
            ) from None
        if keys is not None:
            props = {k: v for k, v in props.items() if k in keys}
        return ConfigData(props)
