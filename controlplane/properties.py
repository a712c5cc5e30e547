"""Read worker and connector configs: Java ``.properties`` files and JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.properties import parse_properties
from engine.spi.errors import ConfigError


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
