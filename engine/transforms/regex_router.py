"""RegexRouter: rename topics with a regex and a replacement (Kafka's ``RegexRouter``).

When the *whole* topic name matches ``regex``, the topic becomes ``replaceFirst`` of the
replacement (``$1``, ``${name}`` group references, ``\\$`` for a dollar); other topics, and
the partition, are kept. The regex is a Java regex run on Python's ``re`` (see
:mod:`engine.transforms._java_regex` for the few differences); it runs once per distinct
topic of a batch, not once per record. A replacement that names a group the regex does not
have is a config error here (Kafka fails on the first matching record instead).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from engine.spi import record
from engine.spi.config import NO_DEFAULT, ConfigDef, Importance, LambdaValidator, Type
from engine.spi.errors import ConfigError
from engine.spi.transform import Transformation
from engine.transforms._common import replace_column
from engine.transforms._distinct import map_distinct
from engine.transforms._java_regex import JavaRegexError, compile_java, java_replacement

REGEX = "regex"
REPLACEMENT = "replacement"
_REGEX_DOC = "Regular expression to use for matching."


def check_regex(name: str, value: Any) -> None:
    """Kafka's ``RegexValidator``: ``Invalid value x for configuration k: Invalid regex: …``."""
    if value is None:
        return  # reported as missing
    try:
        compile_java(str(value))
    except JavaRegexError as err:
        raise ValueError(f"Invalid regex: {err}") from None


VALID_REGEX = LambdaValidator(check_regex, "valid regex")


class RegexRouter(Transformation):
    """``org.apache.kafka.connect.transforms.RegexRouter``."""

    aliases = ("org.apache.kafka.connect.transforms.RegexRouter",)

    def __init__(self) -> None:
        self._regex: re.Pattern[str] = re.compile("(?!)")
        self._template = ""

    @classmethod
    def config_def(cls) -> ConfigDef:
        return (
            ConfigDef()
            .define(
                REGEX,
                Type.STRING,
                NO_DEFAULT,
                VALID_REGEX,
                Importance.HIGH,
                "Regular expression to use for matching.",
            )
            .define(REPLACEMENT, Type.STRING, NO_DEFAULT, None, Importance.HIGH, "Replacement string.")
        )

    def configure(self, configs: Mapping[str, str]) -> None:
        values = self.config_def().parse(configs)
        self._regex = compile_java(values[REGEX])
        replacement = str(values[REPLACEMENT])
        try:
            self._template = java_replacement(replacement, self._regex.groups, set(self._regex.groupindex))
        except JavaRegexError as err:
            raise ConfigError(
                f"Invalid value {replacement} for configuration {REPLACEMENT}: {err}", key=REPLACEMENT
            ) from None

    def _route(self, topic: str) -> str:
        if self._regex.fullmatch(topic) is None:
            return topic
        return self._regex.sub(self._template, topic, count=1)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        topics = batch.column(record.TOPIC)
        if len(topics) == 0:
            return batch
        routed = map_distinct(topics, self._route, pa.string())
        field = batch.schema.field(record.TOPIC)
        return replace_column(batch, record.TOPIC, field.with_type(routed.type), routed)
