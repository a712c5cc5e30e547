"""Java regular expressions (``java.util.regex.Pattern``) on Python's ``re``.

RegexRouter and TopicNameMatches take Java regexes. Most of Java's syntax means the same
in Python once compiled with ``re.ASCII`` (Java's ``\\d \\w \\s \\b`` and case folding are
ASCII unless asked otherwise); :func:`compile_java` rewrites the rest:

=====================================  ==================================================
Java                                   Python
=====================================  ==================================================
``\\Q…\\E``                            the text, escaped
``(?<name>…)``, ``\\k<name>``          ``(?P<name>…)``, ``(?P=name)``
``\\z`` / ``\\Z``                      ``\\Z`` / ``(?=\\n?\\Z)``
``\\p{Lower}`` … ``\\p{Space}``        the POSIX classes as ranges (also ``\\P{…}``)
``\\h``, ``\\R``, ``\\e``, ``\\cX``     the same characters spelled out
``\\x{h…h}``                           the code point
``(?U)``                               Unicode classes (``re.ASCII`` dropped)
``(?u)``, ``(?d)``                     ignored
=====================================  ==================================================

Refused with a :class:`JavaRegexError`: character-class unions and intersections
(``[a-z&&[^x]]``, ``[a[bc]]``), Unicode categories and scripts (``\\p{L}``, ``\\p{IsLatin}``),
``\\G``, ``\\X``, ``\\b{g}``. Inline flags must lead the pattern (Python's rule). A pattern
that compiles in Java may so fail here; one that compiles here matches what Java matches,
except that ``.`` also matches ``\\r``, ``\\u0085``, ``\\u2028`` and ``\\u2029`` (Java's ``.`` stops
at every line terminator; no topic name contains one).

:func:`java_replacement` turns a ``Matcher.replaceFirst`` replacement (``$1``, ``${name}``,
``\\$``) into a Python template (``\\g<1>``, ``\\g<name>``, ``$``).
"""

from __future__ import annotations

import re
from typing import NoReturn

__all__ = ["JavaRegexError", "compile_java", "java_replacement"]


class JavaRegexError(ValueError):
    """The pattern or replacement is not valid (or not supported) Java regex syntax."""


_POSIX = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
    "javaLowerCase": "a-z",
    "javaUpperCase": "A-Z",
    "javaWhitespace": "\\t\\n\\x0b\\f\\r\\x1c-\\x1f ",
}
_H = " \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000"
_V = "\\n\\x0b\\f\\r\\x85\\u2028\\u2029"
_UNSUPPORTED_ESCAPES = {"G": "\\G", "X": "\\X"}
_LEADING_FLAGS = re.compile(r"\(\?([idmsuxU]+)\)")


def compile_java(pattern: str) -> re.Pattern[str]:
    """Compile a Java regex; raises :class:`JavaRegexError` with the reason."""
    flags: int = re.ASCII
    body = pattern
    lead = _LEADING_FLAGS.match(body)
    if lead:
        letters = lead.group(1)
        if "U" in letters:
            flags = 0
        kept = "".join(c for c in letters if c in "imsx")
        body = (f"(?{kept})" if kept else "") + body[lead.end() :]
    try:
        return re.compile(_translate(body), flags)
    except re.error as err:
        raise JavaRegexError(str(err)) from None


