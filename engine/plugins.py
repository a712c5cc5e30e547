"""The plugin registry: which plugin classes exist, and which class a name in a config means.

Plugins register through entry points, the built-in ones exactly like a third party's:

======================================  =============================================
entry-point group                       plugin type
======================================  =============================================
``arrowsmith.connectors``               source or sink (by subclass)
``arrowsmith.converters``               converter
``arrowsmith.header_converters``        header converter
``arrowsmith.transforms``               transformation
``arrowsmith.predicates``               predicate
``arrowsmith.config_providers``         config provider
======================================  =============================================

:meth:`PluginRegistry.discover` reads the installed distributions, then each ``plugin.path``
directory: the directory is put on ``sys.path`` and the distributions installed in it (a
package next to its ``.dist-info``, as ``pip install --target`` or an unpacked wheel leaves
them) are read the same way. A plugin that fails to load is logged and skipped.

A plugin answers to (Kafka Connect's rules, extended with entry points):

* its Python path, ``connectors.file.source.FileStreamSourceConnector`` (also with ``:``);
* its simple class name and its *pruned* name (the simple name without the type suffix:
  ``Connector``, ``Converter``, ``HeaderConverter``, ``Transformation``/``Transform``,
  ``Predicate``, ``ConfigProvider``);
* its entry-point names;
* each of its ``aliases`` (``org.apache.kafka.connect.file.FileStreamSourceConnector``) and the
  simple and pruned forms of those.

A name that several plugins of the kinds asked for answer to is ambiguous and refused. A dotted
path that is not registered but imports to a class of the right kind is accepted too.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import sys
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from importlib import metadata
from pathlib import Path
from typing import Final, TypeVar, cast

from engine.spi.connector import SinkConnector, SourceConnector
from engine.spi.converter import Converter, HeaderConverter
from engine.spi.errors import PluginError
from engine.spi.plugin import Plugin
from engine.spi.provider import ConfigProvider
from engine.spi.transform import Predicate, Transformation

log = logging.getLogger(__name__)

P = TypeVar("P", bound=Plugin)


class PluginType(StrEnum):
    SOURCE = "source"
    SINK = "sink"
    CONVERTER = "converter"
    HEADER_CONVERTER = "header_converter"
    TRANSFORMATION = "transformation"
    PREDICATE = "predicate"
    CONFIG_PROVIDER = "config_provider"


CONNECTOR_GROUP: Final = "arrowsmith.connectors"
ENTRY_POINT_GROUPS: Final[dict[str, tuple[PluginType, ...]]] = {
    CONNECTOR_GROUP: (PluginType.SOURCE, PluginType.SINK),
    "arrowsmith.converters": (PluginType.CONVERTER,),
    "arrowsmith.header_converters": (PluginType.HEADER_CONVERTER,),
    "arrowsmith.transforms": (PluginType.TRANSFORMATION,),
    "arrowsmith.predicates": (PluginType.PREDICATE,),
    "arrowsmith.config_providers": (PluginType.CONFIG_PROVIDER,),
}

_BASES: Final[dict[PluginType, type[Plugin]]] = {
    PluginType.SOURCE: SourceConnector,
    PluginType.SINK: SinkConnector,
    PluginType.CONVERTER: Converter,
    PluginType.HEADER_CONVERTER: HeaderConverter,
    PluginType.TRANSFORMATION: Transformation,
    PluginType.PREDICATE: Predicate,
    PluginType.CONFIG_PROVIDER: ConfigProvider,
}

# GET /connector-plugins order; config providers (not listed there by Kafka) last.
_LISTING_ORDER: Final = (
    PluginType.SINK,
    PluginType.SOURCE,
    PluginType.TRANSFORMATION,
    PluginType.PREDICATE,
    PluginType.CONVERTER,
    PluginType.HEADER_CONVERTER,
    PluginType.CONFIG_PROVIDER,
)

_SUFFIXES: Final[dict[PluginType, tuple[str, ...]]] = {
    PluginType.SOURCE: ("Connector",),
    PluginType.SINK: ("Connector",),
    PluginType.CONVERTER: ("Converter",),
    PluginType.HEADER_CONVERTER: ("HeaderConverter", "Converter"),
    PluginType.TRANSFORMATION: ("Transformation", "Transform"),
    PluginType.PREDICATE: ("Predicate",),
    PluginType.CONFIG_PROVIDER: ("ConfigProvider",),
}

_UNDEFINED_VERSION: Final = "undefined"


@dataclass(frozen=True, slots=True)
class PluginDesc:
    """One registered plugin of one type (a class registered as two types has two).

    ``class_name`` is the Python dotted path; ``aliases`` are the class's declared
    ``aliases`` followed by its entry-point names.
    """

    cls: type[Plugin]
    type: PluginType
    class_name: str
    version: str
    aliases: tuple[str, ...] = ()


def class_name(cls: type) -> str:
    """The Python dotted path of a class."""
    return f"{cls.__module__}.{cls.__qualname__}"


def plugin_type(cls: type) -> PluginType:
    """The type of a plugin class, by the SPI class it subclasses (converters before header converters)."""
    for kind in PluginType:
        if issubclass(cls, _BASES[kind]):
            return kind
    raise PluginError(f"{class_name(cls)} is not a plugin: it subclasses none of the SPI plugin classes")


def _pruned(simple: str, kind: PluginType) -> list[str]:
    return [simple[: -len(s)] for s in _SUFFIXES[kind] if simple.endswith(s) and len(simple) > len(s)]


def _names_of(desc: PluginDesc) -> frozenset[str]:
    """Every name the plugin answers to, apart from its Python path."""
    simple = desc.cls.__name__
    names = {simple, *_pruned(simple, desc.type)}
    for alias in desc.aliases:
        alias_simple = alias.rsplit(".", 1)[-1]
        names.update((alias, alias_simple, *_pruned(alias_simple, desc.type)))
    return frozenset(names)


_NOUNS: Final[dict[frozenset[PluginType], tuple[str, str]]] = {
    frozenset({PluginType.SOURCE}): ("Connector", "connectors"),
    frozenset({PluginType.SINK}): ("Connector", "connectors"),
    frozenset({PluginType.SOURCE, PluginType.SINK}): ("Connector", "connectors"),
    frozenset({PluginType.CONVERTER}): ("Converter", "converters"),
    frozenset({PluginType.HEADER_CONVERTER}): ("HeaderConverter", "header converters"),
    frozenset({PluginType.TRANSFORMATION}): ("Transformation", "transformations"),
    frozenset({PluginType.PREDICATE}): ("Predicate", "predicates"),
    frozenset({PluginType.CONFIG_PROVIDER}): ("ConfigProvider", "config providers"),
}


def _kinds(kinds: PluginType | Collection[PluginType] | None) -> frozenset[PluginType]:
    if kinds is None:
        return frozenset(PluginType)
    if isinstance(kinds, PluginType):
        return frozenset({kinds})
    return frozenset(PluginType(k) for k in kinds)


class PluginRegistry:
    """The plugins known to this process, by type; resolves names to classes."""

    def __init__(self) -> None:
        self._descs: dict[tuple[PluginType, type[Plugin]], PluginDesc] = {}
        self._names: dict[tuple[PluginType, type[Plugin]], frozenset[str]] = {}
        self._prototypes: dict[type[Plugin], Plugin] = {}

    @classmethod
    def discover(cls, plugin_path: Sequence[str] = (), *, installed: bool = True) -> PluginRegistry:
        """Load the plugins of the installed distributions (unless ``installed`` is false) and
        of the distributions in each ``plugin.path`` directory."""
        registry = cls()
        if installed:
            scanned = metadata.entry_points()  # one scan of the distributions for every group
            for group in ENTRY_POINT_GROUPS:
                for entry_point in _installed_entry_points(group, scanned.select(group=group)):
                    registry._load(entry_point, group)
        for directory in plugin_path:
            for group, entry_point in _path_entry_points(directory):
                registry._load(entry_point, group)
        log.info("Loaded %d plugins", len(registry._descs))
        return registry

    def _load(self, entry_point: metadata.EntryPoint, group: str) -> None:
        try:
            obj = entry_point.load()
        except Exception as err:
            log.warning("Skipping plugin %s = %s (%s): %s", entry_point.name, entry_point.value, group, err)
            return
        kinds = [k for k in ENTRY_POINT_GROUPS[group] if isinstance(obj, type) and issubclass(obj, _BASES[k])]
        if not kinds:
            expected = " or ".join(_BASES[k].__name__ for k in ENTRY_POINT_GROUPS[group])
            log.warning(
                "Skipping plugin %s = %s (%s): not a %s", entry_point.name, entry_point.value, group, expected
            )
            return
        try:
            self.register(cast(type[Plugin], obj), kinds[0], names=[entry_point.name])
        except PluginError as err:
            log.warning("Skipping plugin %s = %s (%s): %s", entry_point.name, entry_point.value, group, err)

    def register(
        self, plugin: type[Plugin], kind: PluginType | None = None, *, names: Iterable[str] = ()
    ) -> PluginDesc:
        """Register a class as a plugin of ``kind`` (by default its :func:`plugin_type`).

        ``names`` are extra names it answers to (entry-point names). Registering the same
        class and kind again adds the names. Raises PluginError if the class is not of that
        kind, is abstract, or cannot be instantiated.
        """
        if not isinstance(plugin, type):
            raise PluginError(f"{plugin!r} is not a class")
        kind = plugin_type(plugin) if kind is None else PluginType(kind)
        if not issubclass(plugin, _BASES[kind]):
            raise PluginError(f"{class_name(plugin)} is not a {_BASES[kind].__name__}")
        if inspect.isabstract(plugin):
            raise PluginError(f"{class_name(plugin)} is abstract")
        slot = (kind, plugin)
        existing = self._descs.get(slot)
        if existing is None:
            desc = PluginDesc(plugin, kind, class_name(plugin), self._version(plugin), tuple(plugin.aliases))
        else:
            desc = existing
        extra = tuple(n for n in names if n not in desc.aliases and n != desc.class_name)
        desc = replace(desc, aliases=tuple(dict.fromkeys(desc.aliases + extra)))
        self._descs[slot] = desc
        self._names[slot] = _names_of(desc)
        log.debug("Registered %s plugin %s (%s)", kind, desc.class_name, ", ".join(desc.aliases))
        return desc

    def prototype(self, plugin: type[P]) -> P:
        """A cached instance of a plugin class, for ``version()``, ``config_def()``, ``validate()``."""
        instance = self._prototypes.get(plugin)
        if instance is None:
            try:
                instance = plugin()
            except Exception as err:
                raise PluginError(f"Cannot instantiate {class_name(plugin)}: {err}") from err
            self._prototypes[plugin] = instance
        return cast(P, instance)

    def _version(self, plugin: type[Plugin]) -> str:
        instance = self.prototype(plugin)
        try:
            return str(instance.version())
        except Exception as err:
            log.warning("Plugin %s failed to report its version: %s", class_name(plugin), err)
            return _UNDEFINED_VERSION

    def plugins(self, kinds: PluginType | Collection[PluginType] | None = None) -> list[PluginDesc]:
        """The registered plugins of these kinds (all by default), in GET /connector-plugins order:
        sinks, sources, transformations, predicates, converters, header converters, config
        providers; by class name within a type."""
        wanted = _kinds(kinds)
        rank = {kind: i for i, kind in enumerate(_LISTING_ORDER)}
        descs = [d for d in self._descs.values() if d.type in wanted]
        return sorted(descs, key=lambda d: (rank[d.type], d.class_name))

    def plugin_type(self, plugin: type) -> PluginType:
        """The type a class is registered as (if only one), else the type it subclasses."""
        registered = [kind for kind, cls in self._descs if cls is plugin]
        return registered[0] if len(registered) == 1 else plugin_type(plugin)

    def resolve(self, name: str, kinds: PluginType | Collection[PluginType] | None = None) -> type[Plugin]:
        """The plugin class of one of ``kinds`` (all by default) that ``name`` means.

        Raises PluginError with Kafka's texts when no plugin or more than one answers to it.
        """
        wanted = _kinds(kinds)
        requested = name.strip()
        dotted = requested.replace(":", ".")
        slots = [slot for slot in self._descs if slot[0] in wanted]
        exact = {cls for kind, cls in slots if self._descs[kind, cls].class_name == dotted}
        if len(exact) == 1:
            return exact.pop()
        matches = list(dict.fromkeys(cls for kind, cls in slots if requested in self._names[kind, cls]))
        if len(matches) == 1:
            return matches[0]
        noun, plural = _NOUNS.get(wanted, ("Plugin", "plugins"))
        if matches:
            found = ", ".join(sorted(class_name(cls) for cls in matches))
            raise PluginError(
                f"More than one {noun[0].lower() + noun[1:]} matches alias {requested}. "
                f"Please use full package and class name instead. Classes found: {found}"
            )
        imported = _import_plugin(requested, wanted)
        if imported is not None:
            return imported
        available = ", ".join(sorted({self._descs[slot].class_name for slot in slots}))
        raise PluginError(
            f"Failed to find any class that implements {noun} and which name matches {requested}, "
            f"available {plural} are: {available}"
        )

    def pins(self, names: Iterable[str]) -> dict[str, str]:
        """For each of ``names`` that resolves here (over all kinds, to one class), the
        importable path ``module:qualname`` of its class: what a :class:`PinnedRegistry`
        in another process starts from."""
        pins: dict[str, str] = {}
        for name in names:
            try:
                cls = self.resolve(name)
            except PluginError:
                continue
            if "<" not in cls.__qualname__:  # a class defined inside a function cannot be imported
                pins[name.strip()] = f"{cls.__module__}:{cls.__qualname__}"
        return pins


def _import_plugin(name: str, kinds: frozenset[PluginType]) -> type[Plugin] | None:
    """Import ``package.module.Class`` (or ``package.module:Class``); None unless it is a
    concrete plugin class of one of ``kinds``."""
    if ":" in name:
        module_part, _, attr_part = name.partition(":")
        splits = [(module_part, attr_part.split("."))]
    else:
        parts = name.split(".")
        splits = [(".".join(parts[:i]), parts[i:]) for i in range(len(parts) - 1, 0, -1)]
    for module_name, attrs in splits:
        if not module_name or not all(attrs):
            continue
        try:
            obj: object = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        except Exception as err:
            log.warning("Cannot import %s to look for plugin %s: %s", module_name, name, err)
            return None
        for attr in attrs:
            obj = getattr(obj, attr, None)
        concrete = isinstance(obj, type) and not inspect.isabstract(obj)
        if concrete and any(issubclass(cast(type, obj), _BASES[k]) for k in kinds):
            return cast(type[Plugin], obj)
        return None
    return None


def _installed_entry_points(
    group: str, scanned: Iterable[metadata.EntryPoint] | None = None
) -> list[metadata.EntryPoint]:
    """The installed distributions' entry points of ``group``: ``scanned``, selected from one
    ``entry_points()`` scan for every group, when given (each scan reads every installed
    distribution's metadata, ~15 ms here)."""
    found = list(metadata.entry_points(group=group) if scanned is None else scanned)
    return found + [ep for ep in _source_tree_entry_points(group) if ep not in found]


@functools.cache
def _source_tree_pyproject() -> dict[str, dict[str, str]]:
    """Entry points of arrowsmith's own pyproject.toml when running from a source tree that is
    not installed (so the built-ins register the same way in both cases)."""
    try:
        metadata.distribution("arrowsmith")
    except metadata.PackageNotFoundError:
        pass
    else:
        return {}
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}
    if project.get("name") != "arrowsmith":
        return {}
    groups: dict[str, dict[str, str]] = project.get("entry-points", {})
    return groups


