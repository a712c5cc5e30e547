"""Fetch Java artifacts from Maven Central once, into arrowsmith's cache directory.

Each fetch is named (``kafka-4.3.1``, ``connect-4.3.1``, …) and lands in
``<cache>/<name>/libs``. A tiny generated ``pom.xml`` lists the coordinates and
``mvn dependency:copy-dependencies`` copies them with their runtime dependencies. The
fetch is idempotent: a marker file, written only after a complete fetch, records what
was fetched; a lock file (``fcntl.flock``) lets two processes race for it safely.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from engine.spi.errors import ConnectError

log = logging.getLogger(__name__)

DEFAULT_KAFKA_VERSION = "4.3.1"
SCALA_BINARY_VERSION = "2.13"
INSTALL_HINT = "on Debian/Ubuntu: apt-get install -y openjdk-17-jre-headless maven"
MVN_TIMEOUT_S = 900.0

_MARKER = ".complete.json"
_LOCK = ".lock"


@dataclass(frozen=True, slots=True)
class Coordinate:
    """A Maven artifact: ``group:artifact:version``."""

    group: str
    artifact: str
    version: str

    @classmethod
    def parse(cls, text: str) -> Coordinate:
        parts = text.split(":")
        if len(parts) != 3 or not all(parts):
            raise ConnectError(f"not a Maven coordinate (want group:artifact:version): {text!r}")
        return cls(parts[0], parts[1], parts[2])

    def __str__(self) -> str:
        return f"{self.group}:{self.artifact}:{self.version}"


def cache_dir() -> Path:
    """``$ARROWSMITH_CACHE``, else ``~/.cache/arrowsmith``."""
    env = os.environ.get("ARROWSMITH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "arrowsmith"


def missing_tools(tools: Sequence[str] = ("java", "mvn")) -> list[str]:
    """The named executables that are not on ``PATH``."""
    return [tool for tool in tools if shutil.which(tool) is None]


def require_tools(tools: Sequence[str] = ("java", "mvn")) -> None:
    """Raise :class:`ConnectError` saying what to install when a tool is missing."""
    missing = missing_tools(tools)
    if missing:
        raise ConnectError(
            f"{' and '.join(missing)} not found on PATH; arrowsmith's Kafka broker needs a Java 17+ "
            f"runtime and Maven to fetch the broker jars ({INSTALL_HINT})"
        )


def fetch_artifacts(
    coordinates: Sequence[str],
    name: str,
    *,
    cache: Path | None = None,
    add_slf4j_binding: bool = False,
    label: str | None = None,
) -> Path:
    """Fetch ``coordinates`` and their runtime dependencies into ``<cache>/<name>/libs``.

    Returns the ``libs`` directory. Does nothing when a previous fetch of the same
    coordinates completed. With ``add_slf4j_binding``, also fetches the log4j2 binding
    for the slf4j API found among the jars (Kafka's release tarball ships it; its POM
    does not depend on it), so the JVM's logs reach the log4j2 configuration. ``label``
    names what is fetched in error messages (``Apache Kafka 4.3.1``).
    """
    coords = [Coordinate.parse(c) for c in coordinates]
    if not coords:
        raise ConnectError("fetch_artifacts needs at least one Maven coordinate")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise ConnectError(f"not a valid cache name: {name!r}")
    home = (cache or cache_dir()) / name
    libs = home / "libs"
    want = {"coordinates": [str(c) for c in coords], "slf4j_binding": add_slf4j_binding}
    if _is_complete(home, want):
        return libs
    require_tools(("mvn",))
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home / _LOCK):
        if _is_complete(home, want):
            return libs
        (home / _MARKER).unlink(missing_ok=True)
        staging = home / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        log.info("fetching %s from Maven Central into %s", ", ".join(map(str, coords)), libs)
        try:
            _copy_dependencies(coords, home, staging, transitive=True, label=label)
            if add_slf4j_binding:
                binding = _slf4j_binding(staging)
                if binding is not None:
                    _copy_dependencies([binding], home, staging, transitive=False, label=label)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        (home / _MARKER).write_text(json.dumps(want, indent=2) + "\n")
    return libs


def fetch_kafka_broker(version: str = DEFAULT_KAFKA_VERSION, *, cache: Path | None = None) -> Path:
    """Fetch the jars of Kafka broker ``version`` (``kafka_2.13``); returns the libs directory."""
    coordinate = f"org.apache.kafka:kafka_{SCALA_BINARY_VERSION}:{version}"
    return fetch_artifacts(
        [coordinate],
        f"kafka-{version}",
        cache=cache,
        add_slf4j_binding=True,
        label=f"Apache Kafka {version}",
    )


def classpath(libs: Path) -> str:
    """The JVM classpath of every jar in ``libs``, sorted for a stable order."""
    jars = sorted(libs.glob("*.jar"))
    if not jars:
        raise ConnectError(f"no jars in {libs}")
    return os.pathsep.join(str(j) for j in jars)


def _is_complete(home: Path, want: dict[str, object]) -> bool:
    try:
        done = json.loads((home / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return bool(done == want and (home / "libs").is_dir())


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _pom(coords: Sequence[Coordinate]) -> str:
    deps = "\n".join(
        "    <dependency>"
        f"<groupId>{escape(c.group)}</groupId>"
        f"<artifactId>{escape(c.artifact)}</artifactId>"
        f"<version>{escape(c.version)}</version>"
        "</dependency>"
        for c in coords
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by arrowsmith (engine/broker/maven.py) to fetch jars; not a build. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>arrowsmith.cache</groupId>
  <artifactId>fetch</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


def _copy_dependencies(
    coords: Sequence[Coordinate], home: Path, out: Path, *, transitive: bool, label: str | None
) -> None:
    what = ", ".join(map(str, coords))
    if label:
        what = f"{label} ({what})"
    pom = home / "pom.xml"
    pom.write_text(_pom(coords))
    cmd = [
        "mvn",
        "-B",
        "-q",
        "-U",  # retry artifacts an earlier failed attempt marked missing in ~/.m2
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out}",
        "-DincludeScope=runtime",
        f"-DexcludeTransitive={str(not transitive).lower()}",
    ]
    try:
        done = subprocess.run(
            cmd, cwd=home, capture_output=True, text=True, timeout=MVN_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ConnectError(f"mvn did not fetch {what} within {MVN_TIMEOUT_S:.0f} s") from exc
    if done.returncode != 0:
        raise ConnectError(
            f"cannot fetch {what} from Maven Central: is that version published, and is the "
            f"network up? mvn exited with {done.returncode}: {_mvn_errors(done.stdout + done.stderr)}"
        )


def _mvn_errors(output: str) -> str:
    """The informative ``[ERROR]`` lines of mvn's output (or its tail), without colour codes."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in output.splitlines()]
    boilerplate = ("To see the full", "Re-run Maven", "For more information", "[Help ")
    errors = [
        line.removeprefix("[ERROR]").strip()
        for line in lines
        if line.startswith("[ERROR]") and not line.removeprefix("[ERROR]").strip().startswith(boilerplate)
    ]
    errors = [e for e in errors if e]
    return "\n".join(errors[:5] or [line for line in lines if line][-10:])


def _slf4j_binding(libs: Path) -> Coordinate | None:
    """The log4j2 binding matching the slf4j API and log4j2 jars in ``libs``, if one is needed."""
    names = [p.name for p in libs.glob("*.jar")]
    if any(n.startswith(("log4j-slf4j-impl-", "log4j-slf4j2-impl-")) for n in names):
        return None
    slf4j = _jar_version(names, "slf4j-api")
    log4j = _jar_version(names, "log4j-api")
    if slf4j is None or log4j is None:
        return None
    artifact = "log4j-slf4j-impl" if slf4j.startswith("1.") else "log4j-slf4j2-impl"
    return Coordinate("org.apache.logging.log4j", artifact, log4j)


def _jar_version(names: Sequence[str], artifact: str) -> str | None:
    pattern = re.compile(re.escape(artifact) + r"-(\d[^-]*)\.jar")
    for n in names:
        m = pattern.fullmatch(n)
        if m:
            return m.group(1)
    return None
