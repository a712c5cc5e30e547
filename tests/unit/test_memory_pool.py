"""Worker processes allocate Arrow memory with jemalloc unless the user chose a pool, and cap
glibc's malloc arenas at their cores unless the user set MALLOC_ARENA_MAX."""

from __future__ import annotations

import json
import os
import subprocess
import sys

CODE = "from engine.runtime.worker_process import lean_memory_pool; print(lean_memory_pool())"


def pool(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_value is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_value
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_jemalloc_by_default() -> None:
    assert pool(None) == "jemalloc"


def test_the_users_choice_wins() -> None:
    assert pool("system") == "system"


ARENAS = """
import ctypes, json, os, tempfile, threading
from engine.runtime.worker_process import lean_malloc

def arenas():  # glibc's malloc_stats() prints one "Arena N:" block per arena to stderr
    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        os.dup2(f.fileno(), 2)
        try:
            ctypes.CDLL(None).malloc_stats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        f.seek(0)
        return sum(1 for line in f.read().decode().splitlines() if line.startswith("Arena "))

cap = lean_malloc(1)
# counted after the cap: a thread already running (jemalloc's background thread, which
# pyarrow starts at import) may make its arena at any time before it
before = arenas()
def allocate():
    blocks = [bytearray(100_000) for _ in range(100)]
    del blocks
threads = [threading.Thread(target=allocate) for _ in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"cap": cap, "new": arenas() - before}))
"""


def arenas(env_value: str | None) -> dict[str, int | None]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    if env_value is not None:
        env["MALLOC_ARENA_MAX"] = env_value
    out = subprocess.run([sys.executable, "-c", ARENAS], env=env, capture_output=True, text=True, check=True)
    result: dict[str, int | None] = json.loads(out.stdout)
    return result


def test_threads_started_after_the_cap_share_the_arenas() -> None:
    assert arenas(None) == {"cap": 1, "new": 0}


def test_the_users_malloc_arena_max_wins() -> None:
    assert arenas("16")["cap"] is None
