"""Random strings that match a small regular expression, a whole column at a time.

The subset is what generator schemas use: literal characters, escapes (``\\d``, ``\\w``,
``\\s``, ``\\.`` …), ``.``, character classes with ranges (``[A-Z0-9_]``, not negated) and
the quantifiers ``?``, ``*``, ``+``, ``{n}``, ``{m,n}`` (``*`` and ``+`` repeat at most
:data:`UNBOUNDED_MAX` times). Groups and alternation are not supported.

Each atom draws its repeat count per row; the rows are laid out as one byte matrix with a
mask and turned into an Arrow string array from offsets and data buffers: no Python per row.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

UNBOUNDED_MAX = 8

_CLASSES = {
    "d": string.digits,
    "w": string.ascii_letters + string.digits + "_",
    "s": " ",
}
_DOT = string.ascii_letters + string.digits + string.punctuation + " "


@dataclass(frozen=True, slots=True)
class Atom:
    chars: bytes  # choose one of these bytes per repeat
    low: int
    high: int


class RegexError(ValueError):
    """The expression uses something outside the supported subset."""


def _class(pattern: str, i: int) -> tuple[str, int]:
    """The characters of a ``[...]`` class starting at ``pattern[i] == '['``; index after it."""
    i += 1
    if i < len(pattern) and pattern[i] == "^":
        raise RegexError("negated character classes are not supported")
    chars: list[str] = []
    while i < len(pattern) and pattern[i] != "]":
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            esc = pattern[i + 1]
            chars.extend(_CLASSES.get(esc, esc))
            i += 2
            continue
        if i + 2 < len(pattern) and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            lo, hi = ord(c), ord(pattern[i + 2])
            if hi < lo:
                raise RegexError(f"bad range {c}-{pattern[i + 2]}")
            chars.extend(chr(x) for x in range(lo, hi + 1))
            i += 3
            continue
        chars.append(c)
        i += 1
    if i >= len(pattern):
        raise RegexError("unterminated character class")
    return "".join(dict.fromkeys(chars)), i + 1


def _quantifier(pattern: str, i: int) -> tuple[int, int, int]:
    if i >= len(pattern):
        return 1, 1, i
    c = pattern[i]
    if c == "?":
        return 0, 1, i + 1
    if c == "*":
        return 0, UNBOUNDED_MAX, i + 1
    if c == "+":
        return 1, UNBOUNDED_MAX, i + 1
    if c == "{":
        end = pattern.find("}", i)
        if end < 0:
            raise RegexError("unterminated {")
        body = pattern[i + 1 : end]
        lo_text, sep, hi_text = body.partition(",")
        try:
            lo = int(lo_text)
            hi = lo if not sep else (int(hi_text) if hi_text.strip() else lo + UNBOUNDED_MAX)
        except ValueError:
            raise RegexError(f"bad quantifier {{{body}}}") from None
        if hi < lo:
            raise RegexError(f"bad quantifier {{{body}}}")
        return lo, hi, end + 1
    return 1, 1, i


def parse(pattern: str) -> list[Atom]:
    atoms: list[Atom] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c in "()|":
            raise RegexError(f"groups and alternation are not supported: {pattern!r}")
        if c == "[":
            chars, i = _class(pattern, i)
        elif c == "\\" and i + 1 < len(pattern):
            chars, i = _CLASSES.get(pattern[i + 1], pattern[i + 1]), i + 2
        elif c == ".":
            chars, i = _DOT, i + 1
        elif c in "^$":
            i += 1
            continue
        else:
            chars, i = c, i + 1
        lo, hi, i = _quantifier(pattern, i)
        encoded = chars.encode()
        if len(encoded) != len(chars):  # a multi-byte character: only as a fixed literal
            if len(chars) != 1 or lo != hi:
                raise RegexError("non-ASCII characters only as plain literals")
            atoms.extend(Atom(bytes([b]), 1, 1) for _ in range(lo) for b in encoded)
            continue
        atoms.append(Atom(encoded, lo, hi))
    return atoms


def generate(atoms: list[Atom], rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random strings matching the parsed expression."""
    columns: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    for atom in atoms:
        if atom.high == 0:
            continue
        table = np.frombuffer(atom.chars, dtype=np.uint8)
        if len(table) == 1:
            chars = np.broadcast_to(table, (n, atom.high))
        else:
            chars = table[rng.integers(0, len(table), size=(n, atom.high))]
        columns.append(chars)
        if atom.low == atom.high:
            masks.append(np.ones((n, atom.high), dtype=bool))
        else:
            counts = rng.integers(atom.low, atom.high + 1, size=n)
            masks.append(np.arange(atom.high) < counts[:, None])
    if not columns:
        return pa.array([""] * n, pa.string())
    matrix = np.hstack(columns)
    mask = np.hstack(masks)
    data = matrix[mask]
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(mask.sum(axis=1), out=offsets[1:])
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(data)))
