"""Config validators of Kafka 4.x transforms that ``engine.spi.config`` has no twin for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.spi.config import Validator
from engine.spi.errors import ConfigError


@dataclass(frozen=True, slots=True)
class AnyValues:
    """Kafka 4's ``ConfigDef.ValidList.anyNonDuplicateValues(emptyAllowed, false)`` on a LIST key.

    The value may not be null (``Configuration 'fields' values must not be null.``, seen when
    the key is missing), no item may be blank (``Configuration 'fields' values must not be
    empty.``) and, unless ``empty_allowed``, the list must have an item (``Configuration
    'fields' must not be empty. Valid values include: any non-empty value``). Duplicates pass,
    as they do in Kafka.
    """

    empty_allowed: bool

    def __call__(self, name: str, value: Any) -> None:
        if value is None:
            raise ConfigError(f"Configuration '{name}' values must not be null.", key=name)
        items = list(value)
        if not items and not self.empty_allowed:
            raise ConfigError(
                f"Configuration '{name}' must not be empty. Valid values include: any non-empty value",
                key=name,
            )
        if any(not str(item) for item in items):
            raise ConfigError(f"Configuration '{name}' values must not be empty.", key=name)

    def __str__(self) -> str:
        return ""


NON_EMPTY_LIST: Validator = AnyValues(empty_allowed=False)
"""A LIST that needs at least one non-blank item (MaskField/ValueToKey ``fields``)."""

ANY_LIST: Validator = AnyValues(empty_allowed=True)
"""A LIST that may be empty but has no blank item (ReplaceField ``include``/``exclude``)."""
