from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.offset_store import FileOffsetStore, offset_key
from controlplane.properties import parse_properties, read_config_file
from engine.spi.errors import ConfigError


def test_parse_properties_java_rules() -> None:
    text = (
        "# comment\n! also a comment\n"
        "a=1\nb : two\nc three\n"
        "d = spaced value  \n"
        "long=first \\\n    second\n"
        "esc=tab\\there\\u00e9\n"
        "key\\ with\\ space=v\n"
        "empty=\n"
    )
    assert parse_properties(text) == {
        "a": "1",
        "b": "two",
        "c": "three",
        "d": "spaced value",
        "long": "first second",
        "esc": "tab\there\u00e9",
        "key with space": "v",
        "empty": "",
    }


def test_json_connector_files(tmp_path: Path) -> None:
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"name": "a", "tasks.max": 2, "x": True}))
    assert read_config_file(flat) == {"name": "a", "tasks.max": "2", "x": "true"}
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"name": "b", "config": {"connector.class": "C"}, "initial_state": "paused"}))
    assert read_config_file(body) == {"connector.class": "C", "name": "b", "__initial_state": "PAUSED"}


def test_unreadable_and_malformed_files_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.properties"):
        read_config_file(tmp_path / "nope.properties")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ConfigError, match=r"bad\.json is not valid JSON"):
        read_config_file(bad)


def test_offset_store_round_trip_in_kafka_key_format(tmp_path: Path) -> None:
    path = tmp_path / "offsets"
    store = FileOffsetStore(path)
    store.load()
    store.put("src", [({"filename": "/f"}, {"position": 10})])
    store.put("other", [({"filename": "/g"}, {"position": 1})])
    store.save()
    again = FileOffsetStore(path)
    again.load()
    assert again.offsets("src") == [({"filename": "/f"}, {"position": 10})]
    assert offset_key("src", {"filename": "/f"}) == '["src",{"filename":"/f"}]'
    again.put("src", [({"filename": "/f"}, None)])
    assert again.offsets("src") == []
