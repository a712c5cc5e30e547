"""TopicNameMatches: true when the whole topic name matches ``pattern`` (Kafka's ``TopicNameMatches``).

``pattern`` is a Java regex run on Python's ``re`` (see :mod:`engine.transforms._java_regex`);
it runs once per distinct topic of a batch. A null topic never matches.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from engine.spi import record
from engine.spi.config import NO_DEFAULT, CompositeValidator, ConfigDef, Importance, NonEmptyString, Type
from engine.spi.transform import Predicate
from engine.transforms._distinct import map_distinct
from engine.transforms._java_regex import compile_java
from engine.transforms.regex_router import VALID_REGEX

PATTERN = "pattern"


class TopicNameMatches(Predicate):
    """``org.apache.kafka.connect.transforms.predicates.TopicNameMatches``."""

    aliases = ("org.apache.kafka.connect.transforms.predicates.TopicNameMatches",)

    def __init__(self) -> None:
        self._pattern: re.Pattern[str] = re.compile("(?!)")

    @classmethod
    def config_def(cls) -> ConfigDef:
        return ConfigDef().define(
            PATTERN,
            Type.STRING,
            NO_DEFAULT,
            CompositeValidator.of(NonEmptyString(), VALID_REGEX),
            Importance.MEDIUM,
            "A Java regular expression for matching against the name of a record's topic.",
        )

    def configure(self, configs: Mapping[str, str]) -> None:
        self._pattern = compile_java(str(self.config_def().parse(configs)[PATTERN]))

    def _matches(self, topic: str) -> bool:
        return self._pattern.fullmatch(topic) is not None

    def test(self, batch: pa.RecordBatch) -> pa.BooleanArray:
        topics = batch.column(record.TOPIC)
        if len(topics) == 0:
            return pa.array([], pa.bool_())
        mask: pa.BooleanArray = pc.fill_null(map_distinct(topics, self._matches, pa.bool_()), False)
        return mask

    def __repr__(self) -> str:
        return f"TopicNameMatches{{pattern={self._pattern.pattern}}}"
