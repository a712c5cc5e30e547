"""engine.spi.config: Kafka's ConfigDef parsing rules, validator texts and REST shapes."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.spi.config import (
    NO_DEFAULT,
    NULL_VALUE_MESSAGE,
    AbstractConfig,
    CaseInsensitiveValidString,
    CompositeValidator,
    ConfigDef,
    ConfigKey,
    ConfigValue,
    Importance,
    LambdaValidator,
    NonEmptyString,
    NonEmptyStringWithoutControlChars,
    NonNullValidator,
    Password,
    Range,
    Type,
    ValidList,
    ValidString,
    Width,
    config_key_info,
    convert_to_string,
    parse_type,
    validation_result,
)
from engine.spi.errors import ConfigError, ConnectError

# --------------------------------------------------------------------------- helpers


def parsed(type_: Type, value: Any) -> Any:
    return ConfigDef().define("k", type_).parse({"k": value})["k"]


def parse_error(type_: Type, value: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        parsed(type_, value)
    assert caught.value.key == "k"
    return str(caught.value)


def validator_error(validator: Any, value: Any, name: str = "k") -> str:
    with pytest.raises(ConfigError) as caught:
        validator(name, value)
    assert caught.value.key == name
    return str(caught.value)


# --------------------------------------------------------------------------- type parsing


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), (" False ", False), ("fAlSe", False), (True, True), (False, False)],
)
def test_boolean_parses(value: Any, expected: bool) -> None:
    assert parsed(Type.BOOLEAN, value) is expected


@pytest.mark.parametrize(("value", "shown"), [("yes", "yes"), ("1", "1"), ("", ""), (1, "1"), (0.0, "0.0")])
def test_boolean_rejects(value: Any, shown: str) -> None:
    assert parse_error(Type.BOOLEAN, value) == (
        f"Invalid value {shown} for configuration k: Expected value to be either true or false"
    )


def test_string_is_trimmed_like_java() -> None:
    assert parsed(Type.STRING, "  a b \t\n") == "a b"
    assert parsed(Type.STRING, "\x00x\x1f") == "x"
    assert parsed(Type.STRING, "\u00a0x\u00a0") == "\u00a0x\u00a0"  # Java's trim keeps non-ASCII spaces
    assert parsed(Type.STRING, "") == ""


def test_string_rejects_non_strings() -> None:
    assert parse_error(Type.STRING, 5) == (
        "Invalid value 5 for configuration k: Expected value to be a string, but it was a int"
    )
    assert parse_error(Type.STRING, ["a"]) == (
        "Invalid value [a] for configuration k: Expected value to be a string, but it was a list"
    )


@pytest.mark.parametrize(
    ("type_", "value", "expected"),
    [
        (Type.INT, "42", 42),
        (Type.INT, " -7 ", -7),
        (Type.INT, "+3", 3),
        (Type.INT, "007", 7),
        (Type.INT, 5, 5),
        (Type.INT, "2147483647", 2**31 - 1),
        (Type.INT, "-2147483648", -(2**31)),
        (Type.SHORT, "32767", 32767),
        (Type.SHORT, "-32768", -32768),
        (Type.SHORT, 12, 12),
        (Type.LONG, "9223372036854775807", 2**63 - 1),
        (Type.LONG, "-9223372036854775808", -(2**63)),
        (Type.LONG, 60000, 60000),
    ],
)
def test_integers_parse(type_: Type, value: Any, expected: int) -> None:
    result = parsed(type_, value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    ("type_", "value"),
    [
        (Type.INT, "abc"),
        (Type.INT, "1.5"),
        (Type.INT, ""),
        (Type.INT, "1_000"),
        (Type.INT, "0x10"),
        (Type.INT, "1e3"),
        (Type.INT, "- 1"),
        (Type.INT, "2147483648"),
        (Type.INT, "-2147483649"),
        (Type.INT, 2**31),
        (Type.SHORT, "32768"),
        (Type.SHORT, "-32769"),
        (Type.SHORT, "x"),
        (Type.LONG, "9223372036854775808"),
        (Type.LONG, "12L"),
        (Type.LONG, -(2**63) - 1),
    ],
)
def test_integers_reject_with_not_a_number(type_: Type, value: Any) -> None:
    assert (
        parse_error(type_, value)
        == f"Invalid value {value} for configuration k: Not a number of type {type_}"
    )


@pytest.mark.parametrize(
    ("type_", "value", "shown", "reason"),
    [
        (Type.INT, 1.0, "1.0", "Expected value to be a 32-bit integer, but it was a float"),
        (Type.INT, True, "true", "Expected value to be a 32-bit integer, but it was a bool"),
        (Type.SHORT, 1.5, "1.5", "Expected value to be a 16-bit integer (short), but it was a float"),
        (Type.LONG, [1], "[1]", "Expected value to be a 64-bit integer (long), but it was a list"),
    ],
)
def test_integers_reject_other_types(type_: Type, value: Any, shown: str, reason: str) -> None:
    assert parse_error(type_, value) == f"Invalid value {shown} for configuration k: {reason}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1.5", 1.5),
        (" -2 ", -2.0),
        ("1e3", 1000.0),
        ("1E-2", 0.01),
        ("+.5", 0.5),
        ("5.", 5.0),
        ("1.5f", 1.5),
        ("2D", 2.0),
        ("Infinity", float("inf")),
        ("-Infinity", float("-inf")),
        ("0x1p3", 8.0),
        ("-0X1.8P1", -3.0),
        (3, 3.0),
        (2.25, 2.25),
    ],
)
def test_double_parses(value: Any, expected: float) -> None:
    result = parsed(Type.DOUBLE, value)
    assert result == expected
    assert type(result) is float


def test_double_parses_nan() -> None:
    result = parsed(Type.DOUBLE, "NaN")
    assert result != result


@pytest.mark.parametrize("value", ["abc", "", "1,5", "inf", "nan", "1e", "0x10", "1_0", "e3"])
def test_double_rejects(value: str) -> None:
    assert (
        parse_error(Type.DOUBLE, value)
        == f"Invalid value {value} for configuration k: Not a number of type DOUBLE"
    )


def test_double_rejects_other_types() -> None:
    assert parse_error(Type.DOUBLE, False) == (
        "Invalid value false for configuration k: Expected value to be a double, but it was a bool"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a,b", ["a", "b"]),
        (" a , b ,c ", ["a", "b", "c"]),
        ("a\t,\nb", ["a", "b"]),
        ("", []),
        ("   ", []),
        ("a,,b", ["a", "", "b"]),
        ("a,", ["a", ""]),
        (",a", ["", "a"]),
        ("one", ["one"]),
        (["x", "y"], ["x", "y"]),
        (("x",), ["x"]),
        ([], []),
    ],
)
def test_list_parses(value: Any, expected: list[str]) -> None:
    assert parsed(Type.LIST, value) == expected


def test_list_rejects() -> None:
    assert (
        parse_error(Type.LIST, 5) == "Invalid value 5 for configuration k: Expected a comma separated list."
    )


def test_class_keeps_the_name_as_given() -> None:
    assert parsed(Type.CLASS, " org.apache.kafka.connect.json.JsonConverter ") == (
        "org.apache.kafka.connect.json.JsonConverter"
    )
    assert parsed(Type.CLASS, ConfigDef) is ConfigDef


def test_class_rejects() -> None:
    assert parse_error(Type.CLASS, "") == "Invalid value  for configuration k: Class  could not be found."
    assert parse_error(Type.CLASS, 5) == (
        "Invalid value 5 for configuration k: Expected a Class instance or class name."
    )


def test_password_parses_and_hides() -> None:
    secret = parsed(Type.PASSWORD, " s3cret ")
    assert secret == Password("s3cret")
    assert secret.value == "s3cret"
    assert parsed(Type.PASSWORD, secret) is secret


def test_password_parse_error_hides_the_value() -> None:
    assert parse_error(Type.PASSWORD, 12345) == (
        "Invalid value [hidden] for configuration k: Expected value to be a string, but it was a int"
    )


@pytest.mark.parametrize("type_", list(Type))
def test_null_stays_null(type_: Type) -> None:
    assert parsed(type_, None) is None


def test_parse_type_function() -> None:
    assert parse_type("x", "12", Type.INT) == 12
    with pytest.raises(
        ConfigError, match=r"^Invalid value q for configuration x: Not a number of type LONG$"
    ):
        parse_type("x", "q", Type.LONG)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"Not a number"):
        parsed(Type.INT, "x")
    err = ConfigError("m", key="k")
    assert isinstance(err, ConnectError)


@settings(database=None, max_examples=200)
@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_int_round_trips(n: int) -> None:
    assert parsed(Type.INT, str(n)) == n


@settings(database=None, max_examples=100)
@given(st.integers(min_value=2**31).flatmap(lambda n: st.sampled_from([n, -n - 1])))
def test_int_out_of_range_fails(n: int) -> None:
    with pytest.raises(ConfigError):
        parsed(Type.INT, str(n))


@settings(database=None, max_examples=200)
@given(st.floats(allow_nan=False))
def test_double_round_trips(x: float) -> None:
    text = repr(x).replace("inf", "Infinity")
    assert parsed(Type.DOUBLE, text) == x
    assert parsed(Type.DOUBLE, convert_to_string(x)) == x


@settings(database=None, max_examples=200)
@given(st.lists(st.text(alphabet="abcxyz._-0123456789", min_size=1), min_size=1))
def test_list_round_trips(items: list[str]) -> None:
    assert parsed(Type.LIST, ", ".join(items)) == items
    assert parsed(Type.LIST, convert_to_string(items)) == items


# --------------------------------------------------------------------------- validators


def test_range_messages() -> None:
    assert (
        validator_error(Range.at_least(1), 0)
        == "Invalid value 0 for configuration k: Value must be at least 1"
    )
    assert validator_error(Range.between(1, 10), 11) == (
        "Invalid value 11 for configuration k: Value must be no more than 10"
    )
    assert validator_error(Range.between(0.0, 1.0), 1.5) == (
        "Invalid value 1.5 for configuration k: Value must be no more than 1.0"
    )
    assert validator_error(Range.at_least(-1), -2) == (
        "Invalid value -2 for configuration k: Value must be at least -1"
    )
    assert validator_error(Range.at_least(1), None) == (
        "Invalid value null for configuration k: Value must be non-null"
    )
    assert (
        validator_error(Range.at_least(1), "5")
        == "Invalid value 5 for configuration k: Value must be a number"
    )


def test_range_accepts_bounds() -> None:
    Range.between(1, 10)("k", 1)
    Range.between(1, 10)("k", 10)
    Range.at_least(0)("k", 2**62)
    Range.between(0.0, 1.0)("k", 0.5)


def test_range_descriptions() -> None:
    assert str(Range.at_least(1)) == "[1,...]"
    assert str(Range.between(1, 10)) == "[1,...,10]"
    assert str(Range.between(0.0, 0.5)) == "[0.0,...,0.5]"
    assert str(Range()) == "[...]"
    assert str(Range(max=5)) == "[...,5]"


def test_valid_string() -> None:
    v = ValidString.in_("a", "b", "c")
    v("k", "b")
    assert validator_error(v, "d") == "Invalid value d for configuration k: String must be one of: a, b, c"
    assert validator_error(v, "A") == "Invalid value A for configuration k: String must be one of: a, b, c"
    assert (
        validator_error(v, None) == "Invalid value null for configuration k: String must be one of: a, b, c"
    )
    assert str(v) == "[a, b, c]"


def test_case_insensitive_valid_string() -> None:
    v = CaseInsensitiveValidString.in_("none", "all")
    v("k", "ALL")
    v("k", "None")
    assert validator_error(v, "some") == (
        "Invalid value some for configuration k: String must be one of (case insensitive): NONE, ALL"
    )
    assert validator_error(v, None) == (
        "Invalid value null for configuration k: String must be one of (case insensitive): NONE, ALL"
    )
    assert str(v) == "(case insensitive) [NONE, ALL]"


def test_valid_list() -> None:
    v = ValidList.in_("a", "b")
    v("k", ["a", "b", "a"])
    v("k", [])
    v("k", None)
    assert (
        validator_error(v, ["a", "c"]) == "Invalid value c for configuration k: String must be one of: a, b"
    )
    assert str(v) == "[a, b]"


def test_non_empty_string() -> None:
    v = NonEmptyString()
    v("k", "x")
    v("k", None)
    assert validator_error(v, "") == "Invalid value  for configuration k: String must be non-empty"
    assert str(v) == "non-empty string"


def test_non_empty_string_without_control_chars() -> None:
    v = NonEmptyStringWithoutControlChars()
    v("k", "my-connector")
    v("k", None)
    assert validator_error(v, "") == "Invalid value  for configuration k: String may not be empty"
    assert validator_error(v, "a\nb\x7f") == (
        "Invalid value a\nb\x7f for configuration k: "
        "String may not contain control sequences but had the following ASCII chars: 10, 127"
    )
    assert str(v) == "non-empty string without ISO control characters"


def test_non_null_validator() -> None:
    v = NonNullValidator()
    v("k", "")
    assert validator_error(v, None) == "Invalid value null for configuration k: entry must be non null"
    assert str(v) == "non-null string"


def test_lambda_validator() -> None:
    def even(name: str, value: Any) -> None:
        if value % 2:
            raise ValueError("must be even")

    def full(name: str, value: Any) -> None:
        raise ConfigError(f"{name} is never right", key=name)

    assert validator_error(LambdaValidator(even, "even numbers"), 3) == (
        "Invalid value 3 for configuration k: must be even"
    )
    LambdaValidator(even, "even numbers")("k", 4)
    assert validator_error(LambdaValidator(full, "x"), 1) == "k is never right"
    assert str(LambdaValidator(even, "even numbers")) == "even numbers"


def test_composite_validator() -> None:
    v = CompositeValidator.of(NonNullValidator(), ValidString.in_("a"))
    v("k", "a")
    assert validator_error(v, None) == "Invalid value null for configuration k: entry must be non null"
    assert validator_error(v, "b") == "Invalid value b for configuration k: String must be one of: a"
    assert str(v) == "non-null string, [a]"


def test_validators_hide_passwords() -> None:
    d = ConfigDef().define("pw", Type.PASSWORD, validator=ValidString.in_("x"))
    with pytest.raises(ConfigError) as caught:
        d.parse({"pw": "hunter2"})
    assert str(caught.value) == "Invalid value [hidden] for configuration pw: String must be one of: x"
    assert "hunter2" not in repr(caught.value)


# --------------------------------------------------------------------------- define / parse


def test_define_parses_and_validates_the_default() -> None:
    d = (
        ConfigDef()
        .define("n", Type.INT, "5")
        .define("l", Type.LIST, "a, b")
        .define("b", Type.BOOLEAN, "TRUE")
    )
    assert d.keys()["n"].default == 5
    assert d.keys()["l"].default == ["a", "b"]
    assert d.keys()["b"].default is True
    with pytest.raises(ConfigError, match=r"^Invalid value x for configuration n: Not a number of type INT$"):
        ConfigDef().define("n", Type.INT, "x")
    with pytest.raises(ConfigError, match=r"^Invalid value 0 for configuration n: Value must be at least 1$"):
        ConfigDef().define("n", Type.INT, 0, Range.at_least(1))


def test_define_twice_fails() -> None:
    d = ConfigDef().define("a", Type.STRING, "")
    with pytest.raises(ValueError, match=r"^Configuration a is defined twice\.$") as caught:
        d.define("a", Type.INT, 1)
    assert isinstance(caught.value, ConfigError)


def test_define_defaults() -> None:
    key = ConfigDef().define("a", Type.STRING).keys()["a"]
    assert key == ConfigKey(
        name="a",
        type=Type.STRING,
        default=NO_DEFAULT,
        validator=None,
        importance=Importance.MEDIUM,
        documentation="",
        group=None,
        order_in_group=-1,
        width=Width.NONE,
        display_name="a",
        dependents=(),
        recommender=None,
        internal=False,
    )
    assert key.required
    assert not ConfigDef().define("b", Type.STRING, None).keys()["b"].required


def test_parse_types_every_key_and_ignores_unknown() -> None:
    d = (
        ConfigDef()
        .define("topic", Type.STRING, NO_DEFAULT, NonEmptyString(), Importance.HIGH, "The topic.")
        .define("batch.size", Type.INT, 2000, Range.at_least(1))
        .define("opt", Type.STRING, None)
        .define("fields", Type.LIST, "")
    )
    assert d.parse({"topic": " t ", "unknown": "x", "batch.size": " 10"}) == {
        "topic": "t",
        "batch.size": 10,
        "opt": None,
        "fields": [],
    }


def test_parse_missing_required() -> None:
    d = ConfigDef().define("a", Type.INT, 1).define("topic", Type.STRING)
    with pytest.raises(ConfigError) as caught:
        d.parse({})
    assert str(caught.value) == 'Missing required configuration "topic" which has no default value.'
    assert caught.value.key == "topic"


def test_parse_runs_validators_on_values_and_defaults() -> None:
    d = ConfigDef().define("n", Type.INT, 1, Range.between(1, 5))
    assert d.parse({})["n"] == 1
    with pytest.raises(
        ConfigError, match=r"^Invalid value 6 for configuration n: Value must be no more than 5$"
    ):
        d.parse({"n": "6"})


def test_parse_explicit_none_is_none() -> None:
    d = ConfigDef().define("s", Type.STRING, "x")
    assert d.parse({"s": None}) == {"s": None}


def test_parse_does_not_share_list_defaults() -> None:
    d = ConfigDef().define("l", Type.LIST, "a,b")
    first = d.parse({})["l"]
    first.append("c")
    assert d.parse({})["l"] == ["a", "b"]
    assert d.keys()["l"].default == ["a", "b"]


def test_parse_undefined_dependents() -> None:
    d = ConfigDef().define("a", Type.STRING, "", dependents=["b", "c"]).define("c", Type.STRING, "")
    with pytest.raises(ConfigError) as caught:
        d.parse({})
    assert str(caught.value) == "Some configurations in are referred in the dependents, but not defined: b"


def test_keys_names_groups() -> None:
    d = (
        ConfigDef()
        .define("b", Type.STRING, "", group="Second")
        .define("a", Type.STRING, "", group="First")
        .define("c", Type.STRING, "", group="Second")
        .define("d", Type.STRING, "")
    )
    assert d.names() == ["b", "a", "c", "d"]
    assert list(d.keys()) == ["b", "a", "c", "d"]
    assert d.groups() == ["Second", "First"]
    with pytest.raises(TypeError):
        d.keys()["x"] = d.keys()["a"]  # type: ignore[index]


def test_copy_constructor() -> None:
    base = ConfigDef().define("a", Type.STRING, "", group="G")
    copy = ConfigDef(base).define("b", Type.STRING, "")
    assert base.names() == ["a"]
    assert copy.names() == ["a", "b"]
    assert copy.groups() == ["G"]


# --------------------------------------------------------------------------- validate


def test_validate_collects_every_error() -> None:
    d = (
        ConfigDef()
        .define("name", Type.STRING, NO_DEFAULT, NonEmptyStringWithoutControlChars())
        .define("tasks.max", Type.INT, 1, Range.at_least(1))
        .define("tolerance", Type.STRING, "none", CaseInsensitiveValidString.in_("none", "all"))
        .define("topics", Type.LIST, "")
        .define("pw", Type.PASSWORD, None)
        .define("enabled", Type.BOOLEAN, False)
    )
    values = d.validate({"tasks.max": "abc", "tolerance": "ALL", "topics": "a, b", "pw": "p", "other": "x"})
    assert values == [
        ConfigValue(
            "name", None, [], ['Missing required configuration "name" which has no default value.'], True
        ),
        ConfigValue(
            "tasks.max",
            None,
            [],
            [
                "Invalid value abc for configuration tasks.max: Not a number of type INT",
                "Invalid value null for configuration tasks.max: Value must be non-null",
            ],
            True,
        ),
        ConfigValue("tolerance", "ALL", [], [], True),
        ConfigValue("topics", ["a", "b"], [], [], True),
        ConfigValue("pw", Password("p"), [], [], True),
        ConfigValue("enabled", False, [], [], True),
    ]


def test_validate_ok() -> None:
    d = ConfigDef().define("n", Type.LONG, 5).define("s", Type.STRING)
    assert [v.errors for v in d.validate({"s": "x"})] == [[], []]
    assert [v.value for v in d.validate({"s": "x"})] == [5, "x"]


class Choices:
    """Recommends ``mode``-dependent values; ``detail`` is visible only in mode ``full``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def valid_values(self, name: str, parsed: Mapping[str, Any]) -> list[Any]:
        self.calls.append((name, dict(parsed)))
        if parsed.get("mode") == "broken":
            raise ConfigError("cannot recommend", key=name)
        return ["x", "y"] if parsed.get("mode") == "full" else ["x"]

    def visible(self, name: str, parsed: Mapping[str, Any]) -> bool:
        return parsed.get("mode") == "full"