def _translate(p: str) -> str:
    out: list[str] = []
    i, n = 0, len(p)
    depth = 0  # > 0 inside a character class
    while i < n:
        c = p[i]
        if c == "\\":
            if i + 1 >= n:
                raise JavaRegexError(f"Unexpected internal error near index {n}")
            e = p[i + 1]
            if e == "Q":
                end = p.find("\\E", i + 2)
                text = p[i + 2 :] if end < 0 else p[i + 2 : end]
                out.append(_escape_literal(text, depth > 0))
                i = n if end < 0 else end + 2
                continue
            step, piece = _escape(p, i, depth > 0)
            out.append(piece)
            i += step
            continue
        if depth:
            if c == "[":
                raise JavaRegexError(f"nested character classes are not supported near index {i}")
            if c == "&" and p.startswith("&&", i):
                raise JavaRegexError(f"character class intersection is not supported near index {i}")
            if c == "]" and not _class_start(p, i):
                depth = 0
            out.append(c)
            i += 1
            continue
        if c == "[":
            depth = 1
            out.append(c)
            i += 1
            if i < n and p[i] == "^":
                out.append("^")
                i += 1
            if i < n and p[i] == "]":  # a leading ']' is literal, as in Java
                out.append("\\]")
                i += 1
            continue
        if c == "(" and p.startswith("(?<", i) and i + 3 < n and p[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        out.append(c)
        i += 1
    if depth:
        raise JavaRegexError(f"Unclosed character class near index {n - 1}")
    return "".join(out)


def _class_start(p: str, i: int) -> bool:
    """Whether the ']' at ``i`` directly follows the opening ``[`` or ``[^`` (a literal then)."""
    return p[i - 1] == "[" or (p[i - 1] == "^" and i >= 2 and p[i - 2] == "[")


def _escape_literal(text: str, in_class: bool) -> str:
    if in_class:
        return "".join("\\" + ch if ch in "\\]^-[" else ch for ch in text)
    return re.escape(text)


def _escape(p: str, i: int, in_class: bool) -> tuple[int, str]:
    """The Python text for the escape at ``p[i]`` (a backslash): (characters used, text)."""
    e = p[i + 1]
    if e in "pP":
        return _property(p, i, in_class)
    if e in _UNSUPPORTED_ESCAPES:
        raise JavaRegexError(f"{_UNSUPPORTED_ESCAPES[e]} is not supported near index {i}")
    if e == "k" and not in_class:
        end = p.find(">", i)
        if not p.startswith("\\k<", i) or end < 0:
            raise JavaRegexError(f"\\k is not followed by '<' for named capturing group near index {i}")
        return end + 1 - i, f"(?P={p[i + 3 : end]})"
    if e == "z" and not in_class:
        return 2, "\\Z"
    if e == "Z" and not in_class:
        return 2, "(?=\\n?\\Z)"
    if e == "h":
        return 2, _H if in_class else f"[{_H}]"
    if e == "H":
        return 2, f"[^{_H}]" if not in_class else _refuse_negated(i)
    if e == "v":
        return 2, _V if in_class else f"[{_V}]"
    if e == "V":
        return 2, f"[^{_V}]" if not in_class else _refuse_negated(i)
    if e == "R" and not in_class:
        return 2, f"(?:\\r\\n|[{_V}])"
    if e == "e":
        return 2, "\\x1b"
    if e == "c":
        if i + 2 >= len(p):
            raise JavaRegexError(f"Illegal control escape sequence near index {i + 2}")
        return 3, "\\x%02x" % (ord(p[i + 2]) ^ 64)
    if e == "x" and p.startswith("\\x{", i):
        end = p.find("}", i)
        if end < 0:
            raise JavaRegexError(f"Unclosed hexadecimal escape sequence near index {i}")
        try:
            char = chr(int(p[i + 3 : end], 16))
        except ValueError:
            raise JavaRegexError(f"Illegal hexadecimal escape sequence near index {i}") from None
        return end + 1 - i, _escape_literal(char, in_class)
    if e == "b" and p.startswith("\\b{", i):
        raise JavaRegexError(f"\\b{{g}} is not supported near index {i}")
    return 2, p[i : i + 2]


def _refuse_negated(i: int) -> NoReturn:
    raise JavaRegexError(f"negated classes inside a character class are not supported near index {i}")


def _property(p: str, i: int, in_class: bool) -> tuple[int, str]:
    negated = p[i + 1] == "P"
    if p.startswith("{", i + 2):
        end = p.find("}", i)
        if end < 0:
            raise JavaRegexError(f"Unclosed character family near index {i}")
        name, used = p[i + 3 : end], end + 1 - i
    else:
        name, used = p[i + 2 : i + 3], 3
    name = name.removeprefix("Is") if name.removeprefix("Is") in _POSIX else name
    ranges = _POSIX.get(name)
    if ranges is None:
        raise JavaRegexError(f"Unicode property \\p{{{name}}} is not supported near index {i}")
    if in_class:
        return used, ranges if not negated else _refuse_negated(i)
    return used, f"[{'^' if negated else ''}{ranges}]"


def java_replacement(replacement: str, groups: int, names: set[str]) -> str:
    """A Python ``re.sub`` template for a Java ``Matcher`` replacement string.

    ``$n`` takes as many digits as keep the number a group of the pattern (Java's rule);
    ``${name}`` a named group; a backslash makes the next character literal.
    """
    out: list[str] = []
    i, n = 0, len(replacement)
    while i < n:
        c = replacement[i]
        if c == "\\":
            i += 1
            if i >= n:
                raise JavaRegexError("character to be escaped is missing")
            out.append(_literal(replacement[i]))
            i += 1
        elif c == "$":
            i += 1
            if i >= n:
                raise JavaRegexError("Illegal group reference: group index is missing")
            if replacement[i] == "{":
                end = replacement.find("}", i)
                if end < 0:
                    raise JavaRegexError("named capturing group is missing trailing '}'")
                name = replacement[i + 1 : end]
                if not name:
                    raise JavaRegexError("named capturing group has 0 length name")
                if name not in names:
                    raise JavaRegexError(f"No group with name {{{name}}}")
                out.append(f"\\g<{name}>")
                i = end + 1
            elif replacement[i].isdigit() and replacement[i].isascii():
                number = int(replacement[i])
                if number > groups:
                    raise JavaRegexError(f"No group {number}")
                i += 1
                while i < n and replacement[i].isascii() and replacement[i].isdigit():
                    longer = number * 10 + int(replacement[i])
                    if longer > groups:
                        break
                    number, i = longer, i + 1
                out.append(f"\\g<{number}>")
            else:
                raise JavaRegexError("Illegal group reference")
        else:
            out.append(_literal(c))
            i += 1
    return "".join(out)


def _literal(c: str) -> str:
    return "\\\\" if c == "\\" else c
