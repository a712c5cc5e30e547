"""Declarative configuration: Kafka Connect's ``ConfigDef``, in Python.

A plugin declares its keys once::

    CONFIG_DEF = (
        ConfigDef()
        .define("topic", Type.STRING, NO_DEFAULT, NonEmptyString(), Importance.HIGH, "Topic to write to.")
        .define("batch.size", Type.INT, 2000, Range.at_least(1), Importance.LOW, "Rows per batch.")
    )

and that one definition parses and types the values (:meth:`ConfigDef.parse`), answers
``PUT /connector-plugins/{p}/config/validate`` (:meth:`ConfigDef.validate`,
:func:`validation_result`), masks passwords, and writes the reference pages
(:meth:`ConfigDef.to_markdown`).

Parsing, validators and every message follow Kafka's ``ConfigDef`` so that clients matching on
error texts keep working: values are trimmed, ``Missing required configuration "k" which has
no default value.``, ``Invalid value v for configuration k: <reason>``, ``Value must be at least
1``, ``String must be one of: a, b`` …  As in Kafka, a key's validator runs even when parsing
failed or a required key is missing (it then sees ``None``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, Protocol

from engine.spi.errors import ConfigError

HIDDEN: Final = "[hidden]"
NULL_VALUE_MESSAGE: Final = "Null value can not be supplied as the configuration value."
"""What Kafka's herder reports for a connector config key whose value is null (validation step 6)."""


class Type(StrEnum):
    BOOLEAN = "BOOLEAN"
    STRING = "STRING"
    INT = "INT"
    SHORT = "SHORT"
    LONG = "LONG"
    DOUBLE = "DOUBLE"
    LIST = "LIST"
    CLASS = "CLASS"
    PASSWORD = "PASSWORD"


class Importance(StrEnum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class Width(StrEnum):
    NONE = "NONE"
    SHORT = "SHORT"
    MEDIUM = "MEDIUM"
    LONG = "LONG"


class _NoDefault:
    """The type of :data:`NO_DEFAULT`: one instance, survives pickling as itself."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_DEFAULT"

    def __reduce__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Final = _NoDefault()
"""Default of a required key: parsing fails when the key is missing."""


@dataclass(frozen=True, slots=True, repr=False)
class Password:
    """A secret. ``str()``/``repr()`` give ``[hidden]``; ``.value`` gives the secret."""

    value: str

    def __str__(self) -> str:
        return HIDDEN

    def __repr__(self) -> str:
        return HIDDEN


# --------------------------------------------------------------------------- rendering


def _class_path(cls: type) -> str:
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _java_double(d: float) -> str:
    """``Double.toString``: ``1.0``, ``0.001``, ``1.0E7``, ``1.5E-4``, ``NaN``, ``Infinity``."""
    if math.isnan(d):
        return "NaN"
    if math.isinf(d):
        return "Infinity" if d > 0 else "-Infinity"
    if d == 0:
        return "-0.0" if math.copysign(1.0, d) < 0 else "0.0"
    if 1e-3 <= abs(d) < 1e7:
        text = repr(d)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(d)).normalize().as_tuple()
    assert isinstance(exponent, int)
    mantissa = "".join(map(str, digits))
    exp10 = len(mantissa) - 1 + exponent
    return f"{'-' if sign else ''}{mantissa[0]}.{mantissa[1:] or '0'}E{exp10}"


def _java_str(value: Any) -> str:
    """How Java's ``toString`` shows a value inside an error message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_java_str(v) for v in value) + "]"
    if isinstance(value, type):
        return _class_path(value)
    return str(value)


def convert_to_string(value: Any, type: Type | None = None) -> str | None:
    """A parsed value as the REST API shows it (Kafka's ``ConfigDef.convertToString``).

    None stays None; booleans are ``true``/``false``; lists are joined with ``,``; classes
    give their dotted path; passwords (by value or by ``type``) give ``[hidden]``.
    """
    if value is None:
        return None
    if isinstance(value, Password) or type is Type.PASSWORD:
        return HIDDEN
    if isinstance(value, list | tuple):
        return ",".join(_java_str(v) for v in value)
    return _java_str(value)


def _invalid(name: str, value: Any, reason: str) -> str:
    return f"Invalid value {_java_str(value)} for configuration {name}: {reason}"


def _missing(name: str) -> str:
    return f'Missing required configuration "{name}" which has no default value.'


# --------------------------------------------------------------------------- type parsing


class _Reject(Exception):
    """A value does not parse; ``reason`` is Kafka's text for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_JAVA_WHITESPACE = "".join(chr(c) for c in range(0x21))
_LIST_SEPARATOR = re.compile(r"[ \t\n\x0b\f\r]*,[ \t\n\x0b\f\r]*")
_JAVA_INTEGER = re.compile(r"[+-]?[0-9]+")
_JAVA_DECIMAL = re.compile(r"[+-]?(NaN|Infinity|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?[fFdD]?)")
_JAVA_HEX_FLOAT = re.compile(
    r"([+-]?)(0[xX]([0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+)[fFdD]?"
)
_INTEGER_BOUNDS: Final = {
    Type.SHORT: (-(2**15), 2**15 - 1),
    Type.INT: (-(2**31), 2**31 - 1),
    Type.LONG: (-(2**63), 2**63 - 1),
}
_INTEGER_WORDS: Final = {
    Type.SHORT: "a 16-bit integer (short)",
    Type.INT: "a 32-bit integer",
    Type.LONG: "a 64-bit integer (long)",
}


def _trim(s: str) -> str:
    """Java's ``String.trim``: drop every character up to U+0020 at both ends."""
    return s.strip(_JAVA_WHITESPACE)


def _it_was_a(value: Any) -> str:
    return f"but it was a {_class_path(type(value))}"


def _parse_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = _trim(value).lower()
        if lowered in ("true", "false"):
            return lowered == "true"
    raise _Reject("Expected value to be either true or false")


def _parse_string(value: Any) -> str:
    if isinstance(value, str):
        return _trim(value)
    raise _Reject(f"Expected value to be a string, {_it_was_a(value)}")


def _parse_password(value: Any) -> Password:
    if isinstance(value, Password):
        return value
    if isinstance(value, str):
        return Password(_trim(value))
    raise _Reject(f"Expected value to be a string, {_it_was_a(value)}")


def _parse_integer(value: Any, type: Type) -> int:
    low, high = _INTEGER_BOUNDS[type]
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str):
        text = _trim(value)
        if not _JAVA_INTEGER.fullmatch(text):
            raise _Reject(f"Not a number of type {type}")
        number = int(text)
    else:
        raise _Reject(f"Expected value to be {_INTEGER_WORDS[type]}, {_it_was_a(value)}")
    if not low <= number <= high:
        raise _Reject(f"Not a number of type {type}")
    return number