def test_validate_applies_recommenders() -> None:
    choices = Choices()
    d = (
        ConfigDef()
        .define("mode", Type.STRING, "lite", dependents=["detail"])
        .define("detail", Type.STRING, "x", recommender=choices)
    )
    assert d.validate({"mode": "full"}) == [
        ConfigValue("mode", "full"),
        ConfigValue("detail", "x", ["x", "y"], [], True),
    ]
    assert d.validate({}) == [ConfigValue("mode", "lite"), ConfigValue("detail", "x", ["x"], [], False)]
    assert d.validate({"mode": "broken"})[1].errors == ["cannot recommend"]
    assert choices.calls[0] == ("detail", {"mode": "full", "detail": "x"})


def test_validate_undefined_dependent() -> None:
    d = ConfigDef().define("a", Type.STRING, "", dependents=["ghost"])
    assert d.validate({}) == [
        ConfigValue("a", ""),
        ConfigValue("ghost", None, [], ["ghost is referred in the dependents, but not defined."], False),
    ]


def test_validate_null_value_is_not_an_error_of_configdef() -> None:
    # Kafka's ConfigDef accepts null; the herder adds NULL_VALUE_MESSAGE itself (validation step 6).
    d = ConfigDef().define("s", Type.STRING, "x")
    assert d.validate({"s": None}) == [ConfigValue("s", None)]
    assert NULL_VALUE_MESSAGE == "Null value can not be supplied as the configuration value."


