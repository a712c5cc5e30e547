"""The JDBC connectors' keys: Confluent's names and defaults, defined once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.jdbc.url import ConnectionInfo, parse_url
from engine.spi.config import (
    CaseInsensitiveValidString,
    ConfigDef,
    Importance,
    NonEmptyString,
    Password,
    Range,
    Type,
    ValidString,
)
from engine.spi.errors import ConfigError

CONNECTION_URL = "connection.url"
CONNECTION_USER = "connection.user"
CONNECTION_PASSWORD = "connection.password"
CONNECTION_ATTEMPTS = "connection.attempts"
CONNECTION_BACKOFF_MS = "connection.backoff.ms"
DB_TIMEZONE = "db.timezone"

# source
TABLE_WHITELIST = "table.whitelist"
TABLE_BLACKLIST = "table.blacklist"
TABLE_INCLUDE_LIST = "table.include.list"
TABLE_EXCLUDE_LIST = "table.exclude.list"
SCHEMA_PATTERN = "schema.pattern"
TABLE_TYPES = "table.types"
MODE = "mode"
MODES = ("bulk", "incrementing", "timestamp", "timestamp+incrementing")
INCREMENTING_COLUMN = "incrementing.column.name"
TIMESTAMP_COLUMN = "timestamp.column.name"
TIMESTAMP_INITIAL = "timestamp.initial"
TIMESTAMP_DELAY_MS = "timestamp.delay.interval.ms"
VALIDATE_NON_NULL = "validate.non.null"
QUERY = "query"
QUERY_SUFFIX = "query.suffix"
POLL_INTERVAL_MS = "poll.interval.ms"
BATCH_MAX_ROWS = "batch.max.rows"
TABLE_POLL_INTERVAL_MS = "table.poll.interval.ms"
TOPIC_PREFIX = "topic.prefix"
TASK_TABLES = "tables"  # in task configs: the task's tables, as JSON

# sink
INSERT_MODE = "insert.mode"
BATCH_SIZE = "batch.size"
DELETE_ENABLED = "delete.enabled"
TABLE_NAME_FORMAT = "table.name.format"
PK_MODE = "pk.mode"
PK_FIELDS = "pk.fields"
FIELDS_WHITELIST = "fields.whitelist"
AUTO_CREATE = "auto.create"
AUTO_EVOLVE = "auto.evolve"
MAX_RETRIES = "max.retries"
RETRY_BACKOFF_MS = "retry.backoff.ms"

DATABASE = "Database"
MODE_GROUP = "Mode"
CONNECTOR = "Connector"
WRITES = "Writes"
DATA_MAPPING = "Data Mapping"
DDL = "DDL Support"
RETRIES = "Retries"


def _connection(d: ConfigDef) -> ConfigDef:
    return (
        d.define(
            CONNECTION_URL,
            Type.STRING,
            validator=NonEmptyString(),
            importance=Importance.HIGH,
            documentation="JDBC connection URL: jdbc:postgresql://host:port/db?user=…&password=…&sslmode=…, "
            "jdbc:sqlite:/path/to/file.db, or a plain postgresql://user:password@host:port/db or "
            "sqlite:////abs/path/to/file.db URI (SQLAlchemy style: sqlite:///relative.db).",
            group=DATABASE,
        )
        .define(
            CONNECTION_USER,
            Type.STRING,
            None,
            importance=Importance.HIGH,
            documentation="JDBC connection user (wins over a user in the URL).",
            group=DATABASE,
        )
        .define(
            CONNECTION_PASSWORD,
            Type.PASSWORD,
            None,
            importance=Importance.HIGH,
            documentation="JDBC connection password (wins over a password in the URL).",
            group=DATABASE,
        )
        .define(
            CONNECTION_ATTEMPTS,
            Type.INT,
            3,
            Range.at_least(1),
            Importance.LOW,
            "Maximum number of attempts to retrieve a valid JDBC connection. Must be a positive integer.",
            group=DATABASE,
        )
        .define(
            CONNECTION_BACKOFF_MS,
            Type.LONG,
            10000,
            Range.at_least(0),
            Importance.LOW,
            "Backoff time in milliseconds between connection attempts.",
            group=DATABASE,
        )
        .define(
            DB_TIMEZONE,
            Type.STRING,
            "UTC",
            ValidString.in_("UTC"),
            Importance.MEDIUM,
            "Name of the time zone timestamps without a zone are read and written in. Only UTC is "
            "supported: Connect timestamps are UTC instants.",
            group=DATABASE,
        )
    )


def source_config_def() -> ConfigDef:
    return (
        _connection(ConfigDef())
        .define(
            TABLE_WHITELIST,
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="List of tables to include in copying (name or schema.name). If specified, "
            "table.blacklist may not be set.",
            group=DATABASE,
        )
        .define(
            TABLE_BLACKLIST,
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="List of tables to exclude from copying. If specified, table.whitelist may not "
            "be set.",
            group=DATABASE,
        )
        .define(
            TABLE_INCLUDE_LIST,
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="List of regular expressions matching the tables to copy (matched against the "
            "name and schema.name). If specified, table.exclude.list may not be set.",
            group=DATABASE,
        )
        .define(
            TABLE_EXCLUDE_LIST,
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="List of regular expressions matching tables not to copy.",
            group=DATABASE,
        )
        .define(
            SCHEMA_PATTERN,
            Type.STRING,
            None,
            importance=Importance.MEDIUM,
            documentation="Schema pattern (SQL LIKE) to fetch table metadata from; null means every "
            "non-system schema.",
            group=DATABASE,
        )
        .define(
            TABLE_TYPES,
            Type.LIST,
            "TABLE",
            importance=Importance.LOW,
            documentation="Types of tables to copy: TABLE, VIEW.",
            group=DATABASE,
        )
        .define(
            MODE,
            Type.STRING,
            "",
            ValidString.in_("", *MODES),
            Importance.HIGH,
            "The mode for updating a table each time it is polled: bulk (the whole table each poll), "
            "incrementing (rows whose strictly increasing column is above the last one seen), timestamp "
            "(rows whose timestamp column is newer than the last one seen), timestamp+incrementing (both, "
            "the most robust).",
            group=MODE_GROUP,
        )
        .define(
            INCREMENTING_COLUMN,
            Type.STRING,
            "",
            importance=Importance.MEDIUM,
            documentation="The name of the strictly incrementing column to detect new rows. Empty: the "
            "table's single integer primary key column.",
            group=MODE_GROUP,
        )
        .define(
            TIMESTAMP_COLUMN,
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="Comma separated list of timestamp columns to detect new or modified rows; the "
            "first non-null one of each row is used (COALESCE).",
            group=MODE_GROUP,
        )
        .define(
            TIMESTAMP_INITIAL,
            Type.LONG,
            None,
            importance=Importance.LOW,
            documentation="The epoch timestamp (ms) used for initial queries with timestamp criteria; -1 "
            "uses the current time. If not specified, all data is retrieved.",
            group=MODE_GROUP,
        )
        .define(
            VALIDATE_NON_NULL,
            Type.BOOLEAN,
            True,
            importance=Importance.LOW,
            documentation="Check at startup that the incrementing and timestamp columns are NOT NULL.",
            group=MODE_GROUP,
        )
        .define(
            QUERY,
            Type.STRING,
            "",
            importance=Importance.MEDIUM,
            documentation="If specified, the query to run instead of copying whole tables; in the "
            "incremental modes the WHERE clause is appended to it.",
            group=MODE_GROUP,
        )
        .define(
            QUERY_SUFFIX,
            Type.STRING,
            "",
            importance=Importance.LOW,
            documentation="Suffix to append at the end of the generated query.",
            group=MODE_GROUP,
        )
        .define(
            TIMESTAMP_DELAY_MS,
            Type.LONG,
            0,
            Range.at_least(0),
            Importance.HIGH,
            "How long to wait after a row with a certain timestamp appears before including it, so that "
            "transactions with earlier timestamps can complete.",
            group=CONNECTOR,
        )
        .define(
            POLL_INTERVAL_MS,
            Type.INT,
            5000,
            Range.at_least(0),
            Importance.HIGH,
            "Frequency in ms to poll for new data in each table.",
            group=CONNECTOR,
        )
        .define(
            BATCH_MAX_ROWS,
            Type.INT,
            100,
            Range.at_least(1),
            Importance.LOW,
            "Maximum number of rows to include in a single batch when polling for new data (raise it to "
            "thousands for throughput: rows move as Arrow batches).",
            group=CONNECTOR,
        )
        .define(
            TABLE_POLL_INTERVAL_MS,
            Type.LONG,
            60000,
            Range.at_least(0),
            Importance.LOW,
            "Frequency in ms to poll for new or removed tables, which may result in updated task "
            "configurations to start polling for data in added tables (0: never).",
            group=CONNECTOR,
        )
        .define(
            TOPIC_PREFIX,
            Type.STRING,
            importance=Importance.HIGH,
            documentation="Prefix to prepend to table names to generate the name of the Kafka topic to "
            "publish data to, or in the case of a custom query, the full name of the topic.",
            group=CONNECTOR,
        )
    )


def sink_config_def() -> ConfigDef:
    return (
        _connection(ConfigDef())
        .define(
            INSERT_MODE,
            Type.STRING,
            "insert",
            CaseInsensitiveValidString.in_("insert", "upsert", "update"),
            Importance.HIGH,
            "The insertion mode to use: insert (plain INSERT, bulk ingest), upsert (insert or update on "
            "the primary key, through a staging table), update (UPDATE of existing rows only).",
            group=WRITES,
        )
        .define(
            BATCH_SIZE,
            Type.INT,
            3000,
            Range.at_least(1),
            Importance.MEDIUM,
            "Maximum number of records written in one statement (and transaction) when possible.",
            group=WRITES,
        )
        .define(
            DELETE_ENABLED,
            Type.BOOLEAN,
            False,
            importance=Importance.MEDIUM,
            documentation="Whether to treat null record values (tombstones) as deletes. Requires pk.mode "
            "to be record_key.",
            group=WRITES,
        )
        .define(
            TABLE_NAME_FORMAT,
            Type.STRING,
            "${topic}",
            importance=Importance.MEDIUM,
            documentation="A format string for the destination table name, which may contain '${topic}' "
            "as a placeholder for the originating topic name.",
            group=DATA_MAPPING,
        )
        .define(
            PK_MODE,
            Type.STRING,
            "none",
            CaseInsensitiveValidString.in_("none", "kafka", "record_key", "record_value"),
            Importance.HIGH,
            "The primary key mode: none, kafka (__connect_topic, __connect_partition, __connect_offset), "
            "record_key (fields of the key), record_value (fields of the value).",
            group=DATA_MAPPING,
        )
        .define(
            PK_FIELDS,
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="List of comma-separated primary key field names; their meaning depends on "
            "pk.mode (kafka: three names for topic, partition, offset; record_key: the key's fields, or "
            "one name for a primitive key; record_value: value fields; empty: all of them).",
            group=DATA_MAPPING,
        )
        .define(
            FIELDS_WHITELIST,
            Type.LIST,
            "",
            importance=Importance.MEDIUM,
            documentation="List of comma-separated record value field names; empty: all fields.",
            group=DATA_MAPPING,
        )
        .define(
            AUTO_CREATE,
            Type.BOOLEAN,
            False,
            importance=Importance.MEDIUM,
            documentation="Whether to automatically create the destination table based on record schema "
            "(CREATE TABLE).",
            group=DDL,
        )
        .define(
            AUTO_EVOLVE,
            Type.BOOLEAN,
            False,
            importance=Importance.MEDIUM,
            documentation="Whether to automatically add columns to the table for new optional fields "
            "(ALTER TABLE … ADD COLUMN).",
            group=DDL,
        )
        .define(
            MAX_RETRIES,
            Type.INT,
            10,
            Range.at_least(0),
            Importance.MEDIUM,
            "The maximum number of times to retry on errors before failing the task.",
            group=RETRIES,
        )
        .define(
            RETRY_BACKOFF_MS,
            Type.INT,
            3000,
            Range.at_least(0),
            Importance.MEDIUM,
            "The time in milliseconds to wait following an error before a retry attempt is made.",
            group=RETRIES,
        )
    )


def connection_info(cfg: Mapping[str, Any]) -> ConnectionInfo:
    password = cfg.get(CONNECTION_PASSWORD)
    return parse_url(
        cfg[CONNECTION_URL],
        cfg.get(CONNECTION_USER),
        password.value if isinstance(password, Password) else password,
    )


def require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise ConfigError(message, key=key)
