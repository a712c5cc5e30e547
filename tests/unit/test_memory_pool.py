"""Worker processes allocate Arrow memory with jemalloc unless the user chose a pool."""

from __future__ import annotations

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
