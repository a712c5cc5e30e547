"""The PostgreSQL CDC connector's keys: Debezium's names and defaults, declared once."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.postgres_cdc.types import DECIMAL_MODES
from engine.spi.config import (
    ConfigDef,
    Importance,
    LambdaValidator,
    NonEmptyString,
    Password,
    Range,
    Type,
    ValidString,
)
from engine.spi.errors import ConfigError

HOSTNAME = "database.hostname"
PORT = "database.port"
USER = "database.user"
PASSWORD = "database.password"
DBNAME = "database.dbname"
SSLMODE = "database.sslmode"
TOPIC_PREFIX = "topic.prefix"
PLUGIN_NAME = "plugin.name"
SLOT_NAME = "slot.name"
SLOT_DROP_ON_STOP = "slot.drop.on.stop"
PUBLICATION_NAME = "publication.name"
PUBLICATION_AUTOCREATE = "publication.autocreate.mode"
SCHEMA_INCLUDE = "schema.include.list"
SCHEMA_EXCLUDE = "schema.exclude.list"
TABLE_INCLUDE = "table.include.list"
TABLE_EXCLUDE = "table.exclude.list"
COLUMN_INCLUDE = "column.include.list"
COLUMN_EXCLUDE = "column.exclude.list"
SNAPSHOT_MODE = "snapshot.mode"
TOMBSTONES_ON_DELETE = "tombstones.on.delete"
SKIPPED_OPERATIONS = "skipped.operations"
DECIMAL_HANDLING = "decimal.handling.mode"
UNAVAILABLE_PLACEHOLDER = "unavailable.value.placeholder"
HEARTBEAT_INTERVAL = "heartbeat.interval.ms"
HEARTBEAT_PREFIX = "topic.heartbeat.prefix"
MAX_BATCH_SIZE = "max.batch.size"
POLL_INTERVAL = "poll.interval.ms"
STATUS_INTERVAL = "status.update.interval.ms"
MAX_RETRIES = "errors.max.retries"
RETRY_WAIT = "retriable.restart.connector.wait.ms"

SNAPSHOT_MODES = ("initial", "never", "no_data", "initial_only", "always")
AUTOCREATE_MODES = ("all_tables", "disabled", "filtered")
_SLOT_NAME = re.compile(r"[a-z0-9_]{1,63}")
_OPERATIONS = {"c", "u", "d", "t"}


def _plugin(name: str, value: Any) -> None:
    if value != "pgoutput":
        raise ValueError(
            "only the pgoutput logical decoding plugin is supported (it ships with PostgreSQL 10+)"
        )


def _slot(name: str, value: Any) -> None:
    if not isinstance(value, str) or not _SLOT_NAME.fullmatch(value):
        raise ValueError("a replication slot name has 1-63 characters among lower-case letters, digits and _")


def _operations(name: str, value: Any) -> None:
    items = [v.strip() for v in (value or [])]
    if items == ["none"]:
        return
    bad = [v for v in items if v not in _OPERATIONS]
    if bad:
        raise ValueError("operations are among c, u, d, t (or none)")


def _regexes(name: str, value: Any) -> None:
    for item in value or []:
        try:
            re.compile(item)
        except re.error as e:
            raise ValueError(f"not a regular expression: {item} ({e})") from e


def config_def() -> ConfigDef:
    regexes = LambdaValidator(_regexes, "comma-separated regular expressions")
    d = ConfigDef()
    conn = "Connection"
    d.define(
        HOSTNAME,
        Type.STRING,
        validator=NonEmptyString(),
        importance=Importance.HIGH,
        documentation="Resolvable hostname or IP address of the PostgreSQL server.",
        group=conn,
    )
    d.define(
        PORT,
        Type.INT,
        5432,
        Range.between(1, 65535),
        Importance.HIGH,
        "Port of the PostgreSQL server.",
        group=conn,
    )
    d.define(
        USER,
        Type.STRING,
        validator=NonEmptyString(),
        importance=Importance.HIGH,
        documentation="Name of the PostgreSQL user (needs the REPLICATION attribute, or superuser).",
        group=conn,
    )
    d.define(
        PASSWORD,
        Type.PASSWORD,
        None,
        importance=Importance.HIGH,
        documentation="Password of the PostgreSQL user.",
        group=conn,
    )
    d.define(
        DBNAME,
        Type.STRING,
        validator=NonEmptyString(),
        importance=Importance.HIGH,
        documentation="The name of the PostgreSQL database to capture changes from.",
        group=conn,
    )
    d.define(
        SSLMODE,
        Type.STRING,
        "prefer",
        ValidString.in_("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
        Importance.MEDIUM,
        "Whether to use an encrypted connection to the server (libpq's sslmode).",
        group=conn,
    )
    d.define(
        TOPIC_PREFIX,
        Type.STRING,
        validator=NonEmptyString(),
        importance=Importance.HIGH,
        documentation="Topic prefix naming this database server: events of table s.t go to "
        "<topic.prefix>.s.t; also the source partition of the offsets.",
        group=conn,
    )
    repl = "Replication"
    d.define(
        PLUGIN_NAME,
        Type.STRING,
        "pgoutput",
        LambdaValidator(_plugin, "pgoutput"),
        Importance.MEDIUM,
        "The logical decoding plugin; only pgoutput is supported.",
        group=repl,
    )
    d.define(
        SLOT_NAME,
        Type.STRING,
        "debezium",
        LambdaValidator(_slot, "[a-z0-9_]{1,63}"),
        Importance.MEDIUM,
        "The name of the logical replication slot, created when missing.",
        group=repl,
    )
    d.define(
        SLOT_DROP_ON_STOP,
        Type.BOOLEAN,
        False,
        importance=Importance.MEDIUM,
        documentation="Drop the replication slot when the task stops (testing only: changes made while "
        "the connector is stopped are then lost).",
        group=repl,
    )
    d.define(
        PUBLICATION_NAME,
        Type.STRING,
        "dbz_publication",
        NonEmptyString(),
        Importance.MEDIUM,
        "The name of the publication streamed through pgoutput.",
        group=repl,
    )
    d.define(
        PUBLICATION_AUTOCREATE,
        Type.STRING,
        "all_tables",
        ValidString.in_(*AUTOCREATE_MODES),
        Importance.MEDIUM,
        "all_tables: create the publication FOR ALL TABLES when missing; disabled: "
        "it must exist; filtered: create it (or set its tables) FOR TABLE the captured tables.",
        group=repl,
    )
    d.define(
        STATUS_INTERVAL,
        Type.INT,
        10000,
        Range.at_least(0),
        Importance.LOW,
        "How often, in milliseconds, a status update is sent to the server.",
        group=repl,
    )
    filters = "Filters"
    d.define(
        SCHEMA_INCLUDE,
        Type.LIST,
        None,
        regexes,
        Importance.MEDIUM,
        "Regular expressions matching the schemas to capture (all non-system schemas when unset).",
        group=filters,
    )
    d.define(
        SCHEMA_EXCLUDE,
        Type.LIST,
        None,
        regexes,
        Importance.MEDIUM,
        "Regular expressions matching schemas not to capture.",
        group=filters,
    )
    d.define(
        TABLE_INCLUDE,
        Type.LIST,
        None,
        regexes,
        Importance.MEDIUM,
        "Regular expressions matching fully-qualified tables (schema.table) to capture.",
        group=filters,
    )
    d.define(
        TABLE_EXCLUDE,
        Type.LIST,
        None,
        regexes,
        Importance.MEDIUM,
        "Regular expressions matching fully-qualified tables not to capture.",
        group=filters,
    )
    d.define(
        COLUMN_INCLUDE,
        Type.LIST,
        None,
        regexes,
        Importance.LOW,
        "Regular expressions matching fully-qualified columns (schema.table.column) to keep in events.",
        group=filters,
    )
    d.define(
        COLUMN_EXCLUDE,
        Type.LIST,
        None,
        regexes,
        Importance.LOW,
        "Regular expressions matching fully-qualified columns to leave out of events.",
        group=filters,
    )
    events = "Events"
    d.define(
        SNAPSHOT_MODE,
        Type.STRING,
        "initial",
        ValidString.in_(*SNAPSHOT_MODES),
        Importance.MEDIUM,
        "initial: snapshot when no offset exists, then stream; always: snapshot at every start; "
        "initial_only: snapshot, then stop; never / no_data: stream only.",
        group=events,
    )
    d.define(
        TOMBSTONES_ON_DELETE,
        Type.BOOLEAN,
        True,
        importance=Importance.MEDIUM,
        documentation="Send a tombstone (same key, null value) after each delete event.",
        group=events,
    )
    d.define(
        SKIPPED_OPERATIONS,
        Type.LIST,
        "t",
        LambdaValidator(_operations, "c, u, d, t or none"),
        Importance.LOW,
        "Operations not to emit while streaming: c, u, d, t (truncate), or none.",
        group=events,
    )
    d.define(
        DECIMAL_HANDLING,
        Type.STRING,
        "precise",
        ValidString.in_(*DECIMAL_MODES),
        Importance.MEDIUM,
        "numeric columns as precise (Connect Decimal), double, or string.",
        group=events,
    )
    d.define(
        UNAVAILABLE_PLACEHOLDER,
        Type.STRING,
        "__debezium_unavailable_value",
        importance=Importance.LOW,
        documentation="Value of an unchanged TOASTed column that PostgreSQL did not send.",
        group=events,
    )
    d.define(
        HEARTBEAT_INTERVAL,
        Type.INT,
        0,
        Range.at_least(0),
        Importance.MEDIUM,
        "Send a heartbeat record this often (milliseconds) while there are no changes, so the slot can "
        "advance; 0 disables.",
        group=events,
    )
    d.define(
        HEARTBEAT_PREFIX,
        Type.STRING,
        "__debezium-heartbeat",
        NonEmptyString(),
        Importance.LOW,
        "Heartbeats go to <topic.heartbeat.prefix>.<topic.prefix>.",
        group=events,
    )
    perf = "Performance"
    d.define(
        MAX_BATCH_SIZE,
        Type.INT,
        2048,
        Range.at_least(1),
        Importance.MEDIUM,
        "The most change events in one batch handed to the runtime.",
        group=perf,
    )
    d.define(
        POLL_INTERVAL,
        Type.INT,
        500,
        Range.at_least(1),
        Importance.MEDIUM,
        "How long, in milliseconds, a poll waits for new changes.",
        group=perf,
    )
    d.define(
        MAX_RETRIES,
        Type.INT,
        5,
        Range.at_least(-1),
        Importance.MEDIUM,
        "Connection attempts after a connection failure before the task fails (-1: no limit).",
        group=perf,
    )
    d.define(
        RETRY_WAIT,
        Type.LONG,
        10000,
        Range.at_least(0),
        Importance.LOW,
        "The longest back-off, in milliseconds, between two connection attempts.",
        group=perf,
    )
    return d


CONFIG_DEF = config_def()


@dataclass(frozen=True, slots=True)
class CdcConfig:
    hostname: str
    port: int
    user: str
    password: Password | None
    dbname: str
    sslmode: str
    prefix: str
    slot: str
    drop_slot: bool
    publication: str
    autocreate: str
    schema_include: tuple[str, ...]
    schema_exclude: tuple[str, ...]
    table_include: tuple[str, ...]
    table_exclude: tuple[str, ...]
    column_include: tuple[str, ...]
    column_exclude: tuple[str, ...]
    snapshot_mode: str
    tombstones: bool
    skipped: frozenset[str]
    decimal_mode: str
    placeholder: str
    heartbeat_ms: int
    heartbeat_prefix: str
    max_batch: int
    poll_ms: int
    status_ms: int
    max_retries: int
    retry_wait_ms: int

    @classmethod
    def parse(cls, props: Mapping[str, str]) -> CdcConfig:
        v = CONFIG_DEF.parse(props)
        if v[TABLE_INCLUDE] and v[TABLE_EXCLUDE]:
            raise ConfigError(f"{TABLE_INCLUDE} and {TABLE_EXCLUDE} cannot both be set", key=TABLE_EXCLUDE)
        if v[COLUMN_INCLUDE] and v[COLUMN_EXCLUDE]:
            raise ConfigError(f"{COLUMN_INCLUDE} and {COLUMN_EXCLUDE} cannot both be set", key=COLUMN_EXCLUDE)
        skipped = {s.strip() for s in v[SKIPPED_OPERATIONS] or []} - {"none"}

        def t(key: str) -> tuple[str, ...]:
            return tuple(v[key] or ())

        return cls(
            hostname=v[HOSTNAME],
            port=v[PORT],
            user=v[USER],
            password=v[PASSWORD],
            dbname=v[DBNAME],
            sslmode=v[SSLMODE],
            prefix=v[TOPIC_PREFIX],
            slot=v[SLOT_NAME],
            drop_slot=v[SLOT_DROP_ON_STOP],
            publication=v[PUBLICATION_NAME],
            autocreate=v[PUBLICATION_AUTOCREATE],
            schema_include=t(SCHEMA_INCLUDE),
            schema_exclude=t(SCHEMA_EXCLUDE),
            table_include=t(TABLE_INCLUDE),
            table_exclude=t(TABLE_EXCLUDE),
            column_include=t(COLUMN_INCLUDE),
            column_exclude=t(COLUMN_EXCLUDE),
            snapshot_mode=v[SNAPSHOT_MODE],
            tombstones=v[TOMBSTONES_ON_DELETE],
            skipped=frozenset(skipped),
            decimal_mode=v[DECIMAL_HANDLING],
            placeholder=v[UNAVAILABLE_PLACEHOLDER],
            heartbeat_ms=v[HEARTBEAT_INTERVAL],
            heartbeat_prefix=v[HEARTBEAT_PREFIX],
            max_batch=v[MAX_BATCH_SIZE],
            poll_ms=v[POLL_INTERVAL],
            status_ms=v[STATUS_INTERVAL],
            max_retries=v[MAX_RETRIES],
            retry_wait_ms=v[RETRY_WAIT],
        )

    @property
    def address(self) -> str:
        return f"{self.hostname}:{self.port}"

    def dsn(self, **extra: str) -> dict[str, Any]:
        """psycopg2 connection keywords (the password stays out of every message)."""
        params: dict[str, Any] = {
            "host": self.hostname,
            "port": self.port,
            "user": self.user,
            "dbname": self.dbname,
            "sslmode": self.sslmode,
            "connect_timeout": 10,
            "application_name": "arrowsmith-postgres-cdc",
            "options": "-c TimeZone=UTC -c DateStyle=ISO -c IntervalStyle=iso_8601 -c extra_float_digits=1",
            **extra,
        }
        if self.password is not None:
            params["password"] = self.password.value
        return params
