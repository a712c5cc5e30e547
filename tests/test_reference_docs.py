"""The generated config reference pages match the code's config definitions."""

from __future__ import annotations

from pathlib import Path

from controlplane.reference_docs import pages

ROOT = Path(__file__).resolve().parent.parent


def test_reference_pages_are_current() -> None:
    stale = [
        name
        for name, text in pages().items()
        if not (ROOT / "docs" / "reference" / name).exists()
        or (ROOT / "docs" / "reference" / name).read_text(encoding="utf-8") != text
    ]
    assert stale == [], f"run `arrowsmith docs` to regenerate: {stale}"


def test_every_builtin_plugin_key_is_documented() -> None:
    text = "".join(pages().values())
    for key in ("offset.storage.file.filename", "batch.size", "topics.regex", "errors.tolerance"):
        assert key in text
