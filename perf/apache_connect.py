"""The peer the benchmarks compare against: Apache Kafka Connect's standalone worker on the JVM.

:func:`fetch_apache_connect` fetches ``connect-runtime``, ``connect-file``, ``connect-json``
and ``connect-transforms`` with their runtime dependencies from Maven Central, through the
local ``mvn`` (:func:`engine.broker.maven.fetch_artifacts`, as for the broker), into
``<cache>/connect-<version>/libs``. Unlike Kafka's release tarball, ``connect-runtime``'s
POM brings only the slf4j API, so the fetch adds log4j2 (``log4j-core``; the slf4j binding
comes with it). :class:`ApacheConnectStandalone` runs::

    java <JVM options> -Dlog4j2.configurationFile=<work>/<label>.log4j2.properties \\
         -cp <every jar of libs> org.apache.kafka.connect.cli.ConnectStandalone \\
         worker.properties conn1.properties [conn2.properties …]

with the JVM options of ``bin/connect-standalone.sh`` (see :data:`CONNECT_JVM_OPTIONS`).
Its stdout, stderr and log4j2 log all go to ``<work>/<label>.log``, and it has the public
interface of :class:`perf._util.Standalone`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from engine.broker.launcher import log4j2_properties, render_properties
from engine.broker.maven import classpath, fetch_artifacts, require_tools
from perf._util import LoggedProcess

DEFAULT_CONNECT_VERSION = "4.3.1"
CONNECT_ARTIFACTS = ("connect-runtime", "connect-file", "connect-json", "connect-transforms")
# The log4j2 of Kafka 4.3.1 (kafka-server's POM; the release tarball's libs/).
LOG4J_VERSION = "2.25.4"
CONNECT_STANDALONE_MAIN = "org.apache.kafka.connect.cli.ConnectStandalone"

# What Kafka's scripts give the JVM when no KAFKA_*_OPTS are set: KAFKA_HEAP_OPTS from
# bin/connect-standalone.sh, KAFKA_JVM_PERFORMANCE_OPTS from bin/kafka-run-class.sh. Left
# out: the JMX agent (KAFKA_JMX_OPTS, no port unless JMX_PORT is set) and GC logging (only
# with -loggc, which connect-standalone.sh does not pass).
CONNECT_HEAP_OPTS = ("-Xms256M", "-Xmx2G")
KAFKA_JVM_PERFORMANCE_OPTS = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
)
CONNECT_JVM_OPTIONS = (*CONNECT_HEAP_OPTS, *KAFKA_JVM_PERFORMANCE_OPTS)

# Worker keys only arrowsmith has; Kafka's own worker.* keys are kept.
KAFKA_WORKER_KEYS = frozenset({"worker.sync.timeout.ms", "worker.unsync.backoff.ms"})
ARROWSMITH_ONLY_PREFIXES = ("worker.", "task.restart.")

# The JVM exits with 128 + SIGTERM after Kafka Connect's shutdown hook has run.
SIGTERM_EXIT = 143
STOPPED_LINE = "Kafka Connect stopped"


def fetch_apache_connect(version: str = DEFAULT_CONNECT_VERSION, *, cache: Path | None = None) -> Path:
    """Fetch the jars of Kafka Connect ``version`` and log4j2; returns the libs directory."""
    coordinates = [f"org.apache.kafka:{artifact}:{version}" for artifact in CONNECT_ARTIFACTS]
    coordinates.append(f"org.apache.logging.log4j:log4j-core:{LOG4J_VERSION}")
    return fetch_artifacts(
        coordinates,
        f"connect-{version}",
        cache=cache,
        add_slf4j_binding=True,
        label=f"Apache Kafka Connect {version}",
    )


def java_worker_properties(props: Mapping[str, object]) -> dict[str, object]:
    """``props`` without the worker keys only arrowsmith knows (``worker.processes``,
    ``worker.batch.max.rows``, ``task.restart.*``), so one worker.properties serves both
    engines without warnings in the JVM's log."""
    return {
        key: value
        for key, value in props.items()
        if key in KAFKA_WORKER_KEYS or not key.startswith(ARROWSMITH_ONLY_PREFIXES)
    }


class ApacheConnectStandalone(LoggedProcess):
    """``ConnectStandalone worker.properties conn.properties …`` in a JVM, logging to
    ``<work>/<label>.log``.

    The JVM gets :data:`CONNECT_JVM_OPTIONS`, the defaults of Kafka's scripts: heap
    ``-Xms256M -Xmx2G`` (``bin/connect-standalone.sh``) and G1 with
    ``MaxGCPauseMillis=20``, ``InitiatingHeapOccupancyPercent=35``,
    ``ExplicitGCInvokesConcurrent``, ``MaxInlineLevel=15``, headless
    (``bin/kafka-run-class.sh``). log4j2 writes at INFO, with the broker's configuration
    (:func:`engine.broker.launcher.log4j2_properties`). Fetches the jars first if they are
    not cached; raises :class:`engine.spi.errors.ConnectError` without ``java`` (or, for
    a first fetch, ``mvn``). ``stop()`` is clean when the JVM exits after Kafka Connect
    logged that it stopped.
    """

    def __init__(
        self,
        work: Path,
        worker: Path,
        *connectors: Path,
        label: str = "apache-connect",
        version: str = DEFAULT_CONNECT_VERSION,
        cache: Path | None = None,
        jvm_options: tuple[str, ...] = CONNECT_JVM_OPTIONS,
    ) -> None:
        require_tools(("java",))
        cp = classpath(fetch_apache_connect(version, cache=cache))
        log_path = work / f"{label}.log"
        log_config = work / f"{label}.log4j2.properties"
        log4j2 = {**log4j2_properties(log_path), "name": "arrowsmith-apache-connect"}
        log_config.write_text(render_properties(log4j2))
        command = [
            "java",
            *jvm_options,
            f"-Dlog4j2.configurationFile={log_config}",
            "-cp",
            cp,
            CONNECT_STANDALONE_MAIN,
            str(worker),
            *map(str, connectors),
        ]
        super().__init__(command, log_path, cwd=work, root_label="connect jvm")
        self.version = version

    def exited_cleanly(self, returncode: int) -> bool:
        return returncode in (0, SIGTERM_EXIT) and STOPPED_LINE in self.log(20_000)
