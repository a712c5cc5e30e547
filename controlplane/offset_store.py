"""Source offsets in a local file (standalone mode's ``offset.storage.file.filename``).

Keys and values are kept in the byte form Kafka Connect writes to its offsets topic
(key ``["<connector>",{<source partition>}]``, value the offset map as JSON), so they can
move to and from a distributed cluster. The file is JSON, rewritten atomically.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol

from engine.spi.errors import ConfigError


def offset_key(connector: str, partition: dict[str, Any]) -> str:
    return json.dumps([connector, partition], separators=(",", ":"), sort_keys=True)


class OffsetStore(Protocol):
    """Where source offsets live: a file (standalone) or the offsets topic (distributed)."""

    def load(self) -> None: ...
    def put(self, connector: str, offsets: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> None: ...
    def offsets(self, connector: str) -> list[tuple[dict[str, Any], dict[str, Any]]]: ...
    def save(self) -> None: ...


class FileOffsetStore:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._data: dict[str, str] = {}
        self._lock = threading.Lock()

    def load(self) -> None:
        if not self.path.exists():
            return
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(
                f"Cannot read offsets from {self.path}: {e}", "offset.storage.file.filename"
            ) from e
        self._data = {str(k): str(v) for k, v in doc.get("offsets", {}).items()}

    def put(self, connector: str, offsets: list[tuple[dict[str, Any], dict[str, Any] | None]]) -> None:
        with self._lock:
            for partition, offset in offsets:
                key = offset_key(connector, partition)
                if offset is None:
                    self._data.pop(key, None)
                else:
                    self._data[key] = json.dumps(offset, separators=(",", ":"))

    def offsets(self, connector: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        out = []
        with self._lock:
            for key, value in self._data.items():
                name, partition = json.loads(key)
                if name == connector:
                    out.append((partition, json.loads(value)))
        return out

    def save(self) -> None:
        with self._lock:
            doc = json.dumps({"version": 1, "offsets": self._data}, indent=0, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".offsets-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(doc)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
