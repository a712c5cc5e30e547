"""The config topic (``config.storage.topic``): connector and task configs, target states,
restart requests and our distributed assignment, in Kafka Connect's record format.

Writes return once the records are acknowledged *and* read back, so :meth:`snapshot` shows
them. ``on_event`` is called from the reader thread after the snapshot has changed, for
records read after :meth:`start` returned; what ``start`` replays is in the snapshot (and
restart requests replayed at start are dropped, as in Kafka Connect).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from controlplane.stores import config_records as records
from controlplane.stores.config_state import ConfigEvent, ConfigSnapshot, ConfigState
from controlplane.stores.kafka_log import KafkaLog
from engine.spi.errors import DataError

__all__ = ["ConfigEvent", "ConfigSnapshot", "KafkaConfigStore"]

log = logging.getLogger(__name__)


class KafkaConfigStore:
    def __init__(
        self,
        topic: str,
        client_props: Mapping[str, str],
        on_event: Callable[[ConfigEvent], None] | None = None,
    ) -> None:
        self.topic = topic
        self._on_event = on_event
        self._state = ConfigState()
        self._lock = threading.Lock()
        self._started = False
        self._log = KafkaLog(topic, client_props, self._on_record, name="arrowsmith-configs")

    def start(self, timeout_s: float = 30.0) -> None:
        self._log.start(timeout_s)
        with self._lock:
            self._started = True
            offset = self._state.offset
        log.info("Read the config topic %s up to offset %d", self.topic, offset)

    def stop(self) -> None:
        self._log.stop()

    def snapshot(self) -> ConfigSnapshot:
        with self._lock:
            return self._state.snapshot()

    def read_to_end(self, timeout_s: float = 30.0) -> None:
        self._log.read_to_end(timeout_s)

    # -- writes (acknowledged and read back on return) -------------------------------------------

    def put_connector_config(
        self, name: str, config: Mapping[str, str], target: str | None = None, *, timeout_s: float = 30.0
    ) -> None:
        """The connector's config, preceded by its target state when given (as on create)."""
        writes = [records.target_state_record(name, target)] if target is not None else []
        writes.append(records.connector_record(name, config))
        self._write(writes, timeout_s)

    def remove_connector(self, name: str, *, timeout_s: float = 30.0) -> None:
        self._write(
            [records.connector_record(name, None), records.target_state_record(name, None)], timeout_s
        )

    def put_target_state(self, name: str, state: str, *, timeout_s: float = 30.0) -> None:
        self._write([records.target_state_record(name, state)], timeout_s)

    def put_task_configs(
        self, name: str, configs: Sequence[Mapping[str, str]], *, timeout_s: float = 30.0
    ) -> None:
        self._write(records.task_records(name, configs), timeout_s)

    def put_restart_request(
        self, name: str, include_tasks: bool, only_failed: bool, *, timeout_s: float = 30.0
    ) -> None:
        self._write([records.restart_record(name, include_tasks, only_failed)], timeout_s)

    def put_assignment(self, doc: Mapping[str, Any], *, timeout_s: float = 30.0) -> None:
        self._write([records.assignment_record(doc)], timeout_s)

    def _write(self, writes: Sequence[tuple[bytes, bytes | None]], timeout_s: float) -> None:
        for key, value in writes:
            self._log.send(key, value)
        self._log.flush(timeout_s)
        self._log.read_to_end(timeout_s)

    # -- reader thread ---------------------------------------------------------------------------

    def _on_record(self, key: bytes | None, value: bytes | None, partition: int, offset: int) -> None:
        event = None
        with self._lock:
            self._state.offset = offset
            try:
                record = records.parse_config_record(key, value)
            except DataError as e:
                log.error(
                    "Skipping malformed record %r at offset %d of config topic %s: %s",
                    key,
                    offset,
                    self.topic,
                    e,
                )
                return
            if record is None:
                log.debug("Ignoring record %r at offset %d of config topic %s", key, offset, self.topic)
                return
            event = self._state.apply(record)
            started = self._started
        if event is None or self._on_event is None or not started:
            return
        try:
            self._on_event(event)
        except Exception:
            log.exception("The config event handler failed on %s", event)
