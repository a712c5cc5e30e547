"""Connectors and tasks: what a connector author subclasses.

Lifecycles follow Kafka Connect's:

* Connector: ``initialize(context)`` → ``start(props)`` → ``task_configs(max_tasks)`` (any
  number of times) → ``stop()``. ``validate(props)`` may be called on a fresh instance
  that was never started.
* SourceTask: ``initialize(context)`` → ``start(props)`` → ``poll()`` repeatedly →
  ``commit()`` after offsets are written → ``stop()``.
* SinkTask: ``initialize(context)`` → ``start(props)`` → ``open(partitions)`` on assignment →
  ``put(batch)`` repeatedly → ``pre_commit(offsets)``/``flush(offsets)`` before each commit →
  ``close(partitions)`` on revocation → ``stop()``.

``stop()`` may be called from another thread than the one running ``poll()``/``put()``
and must make a blocked ``poll()`` return soon.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from engine.spi.plugin import Plugin
from engine.spi.record import SourceBatch, SourceOffset, SourcePartition, TopicPartition

if TYPE_CHECKING:
    from engine.spi.config import ConfigValue


class ExactlyOnceSupport(StrEnum):
    SUPPORTED = "SUPPORTED"
    UNSUPPORTED = "UNSUPPORTED"


class ConnectorContext(abc.ABC):
    """Given to a connector so it can talk back to the runtime."""

    @abc.abstractmethod
    def request_task_reconfiguration(self) -> None:
        """Ask the runtime to call ``task_configs`` again."""

    @abc.abstractmethod
    def raise_error(self, error: BaseException) -> None:
        """Fail the connector with this error."""


class OffsetStorageReader(abc.ABC):
    """Reads the last committed source offsets of the connector."""

    @abc.abstractmethod
    def offset(self, partition: SourcePartition) -> SourceOffset | None: ...

    def offsets(
        self, partitions: Sequence[SourcePartition]
    ) -> list[tuple[SourcePartition, SourceOffset | None]]:
        return [(p, self.offset(p)) for p in partitions]


class ErrantRecordReporter(abc.ABC):
    """Reports records a sink task could not write (KIP-610)."""

    @abc.abstractmethod
    def report(self, batch: pa.RecordBatch, rows: Sequence[int], error: BaseException) -> None: ...


class TaskContext(abc.ABC):
    @abc.abstractmethod
    def configs(self) -> Mapping[str, str]: ...


class SourceTaskContext(TaskContext):
    @property
    @abc.abstractmethod
    def offset_storage_reader(self) -> OffsetStorageReader: ...


class SinkTaskContext(TaskContext):
    @abc.abstractmethod
    def assignment(self) -> frozenset[TopicPartition]: ...

    @abc.abstractmethod
    def pause(self, *partitions: TopicPartition) -> None: ...

    @abc.abstractmethod
    def resume(self, *partitions: TopicPartition) -> None: ...

    @abc.abstractmethod
    def request_commit(self) -> None: ...

    @abc.abstractmethod
    def offset(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Rewind or skip: the next records consumed start at these offsets."""

    @abc.abstractmethod
    def timeout(self, ms: int) -> None:
        """Back off this long before retrying after a RetriableError from ``put``."""

    @abc.abstractmethod
    def errant_record_reporter(self) -> ErrantRecordReporter | None: ...


class Task(Plugin, abc.ABC):
    @abc.abstractmethod
    def start(self, props: Mapping[str, str]) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...


class SourceTask(Task):
    context: SourceTaskContext

    def initialize(self, context: SourceTaskContext) -> None:
        self.context = context

    @abc.abstractmethod
    def poll(self) -> SourceBatch | None:
        """Return the next batch, or None when there is nothing now (after a short wait)."""

    def commit(self) -> None:
        """Offsets up to the last committed batch were written; a hook for acknowledging upstream."""


class SinkTask(Task):
    context: SinkTaskContext

    def initialize(self, context: SinkTaskContext) -> None:
        self.context = context

    def open(self, partitions: Sequence[TopicPartition]) -> None:
        """These partitions were assigned to the task."""

    def close(self, partitions: Sequence[TopicPartition]) -> None:
        """These partitions were revoked; release what belongs to them."""

    @abc.abstractmethod
    def put(self, batch: pa.RecordBatch) -> None:
        """Write a converted, transformed batch (envelope columns; key/value typed)."""

    def flush(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Make everything put so far durable."""

    def pre_commit(self, offsets: Mapping[TopicPartition, int]) -> Mapping[TopicPartition, int]:
        """Return the offsets (next offset to read, per partition) that may be committed."""
        self.flush(offsets)
        return offsets


class Connector(Plugin, abc.ABC):
    context: ConnectorContext

    def initialize(self, context: ConnectorContext) -> None:
        self.context = context

    @abc.abstractmethod
    def start(self, props: Mapping[str, str]) -> None: ...

    @abc.abstractmethod
    def task_class(self) -> type[Task]: ...

    @abc.abstractmethod
    def task_configs(self, max_tasks: int) -> list[dict[str, str]]: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    def validate(self, props: Mapping[str, str]) -> list[ConfigValue]:
        """Validate the connector's own keys (Kafka's ``Connector.validate``)."""
        return self.config_def().validate(props)

    def alter_offsets(self, config: Mapping[str, str], offsets: Mapping[Any, Any]) -> bool:
        """Hook for KIP-875: return True if the connector manages nothing outside the framework."""
        return False


class SourceConnector(Connector):
    def exactly_once_support(self, props: Mapping[str, str]) -> ExactlyOnceSupport | None:
        return None


class SinkConnector(Connector):
    pass
