"""RegexRouter: Kafka's RegexRouterTest, Java regex and replacement syntax, batches of topics."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from engine.spi.errors import ConfigError
from engine.spi.record import make_batch
from engine.transforms._java_regex import JavaRegexError, compile_java, java_replacement
from engine.transforms.regex_router import RegexRouter

from ._kv_support import assert_rowwise, assert_sliced, configured

MISSING = 'Missing required configuration "{}" which has no default value.'


def route(regex: str, replacement: str, *topics: str) -> list[str]:
    t = configured(RegexRouter, {"regex": regex, "replacement": replacement})
    out = t.apply(make_batch(topic=pa.array(list(topics), pa.string()), value=list(range(len(topics)))))
    return out.column("topic").to_pylist()


@pytest.mark.parametrize(
    ("regex", "replacement", "topic", "expected"),
    [
        ("foo", "bar", "foo", "bar"),  # staticReplacement
        ("foo", "bar", "orig", "orig"),  # doesntMatch
        ("(.*)", "$1", "orig", "orig"),  # identity
        ("(.*)", "prefix-$1", "orig", "prefix-orig"),  # addPrefix
        ("(.*)", "$1-suffix", "orig", "orig-suffix"),  # addSuffix
        (r"(.*)-(\d\d\d\d\d\d\d\d)", "$1", "index-20160117", "index"),  # slice
        ("foo", "bar", "foofoo", "foofoo"),  # the whole name must match
        ("a|ab", "X", "ab", "Xb"),  # matches() then replaceFirst(): the first find wins
        (r"(?<name>\w+)\.(\d+)", "${name}_$2", "orders.42", "orders_42"),
        ("(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)", "$10-$11", "abcdefghij", "j-a1"),
        (r"(.*)", r"\$1-$1", "t", "$1-t"),
        (r"\Qa.b\E(.*)", "x$1", "a.bc", "xc"),
        (r"\p{Lower}+-(\p{Digit}+)", "n$1", "abc-12", "n12"),
        (r"(?i)ORDERS", "o", "orders", "o"),
    ],
)
def test_routes(regex: str, replacement: str, topic: str, expected: str) -> None:
    assert route(regex, replacement, topic) == [expected]


def test_batch_of_many_topics_keeps_partition_and_order() -> None:
    t = configured(RegexRouter, {"regex": r"(\w+)\.v(\d)", "replacement": "$1-$2"})
    topics = ["a.v1", "b", "a.v1", "c.v2", None, "b"]
    b = make_batch(
        topic=pa.array(topics, pa.string()),
        value=list(range(6)),
        partition=[0, 1, 2, 3, 4, 5],
        offset=list(range(6)),
    )
    out = t.apply(b)
    assert out.column("topic").to_pylist() == ["a-1", "b", "a-1", "c-2", None, "b"]
    for name in ("partition", "offset", "key", "value", "headers", "timestamp"):
        assert out.column(name).equals(b.column(name))
    assert out.schema.field("topic").type == pa.string()
    assert_rowwise(t, b)
    assert_sliced(t, b)
    assert t.apply(b.slice(0, 0)).num_rows == 0


def test_a_dictionary_topic_column_stays_one() -> None:
    t = configured(RegexRouter, {"regex": "(.*)", "replacement": "x-$1"})
    topics = pa.array(["a", "b", "a"]).dictionary_encode()
    b = make_batch(topic=["a"] * 3, value=[1, 2, 3])
    b = b.set_column(0, pa.field("topic", topics.type), topics)
    out = t.apply(b)
    assert pa.types.is_dictionary(out.schema.field("topic").type)
    assert out.column("topic").to_pylist() == ["x-a", "x-b", "x-a"]


def test_config_errors() -> None:
    with pytest.raises(
        ConfigError, match=r'Missing required configuration "regex" which has no default value\.'
    ):
        RegexRouter().configure({"replacement": "x"})
    with pytest.raises(ConfigError, match=r'Missing required configuration "replacement"'):
        RegexRouter().configure({"regex": "a"})
    with pytest.raises(ConfigError) as bad:
        RegexRouter().configure({"regex": "(a", "replacement": "x"})
    assert str(bad.value).startswith("Invalid value (a for configuration regex: Invalid regex: ")
    with pytest.raises(ConfigError) as group:
        RegexRouter().configure({"regex": "a", "replacement": "$2"})
    assert str(group.value) == "Invalid value $2 for configuration replacement: No group 2"
    errors = {v.name: v.errors for v in RegexRouter.config_def().validate({"regex": "[x"})}
    assert errors["regex"][0].startswith("Invalid value [x for configuration regex: Invalid regex:")
    assert errors["replacement"] == [
        'Missing required configuration "replacement" which has no default value.'
    ]
    assert RegexRouter.aliases == ("org.apache.kafka.connect.transforms.RegexRouter",)


# ------------------------------------------------------------------------------ Java regex syntax


@pytest.mark.parametrize(
    ("java", "text", "matches"),
    [
        (r"\d+", "123", True),
        (r"\d+", "١٢٣", False),  # Java's \d is ASCII
        (r"\w+", "héllo", False),
        (r"(?U)\w+", "héllo", True),
        (r"\p{Alpha}+\P{Alpha}", "ab1", True),
        (r"[\p{Digit}_]+", "1_2", True),
        (r"\p{javaLowerCase}+", "abc", True),
        (r"\Qa+b\E", "a+b", True),
        (r"[\Q]\E]", "]", True),
        (r"(?<y>\d{4})-\k<y>", "2020-2020", True),
        (r"a\z", "a", True),
        (r"\h+", " \t", True),
        (r"\x{41}", "A", True),
        (r"\cA", "\x01", True),
        (r"\e", "\x1b", True),
        (r"a*+a", "aaa", False),  # possessive
        (r"(?>a|ab)c", "abc", False),  # atomic group
        (r"[]a]+", "]a", True),
        (r"[^]a]", "b", True),
    ],
)
def test_java_regex(java: str, text: str, matches: bool) -> None:
    assert (compile_java(java).fullmatch(text) is not None) is matches


@pytest.mark.parametrize(
    "java", [r"[a-z&&[^x]]", r"[a[bc]]", r"\p{L}", r"\p{IsLatin}", r"\G", r"\X", r"(a", "*", r"[\P{Alpha}]"]
)
def test_java_regex_refused(java: str) -> None:
    with pytest.raises(JavaRegexError):
        compile_java(java)


def test_java_replacement() -> None:
    pattern = re.compile(r"(?P<n>a)(b)")
    assert java_replacement("$1-${n}-$2-\\$-\\\\", 2, {"n"}) == "\\g<1>-\\g<n>-\\g<2>-$-\\\\"
    assert pattern.sub(java_replacement("$2\\\\$1", 2, {"n"}), "ab", count=1) == "b\\a"
    for bad, message in [
        ("$", "Illegal group reference: group index is missing"),
        ("$x", "Illegal group reference"),
        ("\\", "character to be escaped is missing"),
        ("${m}", "No group with name {m}"),
        ("$3", "No group 3"),
    ]:
        with pytest.raises(JavaRegexError, match=re.escape(message)):
            java_replacement(bad, 2, {"n"})
