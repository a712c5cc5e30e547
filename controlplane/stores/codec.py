"""Internal-topic bytes as Kafka Connect writes them: UTF-8 string keys and schemaless JSON
values (JsonConverter with ``schemas.enable=false``: compact, non-ASCII left as UTF-8).

Decoding failures raise :class:`DataError`; the stores log and skip such records.
"""

from __future__ import annotations

import json
from typing import Any

from engine.spi.errors import DataError


def encode_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def decode_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"not JSON: {e}") from e


def decode_object(data: bytes) -> dict[str, Any]:
    value = decode_json(data)
    if not isinstance(value, dict):
        raise DataError(f"expected a JSON object, found {type(value).__name__}")
    return value


def decode_key(key: bytes | None) -> str:
    if key is None:
        raise DataError("record without a key")
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"key is not UTF-8: {e}") from e


def string_map(value: Any, field: str) -> dict[str, str]:
    """``value`` as a map of strings to strings (a connector or task config)."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise DataError(f"'{field}' should be a map of strings")
    return dict(value)


def task_number(text: str) -> int:
    """The task number after the last '-' of a key (connector names may contain '-')."""
    if not text.isdigit() or not text.isascii():
        raise DataError(f"invalid task number {text!r}")
    return int(text)
