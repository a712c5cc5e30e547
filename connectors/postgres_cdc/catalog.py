"""What the connector asks PostgreSQL: tables, columns, keys, the publication and the slot."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg2 import sql

from connectors.postgres_cdc.config import CdcConfig
from engine.spi.errors import ConfigError, ConnectError

log = logging.getLogger(__name__)

SYSTEM_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})


def _patterns(items: Sequence[str]) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in items]


class Filters:
    """Debezium's include/exclude lists: anchored regular expressions on qualified names."""

    def __init__(self, cfg: CdcConfig) -> None:
        self._schema_in = _patterns(cfg.schema_include)
        self._schema_out = _patterns(cfg.schema_exclude)
        self._table_in = _patterns(cfg.table_include)
        self._table_out = _patterns(cfg.table_exclude)
        self._col_in = _patterns(cfg.column_include)
        self._col_out = _patterns(cfg.column_exclude)

    @staticmethod
    def _match(patterns: list[re.Pattern[str]], name: str) -> bool:
        return any(p.fullmatch(name) for p in patterns)

    def table(self, schema: str, table: str) -> bool:
        if schema in SYSTEM_SCHEMAS or schema.startswith("pg_temp") or schema.startswith("pg_toast"):
            return False
        if self._schema_in and not self._match(self._schema_in, schema):
            return False
        if self._match(self._schema_out, schema):
            return False
        name = f"{schema}.{table}"
        if self._table_in:
            return self._match(self._table_in, name)
        return not self._match(self._table_out, name)

    def column(self, schema: str, table: str, column: str) -> bool:
        name = f"{schema}.{table}.{column}"
        if self._col_in:
            return self._match(self._col_in, name)
        return not self._match(self._col_out, name)


@dataclass(frozen=True, slots=True)
class CatalogColumn:
    name: str
    type_oid: int
    typmod: int
    not_null: bool


@dataclass(frozen=True, slots=True)
class CatalogTable:
    oid: int
    schema: str
    name: str
    columns: tuple[CatalogColumn, ...]
    primary_key: tuple[str, ...]
    replica_identity: str


def list_tables(cur: Any, filters: Filters) -> list[tuple[int, str, str]]:
    """Ordinary and partitioned tables the filters accept, as (oid, schema, name)."""
    cur.execute(
        "SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY n.nspname, c.relname"
    )
    return [(int(o), s, t) for o, s, t in cur.fetchall() if filters.table(s, t)]


def describe(cur: Any, oid: int) -> CatalogTable | None:
    cur.execute(
        "SELECT n.nspname, c.relname, c.relreplident FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = %s",
        (oid,),
    )
    row = cur.fetchone()
    if row is None:
        return None
    schema, name, ident = row
    cur.execute(
        "SELECT attname, atttypid, atttypmod, attnotnull FROM pg_attribute "
        "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
        (oid,),
    )
    columns = tuple(CatalogColumn(n, int(t), int(m), bool(nn)) for n, t, m, nn in cur.fetchall())
    cur.execute(
        "SELECT a.attname FROM pg_index i "
        "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
        "WHERE i.indrelid = %s AND i.indisprimary ORDER BY k.ord",
        (oid,),
    )
    pk = tuple(r[0] for r in cur.fetchall())
    return CatalogTable(oid, schema, name, columns, pk, str(ident))


def ensure_publication(cur: Any, cfg: CdcConfig, tables: Sequence[tuple[int, str, str]]) -> None:
    cur.execute("SELECT puballtables FROM pg_publication WHERE pubname = %s", (cfg.publication,))
    row = cur.fetchone()
    name = sql.Identifier(cfg.publication)
    if cfg.autocreate == "disabled":
        if row is None:
            raise ConfigError(
                f"Publication {cfg.publication} does not exist and publication.autocreate.mode is disabled",
                key="publication.name",
            )
        return
    if cfg.autocreate == "all_tables":
        if row is None:
            log.info("Creating publication %s FOR ALL TABLES", cfg.publication)
            cur.execute(sql.SQL("CREATE PUBLICATION {} FOR ALL TABLES").format(name))
        return
    if not tables:
        raise ConfigError(
            "No table matches the filters: a filtered publication needs at least one table",
            key="table.include.list",
        )
    listed = sql.SQL(", ").join(sql.Identifier(s, t) for _, s, t in tables)
    if row is None:
        log.info("Creating publication %s FOR TABLE %d tables", cfg.publication, len(tables))
        cur.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(name, listed))
    elif row[0]:
        raise ConfigError(
            f"Publication {cfg.publication} is FOR ALL TABLES; publication.autocreate.mode=filtered needs "
            "a publication of listed tables",
            key="publication.autocreate.mode",
        )
    else:
        cur.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(name, listed))


@dataclass(frozen=True, slots=True)
class SlotInfo:
    plugin: str
    database: str
    active_pid: int | None
    confirmed_flush: str | None


def slot_info(cur: Any, slot: str) -> SlotInfo | None:
    cur.execute(
        "SELECT plugin, database, active_pid, confirmed_flush_lsn::text FROM pg_replication_slots "
        "WHERE slot_name = %s",
        (slot,),
    )
    row = cur.fetchone()
    return None if row is None else SlotInfo(row[0], row[1], row[2], row[3])


def check_slot(info: SlotInfo, cfg: CdcConfig) -> None:
    if info.plugin != "pgoutput" or info.database != cfg.dbname:
        raise ConnectError(
            f"Replication slot {cfg.slot} exists for plugin {info.plugin} on database {info.database}, "
            f"not pgoutput on {cfg.dbname}: choose another slot.name"
        )


def drop_slot(cur: Any, slot: str) -> None:
    cur.execute(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
        "WHERE slot_name = %s AND active_pid IS NULL",
        (slot,),
    )
