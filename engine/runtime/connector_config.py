"""Connector configuration: the keys every connector has, and the validation pipeline.

The pipeline is the one ``PUT /connector-plugins/{p}/config/validate``, connector creation
and the standalone command line share: the framework's keys (plus the sink or source
keys), the keys of every transform and predicate alias, the connector's own keys, and
the keys of converters named in the connector config (prefixed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from engine.plugins import PluginRegistry, PluginType
from engine.runtime.config_transform import only_placeholders
from engine.spi.config import (
    HIDDEN,
    ConfigDef,
    ConfigValue,
    Importance,
    NonEmptyStringWithoutControlChars,
    Range,
    Type,
    ValidString,
    Width,
    validation_result,
)
from engine.spi.connector import Connector, SinkConnector
from engine.spi.errors import ConfigError

COMMON = "Common"
TRANSFORMS = "Transforms"
PREDICATES = "Predicates"
ERRORS = "Error Handling"


def base_connector_def() -> ConfigDef:
    d = ConfigDef()
    d.define(
        "name",
        Type.STRING,
        validator=NonEmptyStringWithoutControlChars(),
        importance=Importance.HIGH,
        documentation="Globally unique name to use for this connector.",
        group=COMMON,
        order_in_group=1,
        width=Width.MEDIUM,
        display_name="Connector name",
    )
    d.define(
        "connector.class",
        Type.STRING,
        importance=Importance.HIGH,
        documentation="Name or alias of the connector class, e.g. FileStreamSource, "
        "org.apache.kafka.connect.file.FileStreamSourceConnector or a Python path.",
        group=COMMON,
        order_in_group=2,
        width=Width.LONG,
        display_name="Connector class",
    )
    d.define(
        "tasks.max",
        Type.INT,
        1,
        Range.at_least(1),
        Importance.HIGH,
        "Maximum number of tasks to use for this connector.",
        group=COMMON,
        order_in_group=3,
        width=Width.SHORT,
        display_name="Tasks max",
    )
    d.define(
        "tasks.max.enforce",
        Type.BOOLEAN,
        True,
        importance=Importance.LOW,
        documentation="Fail a connector that generates more task configs than tasks.max.",
        group=COMMON,
        order_in_group=4,
        width=Width.SHORT,
        display_name="Enforce tasks max",
    )
    d.define(
        "key.converter",
        Type.CLASS,
        None,
        importance=Importance.LOW,
        documentation="Converter for keys; overrides the worker's key.converter.",
        group=COMMON,
        order_in_group=5,
        width=Width.SHORT,
        display_name="Key converter class",
    )
    d.define(
        "value.converter",
        Type.CLASS,
        None,
        importance=Importance.LOW,
        documentation="Converter for values; overrides the worker's value.converter.",
        group=COMMON,
        order_in_group=6,
        width=Width.SHORT,
        display_name="Value converter class",
    )
    d.define(
        "header.converter",
        Type.CLASS,
        None,
        importance=Importance.LOW,
        documentation="Converter for header values; overrides the worker's header.converter.",
        group=COMMON,
        order_in_group=7,
        width=Width.SHORT,
        display_name="Header converter class",
    )
    d.define(
        "transforms",
        Type.LIST,
        "",
        importance=Importance.LOW,
        documentation="Aliases for the transformations to apply to records, in order.",
        group=TRANSFORMS,
        order_in_group=8,
        width=Width.LONG,
        display_name="Transforms",
    )
    d.define(
        "predicates",
        Type.LIST,
        "",
        importance=Importance.LOW,
        documentation="Aliases for the predicates used by transformations.",
        group=PREDICATES,
        order_in_group=9,
        width=Width.LONG,
        display_name="Predicates",
    )
    d.define(
        "config.action.reload",
        Type.STRING,
        "restart",
        ValidString.in_("none", "restart"),
        Importance.LOW,
        "What to do when a config provider says a value changed.",
        group=COMMON,
        order_in_group=10,
        width=Width.MEDIUM,
        display_name="Reload Action",
    )
    d.define(
        "errors.retry.timeout",
        Type.LONG,
        0,
        importance=Importance.MEDIUM,
        documentation="Milliseconds to retry a failed operation; 0 no retries, -1 forever.",
        group=ERRORS,
        order_in_group=1,
        width=Width.MEDIUM,
        display_name="Retry Timeout for Errors",
    )
    d.define(
        "errors.retry.delay.max.ms",
        Type.LONG,
        60000,
        importance=Importance.MEDIUM,
        documentation="Most milliseconds between consecutive retries.",
        group=ERRORS,
        order_in_group=2,
        width=Width.MEDIUM,
        display_name="Maximum Delay Between Retries for Errors",
    )
    d.define(
        "errors.tolerance",
        Type.STRING,
        "none",
        ValidString.in_("none", "all"),
        Importance.MEDIUM,
        "none: an error fails the task; all: bad records are skipped.",
        group=ERRORS,
        order_in_group=3,
        width=Width.SHORT,
        display_name="Error Tolerance",
    )
    d.define(
        "errors.log.enable",
        Type.BOOLEAN,
        False,
        importance=Importance.MEDIUM,
        documentation="Log each error and the failed operation.",
        group=ERRORS,
        order_in_group=4,
        width=Width.SHORT,
        display_name="Log Errors",
    )
    d.define(
        "errors.log.include.messages",
        Type.BOOLEAN,
        False,
        importance=Importance.MEDIUM,
        documentation="Include the record in the error log.",
        group=ERRORS,
        order_in_group=5,
        width=Width.SHORT,
        display_name="Log Error Details",
    )
    return d


def _pipeline_key(d: ConfigDef) -> None:
    d.define(
        "pipeline.processes",
        Type.INT,
        1,
        Range.between(1, 2),
        Importance.LOW,
        "arrowsmith: 2 splits the task over two pinned processes joined by a shared-memory ring, so "
        "one ordered stream can use two cores. A sink task consumes in the first and converts, "
        "transforms and puts in the second; a source task polls, transforms and converts in the "
        "first and produces to Kafka in the second.",
        group=COMMON,
        order_in_group=20,
        width=Width.SHORT,
        display_name="Pipeline processes",
    )


def _dead_letter_keys(d: ConfigDef) -> None:
    """The dead-letter queue keys: Kafka's for sinks; arrowsmith gives sources a DLQ too."""
    d.define(
        "errors.deadletterqueue.topic.name",
        Type.STRING,
        "",
        importance=Importance.MEDIUM,
        documentation="Topic for records that failed (empty: no dead-letter queue).",
        group=ERRORS,
        order_in_group=6,
        width=Width.MEDIUM,
        display_name="Dead Letter Queue Topic Name",
    )
    d.define(
        "errors.deadletterqueue.topic.replication.factor",
        Type.SHORT,
        3,
        importance=Importance.MEDIUM,
        documentation="Replication factor of the dead-letter queue topic when it is created.",
        group=ERRORS,
        order_in_group=7,
        width=Width.MEDIUM,
        display_name="Dead Letter Queue Topic Replication Factor",
    )
    d.define(
        "errors.deadletterqueue.context.headers.enable",
        Type.BOOLEAN,
        False,
        importance=Importance.MEDIUM,
        documentation="Add __connect.errors.* headers to dead-lettered records.",
        group=ERRORS,
        order_in_group=8,
        width=Width.MEDIUM,
        display_name="Enable Error Context Headers",
    )