# --------------------------------------------------------------------------- REST shapes


def test_config_key_info_shapes() -> None:
    d = (
        ConfigDef()
        .define(
            "topic",
            Type.STRING,
            NO_DEFAULT,
            NonEmptyString(),
            Importance.HIGH,
            "The topic.",
            group="Common",
            order_in_group=2,
            width=Width.LONG,
            display_name="Topic",
            dependents=["flag"],
        )
        .define("flag", Type.BOOLEAN, True)
        .define("items", Type.LIST, ["a", "b"])
        .define("secret", Type.PASSWORD, "p")
        .define("ratio", Type.DOUBLE, 1)
        .define("big", Type.DOUBLE, 1e7)
        .define("cls", Type.CLASS, "org.example.Foo")
        .define("typ", Type.CLASS, ConfigDef)
        .define("opt", Type.STRING, None)
        .define("empty", Type.LIST, "")
        .define("n", Type.SHORT, 3)
    )
    infos = {name: d.config_key_info(key) for name, key in d.keys().items()}
    assert infos["topic"] == {
        "name": "topic",
        "type": "STRING",
        "required": True,
        "default_value": None,
        "importance": "HIGH",
        "documentation": "The topic.",
        "group": "Common",
        "width": "LONG",
        "display_name": "Topic",
        "dependents": ["flag"],
        "order": 2,
    }
    assert infos["flag"] == {
        "name": "flag",
        "type": "BOOLEAN",
        "required": False,
        "default_value": "true",
        "importance": "MEDIUM",
        "documentation": "",
        "group": None,
        "width": "NONE",
        "display_name": "flag",
        "dependents": [],
        "order": -1,
    }
    defaults = {name: (info["type"], info["required"], info["default_value"]) for name, info in infos.items()}
    assert defaults == {
        "topic": ("STRING", True, None),
        "flag": ("BOOLEAN", False, "true"),
        "items": ("LIST", False, "a,b"),
        "secret": ("PASSWORD", False, "[hidden]"),
        "ratio": ("DOUBLE", False, "1.0"),
        "big": ("DOUBLE", False, "1.0E7"),
        "cls": ("CLASS", False, "org.example.Foo"),
        "typ": ("CLASS", False, "engine.spi.config.ConfigDef"),
        "opt": ("STRING", False, None),
        "empty": ("LIST", False, ""),
        "n": ("SHORT", False, "3"),
    }
    assert config_key_info(d.keys()["n"]) == infos["n"]