def _parse_double(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise _Reject(f"Expected value to be a double, {_it_was_a(value)}")
    text = _trim(value)
    if _JAVA_DECIMAL.fullmatch(text):
        return float(text.rstrip("fFdD").replace("Infinity", "inf"))
    hexed = _JAVA_HEX_FLOAT.fullmatch(text)
    if hexed:
        return float.fromhex(hexed.group(1) + hexed.group(2))
    raise _Reject(f"Not a number of type {Type.DOUBLE}")


def _parse_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, str):
        text = _trim(value)
        return _LIST_SEPARATOR.split(text) if text else []
    raise _Reject("Expected a comma separated list.")


def _parse_class(value: Any) -> str | type:
    if isinstance(value, type):
        return value
    if isinstance(value, str):
        text = _trim(value)
        if not text:
            raise _Reject(f"Class {value} could not be found.")
        return text
    raise _Reject("Expected a Class instance or class name.")


def parse_type(name: str, value: Any, type: Type) -> Any:
    """Parse one value as Kafka's ``ConfigDef.parseType`` does; None stays None.

    Raises ConfigError('Invalid value v for configuration name: reason', key=name). The value
    of a PASSWORD key is shown as ``[hidden]``.
    """
    if value is None:
        return None
    try:
        match type:
            case Type.BOOLEAN:
                return _parse_boolean(value)
            case Type.STRING:
                return _parse_string(value)
            case Type.PASSWORD:
                return _parse_password(value)
            case Type.INT | Type.SHORT | Type.LONG:
                return _parse_integer(value, type)
            case Type.DOUBLE:
                return _parse_double(value)
            case Type.LIST:
                return _parse_list(value)
            case Type.CLASS:
                return _parse_class(value)
    except _Reject as rejected:
        shown = HIDDEN if type is Type.PASSWORD else value
        raise ConfigError(_invalid(name, shown, rejected.reason), key=name) from None
    raise AssertionError(f"unknown config type {type!r}")