def _source_tree_entry_points(group: str) -> list[metadata.EntryPoint]:
    entries = _source_tree_pyproject().get(group, {})
    return [metadata.EntryPoint(name=name, value=value, group=group) for name, value in entries.items()]


def _path_entry_points(directory: str) -> list[tuple[str, metadata.EntryPoint]]:
    """The plugin entry points of the distributions installed in a ``plugin.path`` directory,
    which is appended to ``sys.path`` so that they import."""
    path = Path(directory)
    if not path.is_dir():
        log.warning("Skipping plugin.path entry %s: not a directory", directory)
        return []
    entry = str(path.resolve())
    if entry not in sys.path:
        sys.path.append(entry)
        importlib.invalidate_caches()
    found: list[tuple[str, metadata.EntryPoint]] = []
    for dist in metadata.distributions(path=[entry]):
        for group in ENTRY_POINT_GROUPS:
            found.extend((group, ep) for ep in dist.entry_points.select(group=group))
    log.info("Found %d plugin entry points in %s", len(found), entry)
    return found


# -- a registry for a process that runs one task ----------------------------------------------

_PLUGIN_KEYS: Final = ("connector.class", "key.converter", "value.converter", "header.converter")
_PLUGIN_KEY_PARTS: Final = (
    ("transforms.", ".type"),
    ("predicates.", ".type"),
    ("config.providers.", ".class"),
)
DEFAULT_NAMES: Final = ("SimpleHeaderConverter",)
"""Plugin names a task may resolve without any config naming them (the default header converter)."""