def test_config_value_to_json() -> None:
    assert ConfigValue("a", ["x", "y"], ["p", "q"], ["bad"], False).to_json() == {
        "name": "a",
        "value": "x,y",
        "recommended_values": ["p", "q"],
        "errors": ["bad"],
        "visible": False,
    }
    assert ConfigValue("pw", Password("s")).to_json() == {
        "name": "pw",
        "value": "[hidden]",
        "recommended_values": [],
        "errors": [],
        "visible": True,
    }
    assert ConfigValue("b", True).to_json()["value"] == "true"
    assert ConfigValue("n", None).to_json()["value"] is None
    assert ConfigValue("d", 0.5).to_json()["value"] == "0.5"


@pytest.mark.parametrize(
    ("value", "type_", "expected"),
    [
        (None, None, None),
        (True, None, "true"),
        (False, Type.BOOLEAN, "false"),
        (5, Type.INT, "5"),
        (1.0, Type.DOUBLE, "1.0"),
        (1e-5, Type.DOUBLE, "1.0E-5"),
        (123456789.0, None, "1.23456789E8"),
        (0.001, None, "0.001"),
        (float("inf"), None, "Infinity"),
        (float("nan"), None, "NaN"),
        (-0.0, None, "-0.0"),
        (["a", "b"], Type.LIST, "a,b"),
        ([], Type.LIST, ""),
        ("s", Type.STRING, "s"),
        (Password("x"), Type.PASSWORD, "[hidden]"),
        ("raw", Type.PASSWORD, "[hidden]"),
        (ConfigDef, Type.CLASS, "engine.spi.config.ConfigDef"),
    ],
)
def test_convert_to_string(value: Any, type_: Type | None, expected: str | None) -> None:
    assert convert_to_string(value, type_) == expected


