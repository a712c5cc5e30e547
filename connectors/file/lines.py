"""Split bytes into lines without a Python loop over them.

A line ends at ``\\n``, ``\\r`` or ``\\r\\n``, as in Kafka's FileStreamSource. The
terminator bytes are dropped with numpy and the line lengths become Arrow offsets, so a
chunk of a file turns into a string array in a few vectorized passes.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

LF, CR = 10, 13


def split_lines(data: bytes | memoryview, final: bool = False) -> tuple[pa.Array, np.ndarray]:
    """The complete lines in ``data`` as a string array, and the byte offset just after
    each line's terminator (the last one is how many bytes the lines used).

    A trailing ``\\r`` is held back (it may be the first half of ``\\r\\n``) unless
    ``final`` says no more data will come.
    """
    if isinstance(data, bytes) and b"\r" not in data:
        return _split_lf(data)
    buf = np.frombuffer(data, dtype=np.uint8)
    is_term = (buf == LF) | (buf == CR)
    pos = np.flatnonzero(is_term)
    if pos.size and not final and buf[pos[-1]] == CR and pos[-1] == buf.size - 1:
        pos = pos[:-1]
    if pos.size == 0:
        return pa.array([], pa.string()), np.zeros(0, dtype=np.int64)
    # a \n right after a \r belongs to the same terminator
    crlf_tail = (buf[pos] == LF) & np.concatenate(
        ([False], (buf[pos[:-1]] == CR) & (pos[1:] == pos[:-1] + 1))
    )
    ends = pos[~crlf_tail]  # first byte of each terminator
    consumed = int(pos[-1]) + 1
    nxt = buf[np.minimum(ends + 1, buf.size - 1)]
    term_len = np.where((buf[ends] == CR) & (ends + 1 < consumed) & (nxt == LF), 2, 1)
    starts = np.empty_like(ends)
    starts[0] = 0
    starts[1:] = ends[:-1] + term_len[:-1]
    lengths = (ends - starts).astype(np.int32)
    offsets = np.zeros(lengths.size + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    content = buf[:consumed][~is_term[:consumed]]
    return _strings(offsets, content.tobytes()), (ends + term_len).astype(np.int64)


def _split_lf(data: bytes) -> tuple[pa.Array, np.ndarray]:
    """The common case, ``\n`` terminators only: the text without them is one ``bytes.replace``."""
    pos = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == LF)
    if pos.size == 0:
        return pa.array([], pa.string()), np.zeros(0, dtype=np.int64)
    consumed = int(pos[-1]) + 1
    offsets = np.zeros(pos.size + 1, dtype=np.int32)
    offsets[1:] = pos - np.arange(pos.size)  # the i-th line ends i terminators before its \n
    content = data[:consumed].replace(b"\n", b"") if consumed < len(data) else data.replace(b"\n", b"")
    return _strings(offsets, content), (pos + 1).astype(np.int64)


def _strings(offsets: np.ndarray, content: bytes) -> pa.Array:
    """A string array over ``content``; rows that are not UTF-8 get replacement characters."""
    n = offsets.size - 1
    arr = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(content))
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        arr = pa.array(
            [content[offsets[i] : offsets[i + 1]].decode("utf-8", "replace") for i in range(n)],
            pa.string(),
        )
    return arr