def _names_plugin(key: str) -> bool:
    return key in _PLUGIN_KEYS or any(
        key.startswith(p) and key.endswith(s) and len(key) > len(p) + len(s) for p, s in _PLUGIN_KEY_PARTS
    )


def plugin_names(*configs: Mapping[str, str]) -> set[str]:
    """The values of the keys of ``configs`` that name plugins (``connector.class``, the
    converters, ``transforms.<alias>.type``, ``predicates.<alias>.type``,
    ``config.providers.<name>.class``), and the names a task resolves by default."""
    names = set(DEFAULT_NAMES)
    for config in configs:
        names.update(v.strip() for k, v in config.items() if _names_plugin(k) and str(v).strip())
    return names


class PinnedRegistry(PluginRegistry):
    """The registry of a process that runs a single task for another (a pipeline stage).

    It starts knowing only the classes some names resolved to in the process that started
    it (``pins``: name → ``module:qualname``, from :meth:`PluginRegistry.pins`) and imports
    just their modules, instead of discovering every plugin (~0.4 s and every plugin's
    imports). A name it was not given, or whose class does not import here, is resolved by
    a full discovery of ``plugin_path``, once — the same answer, later.
    """

    def __init__(self, pins: Mapping[str, str], plugin_path: Sequence[str] = ()) -> None:
        super().__init__()
        self._pins = dict(pins)
        self._plugin_path = tuple(plugin_path)
        self._full: PluginRegistry | None = None

    def resolve(self, name: str, kinds: PluginType | Collection[PluginType] | None = None) -> type[Plugin]:
        path = self._pins.get(name.strip())
        if path is not None:
            wanted = _kinds(kinds)
            cls = _import_plugin(path, wanted)
            if cls is not None:
                return cls
        if self._full is None:
            self._full = PluginRegistry.discover(self._plugin_path)
        return self._full.resolve(name, kinds)
