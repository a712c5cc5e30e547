"""Benchmark: how fast a distributed cluster reacts to a worker joining, leaving and dying.

Run by hand (not a timed test)::

    python -m perf.rebalance [--workers 3] [--tasks 12] [--repeat 3]
                             [--session-timeout-ms 10000] [--heartbeat-interval-ms 3000]
                             [--delay-ms 10000] [--out perf/results]

A cluster of ``--workers`` distributed workers (``python -m controlplane distributed``,
one worker process each, on loopback REST ports) runs one source connector of ``--tasks``
tasks (:class:`engine.testing.seq_source.SeqSource`, a record every 0.5 s per task). Each
round times, in this order, with every task RUNNING and spread evenly before each step:

* ``join``: one more worker is started; until the tasks are spread evenly over all of them
  (from the process's start, and from the moment its REST API answers);
* ``leave``: a follower gets SIGTERM (it leaves the group as it stops); until every task
  runs on the others;
* ``kill``: a follower gets SIGKILL (nothing tells the group); until every task runs on
  the others;
* ``kill-leader``: the same for the leader (the worker holding the config topic).

Times come from polling ``GET /connectors/{name}/status`` every 0.1 s on a live worker.
Next to each figure is what Kafka Connect's documentation of the same settings implies:
a dead worker is noticed after ``session.timeout.ms`` and its tasks stay unassigned for
``scheduled.rebalance.max.delay.ms``; a worker that leaves is noticed at once but its tasks
wait for the same delay. The broker is an embedded one unless ``KAFKA_BOOTSTRAP_SERVERS``
is set. Prints a markdown table and writes ``<out>/rebalance-<time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from perf._util import machine
from perf.file_pipeline import broker_for_benchmark
from tests.integration.cluster import Cluster, seq_config

SCENARIOS = ("join", "join-after-healthy", "leave", "kill", "kill-leader")
CONNECTOR = "bench"


def one_round(
    work: Path, bootstrap: str, args: argparse.Namespace, say: Callable[[str], None]
) -> dict[str, float]:
    n = args.workers
    c = Cluster(
        work,
        bootstrap,
        n + 1,
        **{
            "session.timeout.ms": args.session_timeout_ms,
            "heartbeat.interval.ms": args.heartbeat_interval_ms,
            "scheduled.rebalance.max.delay.ms": args.delay_ms,
            "offset.flush.interval.ms": 1000,
        },
    )
    out: dict[str, float] = {}
    try:
        for i in range(n):
            c.start(i, wait=False)
        for i in range(n):
            c.wait_healthy(i)
        c.create(0, CONNECTOR, seq_config(work, "rebalance", args.tasks, 10**9, **{"interval.s": "0.5"}))
        members = set(range(n))

        def ids(indexes: set[int]) -> set[str]:
            return {c.worker_id(i) for i in indexes}

        c.wait_running_on(CONNECTOR, args.tasks, ids(members), timeout=120, balanced=True)

        say("  join")
        t0 = time.monotonic()
        c.start(n, wait=False)
        c.wait_healthy(n)
        healthy = time.monotonic()
        members.add(n)
        c.wait_running_on(CONNECTOR, args.tasks, ids(members), timeout=120, balanced=True)
        out["join"] = time.monotonic() - t0
        out["join-after-healthy"] = time.monotonic() - healthy

        for scenario in ("leave", "kill", "kill-leader"):
            say(f"  {scenario}")
            leader = c.leader()
            victim = leader if scenario == "kill-leader" else next(i for i in sorted(members) if i != leader)
            members.discard(victim)
            t0 = time.monotonic()
            if scenario == "leave":
                c.terminate(victim)
            else:
                c.kill(victim)
            timeout = (args.session_timeout_ms + args.delay_ms) / 1000 + 120
            c.wait_running_on(CONNECTOR, args.tasks, ids(members), timeout=timeout)
            out[scenario] = time.monotonic() - t0
            c.wait_running_on(CONNECTOR, args.tasks, ids(members), timeout=120, balanced=True)
    finally:
        c.stop_all()
    return out


def kafka_connect_figure(scenario: str, args: argparse.Namespace) -> str:
    session, delay = args.session_timeout_ms / 1000, args.delay_ms / 1000
    if scenario in ("kill", "kill-leader"):
        return f"≥ {session + delay:g} (session.timeout.ms + scheduled.rebalance.max.delay.ms)"
    if scenario == "leave":
        return f"≥ {delay:g} (scheduled.rebalance.max.delay.ms)"
    return "no figure; two rebalance rounds (revoke, then assign) in the incremental protocol"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m perf.rebalance", description=__doc__.split("\n")[0])
    p.add_argument("--workers", type=int, default=3, help="workers before the join (3)")
    p.add_argument("--tasks", type=int, default=12, help="tasks of the connector (12)")
    p.add_argument("--repeat", type=int, default=3, help="rounds; the table shows the median (3)")
    p.add_argument("--session-timeout-ms", type=int, default=10000, help="Kafka's default: 10000")
    p.add_argument("--heartbeat-interval-ms", type=int, default=3000, help="Kafka's default: 3000")
    p.add_argument(
        "--delay-ms", type=int, default=10000, help="scheduled.rebalance.max.delay.ms (Kafka's: 300000)"
    )
    p.add_argument("--out", default="perf/results", help="directory for the JSON results")
    args = p.parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    rounds: list[dict[str, float]] = []
    with broker_for_benchmark() as (bootstrap, desc, _pid):
        for r in range(args.repeat):
            print(f"Round {r + 1} of {args.repeat}")
            with tempfile.TemporaryDirectory(prefix="arrowsmith-rebalance-") as work:
                rounds.append(one_round(Path(work), bootstrap, args, print))
            print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in rounds[-1].items()))
    medians = {s: statistics.median(r[s] for r in rounds) for s in SCENARIOS}
    settings = (
        f"session.timeout.ms={args.session_timeout_ms}, heartbeat.interval.ms={args.heartbeat_interval_ms}, "
        f"scheduled.rebalance.max.delay.ms={args.delay_ms}"
    )
    print(f"\n{args.workers} workers + 1, {args.tasks} tasks; {settings}; broker: {desc}")
    print(f"median of {args.repeat} round(s)\n")
    print("| scenario | arrowsmith s (median) | every round | Kafka Connect, documented s |")
    print("|---|---|---|---|")
    for s in SCENARIOS:
        every = ", ".join(f"{r[s]:.2f}" for r in rounds)
        print(f"| {s} | {medians[s]:.2f} | {every} | {kafka_connect_figure(s, args)} |")
    report: dict[str, Any] = {
        "benchmark": "rebalance",
        "started": started.isoformat(timespec="seconds"),
        "settings": vars(args),
        "broker": desc,
        "machine": machine(),
        "medians_s": medians,
        "rounds_s": rounds,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"rebalance-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
