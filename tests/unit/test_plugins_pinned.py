"""PinnedRegistry: a pipeline stage process resolves the plugins its first stage resolved for
it, importing only their modules, and anything else as a full discovery would."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.plugins import PinnedRegistry, PluginRegistry, PluginType, plugin_names
from engine.spi.errors import PluginError

SINK = {
    "name": "s",
    "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
    "file": "/tmp/out.txt",
    "value.converter": " org.apache.kafka.connect.json.JsonConverter ",
    "transforms": "insert,route",
    "transforms.insert.type": "org.apache.kafka.connect.transforms.InsertField$Value",
    "transforms.insert.static.field": "f",
    "transforms.route.type": "RegexRouter",
    "transforms.route.regex": "(.*)",
    "predicates": "tomb",
    "predicates.tomb.type": "RecordIsTombstone",
    "transforms.typo.type.extra": "not a plugin key",
}
WORKER = {
    "key.converter": "StringConverter",
    "config.providers": "file",
    "config.providers.file.class": "FileConfigProvider",
}


def test_plugin_names_are_the_values_of_plugin_keys() -> None:
    assert plugin_names(WORKER, SINK) == {
        "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "org.apache.kafka.connect.json.JsonConverter",
        "org.apache.kafka.connect.transforms.InsertField$Value",
        "RegexRouter",
        "RecordIsTombstone",
        "StringConverter",
        "FileConfigProvider",
        "SimpleHeaderConverter",
    }


@pytest.fixture(scope="module")
def full() -> PluginRegistry:
    return PluginRegistry.discover()


def test_pinned_names_resolve_to_the_same_classes(full: PluginRegistry) -> None:
    names = plugin_names(WORKER, SINK)
    pins = full.pins(names | {"NoSuchPlugin"})
    assert set(pins) == names  # every name that resolves, and only those
    assert all(":" in path for path in pins.values())
    pinned = PinnedRegistry(pins)
    kinds = {
        "org.apache.kafka.connect.file.FileStreamSinkConnector": PluginType.SINK,
        "org.apache.kafka.connect.json.JsonConverter": PluginType.CONVERTER,
        "org.apache.kafka.connect.transforms.InsertField$Value": PluginType.TRANSFORMATION,
        "RegexRouter": PluginType.TRANSFORMATION,
        "RecordIsTombstone": PluginType.PREDICATE,
        "StringConverter": PluginType.CONVERTER,
        "FileConfigProvider": PluginType.CONFIG_PROVIDER,
        "SimpleHeaderConverter": PluginType.HEADER_CONVERTER,
    }
    for name, kind in kinds.items():
        assert pinned.resolve(name, kind) is full.resolve(name, kind)
    assert pinned._full is None  # nothing needed a discovery


def test_other_names_fall_back_to_discovery_with_the_same_answers(full: PluginRegistry) -> None:
    pinned = PinnedRegistry(full.pins(["RegexRouter"]))
    assert pinned.resolve("FileStreamSource") is full.resolve("FileStreamSource")
    # a pinned name asked for as the wrong kind gets the full registry's error
    with pytest.raises(PluginError) as wrong:
        pinned.resolve("RegexRouter", PluginType.CONVERTER)
    with pytest.raises(PluginError) as expected:
        full.resolve("RegexRouter", PluginType.CONVERTER)
    assert str(wrong.value) == str(expected.value)
    with pytest.raises(PluginError, match="Failed to find any class that implements Converter"):
        pinned.resolve("NoSuchPlugin", PluginType.CONVERTER)


def test_a_stage_process_imports_only_the_pinned_plugins(full: PluginRegistry) -> None:
    pins = full.pins(["RegexRouter", "org.apache.kafka.connect.file.FileStreamSinkConnector"])
    code = f"""
import json, sys
from engine.plugins import PinnedRegistry, PluginType
r = PinnedRegistry({pins!r})
r.resolve("RegexRouter", PluginType.TRANSFORMATION)
r.resolve("org.apache.kafka.connect.file.FileStreamSinkConnector", PluginType.SINK)
print(json.dumps({{
    "datagen": "connectors.datagen.source" in sys.modules,
    "jdbc": "connectors.jdbc.source" in sys.modules,
    "cast": "engine.transforms.cast" in sys.modules,
    "discovered": r._full is not None,
}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "datagen": False,
        "jdbc": False,
        "cast": False,
        "discovered": False,
    }
