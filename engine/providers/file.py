"""FileConfigProvider: the keys of a Java properties file, ``${file:/path/to/file.properties:key}``."""

from __future__ import annotations

import re
from collections.abc import Set
from typing import ClassVar

from engine.providers.allowed_paths import PathConfigProvider
from engine.spi.errors import ConfigError
from engine.spi.provider import ConfigData

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_KEY_VALUE = re.compile(r"((?:\\.|[^=:\s\\])*)\s*[=:\s]?\s*(.*)$", re.S)
_UNICODE = re.compile(r"u([0-9a-fA-F]{4})")


def _unescape(s: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            m = _UNICODE.match(s, i + 1)
            if m is not None:
                out.append(chr(int(m.group(1), 16)))
                i = m.end()
                continue
            out.append(_ESCAPES.get(s[i + 1], s[i + 1]))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_properties(text: str) -> dict[str, str]:
    """Java properties text: ``key=value``, ``key: value``, ``key value``, ``#``/``!``
    comments, escapes and ``\\`` line continuations."""
    props: dict[str, str] = {}
    buf = ""
    for raw in text.splitlines():
        line = raw.lstrip() if buf else raw.strip()
        if not buf and (not line or line[0] in "#!"):
            continue
        if (len(line) - len(line.rstrip("\\"))) % 2 == 1:
            buf += line[:-1]
            continue
        line, buf = buf + line, ""
        m = _KEY_VALUE.match(line)
        if m is not None:
            props[_unescape(m.group(1))] = _unescape(m.group(2).strip())
    if buf:
        m = _KEY_VALUE.match(buf)
        if m is not None:
            props[_unescape(m.group(1))] = _unescape(m.group(2).strip())
    return props


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
