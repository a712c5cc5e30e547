"""ruff (lint + format) and mypy --strict are part of the test suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *cmd], check=False, cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_check() -> None:
    r = _run("ruff", "check", ".")
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format() -> None:
    r = _run("ruff", "format", "--check", ".")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.timeout(900)
def test_mypy_strict() -> None:
    r = _run("mypy")
    assert r.returncode == 0, r.stdout + r.stderr


def test_layering() -> None:
    """connectors import only engine.spi; engine never imports controlplane."""
    import ast

    bad: list[str] = []
    for path in (ROOT / "connectors").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for n in names:
                if (
                    n.startswith("engine") and not n.startswith(("engine.spi", "engine.testing"))
                ) or n.startswith("controlplane"):
                    bad.append(f"{path.relative_to(ROOT)} imports {n}")
    for path in (ROOT / "engine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("controlplane"):
                bad.append(f"{path.relative_to(ROOT)} imports {node.module}")
            if isinstance(node, ast.Import) and any(a.name.startswith("controlplane") for a in node.names):
                bad.append(f"{path.relative_to(ROOT)} imports controlplane")
    assert bad == []