def test_validation_result_shape() -> None:
    d = (
        ConfigDef()
        .define("a", Type.INT, 1, Range.at_least(1), Importance.HIGH, "A.", group="G", order_in_group=1)
        .define("pw", Type.PASSWORD, None, group="G", order_in_group=2)
        .define("skipped", Type.LIST, "x,y")
    )
    values = [v for v in d.validate({"a": "0", "pw": "secret"}) if v.name != "skipped"]
    values.insert(1, ConfigValue("custom.key", "v", [], ["Unknown thing", "Another"]))
    body = validation_result("com.example.Conn", d, values, ["G", "Extra"])
    assert body == {
        "name": "com.example.Conn",
        "error_count": 3,
        "groups": ["G", "Extra"],
        "configs": [
            {
                "definition": None,
                "value": {
                    "name": "custom.key",
                    "value": "v",
                    "recommended_values": [],
                    "errors": ["Unknown thing", "Another"],
                    "visible": True,
                },
            },
            {
                "definition": {
                    "name": "a",
                    "type": "INT",
                    "required": False,
                    "default_value": "1",
                    "importance": "HIGH",
                    "documentation": "A.",
                    "group": "G",
                    "width": "NONE",
                    "display_name": "a",
                    "dependents": [],
                    "order": 1,
                },
                "value": {
                    "name": "a",
                    "value": "0",
                    "recommended_values": [],
                    "errors": ["Invalid value 0 for configuration a: Value must be at least 1"],
                    "visible": True,
                },
            },
            {
                "definition": {
                    "name": "pw",
                    "type": "PASSWORD",
                    "required": False,
                    "default_value": None,
                    "importance": "MEDIUM",
                    "documentation": "",
                    "group": "G",
                    "width": "NONE",
                    "display_name": "pw",
                    "dependents": [],
                    "order": 2,
                },
                "value": {
                    "name": "pw",
                    "value": "[hidden]",
                    "recommended_values": [],
                    "errors": [],
                    "visible": True,
                },
            },
            {
                "definition": {
                    "name": "skipped",
                    "type": "LIST",
                    "required": False,
                    "default_value": "x,y",
                    "importance": "MEDIUM",
                    "documentation": "",
                    "group": None,
                    "width": "NONE",
                    "display_name": "skipped",
                    "dependents": [],
                    "order": -1,
                },
                "value": None,
            },
        ],
    }
    assert "secret" not in repr(body)