# --------------------------------------------------------------------------- validators


class Validator(Protocol):
    """Checks one parsed value; raises ConfigError naming the key. ``str()`` describes it for docs."""

    def __call__(self, name: str, value: Any) -> None: ...

    def __str__(self) -> str: ...


class Recommender(Protocol):
    """Valid values and visibility of a key given the other parsed values (for validate)."""

    def valid_values(self, name: str, parsed: Mapping[str, Any]) -> list[Any]: ...

    def visible(self, name: str, parsed: Mapping[str, Any]) -> bool: ...


def _reject(name: str, value: Any, reason: str) -> ConfigError:
    return ConfigError(_invalid(name, value, reason), key=name)


@dataclass(frozen=True, slots=True)
class Range:
    """A numeric range, both ends inclusive (``Range.at_least(1)``, ``Range.between(0, 10)``)."""

    min: int | float | None = None
    max: int | float | None = None

    @classmethod
    def at_least(cls, min: int | float) -> Range:
        return cls(min, None)

    @classmethod
    def between(cls, min: int | float, max: int | float) -> Range:
        return cls(min, max)

    def __call__(self, name: str, value: Any) -> None:
        if value is None:
            raise _reject(name, None, "Value must be non-null")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _reject(name, value, "Value must be a number")
        if self.min is not None and value < self.min:
            raise _reject(name, value, f"Value must be at least {_java_str(self.min)}")
        if self.max is not None and value > self.max:
            raise _reject(name, value, f"Value must be no more than {_java_str(self.max)}")

    def __str__(self) -> str:
        low = "" if self.min is None else _java_str(self.min) + ","
        high = "" if self.max is None else "," + _java_str(self.max)
        return f"[{low}...{high}]"


@dataclass(frozen=True, slots=True)
class ValidString:
    """The value must be one of these strings (case-sensitive)."""

    valid: tuple[str, ...]

    @classmethod
    def in_(cls, *values: str) -> ValidString:
        return cls(tuple(values))

    def __call__(self, name: str, value: Any) -> None:
        if value not in self.valid:
            raise _reject(name, value, "String must be one of: " + ", ".join(self.valid))

    def __str__(self) -> str:
        return "[" + ", ".join(self.valid) + "]"


@dataclass(frozen=True, slots=True)
class CaseInsensitiveValidString:
    """The value must be one of these strings, ignoring case (shown upper-cased, as Kafka does)."""

    valid: tuple[str, ...]

    @classmethod
    def in_(cls, *values: str) -> CaseInsensitiveValidString:
        return cls(tuple(dict.fromkeys(v.upper() for v in values)))

    def __call__(self, name: str, value: Any) -> None:
        if not isinstance(value, str) or value.upper() not in self.valid:
            raise _reject(name, value, "String must be one of (case insensitive): " + ", ".join(self.valid))

    def __str__(self) -> str:
        return "(case insensitive) [" + ", ".join(self.valid) + "]"


@dataclass(frozen=True, slots=True)
class ValidList:
    """Every item of a LIST value must be one of these strings; None passes."""

    valid: tuple[str, ...]

    @classmethod
    def in_(cls, *values: str) -> ValidList:
        return cls(tuple(values))

    def __call__(self, name: str, value: Any) -> None:
        check = ValidString(self.valid)
        for item in value or ():
            check(name, item)

    def __str__(self) -> str:
        return str(ValidString(self.valid))


@dataclass(frozen=True, slots=True)
class NonEmptyString:
    """The value must not be the empty string; None passes."""

    def __call__(self, name: str, value: Any) -> None:
        if value == "":
            raise _reject(name, value, "String must be non-empty")

    def __str__(self) -> str:
        return "non-empty string"


@dataclass(frozen=True, slots=True)
class NonEmptyStringWithoutControlChars:
    """Not empty and no ISO control characters (Kafka's check of connector names); None passes."""

    def __call__(self, name: str, value: Any) -> None:
        if value is None:
            return
        if value == "":
            raise _reject(name, value, "String may not be empty")
        found = [str(ord(c)) for c in str(value) if ord(c) <= 0x1F or 0x7F <= ord(c) <= 0x9F]
        if found:
            raise _reject(
                name,
                value,
                "String may not contain control sequences but had the following ASCII chars: "
                + ", ".join(found),
            )

    def __str__(self) -> str:
        return "non-empty string without ISO control characters"


