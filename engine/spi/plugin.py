"""What every plugin (connector, converter, transform, predicate, config provider) has."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from engine.spi.config import ConfigDef


class Plugin:
    """Base of every plugin class.

    ``aliases`` lists other names the plugin answers to, such as the Apache Kafka class
    name it stands in for (``org.apache.kafka.connect.json.JsonConverter``). The plugin
    registry also accepts the Python path, the simple class name and the "pruned" name
    (the simple name without its type suffix: ``FileStreamSource`` for
    ``FileStreamSourceConnector``), as Kafka Connect does.

    A plugin has a constructor without arguments; configuration comes afterwards.
    """

    aliases: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def config_def(cls) -> ConfigDef:
        """The plugin's configuration keys (Kafka's ``config()``)."""
        from engine.spi.config import ConfigDef

        return ConfigDef()

    def version(self) -> str:
        from engine import __version__

        return __version__
