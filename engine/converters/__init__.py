"""The built-in converters: JSON, string, byte array and the simple header converter.

They are written like third-party plugins (they import only ``engine.spi``) and register
through the ``arrowsmith.converters`` / ``arrowsmith.header_converters`` entry points. Each
answers to its Apache Kafka class name too (``org.apache.kafka.connect.json.JsonConverter``…).
See ``docs/converters.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from engine.spi.config import NO_DEFAULT, ConfigDef, Importance, Type, ValidString

if TYPE_CHECKING:
    from engine.converters.bytearray_converter import ByteArrayConverter
    from engine.converters.json_converter import JsonConverter
    from engine.converters.simple_header_converter import SimpleHeaderConverter
    from engine.converters.string_converter import StringConverter

__all__ = [
    "TYPE_CONFIG",
    "ByteArrayConverter",
    "JsonConverter",
    "SimpleHeaderConverter",
    "StringConverter",
    "converter_config_def",
    "with_converter_type",
]

TYPE_CONFIG = "converter.type"
KEY, VALUE, HEADER = "key", "value", "header"

_CLASSES = {
    "ByteArrayConverter": "engine.converters.bytearray_converter",
    "JsonConverter": "engine.converters.json_converter",
    "SimpleHeaderConverter": "engine.converters.simple_header_converter",
    "StringConverter": "engine.converters.string_converter",
}


def converter_config_def() -> ConfigDef:
    """Kafka's ``ConverterConfig.newConfigDef()``: the ``converter.type`` key every converter has."""
    return ConfigDef().define(
        TYPE_CONFIG,
        Type.STRING,
        NO_DEFAULT,
        ValidString.in_(KEY, VALUE, HEADER),
        Importance.LOW,
        "How this converter will be used.",
    )


def with_converter_type(configs: Mapping[str, Any], is_key: bool | None) -> dict[str, Any]:
    """The configs with ``converter.type`` set as Kafka's ``configure(configs, isKey)`` does.

    ``is_key=None`` (a header converter's ``configure(configs)``) keeps a given type and
    defaults to ``header``.
    """
    conf = dict(configs)
    if is_key is None:
        conf.setdefault(TYPE_CONFIG, HEADER)
    else:
        conf[TYPE_CONFIG] = KEY if is_key else VALUE
    return conf


def __getattr__(name: str) -> Any:
    module = _CLASSES.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)
