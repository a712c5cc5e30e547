"""The built-in config providers of Kafka Connect (KIP-297, KIP-421, KIP-887, KIP-993).

They register through the ``arrowsmith.config_providers`` entry points like a third-party
provider would, and answer to Apache Kafka's class names too, so a worker.properties that
says ``config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider``
works unchanged.
"""

from __future__ import annotations

from engine.providers.directory import DirectoryConfigProvider
from engine.providers.env import EnvVarConfigProvider
from engine.providers.file import FileConfigProvider

__all__ = ["DirectoryConfigProvider", "EnvVarConfigProvider", "FileConfigProvider"]
