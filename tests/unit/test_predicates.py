"""HasHeaderKey, RecordIsTombstone, TopicNameMatches: Kafka's predicate tests, over mixed batches."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from engine.plugins import PluginRegistry, PluginType
from engine.predicates.has_header_key import HasHeaderKey
from engine.predicates.record_is_tombstone import RecordIsTombstone
from engine.predicates.topic_name_matches import TopicNameMatches
from engine.runtime.transform_chain import TransformChain
from engine.spi import schema as cs
from engine.spi.config import ConfigDef
from engine.spi.errors import ConfigError
from engine.spi.record import make_batch
from engine.spi.transform import Predicate
from engine.transforms.regex_router import RegexRouter


def configured(cls: type[Predicate], config: dict[str, str]) -> Predicate:
    p = cls()
    p.configure(config)
    return p


def headers(*keys: str) -> list[dict[str, Any]]:
    return [{"key": k, "value": None} for k in keys]


def check(p: Predicate, b: pa.RecordBatch, expected: list[bool]) -> None:
    """The mask, its type and no nulls; and the same answer row by row and on slices."""
    mask = p.test(b)
    assert mask.type == pa.bool_()
    assert mask.null_count == 0
    assert mask.to_pylist() == expected
    assert [p.test(b.slice(i, 1)).to_pylist()[0] for i in range(b.num_rows)] == expected
    if b.num_rows > 1:
        assert p.test(b.slice(1)).to_pylist() == expected[1:]
    assert p.test(b.slice(0, 0)).to_pylist() == []


# ------------------------------------------------------------------------------ HasHeaderKey


def test_has_header_key() -> None:
    p = configured(HasHeaderKey, {"name": "foo"})
    rows = [
        headers("foo"),
        headers("foo", "bar"),
        headers("bar", "foo", "bar", "foo"),
        headers("bar"),
        headers("bar", "bar"),
        headers(),
        None,
        headers("Foo", "fo", "foo "),
    ]
    b = make_batch(topic="t", value=list(range(len(rows))), headers=rows)
    check(p, b, [True, True, True, False, False, False, False, False])


def test_has_header_key_config() -> None:
    with pytest.raises(ConfigError) as missing:
        HasHeaderKey().configure({})
    assert str(missing.value) == 'Missing required configuration "name" which has no default value.'
    with pytest.raises(ConfigError) as e:
        HasHeaderKey().configure({"name": ""})
    assert str(e.value) == "Invalid value  for configuration name: String must be non-empty"
    values = HasHeaderKey.config_def().validate({"name": ""})
    assert values[0].errors == ["Invalid value  for configuration name: String must be non-empty"]
    assert HasHeaderKey.aliases == ("org.apache.kafka.connect.transforms.predicates.HasHeaderKey",)


def test_has_header_key_on_a_batch_without_headers() -> None:
    p = configured(HasHeaderKey, {"name": "foo"})
    check(p, make_batch(topic="t", value=[1, 2]), [False, False])


# ------------------------------------------------------------------------------ RecordIsTombstone


def test_record_is_tombstone_on_binary_and_typed_values() -> None:
    p = configured(RecordIsTombstone, {})
    check(p, make_batch(topic="t", value=pa.array([b"x", None, b"", None])), [False, True, False, True])
    st = pa.struct([("a", pa.int32())])
    typed = make_batch(topic="t", value=pa.array([{"a": None}, None], st), value_field=cs.field("value", st))
    check(p, typed, [False, True])
    all_null = make_batch(
        topic="t", value=pa.nulls(3), value_field=cs.field("value", pa.null(), schemaless=True)
    )
    check(p, all_null, [True, True, True])


def test_record_is_tombstone_has_no_config() -> None:
    assert RecordIsTombstone.config_def().names() == []
    assert RecordIsTombstone.aliases == ("org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",)


# ------------------------------------------------------------------------------ TopicNameMatches


def test_topic_name_matches_whole_name() -> None:
    p = configured(TopicNameMatches, {"pattern": "my-prefix-.*"})
    topics = [
        "my-prefix-",
        "my-prefix-foo",
        "x-my-prefix-",
        "x-my-prefix-foo",
        "your-prefix-",
        "your-prefix-foo",
        None,
        "my-prefix-foo",
    ]
    b = make_batch(topic=pa.array(topics, pa.string()), value=list(range(len(topics))))
    check(p, b, [True, True, False, False, False, False, False, True])


def test_topic_name_matches_a_dictionary_column() -> None:
    p = configured(TopicNameMatches, {"pattern": r"orders\.\d+"})
    topics = pa.array(["orders.1", "orders.x", "orders.1", "orders.22"]).dictionary_encode()
    b = make_batch(topic=["a"] * 4, value=[1, 2, 3, 4])
    b = b.set_column(0, pa.field("topic", topics.type), topics)
    check(p, b, [True, False, True, True])


@pytest.mark.parametrize("pattern", ["[", "*", "(a"])
def test_topic_name_matches_rejects_bad_regex(pattern: str) -> None:
    with pytest.raises(ConfigError) as e:
        TopicNameMatches().configure({"pattern": pattern})
    assert str(e.value).startswith(f"Invalid value {pattern} for configuration pattern: Invalid regex: ")
    values = TopicNameMatches.config_def().validate({"pattern": pattern})
    assert len(values[0].errors) == 1
    assert (
        values[0].errors[0].startswith(f"Invalid value {pattern} for configuration pattern: Invalid regex: ")
    )


def test_topic_name_matches_config() -> None:
    with pytest.raises(ConfigError, match=r'Missing required configuration "pattern"'):
        TopicNameMatches().configure({})
    with pytest.raises(ConfigError) as e:
        TopicNameMatches().configure({"pattern": ""})
    assert str(e.value) == "Invalid value  for configuration pattern: String must be non-empty"
    assert TopicNameMatches.aliases == ("org.apache.kafka.connect.transforms.predicates.TopicNameMatches",)


# ------------------------------------------------------------------------------ in a chain


@pytest.fixture
def registry() -> PluginRegistry:
    r = PluginRegistry()
    for cls in (HasHeaderKey, RecordIsTombstone, TopicNameMatches, RegexRouter):
        r.register(cls)
    return r


def test_apache_names_resolve_and_keep_order_in_a_chain(registry: PluginRegistry) -> None:
    for name in ("HasHeaderKey", "RecordIsTombstone", "TopicNameMatches"):
        cls = registry.resolve(f"org.apache.kafka.connect.transforms.predicates.{name}", PluginType.PREDICATE)
        assert cls.__name__ == name
    chain = TransformChain(
        registry,
        {
            "transforms": "route",
            "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "transforms.route.regex": "(.*)",
            "transforms.route.replacement": "live-$1",
            "transforms.route.predicate": "dead",
            "transforms.route.negate": "true",
            "predicates": "dead",
            "predicates.dead.type": "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
        },
    )
    b = make_batch(topic="t", value=pa.array([b"1", None, None, b"2", b"3", None]), offset=list(range(6)))
    out = chain.apply(b)
    assert [r["topic"] for o in out for r in o.to_pylist()] == ["live-t", "t", "t", "live-t", "live-t", "t"]
    assert [r["offset"] for o in out for r in o.to_pylist()] == list(range(6))


def test_config_defs_are_config_defs() -> None:
    for cls in (HasHeaderKey, RecordIsTombstone, TopicNameMatches):
        assert isinstance(cls.config_def(), ConfigDef)
