"""Make a ``plugin.path`` directory holding a plugin package, as ``pip install --target``
would leave it: the package next to its ``.dist-info`` with entry points."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def plugin_dir(root: Path, package: str, source: str, entry_points: Mapping[str, Mapping[str, str]]) -> Path:
    """Write ``package/__init__.py`` (``source``) and its dist-info under ``root``; return ``root``.

    ``entry_points`` maps a group (``arrowsmith.connectors``…) to ``{name: "module:Class"}``.
    """
    (root / package).mkdir(parents=True, exist_ok=True)
    (root / package / "__init__.py").write_text(source)
    info = root / f"{package}-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n")
    lines = []
    for group, names in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{name} = {target}" for name, target in names.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return root
