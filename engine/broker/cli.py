"""``arrowsmith broker start|stop|status``: a local single-node Kafka broker for development.

``start`` leaves the broker running in the background (the JVM in its own session) and
records it in ``<state dir>/broker.json``; it prints the bootstrap servers alone on stdout,
so ``export KAFKA_BOOTSTRAP_SERVERS=$(arrowsmith broker start)`` works. ``stop`` stops the
recorded broker and removes its directory; ``status`` exits 0 when it runs, 3 when not.
The state dir is ``--state-dir``, else ``$ARROWSMITH_STATE_DIR``, else the cache dir.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from engine.broker.launcher import (
    PLAINTEXT,
    SECURITY_MODES,
    BrokerState,
    KafkaBroker,
    bootstrap_from_env,
    process_of,
    stop_detached,
)
from engine.broker.maven import DEFAULT_KAFKA_VERSION, cache_dir
from engine.spi.errors import ConnectError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NOT_RUNNING = 3
STATE_FILE = "broker.json"


def state_dir(option: str | None = None) -> Path:
    """``--state-dir``, else ``$ARROWSMITH_STATE_DIR``, else the cache dir."""
    if option:
        return Path(option)
    env = os.environ.get("ARROWSMITH_STATE_DIR")
    return Path(env) if env else cache_dir()


def main(argv: list[str]) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    where = state_dir(args.state_dir)
    try:
        if args.command == "start":
            return _start(where, args)
        if args.command == "stop":
            return _stop(where, args.timeout)
        return _status(where)
    except ConnectError as exc:
        print(f"arrowsmith broker: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="arrowsmith broker", description="A local single-node KRaft Apache Kafka broker."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        help="where broker.json records the running broker "
        "(default: $ARROWSMITH_STATE_DIR, else $ARROWSMITH_CACHE or ~/.cache/arrowsmith)",
    )
    sub = parser.add_subparsers(dest="command", metavar="{start,stop,status}")
    start = sub.add_parser("start", parents=[common], help="start a broker and print its bootstrap servers")
    start.add_argument("--foreground", action="store_true", help="run until SIGINT/SIGTERM")
    start.add_argument("--kafka-version", default=DEFAULT_KAFKA_VERSION, help="default: %(default)s")
    start.add_argument("--heap-mb", type=int, default=512, help="JVM maximum heap (default: %(default)s)")
    start.add_argument(
        "--timeout", type=float, default=90.0, help="seconds to wait until ready (default: %(default)s)"
    )
    start.add_argument(
        "--security",
        choices=SECURITY_MODES,
        default=PLAINTEXT,
        help="client listener: plaintext (default) or sasl_ssl (TLS with a CA made for it, SASL "
        "PLAIN and SCRAM-SHA-256/512 users; its client.properties is printed on stderr)",
    )
    start.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME=PASSWORD",
        help="a SASL user of a sasl_ssl broker (repeatable; default: arrowsmith with a random password)",
    )
    stop = sub.add_parser("stop", parents=[common], help="stop the recorded broker")
    stop.add_argument(
        "--timeout", type=float, default=20.0, help="seconds before SIGKILL (default: %(default)s)"
    )
    sub.add_parser(
        "status", parents=[common], help="say whether the recorded broker runs (exit 0) or not (3)"
    )
    return parser


def _start(where: Path, args: argparse.Namespace) -> int:
    env = bootstrap_from_env()
    if env is not None:
        print(f"KAFKA_BOOTSTRAP_SERVERS is set: using {env}, not starting a broker", file=sys.stderr)
        print(env)
        return EXIT_OK
    with _locked(where):
        running = _running(where)
        if running is not None:
            print(f"already running: {_describe(running)}", file=sys.stderr)
            print(running.bootstrap_servers)
            return EXIT_OK
        users: dict[str, str] = {}
        for spec in args.user:
            name, sep, password = spec.partition("=")
            if not sep or not name or not password:
                raise ConnectError(f"--user takes NAME=PASSWORD, not {spec.split('=')[0]!r}=…")
            users[name] = password
        broker = KafkaBroker(
            args.kafka_version,
            heap_max_mb=args.heap_mb,
            heap_min_mb=min(256, args.heap_mb),
            start_timeout_s=args.timeout,
            outlive_parent=not args.foreground,
            security=args.security,
            users=users or None,
        )
        broker.start()
        state = broker.state() if args.foreground else broker.detach()
        _write_state(where, state)
    print(f"started Kafka broker: {_describe(state)}", file=sys.stderr)
    print(state.bootstrap_servers, flush=True)
    if not args.foreground:
        return EXIT_OK
    return _run_foreground(broker, where)


def _run_foreground(broker: KafkaBroker, where: Path) -> int:
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping.wait(0.5) and broker.running():
            pass
        # 143: SIGTERM, e.g. from `arrowsmith broker stop` in another shell.
        crashed = not stopping.is_set() and broker.returncode not in (0, 143, -signal.SIGTERM)
        if crashed:
            print(f"the Kafka broker exited; last log lines:\n{broker.log_tail()}", file=sys.stderr)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        broker.stop()
        with _locked(where):
            (where / STATE_FILE).unlink(missing_ok=True)
    return EXIT_ERROR if crashed else EXIT_OK


def _stop(where: Path, timeout_s: float) -> int:
    with _locked(where):
        state = _read_state(where)
        if state is None:
            print("no broker recorded", file=sys.stderr)
            return EXIT_OK
        was_running = stop_detached(state, timeout_s)
        (where / STATE_FILE).unlink(missing_ok=True)
    print(f"stopped: {_describe(state)}" if was_running else "was not running", file=sys.stderr)
    return EXIT_OK


def _status(where: Path) -> int:
    env = bootstrap_from_env()
    if env is not None:
        print(f"KAFKA_BOOTSTRAP_SERVERS is set: clients use {env}")
    running = _running(where)
    if running is None:
        print(f"not running (state dir {where})")
        return EXIT_NOT_RUNNING
    print(f"running: {_describe(running)}")
    return EXIT_OK


def _running(where: Path) -> BrokerState | None:
    state = _read_state(where)
    return state if state is not None and process_of(state) is not None else None


def _describe(state: BrokerState) -> str:
    secured = f", SASL_SSL: client settings in {state.client_properties}" if state.client_properties else ""
    return (
        f"Kafka {state.kafka_version} at {state.bootstrap_servers} (pid {state.pid}, "
        f"directory {state.work_dir}, log {state.log_file}{secured})"
    )


def _read_state(where: Path) -> BrokerState | None:
    try:
        data = json.loads((where / STATE_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ConnectError(f"cannot read {where / STATE_FILE}: {exc}") from exc
    return BrokerState.from_json(data)


def _write_state(where: Path, state: BrokerState) -> None:
    tmp = where / f".{STATE_FILE}.tmp"
    tmp.write_text(json.dumps(state.to_json(), indent=2) + "\n")
    os.replace(tmp, where / STATE_FILE)


@contextmanager
def _locked(where: Path) -> Iterator[None]:
    """Serialise start/stop of the broker recorded in ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    with (where / "broker.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
