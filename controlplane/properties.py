"""Read worker and connector configs: Java ``.properties`` files and JSON files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from engine.spi.errors import ConfigError

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(s: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", s[i + 2 : i + 6] or ""):
                out.append(chr(int(s[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.lstrip() if buf else raw.strip()
        if not buf and (not line or line[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            buf += line[:-1]
            continue
        lines.append(buf + line)
        buf = ""
    if buf:
        lines.append(buf)
    return lines


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java properties text (``key=value``, ``key: value``, ``key value``, escapes, continuations)."""
    props: dict[str, str] = {}
    for line in _logical_lines(text):
        m = re.match(r"((?:\\.|[^=:\s\\])*)\s*[=:\s]?\s*(.*)$", line, re.S)
        if m is None:  # pragma: no cover - the pattern matches any string
            continue
        props[_unescape(m.group(1))] = _unescape(m.group(2).strip() if m.group(2) else "")
    return props


def read_config_file(path: str | Path) -> dict[str, str]:
    """A worker or connector config from a ``.properties`` or ``.json`` file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"Cannot read config file {p}: {e.strerror or e}") from e
    if p.suffix.lower() == ".json":
        return connector_from_json(text, str(p))
    return parse_properties(text)


def connector_from_json(text: str, where: str) -> dict[str, str]:
    """A connector config from JSON: a flat map, or the REST create body ``{name, config}``."""
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{where} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a JSON object")
    if "config" in data and isinstance(data["config"], dict):
        config = {str(k): _str(v) for k, v in data["config"].items()}
        if "name" in data:
            config.setdefault("name", str(data["name"]))
        if "initial_state" in data:
            config["__initial_state"] = str(data["initial_state"]).upper()
        return config
    return {str(k): _str(v) for k, v in data.items()}


def _str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return "" if v is None else str(v)
