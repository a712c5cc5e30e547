"""A throwaway PostgreSQL server on a loopback port, for tests, benchmarks and demos.

:class:`PostgresServer` runs Debian's PostgreSQL binaries (``apt-get install postgresql``;
any major version found under ``/usr/lib/postgresql``, newest first, or ``pg_ctl`` on PATH):
``initdb`` into a temporary directory, ``wal_level=logical`` so change data capture works,
password authentication (scram-sha-256) for a superuser, and a free port on 127.0.0.1.
PostgreSQL refuses to run as root; as root the server runs as the ``postgres`` system user
(created by the Debian package) through ``runuser``.

``python -m engine.testing.postgres start`` starts one in the background and prints its
URL; ``stop`` ends it. ``POSTGRES_URL`` points tests at an existing server instead.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from engine.broker.launcher import free_port
from engine.spi.errors import ConnectError

DEFAULT_USER = "arrowsmith"
DEFAULT_PASSWORD = "arrowsmith-test-secret"
DEFAULT_DATABASE = "postgres"
STATE_FILE = Path.home() / ".cache" / "arrowsmith" / "postgres-dev.json"
INSTALL_HINT = (
    "PostgreSQL server binaries not found: install them with "
    "`apt-get install -y postgresql` (Debian) or put pg_ctl on PATH"
)


def postgres_url_from_env() -> str | None:
    """``POSTGRES_URL`` (postgresql://user:password@host:port/db) when set, else None."""
    return os.environ.get("POSTGRES_URL") or None


def find_bindir(*, install: bool = True) -> Path:
    """The directory holding initdb/pg_ctl/postgres: the newest Debian major, else PATH.

    When none is found and ``install`` is true, as root on Debian with ``apt-get``, the
    ``postgresql`` package is installed first (as the broker launcher fetches Kafka's jars),
    unless ``ARROWSMITH_NO_INSTALL`` is set.
    """
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True
    )
    for cand in candidates:
        if (Path(cand) / "initdb").exists():
            return Path(cand)
    on_path = shutil.which("pg_ctl")
    if on_path and (Path(on_path).resolve().parent / "initdb").exists():
        return Path(on_path).resolve().parent
    if install and _install_with_apt():
        return find_bindir(install=False)
    raise ConnectError(INSTALL_HINT)