@dataclass(frozen=True, slots=True)
class NonNullValidator:
    """The value must not be None."""

    def __call__(self, name: str, value: Any) -> None:
        if value is None:
            raise _reject(name, None, "entry must be non null")

    def __str__(self) -> str:
        return "non-null string"


@dataclass(frozen=True, slots=True)
class LambdaValidator:
    """A validator from a function and a description.

    ``fn(name, value)`` raises ConfigError with the full message, or any ValueError/TypeError
    whose text is the reason (it becomes ``Invalid value v for configuration name: reason``).
    """

    fn: Callable[[str, Any], None]
    description: str

    def __call__(self, name: str, value: Any) -> None:
        try:
            self.fn(name, value)
        except ConfigError:
            raise
        except (ValueError, TypeError) as err:
            raise _reject(name, value, str(err)) from err

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True, slots=True)
class CompositeValidator:
    """Runs each validator in turn; the first failure wins."""

    validators: tuple[Validator, ...]

    @classmethod
    def of(cls, *validators: Validator) -> CompositeValidator:
        return cls(tuple(validators))

    def __call__(self, name: str, value: Any) -> None:
        for validator in self.validators:
            validator(name, value)

    def __str__(self) -> str:
        return ", ".join(str(v) for v in self.validators)


@dataclass(frozen=True, slots=True)
class _EmbeddedValidator:
    """Kafka's embedded validator: the base sees the key without its prefix (so do its messages)."""

    prefix: str
    base: Validator

    def __call__(self, name: str, value: Any) -> None:
        try:
            self.base(name.removeprefix(self.prefix), value)
        except ConfigError as err:
            raise ConfigError(str(err), key=name) from err

    def __str__(self) -> str:
        return str(self.base)


@dataclass(frozen=True, slots=True)
class _EmbeddedRecommender:
    prefix: str
    base: Recommender

    def _unprefixed(self, parsed: Mapping[str, Any]) -> dict[str, Any]:
        n = len(self.prefix)
        return {k[n:]: v for k, v in parsed.items() if k.startswith(self.prefix)}

    def valid_values(self, name: str, parsed: Mapping[str, Any]) -> list[Any]:
        return self.base.valid_values(name.removeprefix(self.prefix), self._unprefixed(parsed))

    def visible(self, name: str, parsed: Mapping[str, Any]) -> bool:
        return self.base.visible(name.removeprefix(self.prefix), self._unprefixed(parsed))


# --------------------------------------------------------------------------- keys and values


@dataclass(frozen=True, slots=True)
class ConfigKey:
    """One defined key. ``default`` is the parsed default, or :data:`NO_DEFAULT` when required."""

    name: str
    type: Type
    default: Any
    validator: Validator | None
    importance: Importance
    documentation: str
    group: str | None
    order_in_group: int
    width: Width
    display_name: str
    dependents: tuple[str, ...]
    recommender: Recommender | None
    internal: bool

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT


@dataclass(slots=True)
class ConfigValue:
    """The validation result of one key (Kafka's ``ConfigValue``)."""

    name: str
    value: Any = None
    recommended_values: list[Any] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    visible: bool = True

    def to_json(self) -> dict[str, Any]:
        """The REST ``ConfigValueInfo``; values as strings, passwords as ``[hidden]``."""
        return {
            "name": self.name,
            "value": convert_to_string(self.value),
            "recommended_values": [convert_to_string(v) for v in self.recommended_values],
            "errors": list(self.errors),
            "visible": self.visible,
        }


def _fresh(value: Any) -> Any:
    """A default handed out to a caller: lists are copied so nobody mutates the definition."""
    return list(value) if isinstance(value, list) else value


_IMPORTANCE_RANK: Final = {Importance.HIGH: 0, Importance.MEDIUM: 1, Importance.LOW: 2}


# --------------------------------------------------------------------------- the definition


def _embedded(prefix: str, group: str, order: int, key: ConfigKey) -> ConfigKey:
    validator = None if key.validator is None else _EmbeddedValidator(prefix, key.validator)
    recommender = None if key.recommender is None else _EmbeddedRecommender(prefix, key.recommender)
    return replace(
        key,
        name=prefix + key.name,
        validator=validator,
        group=group if key.group is None else f"{group}: {key.group}",
        order_in_group=order,
        dependents=tuple(prefix + d for d in key.dependents),
        recommender=recommender,
    )