def test_validation_result_renders_recommended_values_by_type() -> None:
    d = ConfigDef().define("flag", Type.BOOLEAN, False)
    body = validation_result("c", d, [ConfigValue("flag", True, [True, False])], [])
    assert body["configs"][0]["value"]["recommended_values"] == ["true", "false"]
    assert body["configs"][0]["value"]["value"] == "true"


# --------------------------------------------------------------------------- passwords


def test_password_never_shows() -> None:
    secret = Password("hunter2")
    assert str(secret) == "[hidden]"
    assert repr(secret) == "[hidden]"
    assert f"{secret}" == "[hidden]"
    assert secret == Password("hunter2")
    assert secret != Password("other")
    assert hash(secret) == hash(Password("hunter2"))
    assert pickle.loads(pickle.dumps(secret)) == secret
    with pytest.raises(AttributeError):
        secret.value = "x"  # type: ignore[misc]


def test_password_hidden_in_parsed_values_and_configs() -> None:
    d = ConfigDef().define("pw", Type.PASSWORD).define("user", Type.STRING, "u")
    values = d.parse({"pw": "hunter2"})
    assert "hunter2" not in repr(values)
    config = AbstractConfig(d, {"pw": "hunter2"})
    assert "hunter2" not in repr(config)
    assert config.get_password("pw").value == "hunter2"
    validated = d.validate({"pw": "hunter2"})
    assert "hunter2" not in repr(validated)
    assert "hunter2" not in repr([v.to_json() for v in validated])
    assert "hunter2" not in repr(validation_result("c", d, validated, []))
    assert "hunter2" not in repr(d.keys())


# --------------------------------------------------------------------------- embed / merge


def transform_def() -> ConfigDef:
    return (
        ConfigDef()
        .define("field", Type.STRING, NO_DEFAULT, NonEmptyString(), Importance.HIGH, "Field to use.")
        .define("mode", Type.STRING, "a", ValidString.in_("a", "b"), Importance.LOW, dependents=["extra"])
        .define("extra", Type.STRING, "", group="More", recommender=Choices())
    )