def sink_connector_def() -> ConfigDef:
    d = base_connector_def()
    d.define(
        "topics",
        Type.LIST,
        "",
        importance=Importance.HIGH,
        documentation="Topics to consume, comma-separated.",
        group=COMMON,
        order_in_group=4,
        width=Width.LONG,
        display_name="Topics",
    )
    d.define(
        "topics.regex",
        Type.STRING,
        "",
        importance=Importance.HIGH,
        documentation="Regular expression of the topics to consume.",
        group=COMMON,
        order_in_group=4,
        width=Width.LONG,
        display_name="Topics regex",
    )
    _pipeline_key(d)
    _dead_letter_keys(d)
    return d


def source_connector_def() -> ConfigDef:
    d = base_connector_def()
    _pipeline_key(d)
    _dead_letter_keys(d)
    d.define(
        "topic.creation.groups",
        Type.LIST,
        "",
        importance=Importance.LOW,
        documentation="Groups of topic.creation.<group>.* settings.",
        group="Topic Creation",
        order_in_group=1,
        width=Width.LONG,
        display_name="Topic Creation Groups",
    )
    d.define(
        "exactly.once.support",
        Type.STRING,
        "requested",
        ValidString.in_("requested", "required"),
        Importance.MEDIUM,
        "Whether exactly-once support is required.",
        group="Exactly Once Support",
        order_in_group=2,
        width=Width.SHORT,
        display_name="Exactly once support",
    )
    d.define(
        "transaction.boundary",
        Type.STRING,
        "poll",
        ValidString.in_("poll", "interval", "connector"),
        Importance.MEDIUM,
        "Where transactions begin and end.",
        group="Exactly Once Support",
        order_in_group=3,
        width=Width.SHORT,
        display_name="Transaction Boundary",
    )
    d.define(
        "transaction.boundary.interval.ms",
        Type.LONG,
        None,
        importance=Importance.LOW,
        documentation="Transaction length for transaction.boundary=interval.",
        group="Exactly Once Support",
        order_in_group=4,
        width=Width.SHORT,
        display_name="Transaction boundary interval",
    )
    d.define(
        "offsets.storage.topic",
        Type.STRING,
        None,
        importance=Importance.LOW,
        documentation="A separate offsets topic for this connector (distributed mode).",
        group="offsets.topic",
        order_in_group=1,
        width=Width.LONG,
        display_name="Offsets topic",
    )
    return d