class ConfigDef:
    """A set of typed configuration keys. ``ConfigDef(base)`` starts from a copy of ``base``."""

    def __init__(self, base: ConfigDef | None = None) -> None:
        self._keys: dict[str, ConfigKey] = dict(base._keys) if base is not None else {}
        self._groups: list[str] = list(base._groups) if base is not None else []

    def __repr__(self) -> str:
        return f"ConfigDef({list(self._keys)})"

    def define(
        self,
        name: str,
        type: Type,
        default: Any = NO_DEFAULT,
        validator: Validator | None = None,
        importance: Importance = Importance.MEDIUM,
        documentation: str = "",
        *,
        group: str | None = None,
        order_in_group: int = -1,
        width: Width = Width.NONE,
        display_name: str | None = None,
        dependents: Sequence[str] = (),
        recommender: Recommender | None = None,
        internal: bool = False,
    ) -> ConfigDef:
        """Add a key; the default is parsed and validated now. Returns self, for chaining.

        Raises ConfigError (a ValueError) for a duplicate name or a bad default.
        """
        if default is not NO_DEFAULT:
            default = parse_type(name, default, type)
            if validator is not None:
                validator(name, default)
        key = ConfigKey(
            name=name,
            type=Type(type),
            default=default,
            validator=validator,
            importance=Importance(importance),
            documentation=documentation,
            group=group,
            order_in_group=order_in_group,
            width=Width(width),
            display_name=name if display_name is None else display_name,
            dependents=tuple(dependents),
            recommender=recommender,
            internal=internal,
        )
        return self._add(key)

    def _add(self, key: ConfigKey) -> ConfigDef:
        if key.name in self._keys:
            raise ConfigError(f"Configuration {key.name} is defined twice.", key=key.name)
        if key.group is not None and key.group not in self._groups:
            self._groups.append(key.group)
        self._keys[key.name] = key
        return self

    def keys(self) -> Mapping[str, ConfigKey]:
        """The keys by name, in definition order (a read-only view)."""
        return MappingProxyType(self._keys)

    def names(self) -> list[str]:
        return list(self._keys)

    def groups(self) -> list[str]:
        """Group names in the order they were first seen."""
        return list(self._groups)

    def merge(self, other: ConfigDef) -> ConfigDef:
        """A new definition with the keys of both; on a name clash the key of ``self`` wins."""
        merged = ConfigDef(self)
        for key in other._keys.values():
            if key.name not in merged._keys:
                merged._add(key)
        return merged

    def embed(self, prefix: str, group: str, start_order: int, child: ConfigDef) -> ConfigDef:
        """Add ``child``'s keys under ``prefix`` (``transforms.<alias>.``); returns self.

        As Kafka's ``embed``: keys come in the child's documentation order, their group becomes
        ``group`` (or ``group: <child group>``), their order counts up from ``start_order``;
        validators and recommenders see the names without the prefix.
        """
        for order, key in enumerate(child._sorted_keys(), start=start_order):
            self._add(_embedded(prefix, group, order, key))
        return self

    def _undefined_dependents(self) -> list[str]:
        seen = (d for key in self._keys.values() for d in key.dependents)
        return list(dict.fromkeys(d for d in seen if d not in self._keys))

    def parse(self, props: Mapping[str, Any]) -> dict[str, Any]:
        """Typed values of every defined key; raises ConfigError at the first problem.

        Keys of ``props`` that are not defined are ignored.
        """
        undefined = self._undefined_dependents()
        if undefined:
            raise ConfigError(
                "Some configurations in are referred in the dependents, but not defined: "
                + ",".join(undefined)
            )
        values: dict[str, Any] = {}
        for key in self._keys.values():
            if key.name in props:
                value = parse_type(key.name, props[key.name], key.type)
            elif key.required:
                raise ConfigError(_missing(key.name), key=key.name)
            else:
                value = _fresh(key.default)
            if key.validator is not None:
                key.validator(key.name, value)
            values[key.name] = value
        return values

    def validate(self, props: Mapping[str, Any]) -> list[ConfigValue]:
        """A ConfigValue per defined key (definition order), every error collected.

        Kafka's ``validateAll``: parse and check every key, then ask recommenders for valid
        values and visibility given all parsed values. A dependent that is not defined gets an
        invisible ConfigValue with an error, at the end.
        """
        results: dict[str, ConfigValue] = {name: ConfigValue(name) for name in self._keys}
        for name in self._undefined_dependents():
            results[name] = ConfigValue(
                name, errors=[f"{name} is referred in the dependents, but not defined."], visible=False
            )
        parsed: dict[str, Any] = {}
        for key in self._keys.values():
            parsed[key.name] = self._validate_value(key, props, results[key.name])
        for key in self._keys.values():
            if key.recommender is not None:
                self._recommend(key, key.recommender, parsed, results[key.name])
        return list(results.values())

    @staticmethod
    def _validate_value(key: ConfigKey, props: Mapping[str, Any], result: ConfigValue) -> Any:
        value: Any = None
        if key.name in props:
            try:
                value = parse_type(key.name, props[key.name], key.type)
            except ConfigError as err:
                result.errors.append(str(err))
        elif key.required:
            result.errors.append(_missing(key.name))
        else:
            value = _fresh(key.default)
        if key.validator is not None:
            try:
                key.validator(key.name, value)
            except ConfigError as err:
                result.errors.append(str(err))
        result.value = value
        return value

    @staticmethod
    def _recommend(
        key: ConfigKey, recommender: Recommender, parsed: Mapping[str, Any], result: ConfigValue
    ) -> None:
        try:
            recommended = list(recommender.valid_values(key.name, parsed))
            if result.recommended_values:
                recommended = [v for v in recommended if v in result.recommended_values]
            result.recommended_values = recommended
            result.visible = recommender.visible(key.name, parsed)
        except ConfigError as err:
            result.errors.append(str(err))

    def config_key_info(self, key: ConfigKey) -> dict[str, Any]:
        """The REST ``ConfigKeyInfo`` of a key."""
        return config_key_info(key)

    def _sorted_keys(self) -> list[ConfigKey]:
        """Kafka's documentation order: by group, order in group, required first, importance, name."""
        group_rank = {g: i for i, g in enumerate(self._groups)}

        def rank(key: ConfigKey) -> tuple[int, int, int, int, int, str]:
            return (
                0 if key.group is None else 1,
                -1 if key.group is None else group_rank[key.group],
                key.order_in_group,
                0 if key.required else 1,
                _IMPORTANCE_RANK[key.importance],
                key.name,
            )

        return sorted(self._keys.values(), key=rank)

    def to_markdown(self, title: str | None = None) -> str:
        """A reference section: one heading per (non-internal) key with its doc and facts."""
        lines: list[str] = [f"## {title}", ""] if title else []
        keys = [k for k in self._sorted_keys() if not k.internal]
        if not keys:
            lines += ["No configuration keys.", ""]
        for key in keys:
            lines += _markdown_key(key)
        return "\n".join(lines).rstrip("\n") + "\n"