def test_embed_prefixes_keys_groups_orders() -> None:
    base = ConfigDef().define("transforms", Type.LIST, "", group="Transforms", order_in_group=8)
    assert base.embed("transforms.t1.", "Transforms: t1", 3, transform_def()) is base
    keys = base.keys()
    assert list(keys) == ["transforms", "transforms.t1.field", "transforms.t1.mode", "transforms.t1.extra"]
    summary = {k.name: (k.group, k.order_in_group, k.dependents, k.display_name) for k in keys.values()}
    assert summary == {
        "transforms": ("Transforms", 8, (), "transforms"),
        "transforms.t1.field": ("Transforms: t1", 3, (), "field"),
        "transforms.t1.mode": ("Transforms: t1", 4, ("transforms.t1.extra",), "mode"),
        "transforms.t1.extra": ("Transforms: t1: More", 5, (), "extra"),
    }
    assert base.groups() == ["Transforms", "Transforms: t1", "Transforms: t1: More"]
    assert keys["transforms.t1.mode"].default == "a"
    assert str(keys["transforms.t1.mode"].validator) == "[a, b]"


def test_embedded_messages() -> None:
    d = ConfigDef().embed("transforms.t1.", "Transforms: t1", 0, transform_def())
    with pytest.raises(ConfigError) as caught:
        d.parse({})
    assert (
        str(caught.value)
        == 'Missing required configuration "transforms.t1.field" which has no default value.'
    )
    with pytest.raises(ConfigError) as caught:
        d.parse({"transforms.t1.field": "f", "transforms.t1.mode": "c"})
    # As in Kafka, an embedded validator sees (and names) the key without its prefix ...
    assert str(caught.value) == "Invalid value c for configuration mode: String must be one of: a, b"
    # ... but the error still points at the full key.
    assert caught.value.key == "transforms.t1.mode"
    errors = {v.name: v.errors for v in d.validate({"transforms.t1.field": ""})}
    assert errors == {
        "transforms.t1.field": ["Invalid value  for configuration field: String must be non-empty"],
        "transforms.t1.mode": [],
        "transforms.t1.extra": [],
    }


def test_embedded_recommender_sees_unprefixed_names() -> None:
    choices = Choices()
    child = (
        ConfigDef()
        .define("mode", Type.STRING, "lite")
        .define("detail", Type.STRING, "x", recommender=choices)
    )
    d = ConfigDef().define("other", Type.STRING, "o").embed("p.", "P", 0, child)
    values = {v.name: v for v in d.validate({"p.mode": "full"})}
    assert list(values) == ["other", "p.detail", "p.mode"]  # the child's documentation order
    assert values["p.detail"] == ConfigValue("p.detail", "x", ["x", "y"], [], True)
    assert choices.calls == [("detail", {"mode": "full", "detail": "x"})]


def test_merge_makes_a_new_def_and_self_wins() -> None:
    a = ConfigDef().define("x", Type.INT, 1, group="A").define("y", Type.INT, 2)
    b = ConfigDef().define("y", Type.STRING, "s", group="B").define("z", Type.INT, 3, group="C")
    merged = a.merge(b)
    assert merged is not a
    assert merged.names() == ["x", "y", "z"]
    assert merged.keys()["y"].type is Type.INT
    assert merged.groups() == ["A", "C"]
    assert a.names() == ["x", "y"]
    assert b.names() == ["y", "z"]


# --------------------------------------------------------------------------- docs


def test_to_markdown() -> None:
    d = (
        ConfigDef()
        .define("batch.size", Type.INT, 2000, Range.at_least(1), Importance.LOW, "Rows per batch.")
        .define(
            "topic", Type.STRING, NO_DEFAULT, NonEmptyString(), Importance.HIGH, "The topic.\n\nMore text."
        )
        .define("flush.interval.ms", Type.LONG, 60000, None, Importance.MEDIUM, "Flush period.")
        .define("buffer.bytes", Type.INT, 1048576, None, Importance.MEDIUM, "Buffer.")
        .define("prefix", Type.STRING, "", None, Importance.MEDIUM, "Prefix.")
        .define(
            "mode",
            Type.STRING,
            "a",
            ValidString.in_("a", "b"),
            Importance.HIGH,
            "Mode.",
            dependents=["topic"],
        )
        .define("secret", Type.PASSWORD, "x", None, Importance.LOW, "Secret.")
        .define("hidden.knob", Type.INT, 1, internal=True)
    )
    assert d.to_markdown("FileStreamSource") == (
        "## FileStreamSource\n"
        "\n"
        "### `topic`\n"
        "\n"
        "The topic.\n"
        "\n"
        "More text.\n"
        "\n"
        "* Type: string\n"
        "* Required: yes\n"
        "* Valid values: `non-empty string`\n"
        "* Importance: high\n"
        "\n"
        "### `mode`\n"
        "\n"
        "Mode.\n"
        "\n"
        "* Type: string\n"
        "* Default: `a`\n"
        "* Valid values: `[a, b]`\n"
        "* Importance: high\n"
        "* Dependents: `topic`\n"
        "\n"
        "### `buffer.bytes`\n"
        "\n"
        "Buffer.\n"
        "\n"
        "* Type: int\n"
        "* Default: `1048576` (1 mebibyte)\n"
        "* Importance: medium\n"
        "\n"
        "### `flush.interval.ms`\n"
        "\n"
        "Flush period.\n"
        "\n"
        "* Type: long\n"
        "* Default: `60000` (1 minute)\n"
        "* Importance: medium\n"
        "\n"
        "### `prefix`\n"
        "\n"
        "Prefix.\n"
        "\n"
        "* Type: string\n"
        '* Default: ""\n'
        "* Importance: medium\n"
        "\n"
        "### `batch.size`\n"
        "\n"
        "Rows per batch.\n"
        "\n"
        "* Type: int\n"
        "* Default: `2000`\n"
        "* Valid values: `[1,...]`\n"
        "* Importance: low\n"
        "\n"
        "### `secret`\n"
        "\n"
        "Secret.\n"
        "\n"
        "* Type: password\n"
        "* Default: `[hidden]`\n"
        "* Importance: low\n"
    )


