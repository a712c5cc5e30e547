"""Source offsets in the offsets topic (``offset.storage.topic``), the same interface as the
standalone :class:`controlplane.offset_store.FileOffsetStore`.

Key bytes are ``["<connector>",{<source partition>}]`` and value bytes the offset map, as
compact JSON; a null value deletes the offset. Keys written by Kafka Connect's Java worker
may be formatted differently (spaces, key order): they are parsed and normalised, and a
later write of the same logical key reuses the bytes found on the topic, so that it lands
on the same partition and compaction replaces (or a tombstone deletes) the Java record.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from controlplane.offset_store import offset_key
from controlplane.stores.codec import decode_json, encode_json
from controlplane.stores.kafka_log import KafkaLog
from controlplane.stores.pending import PendingWrites, flush_writes
from engine.spi.errors import DataError

log = logging.getLogger(__name__)


def parse_offset_key(key: bytes | None) -> tuple[str, dict[str, Any]]:
    """``(connector, source partition)`` of an offsets-topic key; DataError if it is not one."""
    if key is None:
        raise DataError("record without a key")
    doc = decode_json(key)
    if not (isinstance(doc, list) and len(doc) == 2 and isinstance(doc[0], str) and isinstance(doc[1], dict)):
        raise DataError("the key is not a [connector name, source partition] array")
    return doc[0], doc[1]


class KafkaOffsetStore:
    def __init__(self, topic: str, client_props: Mapping[str, str]) -> None:
        self.topic = topic
        self._lock = threading.Lock()
        # connector → normalised key → (source partition JSON, offset JSON)
        self._data: dict[str, dict[str, tuple[str, str]]] = {}
        # normalised key → the key bytes read for it, most recent last
        self._raw_keys: dict[str, list[bytes]] = {}
        self._pending = PendingWrites()
        self._log = KafkaLog(topic, client_props, self._on_record, name="arrowsmith-offsets")

    def load(self, timeout_s: float = 30.0) -> None:
        """Start tailing the topic and read it to its end."""
        self._log.start(timeout_s)

    def stop(self) -> None:
        self._log.stop()

    def read_to_end(self, timeout_s: float = 30.0) -> None:
        self._log.read_to_end(timeout_s)

    def put(
        self, connector: str, offsets: Sequence[tuple[Mapping[str, Any], Mapping[str, Any] | None]]
    ) -> None:
        """Write the offsets now (``None`` deletes); ``save`` waits for them to be acknowledged."""
        with self._lock:  # held while sending: our writes of one key reach the log in this order
            for partition, offset in offsets:
                key = offset_key(connector, dict(partition))
                forms = self._raw_keys.get(key) or [key.encode("utf-8")]
                value = None if offset is None else encode_json(dict(offset))
                self._apply(connector, key, partition, None if value is None else value.decode("utf-8"))
                for raw in forms if value is None else forms[-1:]:
                    self._pending.add(key, value)
                    self._log.send(raw, value)

    def offsets(self, connector: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        with self._lock:
            entries = list(self._data.get(connector, {}).values())
        return [(json.loads(partition), json.loads(offset)) for partition, offset in entries]

    def save(self, timeout_s: float = 30.0) -> None:
        """Wait until every offset put so far is acknowledged (ConnectError if one is not)."""
        flush_writes(self._log, self._pending, self._lock, timeout_s)

    def _apply(self, connector: str, key: str, partition: Mapping[str, Any], offset_json: str | None) -> None:
        entries = self._data.setdefault(connector, {})
        if offset_json is None:
            entries.pop(key, None)
            if not entries:
                del self._data[connector]
        else:
            partition_json = json.dumps(partition, separators=(",", ":"), sort_keys=True)
            entries[key] = (partition_json, offset_json)

    def _on_record(self, key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        try:
            connector, source_partition = parse_offset_key(key)
            parsed = None if value is None else decode_json(value)
            if parsed is not None and not isinstance(parsed, dict):
                raise DataError("the offset is not a JSON object")
        except DataError as e:
            log.error("Skipping record %r at %s-%d offset %d: %s", key, self.topic, partition, offset, e)
            return
        assert key is not None
        normalised = offset_key(connector, source_partition)
        with self._lock:
            forms = self._raw_keys.setdefault(normalised, [])
            if key in forms:
                forms.remove(key)
            forms.append(key)
            if self._pending.read_back(normalised, value):
                # a JSON null offset deletes it, as a tombstone does
                offset_json = None if parsed is None else encode_json(parsed).decode("utf-8")
                self._apply(connector, normalised, source_partition, offset_json)
