"""Command line: ``arrowsmith``, ``connect-standalone``, ``connect-distributed``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from engine import __version__
from engine.runtime import logging_context
from engine.spi.errors import ConnectError

log = logging.getLogger("arrowsmith")


def _fail(message: str, code: int = 1) -> int:
    print(f"arrowsmith: error: {message}", file=sys.stderr)
    return code


def cmd_standalone(worker: str, connectors: Sequence[str], log_level: str) -> int:
    from controlplane import standalone

    logging_context.configure(log_level)
    try:
        prepared = standalone.prepare(worker, connectors, log_level=log_level)
        return standalone.run_blocking(prepared, log_level=log_level)
    except ConnectError as e:
        return _fail(str(e))


def cmd_distributed(worker: str, log_level: str) -> int:
    from controlplane import distributed

    logging_context.configure(log_level)
    try:
        prepared = distributed.prepare_distributed(worker, log_level)
        return distributed.run_blocking(prepared, log_level=log_level)
    except ConnectError as e:
        return _fail(str(e))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="arrowsmith", description="Kafka Connect, rebuilt around Apache Arrow.")
    p.add_argument("--version", action="version", version=f"arrowsmith {__version__}")
    p.add_argument("--log-level", default="INFO", help="root log level (default INFO)")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("standalone", help="run a standalone worker")
    s.add_argument("worker_properties")
    s.add_argument("connector_configs", nargs="*", help=".properties or .json connector configs")
    d = sub.add_parser("distributed", help="run a distributed worker")
    d.add_argument("worker_properties")
    b = sub.add_parser("broker", help="start, stop or inspect the embedded Kafka broker", add_help=False)
    b.add_argument("args", nargs=argparse.REMAINDER)
    q = sub.add_parser("quickstart", help="run the file → Kafka → file quickstart on an embedded broker")
    q.add_argument("--lines", type=int, default=100_000, help="lines to send (default 100000)")
    q.add_argument("--dir", default=None, help="working directory (default: a new temporary one)")
    q.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the sink (default 300)")
    v = sub.add_parser(
        "preview", help="run sample records through a connector's converters; print them as JSON"
    )
    v.add_argument("worker_properties")
    v.add_argument("connector_config")
    v.add_argument("--records", type=int, default=10)
    v.add_argument("--timeout-ms", type=int, default=10000)
    sub.add_parser(
        "bench", help="run the benchmark scenarios on arrowsmith and its peers (see --help)", add_help=False
    ).add_argument("args", nargs=argparse.REMAINDER)
    g = sub.add_parser("docs", help="generate the config reference pages in docs/reference/")
    g.add_argument("--dir", default="docs/reference")
    g.add_argument("--check", action="store_true", help="only report stale pages (exit 1)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # its own options (argparse's REMAINDER stops at a leading "--x")
        from perf.bench import main as bench_main

        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "standalone":
        return cmd_standalone(args.worker_properties, args.connector_configs, args.log_level)
    if args.command == "distributed":
        return cmd_distributed(args.worker_properties, args.log_level)
    if args.command == "broker":
        from engine.broker.cli import main as broker_main

        try:
            return broker_main(list(args.args))
        except ConnectError as e:
            return _fail(str(e))
    if args.command == "quickstart":
        from controlplane.quickstart import quickstart

        logging_context.configure(args.log_level)
        try:
            return quickstart(args.lines, args.dir, args.timeout, args.log_level)
        except ConnectError as e:
            return _fail(str(e))
    if args.command == "preview":
        import json

        import uvloop

        from controlplane import standalone

        logging_context.configure(args.log_level)
        try:
            prepared = standalone.prepare(args.worker_properties, [args.connector_config])
            result = uvloop.run(
                standalone.preview_once(prepared, args.records, args.timeout_ms / 1000, args.log_level)
            )
        except ConnectError as e:
            return _fail(str(e))
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return 0
    if args.command == "docs":
        from pathlib import Path

        from controlplane.reference_docs import write

        return write(Path(args.dir), args.check)
    return _fail(f"unknown command {args.command}")  # pragma: no cover - argparse rejects it first


def standalone_main(argv: Sequence[str] | None = None) -> int:
    """``connect-standalone [--log-level L] worker.properties [connector.properties|.json …]``."""
    p = argparse.ArgumentParser(prog="connect-standalone")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("worker_properties")
    p.add_argument("connector_configs", nargs="*")
    args = p.parse_args(argv)
    return cmd_standalone(args.worker_properties, args.connector_configs, args.log_level)


def distributed_main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="connect-distributed")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("worker_properties")
    args = p.parse_args(argv)
    return cmd_distributed(args.worker_properties, args.log_level)


if __name__ == "__main__":
    sys.exit(main())