def test_to_markdown_orders_by_group_then_order() -> None:
    d = (
        ConfigDef()
        .define("z", Type.STRING, "", group="First", order_in_group=2)
        .define("b", Type.STRING, "", group="Second", order_in_group=1)
        .define("a", Type.STRING, "", group="First", order_in_group=1)
        .define("nogroup", Type.STRING, "")
    )
    headings = [line for line in d.to_markdown().splitlines() if line.startswith("###")]
    assert headings == ["### `nogroup`", "### `a`", "### `z`", "### `b`"]


@pytest.mark.parametrize(
    ("name", "default", "shown"),
    [
        ("a.ms", 1000, "`1000` (1 second)"),
        ("a.ms", 300000, "`300000` (5 minutes)"),
        ("a.ms", 7200000, "`7200000` (2 hours)"),
        ("a.ms", 86400000, "`86400000` (1 day)"),
        ("a.ms", 1500, "`1500`"),
        ("a.ms", 0, "`0`"),
        ("a.bytes", 2048, "`2048` (2 kibibytes)"),
        ("a.bytes", 1024**3, "`1073741824` (1 gibibyte)"),
        ("a.bytes", 1000, "`1000`"),
        ("a.count", 60000, "`60000`"),
    ],
)
def test_to_markdown_nice_units(name: str, default: int, shown: str) -> None:
    text = ConfigDef().define(name, Type.LONG, default).to_markdown()
    assert f"* Default: {shown}\n" in text


def test_to_markdown_empty() -> None:
    assert ConfigDef().to_markdown() == "No configuration keys.\n"
    assert ConfigDef().to_markdown("X") == "## X\n\nNo configuration keys.\n"


# --------------------------------------------------------------------------- AbstractConfig


def test_abstract_config_getters() -> None:
    d = (
        ConfigDef()
        .define("i", Type.INT, 1)
        .define("l", Type.LONG, 2)
        .define("d", Type.DOUBLE, 0.5)
        .define("b", Type.BOOLEAN, True)
        .define("s", Type.STRING, "x")
        .define("list", Type.LIST, "a,b")
        .define("pw", Type.PASSWORD, "p")
        .define("none", Type.STRING, None)
    )
    props = {"i": "7", "s": " y ", "producer.override.acks": "all", "producer.override.": "x", "other": "1"}
    config = AbstractConfig(d, props)
    assert config.get_int("i") == 7
    assert config.get_long("l") == 2
    assert config.get_double("d") == 0.5
    assert config.get_bool("b") is True
    assert config.get_str("s") == "y"
    assert config.get_list("list") == ["a", "b"]
    assert config.get_password("pw") == Password("p")
    assert config.get("none") is None
    assert config.originals == props
    assert config.values["i"] == 7
    assert config.originals_with_prefix("producer.override.") == {"acks": "all"}
    assert config.originals_with_prefix("producer.override.", strip=False) == {
        "producer.override.acks": "all"
    }


def test_abstract_config_errors() -> None:
    d = ConfigDef().define("s", Type.STRING, None).define("i", Type.INT, 1)
    config = AbstractConfig(d, {})
    with pytest.raises(ConfigError, match=r"^Unknown configuration 'nope'$"):
        config.get("nope")
    with pytest.raises(ConfigError, match=r"has no value") as caught:
        config.get_str("s")
    assert caught.value.key == "s"
    with pytest.raises(ConfigError, match=r"is a int"):
        config.get_str("i")
    with pytest.raises(
        ConfigError, match=r'^Missing required configuration "x" which has no default value.$'
    ):
        AbstractConfig(ConfigDef().define("x", Type.INT), {})


def test_no_default_is_a_pickled_singleton() -> None:
    assert pickle.loads(pickle.dumps(NO_DEFAULT)) is NO_DEFAULT
    assert repr(NO_DEFAULT) == "NO_DEFAULT"


def test_enums_serialize_as_kafka_names() -> None:
    assert [str(t) for t in Type] == [
        "BOOLEAN",
        "STRING",
        "INT",
        "SHORT",
        "LONG",
        "DOUBLE",
        "LIST",
        "CLASS",
        "PASSWORD",
    ]
    assert [str(i) for i in Importance] == ["HIGH", "MEDIUM", "LOW"]
    assert [str(w) for w in Width] == ["NONE", "SHORT", "MEDIUM", "LONG"]


def test_spi_reexports() -> None:
    import engine.spi as spi

    for name in spi.__all__:
        assert hasattr(spi, name), name
    assert spi.ConfigDef is ConfigDef
    assert spi.TIMESTAMP == "timestamp"
    assert spi.schema.TIMESTAMP == "org.apache.kafka.connect.data.Timestamp"
