"""engine.plugins: discovery through entry points and plugin.path, name resolution, listing."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator, Mapping, Set
from importlib import metadata
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import pytest

from engine.plugins import (
    ENTRY_POINT_GROUPS,
    PluginDesc,
    PluginRegistry,
    PluginType,
    class_name,
    plugin_type,
)
from engine.spi import (
    ConfigData,
    ConfigProvider,
    Converter,
    HeaderConverter,
    Plugin,
    PluginError,
    Predicate,
    SinkConnector,
    SinkTask,
    SourceBatch,
    SourceConnector,
    SourceTask,
    Task,
    Transformation,
)

# --------------------------------------------------------------------------- fake plugins


class FakeSourceTask(SourceTask):
    def start(self, props: Mapping[str, str]) -> None:
        pass

    def stop(self) -> None:
        pass

    def poll(self) -> SourceBatch | None:
        return None


class FakeSinkTask(SinkTask):
    def start(self, props: Mapping[str, str]) -> None:
        pass

    def stop(self) -> None:
        pass

    def put(self, batch: pa.RecordBatch) -> None:
        pass


class _ConnectorBase:
    def start(self, props: Mapping[str, str]) -> None:
        pass

    def task_configs(self, max_tasks: int) -> list[dict[str, str]]:
        return []

    def stop(self) -> None:
        pass


class FakeSourceConnector(_ConnectorBase, SourceConnector):
    aliases = ("org.example.connect.FakeSourceConnector",)
    instances: ClassVar[int] = 0

    def __init__(self) -> None:
        type(self).instances += 1

    def task_class(self) -> type[Task]:
        return FakeSourceTask

    def version(self) -> str:
        return "1.2.3"


class FakeSinkConnector(_ConnectorBase, SinkConnector):
    aliases = ("org.example.connect.FakeSink",)

    def task_class(self) -> type[Task]:
        return FakeSinkTask


class UpperCaseTransformation(Transformation):
    aliases = ("org.example.transforms.UpperCase$Value",)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch


class RenameTransform(Transformation):
    aliases = ("org.example.transforms.Rename", "org.example.Shared")

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch


class DropTransform(Transformation):
    aliases = ("org.example.transforms.Drop", "org.example.Shared")

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch


class HasFooPredicate(Predicate):
    aliases: ClassVar[tuple[str, ...]] = ("org.example.predicates.HasFoo", "org.example.transforms.Rename")

    def test(self, batch: pa.RecordBatch) -> pa.BooleanArray:
        return pa.array([True] * batch.num_rows)


class FakeJsonConverter(Converter, HeaderConverter):
    aliases = ("org.example.json.FakeJsonConverter",)

    def configure(self, configs: Mapping[str, str], is_key: bool = False) -> None:
        pass

    def from_connect_data(self, topic: str, field: pa.Field, values: pa.Array) -> pa.Array:
        return values

    def to_connect_data(self, topic: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
        return pa.field("value", data.type), data

    def from_connect_header(self, topic: str, header_key: str, field: pa.Field, values: pa.Array) -> pa.Array:
        return values

    def to_connect_header(self, topic: str, header_key: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
        return pa.field("value", data.type), data


class SimpleHeaderConverter(HeaderConverter):
    def from_connect_header(self, topic: str, header_key: str, field: pa.Field, values: pa.Array) -> pa.Array:
        return values

    def to_connect_header(self, topic: str, header_key: str, data: pa.Array) -> tuple[pa.Field, pa.Array]:
        return pa.field("value", data.type), data


class EnvConfigProvider(ConfigProvider):
    def get(self, path: str, keys: Set[str] | None = None) -> ConfigData:
        return ConfigData({})


class UnregisteredTransformation(Transformation):
    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch


class AbstractTransformation(Transformation):
    pass


class ExplodingConnector(FakeSinkConnector):
    def __init__(self) -> None:
        raise RuntimeError("boom")


class BadVersionPredicate(HasFooPredicate):
    aliases = ()

    def version(self) -> str:
        raise RuntimeError("no version")


ALL_FAKES: tuple[type[Plugin], ...] = (
    FakeSourceConnector,
    FakeSinkConnector,
    UpperCaseTransformation,
    RenameTransform,
    DropTransform,
    HasFooPredicate,
    FakeJsonConverter,
    SimpleHeaderConverter,
    EnvConfigProvider,
)


@pytest.fixture
def registry() -> PluginRegistry:
    reg = PluginRegistry()
    for cls in ALL_FAKES:
        reg.register(cls)
    reg.register(FakeSourceConnector, names=["FakeSrc"])
    reg.register(FakeJsonConverter, PluginType.HEADER_CONVERTER, names=["FakeJson"])
    return reg


# --------------------------------------------------------------------------- registration


def test_plugin_type_by_subclass() -> None:
    assert plugin_type(FakeSourceConnector) is PluginType.SOURCE
    assert plugin_type(FakeSinkConnector) is PluginType.SINK
    assert plugin_type(UpperCaseTransformation) is PluginType.TRANSFORMATION
    assert plugin_type(HasFooPredicate) is PluginType.PREDICATE
    assert plugin_type(FakeJsonConverter) is PluginType.CONVERTER
    assert plugin_type(SimpleHeaderConverter) is PluginType.HEADER_CONVERTER
    assert plugin_type(EnvConfigProvider) is PluginType.CONFIG_PROVIDER
    with pytest.raises(PluginError, match=r"is not a plugin"):
        plugin_type(FakeSourceTask)


def test_registry_plugin_type(registry: PluginRegistry) -> None:
    assert registry.plugin_type(SimpleHeaderConverter) is PluginType.HEADER_CONVERTER
    assert registry.plugin_type(FakeJsonConverter) is PluginType.CONVERTER
    assert registry.plugin_type(UnregisteredTransformation) is PluginType.TRANSFORMATION


def test_register_describes_the_plugin(registry: PluginRegistry) -> None:
    [source] = registry.plugins(PluginType.SOURCE)
    assert source == PluginDesc(
        cls=FakeSourceConnector,
        type=PluginType.SOURCE,
        class_name=f"{__name__}.FakeSourceConnector",
        version="1.2.3",
        aliases=("org.example.connect.FakeSourceConnector", "FakeSrc"),
    )
    [sink] = registry.plugins(PluginType.SINK)
    from engine import __version__

    assert sink.version == __version__
    assert sink.aliases == ("org.example.connect.FakeSink",)


def test_register_twice_merges_names(registry: PluginRegistry) -> None:
    registry.register(FakeSourceConnector, PluginType.SOURCE, names=["Another", "FakeSrc"])
    [source] = registry.plugins(PluginType.SOURCE)
    assert source.aliases == ("org.example.connect.FakeSourceConnector", "FakeSrc", "Another")
    assert registry.resolve("Another") is FakeSourceConnector


def test_register_refuses_non_plugins() -> None:
    reg = PluginRegistry()
    with pytest.raises(PluginError, match=r"is not a SourceConnector"):
        reg.register(FakeSinkConnector, PluginType.SOURCE)
    with pytest.raises(PluginError, match=r"is abstract"):
        reg.register(AbstractTransformation)
    with pytest.raises(PluginError, match=r"Cannot instantiate .*ExplodingConnector: boom"):
        reg.register(ExplodingConnector)
    with pytest.raises(PluginError, match=r"is not a class"):
        reg.register(FakeSinkConnector(), PluginType.SINK)  # type: ignore[arg-type]
    assert reg.plugins() == []


def test_version_failure_is_undefined(caplog: pytest.LogCaptureFixture) -> None:
    reg = PluginRegistry()
    with caplog.at_level(logging.WARNING, logger="engine.plugins"):
        desc = reg.register(BadVersionPredicate)
    assert desc.version == "undefined"
    assert "failed to report its version: no version" in caplog.text


def test_prototype_is_cached() -> None:
    reg = PluginRegistry()
    before = FakeSourceConnector.instances
    reg.register(FakeSourceConnector)
    proto = reg.prototype(FakeSourceConnector)
    assert isinstance(proto, FakeSourceConnector)
    assert reg.prototype(FakeSourceConnector) is proto
    reg.register(FakeSourceConnector, names=["again"])
    assert FakeSourceConnector.instances == before + 1


# --------------------------------------------------------------------------- resolution


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # Python path, both spellings
        (f"{__name__}.FakeSourceConnector", FakeSourceConnector),
        (f"{__name__}:FakeSourceConnector", FakeSourceConnector),
        # simple and pruned names
        ("FakeSourceConnector", FakeSourceConnector),
        ("FakeSource", FakeSourceConnector),
        ("FakeSinkConnector", FakeSinkConnector),
        ("FakeSink", FakeSinkConnector),
        ("UpperCaseTransformation", UpperCaseTransformation),
        ("UpperCase", UpperCaseTransformation),
        ("RenameTransform", RenameTransform),
        ("HasFooPredicate", HasFooPredicate),
        ("HasFoo", HasFooPredicate),
        ("FakeJsonConverter", FakeJsonConverter),
        ("FakeJson", FakeJsonConverter),
        ("SimpleHeaderConverter", SimpleHeaderConverter),
        ("SimpleHeader", SimpleHeaderConverter),
        ("Simple", SimpleHeaderConverter),
        ("EnvConfigProvider", EnvConfigProvider),
        ("Env", EnvConfigProvider),
        # entry-point names
        ("FakeSrc", FakeSourceConnector),
        # aliases and their simple / pruned forms
        ("org.example.connect.FakeSourceConnector", FakeSourceConnector),
        ("org.example.connect.FakeSink", FakeSinkConnector),
        ("org.example.transforms.UpperCase$Value", UpperCaseTransformation),
        ("UpperCase$Value", UpperCaseTransformation),
        ("org.example.transforms.Drop", DropTransform),
        ("Drop", DropTransform),
        ("org.example.predicates.HasFoo", HasFooPredicate),
        ("org.example.json.FakeJsonConverter", FakeJsonConverter),
        # surrounding whitespace is trimmed, as Kafka trims config values
        ("  FakeSource ", FakeSourceConnector),
    ],
)
def test_resolve_every_name_form(registry: PluginRegistry, name: str, expected: type[Plugin]) -> None:
    assert registry.resolve(name) is expected
    assert registry.resolve(name, plugin_type(expected)) is expected


def test_resolve_restricts_to_kinds(registry: PluginRegistry) -> None:
    connectors = {PluginType.SOURCE, PluginType.SINK}
    assert registry.resolve("FakeSink", connectors) is FakeSinkConnector
    assert registry.resolve("FakeJson", PluginType.HEADER_CONVERTER) is FakeJsonConverter
    with pytest.raises(PluginError, match=r"^Failed to find any class that implements Connector"):
        registry.resolve("UpperCase", connectors)
    with pytest.raises(PluginError, match=r"^Failed to find any class that implements Converter"):
        registry.resolve("SimpleHeader", PluginType.CONVERTER)


def test_ambiguous_alias_is_refused(registry: PluginRegistry) -> None:
    with pytest.raises(PluginError) as caught:
        registry.resolve("org.example.Shared", PluginType.TRANSFORMATION)
    assert str(caught.value) == (
        "More than one transformation matches alias org.example.Shared. Please use full package and class "
        f"name instead. Classes found: {__name__}.DropTransform, {__name__}.RenameTransform"
    )
    with pytest.raises(PluginError, match=r"^More than one transformation matches alias Shared."):
        registry.resolve("Shared", PluginType.TRANSFORMATION)
    # the full class names still work
    assert registry.resolve(f"{__name__}.DropTransform", PluginType.TRANSFORMATION) is DropTransform
    assert registry.resolve(f"{__name__}.RenameTransform", PluginType.TRANSFORMATION) is RenameTransform


def test_ambiguity_only_counts_the_kinds_asked_for(registry: PluginRegistry) -> None:
    # RenameTransform prunes to "Rename"; HasFooPredicate has the alias org.example.transforms.Rename
    for alias in ("org.example.transforms.Rename", "Rename"):
        assert registry.resolve(alias, PluginType.TRANSFORMATION) is RenameTransform
        assert registry.resolve(alias, PluginType.PREDICATE) is HasFooPredicate
        with pytest.raises(PluginError, match=rf"^More than one plugin matches alias {alias}. Please use"):
            registry.resolve(alias)


def test_one_class_under_two_kinds_is_not_ambiguous(registry: PluginRegistry) -> None:
    kinds = {PluginType.CONVERTER, PluginType.HEADER_CONVERTER}
    assert registry.resolve("org.example.json.FakeJsonConverter", kinds) is FakeJsonConverter


def test_unknown_name_message(registry: PluginRegistry) -> None:
    with pytest.raises(PluginError) as caught:
        registry.resolve("NoSuchConnector", {PluginType.SOURCE, PluginType.SINK})
    assert str(caught.value) == (
        "Failed to find any class that implements Connector and which name matches NoSuchConnector, "
        f"available connectors are: {__name__}.FakeSinkConnector, {__name__}.FakeSourceConnector"
    )


@pytest.mark.parametrize(
    ("kinds", "noun", "plural", "listed"),
    [
        (PluginType.SOURCE, "Connector", "connectors", "FakeSourceConnector"),
        (PluginType.CONVERTER, "Converter", "converters", "FakeJsonConverter"),
        (
            PluginType.HEADER_CONVERTER,
            "HeaderConverter",
            "header converters",
            f"FakeJsonConverter, {__name__}.SimpleHeaderConverter",
        ),
        (PluginType.PREDICATE, "Predicate", "predicates", "HasFooPredicate"),
        (PluginType.CONFIG_PROVIDER, "ConfigProvider", "config providers", "EnvConfigProvider"),
    ],
)
def test_unknown_name_message_per_kind(
    registry: PluginRegistry, kinds: PluginType, noun: str, plural: str, listed: str
) -> None:
    with pytest.raises(PluginError) as caught:
        registry.resolve("Nope", kinds)
    assert str(caught.value) == (
        f"Failed to find any class that implements {noun} and which name matches Nope, "
        f"available {plural} are: {__name__}.{listed}"
    )


def test_unknown_name_of_transformation(registry: PluginRegistry) -> None:
    with pytest.raises(PluginError) as caught:
        registry.resolve("Nope", PluginType.TRANSFORMATION)
    assert str(caught.value).startswith(
        "Failed to find any class that implements Transformation and which name matches Nope, "
        "available transformations are: "
    )
    with pytest.raises(
        PluginError, match=r"^Failed to find any class that implements Plugin .*available plugins"
    ):
        registry.resolve("Nope")


def test_unknown_name_is_an_import_error(registry: PluginRegistry) -> None:
    with pytest.raises(ImportError):
        registry.resolve("Nope")


def test_importable_dotted_path_is_accepted(registry: PluginRegistry) -> None:
    dotted = f"{__name__}.UnregisteredTransformation"
    assert registry.resolve(dotted, PluginType.TRANSFORMATION) is UnregisteredTransformation
    assert registry.resolve(f"{__name__}:UnregisteredTransformation") is UnregisteredTransformation
    assert registry.resolve(f"{__name__}.FakeSinkConnector", PluginType.SINK) is FakeSinkConnector
    # not listed: it was never registered
    assert UnregisteredTransformation not in [d.cls for d in registry.plugins()]


@pytest.mark.parametrize(
    "name",
    [
        f"{__name__}.UnregisteredTransformation",  # wrong kind for a connector
        f"{__name__}.AbstractTransformation",  # abstract
        f"{__name__}.FakeSourceTask",  # not a plugin
        f"{__name__}.Missing",  # no such attribute
        "no_such_module_xyz.Thing",  # no such module
        "json.JSONDecoder",  # importable but not a plugin
        "Thing",
        ":Thing",
        "a.:b",
    ],
)
def test_importable_path_must_be_a_concrete_plugin_of_the_kind(registry: PluginRegistry, name: str) -> None:
    with pytest.raises(PluginError, match=r"^Failed to find any class that implements Connector"):
        registry.resolve(name, {PluginType.SOURCE, PluginType.SINK})


def test_plugins_listing_order(registry: PluginRegistry) -> None:
    listing = [(d.type, d.cls) for d in registry.plugins()]
    assert listing == [
        (PluginType.SINK, FakeSinkConnector),
        (PluginType.SOURCE, FakeSourceConnector),
        (PluginType.TRANSFORMATION, DropTransform),
        (PluginType.TRANSFORMATION, RenameTransform),
        (PluginType.TRANSFORMATION, UpperCaseTransformation),
        (PluginType.PREDICATE, HasFooPredicate),
        (PluginType.CONVERTER, FakeJsonConverter),
        (PluginType.HEADER_CONVERTER, FakeJsonConverter),
        (PluginType.HEADER_CONVERTER, SimpleHeaderConverter),
        (PluginType.CONFIG_PROVIDER, EnvConfigProvider),
    ]
    connectors = registry.plugins({PluginType.SOURCE, PluginType.SINK})
    assert [d.cls for d in connectors] == [FakeSinkConnector, FakeSourceConnector]
    assert [d.class_name for d in registry.plugins(PluginType.PREDICATE)] == [f"{__name__}.HasFooPredicate"]


def test_class_name() -> None:
    assert class_name(FakeSinkConnector) == f"{__name__}.FakeSinkConnector"


# --------------------------------------------------------------------------- discovery through plugin.path

PACKAGE = "arrowsmith_test_fake_plugins"

PACKAGE_SOURCE = """
from __future__ import annotations