def _enrich(
    registry: PluginRegistry, base: ConfigDef, props: Mapping[str, Any]
) -> tuple[ConfigDef, list[str]]:
    """Add transforms.<alias>.* and predicates.<alias>.* keys for the aliases configured."""
    errors: list[str] = []
    for kind, prefix, ptype in (
        ("transforms", "transforms", PluginType.TRANSFORMATION),
        ("predicates", "predicates", PluginType.PREDICATE),
    ):
        raw = props.get(kind) or ""
        aliases = [a.strip() for a in str(raw).split(",") if a.strip()]
        if len(set(aliases)) != len(aliases):
            errors.append("Duplicate alias provided.")
        for order, alias in enumerate(dict.fromkeys(aliases), start=1):
            group = f"{'Transforms' if kind == 'transforms' else 'Predicates'}: {alias}"
            own = ConfigDef().define(
                f"{prefix}.{alias}.type",
                Type.CLASS,
                importance=Importance.HIGH,
                documentation=f"Class for the '{alias}' {kind[:-1]}.",
                group=group,
                order_in_group=order,
                display_name=f"{kind[:-1].title()} type for {alias}",
            )
            if kind == "transforms":
                own.define(
                    f"{prefix}.{alias}.predicate",
                    Type.STRING,
                    None,
                    importance=Importance.MEDIUM,
                    documentation="The predicate alias deciding when this transform applies.",
                    group=group,
                    display_name="Predicate",
                )
                own.define(
                    f"{prefix}.{alias}.negate",
                    Type.BOOLEAN,
                    False,
                    importance=Importance.MEDIUM,
                    documentation="Apply the transform when the predicate is false.",
                    group=group,
                    display_name="Negate",
                )
            base = base.merge(own)
            type_name = props.get(f"{prefix}.{alias}.type")
            if type_name:
                try:
                    cls = registry.resolve(str(type_name), ptype)
                except Exception as e:  # an unknown class is reported as a value error below
                    errors.append(f"Invalid value {type_name} for configuration {prefix}.{alias}.type: {e}")
                    continue
                base = base.embed(f"{prefix}.{alias}.", group, order, cls.config_def())
    return base, errors


def framework_def(
    registry: PluginRegistry, connector_cls: type[Connector], props: Mapping[str, Any]
) -> ConfigDef:
    base = sink_connector_def() if issubclass(connector_cls, SinkConnector) else source_connector_def()
    return _enrich(registry, base, props)[0]


