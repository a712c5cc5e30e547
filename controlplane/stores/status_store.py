"""Connector and task statuses in the status topic (``status.storage.topic``).

Writes are produced at once (``flush`` waits for them) and shown at once by the reads,
which serve the in-memory view the tail keeps up to date. A status from another worker
with an older generation than the one held does not replace it (a zombie's late write);
such a write of our own is not produced either. Tombstones always apply.
``on_event(kind, connector, task)`` is called from the reader thread for each record the
tail applies after :meth:`start` returned.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from controlplane.stores.kafka_log import KafkaLog
from controlplane.stores.pending import PendingWrites, flush_writes
from controlplane.stores.status_records import (
    StatusKey,
    connector_status_key,
    parse_status_key,
    parse_status_value,
    status_value,
    supersedes,
    task_status_key,
)
from engine.spi.errors import DataError

log = logging.getLogger(__name__)

OnStatusEvent = Callable[[str, str, int | None], None]


class KafkaStatusStore:
    def __init__(
        self,
        topic: str,
        client_props: Mapping[str, str],
        on_event: OnStatusEvent | None = None,
    ) -> None:
        self.topic = topic
        self._on_event = on_event
        self._lock = threading.Lock()
        self._connectors: dict[str, dict[str, Any]] = {}
        self._tasks: dict[str, dict[int, dict[str, Any]]] = {}
        self._pending = PendingWrites()
        self._started = False
        self._log = KafkaLog(topic, client_props, self._on_record, name="arrowsmith-statuses")

    def start(self, timeout_s: float = 30.0) -> None:
        self._log.start(timeout_s)
        with self._lock:
            self._started = True

    def stop(self) -> None:
        self._log.stop()

    def read_to_end(self, timeout_s: float = 30.0) -> None:
        self._log.read_to_end(timeout_s)

    def flush(self, timeout_s: float = 30.0) -> None:
        flush_writes(self._log, self._pending, self._lock, timeout_s)

    # -- writes ----------------------------------------------------------------------------------

    def put_connector(
        self, name: str, state: str, trace: str | None, worker_id: str, generation: int
    ) -> None:
        self._put(StatusKey("connector", name, None), state, trace, worker_id, generation)

    def put_task(
        self, name: str, task: int, state: str, trace: str | None, worker_id: str, generation: int
    ) -> None:
        self._put(StatusKey("task", name, task), state, trace, worker_id, generation)

    def delete_connector(self, name: str, tasks: int) -> None:
        """Tombstones for the connector's status and those of its tasks 0 … ``tasks``-1."""
        keys = [StatusKey("connector", name, None)] + [StatusKey("task", name, i) for i in range(tasks)]
        with self._lock:
            for skey in keys:
                self._set(skey, None)
                raw = _key_bytes(skey)
                self._pending.add(raw, None)
                self._log.send(raw, None)

    def _put(self, skey: StatusKey, state: str, trace: str | None, worker_id: str, generation: int) -> None:
        status = {"state": state, "trace": trace, "worker_id": worker_id, "generation": generation}
        with self._lock:  # held while sending: our writes of one key reach the log in this order
            stored = self._get(skey)
            if not supersedes(stored, status):
                log.debug(
                    "Not writing status %s of %s: generation %d of %s is newer", status, skey, *_gen(stored)
                )
                return
            self._set(skey, status)
            raw, value = _key_bytes(skey), status_value(state, trace, worker_id, generation)
            self._pending.add(raw, value)
            self._log.send(raw, value)

    # -- reads -----------------------------------------------------------------------------------

    def connector(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            status = self._connectors.get(name)
            return dict(status) if status is not None else None

    def task(self, name: str, task: int) -> dict[str, Any] | None:
        with self._lock:
            status = self._tasks.get(name, {}).get(task)
            return dict(status) if status is not None else None

    def tasks(self, name: str) -> dict[int, dict[str, Any]]:
        with self._lock:
            return {task: dict(status) for task, status in sorted(self._tasks.get(name, {}).items())}

    # -- view ------------------------------------------------------------------------------------

    def _get(self, skey: StatusKey) -> dict[str, Any] | None:
        if skey.task is None:
            return self._connectors.get(skey.name)
        return self._tasks.get(skey.name, {}).get(skey.task)

    def _set(self, skey: StatusKey, status: dict[str, Any] | None) -> None:
        if skey.task is None:
            if status is None:
                self._connectors.pop(skey.name, None)
            else:
                self._connectors[skey.name] = status
            return
        tasks = self._tasks.setdefault(skey.name, {})
        if status is None:
            tasks.pop(skey.task, None)
            if not tasks:
                del self._tasks[skey.name]
        else:
            tasks[skey.task] = status

    def _on_record(self, key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        try:
            skey = parse_status_key(key)
            status = None if value is None else parse_status_value(value)
        except DataError as e:
            log.warning("Discarding record %r at %s-%d offset %d: %s", key, self.topic, partition, offset, e)
            return
        if skey is None:
            log.debug("Ignoring record %r of status topic %s", key, self.topic)
            return
        with self._lock:
            if not self._pending.read_back(_key_bytes(skey), value):
                return
            stored = self._get(skey)
            if status is not None and not supersedes(stored, status):
                log.debug(
                    "Ignoring status %s of %s: generation %d of %s is newer", status, skey, *_gen(stored)
                )
                return
            self._set(skey, status)
            started = self._started
        if started and self._on_event is not None:
            try:
                self._on_event(skey.kind, skey.name, skey.task)
            except Exception:
                log.exception("The status event handler failed on %s", skey)


def _key_bytes(skey: StatusKey) -> bytes:
    return connector_status_key(skey.name) if skey.task is None else task_status_key(skey.name, skey.task)


def _gen(stored: dict[str, Any] | None) -> tuple[int, str]:
    assert stored is not None
    return stored["generation"], stored["worker_id"]