from engine.spi import Predicate, SourceConnector, SourceTask, Transformation


class PathSourceTask(SourceTask):
    def start(self, props):
        pass

    def stop(self):
        pass

    def poll(self):
        return None


class PathSourceConnector(SourceConnector):
    aliases = ("org.example.path.PathSourceConnector",)

    def start(self, props):
        pass

    def task_class(self):
        return PathSourceTask

    def task_configs(self, max_tasks):
        return []

    def stop(self):
        pass

    def version(self):
        return "9.9"


class PathTransform(Transformation):
    def apply(self, batch):
        return batch


class PathPredicate(Predicate):
    def test(self, batch):
        return None


class NotAPlugin:
    pass
"""

ENTRY_POINTS = f"""
[arrowsmith.connectors]
PathSource = {PACKAGE}:PathSourceConnector
NotAConnector = {PACKAGE}:PathTransform

[arrowsmith.transforms]
PathT = {PACKAGE}:PathTransform
Broken = {PACKAGE}.broken:Thing
Missing = {PACKAGE}:DoesNotExist
Plain = {PACKAGE}:NotAPlugin

[arrowsmith.predicates]
PathP = {PACKAGE}:PathPredicate

[console_scripts]
ignored = {PACKAGE}:main
"""


def make_plugin_dir(root: Path) -> Path:
    """A plugin.path directory holding one distribution, as an unpacked wheel leaves it."""
    plugin_dir = root / "plugins"
    package = plugin_dir / PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(PACKAGE_SOURCE))
    (package / "broken.py").write_text("raise ImportError('this plugin is broken')\n")
    dist_info = plugin_dir / f"{PACKAGE}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PACKAGE}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(ENTRY_POINTS)
    return plugin_dir


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield make_plugin_dir(tmp_path)
    for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
        del sys.modules[name]


def test_plugin_path_discovery(plugin_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="engine.plugins"):
        reg = PluginRegistry.discover([str(plugin_dir)], installed=False)
    assert str(plugin_dir.resolve()) in sys.path
    listing = [(d.type, d.class_name, d.version, d.aliases) for d in reg.plugins()]
    assert listing == [
        (
            PluginType.SOURCE,
            f"{PACKAGE}.PathSourceConnector",
            "9.9",
            ("org.example.path.PathSourceConnector", "PathSource"),
        ),
        (PluginType.TRANSFORMATION, f"{PACKAGE}.PathTransform", reg.plugins()[1].version, ("PathT",)),
        (PluginType.PREDICATE, f"{PACKAGE}.PathPredicate", reg.plugins()[2].version, ("PathP",)),
    ]
    source = reg.plugins(PluginType.SOURCE)[0].cls
    for name in (
        "PathSource",
        "PathSourceConnector",
        "org.example.path.PathSourceConnector",
        f"{PACKAGE}.PathSourceConnector",
    ):
        assert reg.resolve(name, PluginType.SOURCE) is source
    assert reg.resolve("PathT", PluginType.TRANSFORMATION).__name__ == "PathTransform"
    assert reg.resolve("Path", PluginType.PREDICATE).__name__ == "PathPredicate"
    # each broken entry is logged and skipped; the rest still loads
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4
    assert any("NotAConnector" in w and "not a SourceConnector or SinkConnector" in w for w in warnings)
    assert any("Broken" in w and "this plugin is broken" in w for w in warnings)
    assert any("Missing" in w and "DoesNotExist" in w for w in warnings)
    assert any("Plain" in w and "not a Transformation" in w for w in warnings)


def test_plugin_path_with_installed_plugins(plugin_dir: Path) -> None:
    reg = PluginRegistry.discover([str(plugin_dir)])
    assert reg.resolve("PathSource").__name__ == "PathSourceConnector"


def test_plugin_path_entry_that_is_not_a_directory(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="engine.plugins"):
        reg = PluginRegistry.discover([str(tmp_path / "nope")], installed=False)
    assert reg.plugins() == []
    assert "not a directory" in caplog.text


def test_plugin_path_directory_without_distributions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert PluginRegistry.discover([str(tmp_path)], installed=False).plugins() == []


def test_entry_point_groups() -> None:
    assert set(ENTRY_POINT_GROUPS) == {
        "arrowsmith.connectors",
        "arrowsmith.converters",
        "arrowsmith.header_converters",
        "arrowsmith.transforms",
        "arrowsmith.predicates",
        "arrowsmith.config_providers",
    }


def test_builtins_are_entry_points_installed_or_not() -> None:
    # Installed or run from the source tree, the built-ins come from pyproject.toml's entry points.
    from engine.plugins import _installed_entry_points

    converters = {ep.name: ep.value for ep in _installed_entry_points("arrowsmith.converters")}
    assert converters["JsonConverter"] == "engine.converters.json_converter:JsonConverter"
    connectors = {ep.name for ep in _installed_entry_points("arrowsmith.connectors")}
    assert {"FileStreamSource", "FileStreamSink"} <= connectors


def test_source_tree_fallback_reads_pyproject(monkeypatch: pytest.MonkeyPatch) -> None:
    # Run from a source tree that is not pip-installed, the built-ins still register.
    from engine import plugins

    def not_installed(name: str) -> metadata.Distribution:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", not_installed)
    plugins._source_tree_pyproject.cache_clear()
    try:
        connectors = plugins._source_tree_entry_points("arrowsmith.connectors")
        transforms = plugins._source_tree_entry_points("arrowsmith.no_such_group")
    finally:
        plugins._source_tree_pyproject.cache_clear()
    assert {ep.name: ep.value for ep in connectors}["FileStreamSource"] == (
        "connectors.file.source:FileStreamSourceConnector"
    )
    assert all(ep.group == "arrowsmith.connectors" for ep in connectors)
    assert transforms == []


def test_discover_never_fails_on_builtins() -> None:
    # Built-ins still being written may not import yet: discovery logs them and goes on.
    reg = PluginRegistry.discover()
    for desc in reg.plugins():
        assert reg.resolve(desc.class_name, desc.type) is desc.cls


def test_resolves_apache_json_converter() -> None:
    module = pytest.importorskip("engine.converters.json_converter")
    reg = PluginRegistry.discover()
    name = "org.apache.kafka.connect.json.JsonConverter"
    assert reg.resolve(name, PluginType.CONVERTER) is module.JsonConverter
    assert reg.resolve("JsonConverter", PluginType.CONVERTER) is module.JsonConverter
    assert reg.resolve("Json", PluginType.CONVERTER) is module.JsonConverter