def _sink_checks(props: Mapping[str, Any], values: dict[str, ConfigValue]) -> None:
    topics = str(props.get("topics") or "").strip()
    regex = str(props.get("topics.regex") or "").strip()
    if topics and regex:
        msg = "topics and topics.regex are mutually exclusive options, but both are set."
        values["topics"].errors.append(msg)
        values["topics.regex"].errors.append(msg)
    elif not topics and not regex:
        msg = "Must configure one of topics or topics.regex"
        values["topics"].errors.append(msg)
        values["topics.regex"].errors.append(msg)
    dlq = str(props.get("errors.deadletterqueue.topic.name") or "").strip()
    if dlq and dlq in [t.strip() for t in topics.split(",")]:
        values["errors.deadletterqueue.topic.name"].errors.append(
            f"The DLQ topic '{dlq}' may not be included in the list of topics ('topics={topics}') "
            "consumed by the connector"
        )


CLIENT_OVERRIDE_PREFIXES = ("producer.override.", "consumer.override.", "admin.override.")
PRINCIPAL_KEYS = frozenset({"sasl.jaas.config", "sasl.mechanism", "security.protocol"})


def override_values(props: Mapping[str, Any], policy: str) -> list[ConfigValue]:
    """Check ``*.override.*`` client keys against ``connector.client.config.override.policy``."""
    out: list[ConfigValue] = []
    for key, value in props.items():
        prefix = next((p for p in CLIENT_OVERRIDE_PREFIXES if key.startswith(p)), None)
        if prefix is None:
            continue
        client_key = key[len(prefix) :]
        allowed = policy == "All" or (policy == "Principal" and client_key in PRINCIPAL_KEYS)
        errors = (
            []
            if allowed
            else [
                f"The '{policy}' policy does not allow '{client_key}' to be overridden in the connector "
                "configuration."
            ]
        )
        out.append(ConfigValue(key, value, [], errors, True))
    return out


def validate(
    registry: PluginRegistry, props: Mapping[str, Any], override_policy: str = "All"
) -> dict[str, Any]:
    """The ``/config/validate`` result for a connector config (a ConfigInfos dict).

    ``override_policy`` is the worker's ``connector.client.config.override.policy``.
    """
    cls_name = props.get("connector.class")
    if not cls_name:
        raise ConfigError(
            "Connector config " + str(dict(props)) + " contains no connector type", "connector.class"
        )
    connector_cls = registry.resolve(str(cls_name), (PluginType.SOURCE, PluginType.SINK))
    base = sink_connector_def() if issubclass(connector_cls, SinkConnector) else source_connector_def()
    enriched, extra_errors = _enrich(registry, base, props)
    values = {v.name: v for v in enriched.validate(props)}
    for k, v in props.items():
        if v is None and k in values:
            values[k].errors.append("Null value can not be supplied as the configuration value.")
    if issubclass(connector_cls, SinkConnector):
        _sink_checks(props, values)
    if extra_errors:
        values["transforms"].errors.extend(extra_errors)
    for alias_key in [k for k in values if k.endswith(".negate")]:
        pred_key = alias_key[: -len("negate")] + "predicate"
        if str(props.get(alias_key, "false")).strip().lower() == "true" and not props.get(pred_key):
            values[alias_key].errors.append("Must specify a predicate when negate is set")
    connector: Connector = connector_cls()  # type: ignore[assignment]
    own_def = connector_cls.config_def()
    own_values = [v for v in connector.validate(props) if v.name not in values]
    all_def = enriched.merge(own_def)
    groups = list(dict.fromkeys([*enriched.groups(), *own_def.groups()]))
    all_values = list(values.values()) + own_values
    for prefix, ptype in (
        ("key.converter", PluginType.CONVERTER),
        ("value.converter", PluginType.CONVERTER),
        ("header.converter", PluginType.HEADER_CONVERTER),
    ):
        conv_name = props.get(prefix)
        if not conv_name:
            continue
        try:
            conv_cls = registry.resolve(str(conv_name), ptype)
        except Exception as e:
            values[prefix].errors.append(f"Invalid value {conv_name} for configuration {prefix}: {e}")
            continue
        conv_def = ConfigDef().embed(prefix + ".", prefix, 0, conv_cls.config_def())
        # Kafka sets converter.type (key, value or header) before validating a converter
        sub = {f"{prefix}.converter.type": prefix.split(".")[0]}
        sub.update({k: v for k, v in props.items() if k.startswith(prefix + ".")})
        conv_values = conv_def.validate(sub)
        all_def = all_def.merge(conv_def)
        all_values.extend(conv_values)
    all_values.extend(override_values(props, override_policy))
    return validation_result(str(cls_name), all_def, all_values, groups)