def config_key_info(key: ConfigKey) -> dict[str, Any]:
    """The REST ``ConfigKeyInfo`` of a key (the serialized name of ``order_in_group`` is ``order``)."""
    return {
        "name": key.name,
        "type": str(key.type),
        "required": key.required,
        "default_value": None if key.required else convert_to_string(key.default, key.type),
        "importance": str(key.importance),
        "documentation": key.documentation,
        "group": key.group,
        "width": str(key.width),
        "display_name": key.display_name,
        "dependents": list(key.dependents),
        "order": key.order_in_group,
    }


def validation_result(
    name: str, config_def: ConfigDef, values: Sequence[ConfigValue], groups: Sequence[str]
) -> dict[str, Any]:
    """The ``PUT /connector-plugins/{p}/config/validate`` body (Kafka's ``ConfigInfos``).

    ``configs`` lists values for undefined keys first (``definition`` null), then every defined
    key in definition order (``value`` null when it was not validated). ``error_count`` counts
    error messages.
    """
    keys = config_def.keys()
    by_name: dict[str, ConfigValue] = {}
    configs: list[dict[str, Any]] = []
    error_count = 0
    for value in values:
        by_name[value.name] = value
        if value.name not in keys:
            configs.append({"definition": None, "value": value.to_json()})
            error_count += len(value.errors)
    for key in keys.values():
        validated = by_name.get(key.name)
        if validated is not None:
            error_count += len(validated.errors)
        configs.append(
            {
                "definition": config_key_info(key),
                "value": None if validated is None else _value_info(validated, key.type),
            }
        )
    return {"name": name, "error_count": error_count, "groups": list(groups), "configs": configs}


