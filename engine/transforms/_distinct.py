"""Per-distinct-value work: a Python function over the few distinct values of a column.

Topics (and similar columns) hold a handful of distinct values per batch. Instead of
calling a regex per row, :func:`map_distinct` dictionary-encodes the column once, calls the
function on each distinct value and spreads the results back with one ``take``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


def dictionary_of(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(distinct values, indices into them) of a column; a dictionary column is used as it is."""
    encoded = arr if pa.types.is_dictionary(arr.type) else pc.dictionary_encode(arr)
    return encoded.dictionary, encoded.indices


def map_distinct(arr: pa.Array, fn: Callable[[Any], Any], out_type: pa.DataType) -> pa.Array:
    """``fn`` applied to every non-null distinct value, spread back to the rows (null stays null).

    The result has type ``out_type``, or is a dictionary array again when ``arr`` was one and
    ``out_type`` is its value type.
    """
    dictionary, indices = dictionary_of(arr)
    mapped = pa.array([None if v is None else fn(v) for v in dictionary.to_pylist()], out_type)
    if pa.types.is_dictionary(arr.type) and arr.type.value_type == out_type:
        return pa.DictionaryArray.from_arrays(indices, mapped)
    return mapped.take(indices)
