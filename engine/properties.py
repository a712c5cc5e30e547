"""Java ``.properties`` text, as Kafka reads worker files, connector files and the files a
``FileConfigProvider`` names."""

from __future__ import annotations

import re

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_KEY_VALUE = re.compile(r"((?:\\.|[^=:\s\\])*)\s*[=:\s]?\s*(.*)$", re.S)
_UNICODE = re.compile(r"u([0-9a-fA-F]{4})")


def _unescape(s: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            m = _UNICODE.match(s, i + 1)
            if m is not None:
                out.append(chr(int(m.group(1), 16)))
                i = m.end()
                continue
            out.append(_ESCAPES.get(s[i + 1], s[i + 1]))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def parse_properties(text: str) -> dict[str, str]:
    """Java properties text: ``key=value``, ``key: value``, ``key value``, ``#``/``!``
    comments, escapes and ``\\`` line continuations."""
    props: dict[str, str] = {}
    buf = ""
    for raw in text.splitlines():
        line = raw.lstrip() if buf else raw.strip()
        if not buf and (not line or line[0] in "#!"):
            continue
        if (len(line) - len(line.rstrip("\\"))) % 2 == 1:
            buf += line[:-1]
            continue
        line, buf = buf + line, ""
        m = _KEY_VALUE.match(line)
        if m is not None:
            props[_unescape(m.group(1))] = _unescape(m.group(2).strip())
    if buf:
        m = _KEY_VALUE.match(buf)
        if m is not None:
            props[_unescape(m.group(1))] = _unescape(m.group(2).strip())
    return props