def _value_info(value: ConfigValue, type: Type) -> dict[str, Any]:
    info = value.to_json()
    info["value"] = convert_to_string(value.value, type)
    item_type = Type.STRING if type is Type.LIST else type
    info["recommended_values"] = [convert_to_string(v, item_type) for v in value.recommended_values]
    return info


# --------------------------------------------------------------------------- docs


def _nice_time(millis: int) -> str:
    value, unit = millis, ""
    for divisor, name in ((1000, "second"), (60, "minute"), (60, "hour"), (24, "day")):
        if value == 0 or value % divisor:
            break
        value, unit = value // divisor, name
    return f" ({value} {unit}{'s' if value > 1 else ''})" if unit else ""


def _nice_bytes(count: int) -> str:
    value, unit = count, ""
    for name in ("kibibyte", "mebibyte", "gibibyte", "tebibyte"):
        if value == 0 or value % 1024:
            break
        value, unit = value // 1024, name
    return f" ({value} {unit}{'' if value == 1 else 's'})" if unit else ""


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _markdown_default(key: ConfigKey) -> str:
    text = convert_to_string(key.default, key.type)
    if text is None:
        return "null"
    if text == "":
        return '""'
    suffix = ""
    if isinstance(key.default, int) and not isinstance(key.default, bool):
        if key.name.endswith(".bytes"):
            suffix = _nice_bytes(key.default)
        elif key.name.endswith(".ms"):
            suffix = _nice_time(key.default)
    return _code(text) + suffix


def _markdown_key(key: ConfigKey) -> list[str]:
    lines = [f"### `{key.name}`", ""]
    if key.documentation.strip():
        lines += [key.documentation.strip(), ""]
    lines.append(f"* Type: {key.type.lower()}")
    lines.append("* Required: yes" if key.required else f"* Default: {_markdown_default(key)}")
    if key.validator is not None and str(key.validator):
        lines.append(f"* Valid values: {_code(str(key.validator))}")
    lines.append(f"* Importance: {key.importance.lower()}")
    if key.dependents:
        lines.append("* Dependents: " + ", ".join(_code(d) for d in key.dependents))
    return [*lines, ""]


# --------------------------------------------------------------------------- parsed configs


class AbstractConfig:
    """Parsed values of a definition, with typed getters (Kafka's ``AbstractConfig``).

    The typed getters return the value's type and raise ConfigError when the value is None
    (a key whose default is null and that was not set); use :meth:`get` for such keys.
    """

    def __init__(self, definition: ConfigDef, props: Mapping[str, Any]) -> None:
        self.definition = definition
        self.originals: dict[str, Any] = dict(props)
        self.values: dict[str, Any] = definition.parse(props)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.values!r})"

    def get(self, key: str) -> Any:
        if key not in self.values:
            raise ConfigError(f"Unknown configuration '{key}'", key=key)
        return self.values[key]

    def _typed(self, key: str, kind: type | tuple[type, ...]) -> Any:
        value = self.get(key)
        if value is None:
            raise ConfigError(f"Configuration '{key}' has no value", key=key)
        if not isinstance(value, kind):
            raise ConfigError(f"Configuration '{key}' is a {_class_path(type(value))}", key=key)
        return value

    def get_int(self, key: str) -> int:
        value: int = self._typed(key, int)
        return value

    def get_long(self, key: str) -> int:
        return self.get_int(key)

    def get_double(self, key: str) -> float:
        value: float = self._typed(key, (int, float))
        return float(value)

    def get_bool(self, key: str) -> bool:
        value: bool = self._typed(key, bool)
        return value

    def get_str(self, key: str) -> str:
        value: str = self._typed(key, str)
        return value

    def get_list(self, key: str) -> list[str]:
        value: list[str] = self._typed(key, list)
        return list(value)

    def get_password(self, key: str) -> Password:
        value: Password = self._typed(key, Password)
        return value

    def originals_with_prefix(self, prefix: str, strip: bool = True) -> dict[str, Any]:
        """The original entries whose key starts with ``prefix`` (and is longer), prefix stripped."""
        return {
            (k[len(prefix) :] if strip else k): v
            for k, v in self.originals.items()
            if k.startswith(prefix) and len(k) > len(prefix)
        }
