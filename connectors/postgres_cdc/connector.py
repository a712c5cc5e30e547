"""PostgresConnector: Debezium-compatible change data capture from PostgreSQL.

The connector class holds the configuration and is what plugin discovery loads (in the
control plane and in every worker process); its task, :mod:`~connectors.postgres_cdc.task`,
with psycopg2 and the decoding modules, is imported only where a task runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.postgres_cdc.config import CONFIG_DEF, CdcConfig
from engine.spi.config import ConfigDef
from engine.spi.connector import SourceConnector, Task


class PostgresConnector(SourceConnector):
    """``io.debezium.connector.postgresql.PostgresConnector`` on pgoutput and Arrow."""

    aliases = ("io.debezium.connector.postgresql.PostgresConnector",)

    @classmethod
    def config_def(cls) -> ConfigDef:
        return CONFIG_DEF

    def start(self, props: Mapping[str, str]) -> None:
        CdcConfig.parse(props)
        self.props = dict(props)

    def task_class(self) -> type[Task]:
        from connectors.postgres_cdc.task import PostgresCdcTask

        return PostgresCdcTask

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return [dict(self.props)]  # one slot, one reader

    def stop(self) -> None:
        pass


def __getattr__(name: str) -> Any:
    """The task's names at their former path (task configs stored by an earlier version name
    ``connectors.postgres_cdc.connector.PostgresCdcTask``), imported on first use."""
    if name in ("PostgresCdcTask", "ack_lsn"):
        from connectors.postgres_cdc import task

        return getattr(task, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