def error_messages(result: Mapping[str, Any]) -> list[str]:
    """The error texts of a validation result, in config order."""
    out: list[str] = []
    for entry in result["configs"]:
        value = entry.get("value")
        if value:
            out.extend(value["errors"])
    return out


def check(registry: PluginRegistry, props: Mapping[str, Any], override_policy: str = "All") -> None:
    """Raise ConfigError with Kafka's create-time message if the config is invalid."""
    result = validate(registry, props, override_policy)
    if result["error_count"] > 0:
        errs = error_messages(result)
        first_key = next(
            (e["value"]["name"] for e in result["configs"] if e.get("value") and e["value"]["errors"]), None
        )
        raise ConfigError(
            f"Connector configuration is invalid and contains the following {len(errs)} error(s):\n"
            + "\n".join(errs)
            + "\nYou can also find the above list of errors at the endpoint "
            "`/connector-plugins/{connectorType}/config/validate`",
            first_key,
        )


SECRET_SUFFIXES = ("password", "sasl.jaas.config", "secret")


def secret_keys(registry: PluginRegistry, props: Mapping[str, Any]) -> frozenset[str]:
    """Keys of ``props`` whose value must not be shown: PASSWORD-typed in the connector's,
    a converter's or a transform's definition, or named like a secret (``…password``,
    ``…sasl.jaas.config``, ``…secret``: client overrides the definitions do not type)."""
    named = {k for k in props if k.lower().endswith(SECRET_SUFFIXES)}
    try:
        result = validate(registry, props)
    except Exception:
        return frozenset(named)
    definitions = [e.get("definition") or {} for e in result["configs"]]
    typed = {d["name"] for d in definitions if d.get("type") == "PASSWORD" and d.get("name") in props}
    return frozenset(named | typed)


_URL_PASSWORD = re.compile(r"(://[^/@:\s]*:)[^/@\s]+(@)")
_QUERY_PASSWORD = re.compile(r"([?&;]password=)[^&;\s]*", re.IGNORECASE)


def masked_value(key: str, value: str, secrets: frozenset[str]) -> str:
    """A value as shown: ``[hidden]`` for a secret key; a URL with its password hidden
    (``postgresql://user:[hidden]@host/db``, ``…?password=[hidden]``)."""
    if key in secrets:
        return value if only_placeholders(value) else HIDDEN  # ${file:/p:k} is no secret
    if "password=" in value.lower() or "@" in value:
        value = _QUERY_PASSWORD.sub(rf"\g<1>{HIDDEN}", _URL_PASSWORD.sub(rf"\g<1>{HIDDEN}\g<2>", value))
    return value


def masked(config: Mapping[str, str], secrets: frozenset[str]) -> dict[str, str]:
    """``config`` as the REST API shows it: secrets and passwords inside URLs hidden."""
    return {k: v if v is None else masked_value(k, v, secrets) for k, v in config.items()}


def unmasked(
    config: Mapping[str, str], stored: Mapping[str, str] | None, secrets: frozenset[str]
) -> dict[str, str]:
    """A config sent back as it was read (secrets hidden) with the stored secrets put back,
    so GET then PUT of a connector's config keeps its passwords: a value equal to the
    masked form of the stored one means the stored one."""
    if not stored:
        return dict(config)
    out = dict(config)
    for k, v in config.items():
        old = stored.get(k)
        if old is not None and v != old and v == masked_value(k, old, secrets):
            out[k] = old
    return out