def _install_with_apt() -> bool:
    if os.environ.get("ARROWSMITH_NO_INSTALL") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False
    print("PostgreSQL not found: apt-get install -y postgresql", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
    proc = subprocess.run(
        ["apt-get", "install", "-y", "-q", "postgresql"], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ConnectError(f"{INSTALL_HINT}; apt-get install failed: {proc.stderr.strip()[-500:]}")
    return True


class PostgresServer:
    """One PostgreSQL cluster in a temporary directory; ``start()`` / ``stop()`` / ``restart()``."""

    def __init__(
        self,
        *,
        port: int | None = None,
        user: str = DEFAULT_USER,
        password: str = DEFAULT_PASSWORD,
        base_dir: Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.bindir = find_bindir()
        self.port = port or free_port()
        self.user = user
        self.password = password
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir or tempfile.mkdtemp(prefix="arrowsmith-pg-"))
        self.data_dir = self.base_dir / "data"
        self.socket_dir = self.base_dir / "sock"
        self.log_file = self.base_dir / "postgres.log"
        self.settings = {
            "listen_addresses": "127.0.0.1",
            "wal_level": "logical",
            "max_replication_slots": "20",
            "max_wal_senders": "20",
            "max_connections": "100",
            # A test server: durability against OS crashes is not needed; clean and
            # immediate shutdowns still keep every committed transaction.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "64MB",
            **(settings or {}),
        }
        self._run_as = self._system_user()

    # -- urls ------------------------------------------------------------------------------------

    def url(self, database: str = DEFAULT_DATABASE) -> str:
        """``postgresql://user:password@127.0.0.1:port/database``."""
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}/{quote(database, safe='')}"
        )

    def jdbc_url(self, database: str = DEFAULT_DATABASE) -> str:
        """The same server as a JDBC URL (credentials left to connection.user/password)."""
        return f"jdbc:postgresql://127.0.0.1:{self.port}/{database}"

    # -- lifecycle -------------------------------------------------------------------------------

    @staticmethod
    def _system_user() -> str | None:
        if os.geteuid() != 0:
            return None
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ConnectError(
                "running as root needs the 'postgres' system user (created by Debian's postgresql "
                "package) because PostgreSQL refuses to run as root"
            ) from exc
        return "postgres"

    def _cmd(self, *args: str) -> list[str]:
        if self._run_as is None:
            return list(args)
        return ["runuser", "-u", self._run_as, "--", *args]

    def _chown(self, path: Path) -> None:
        if self._run_as is not None:
            shutil.chown(path, self._run_as, self._run_as)

    def start(self, timeout_s: float = 60.0) -> None:
        """initdb (first time), start and wait until a login succeeds."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._chown(self.base_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        self.socket_dir.mkdir(exist_ok=True)
        self._chown(self.socket_dir)
        opts = " ".join(f"-c {k}={v}" for k, v in self.settings.items())
        opts += f" -p {self.port} -k {self.socket_dir}"
        proc = subprocess.run(
            self._cmd(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                opts,
                "-w",
                "-t",
                str(int(timeout_s)),
                "start",
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ConnectError(
                f"PostgreSQL did not start on 127.0.0.1:{self.port}: {proc.stderr.strip() or proc.stdout}"
                f"\n{self.log_tail(30)}"
            )
        self._wait_ready(timeout_s)

    def _initdb(self) -> None:
        pwfile = self.base_dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._chown(pwfile)
        proc = subprocess.run(
            self._cmd(
                str(self.bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        pwfile.unlink()
        if proc.returncode != 0:
            raise ConnectError(f"initdb failed: {proc.stderr.strip() or proc.stdout}")
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(
            "local all all scram-sha-256\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host replication all 127.0.0.1/32 scram-sha-256\n"
            "local replication all scram-sha-256\n"
        )
        self._chown(hba)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                proc = subprocess.run(
                    [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                    capture_output=True,
                    check=False,
                )
                if proc.returncode == 0:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ConnectError(f"PostgreSQL not ready on 127.0.0.1:{self.port}\n{self.log_tail(30)}")
            time.sleep(0.1)

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop (``fast``, ``smart`` or ``immediate``); the data directory stays."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        subprocess.run(
            self._cmd(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"),
            capture_output=True,
            check=False,
        )

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def destroy(self) -> None:
        """Stop and delete the directory (when it was made by this object)."""
        self.stop("immediate")
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def psql(self, sql: str, database: str = DEFAULT_DATABASE) -> str:
        """Run SQL with psql (for setup in scripts); returns stdout, raises on error."""
        proc = subprocess.run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.url(database),
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ConnectError(f"psql failed: {proc.stderr.strip()}")
        return proc.stdout

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.testing.postgres", description="a throwaway PostgreSQL on loopback"
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("start", help="start in the background and print the URL")
    sub.add_parser("stop", help="stop the server started by 'start' and delete its data")
    sub.add_parser("url", help="print the URL of the running server")
    args = parser.parse_args(argv)
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    if args.cmd == "start":
        server = PostgresServer()
        server.start()
        state: dict[str, Any] = {"url": server.url(), "base_dir": str(server.base_dir), "port": server.port}
        STATE_FILE.write_text(json.dumps(state))
        print(server.url())
        return 0
    if not STATE_FILE.exists():
        print("no server started by this command", file=sys.stderr)
        return 1
    state = json.loads(STATE_FILE.read_text())
    if args.cmd == "url":
        print(state["url"])
        return 0
    server = PostgresServer(port=int(state["port"]), base_dir=Path(state["base_dir"]))
    server.stop("fast")
    shutil.rmtree(state["base_dir"], ignore_errors=True)
    STATE_FILE.unlink()
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(_main())
