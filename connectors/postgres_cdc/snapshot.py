"""Reading a table for the snapshot: ``COPY … TO STDOUT (FORMAT csv)`` parsed by Arrow.

PostgreSQL writes the rows as CSV into a pipe from a helper thread (psycopg2 releases the
GIL while it waits on the socket); Arrow's streaming CSV reader parses the other end into
record batches of string columns, which the column converters then type exactly as they
do the streamed text values. No Python runs per row.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
from psycopg2 import sql

log = logging.getLogger(__name__)

BLOCK_BYTES = 4 << 20


class TableReader:
    """Streams one table's rows (the given columns, as strings) in Arrow batches."""

    def __init__(
        self, conn: Any, schema: str, table: str, columns: Sequence[str], block_bytes: int = BLOCK_BYTES
    ) -> None:
        self.columns = list(columns)
        self.error: BaseException | None = None
        query = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT WITH (FORMAT csv)").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(schema, table)
        )
        self._query = query.as_string(conn)
        read_fd, write_fd = os.pipe()
        self._read = os.fdopen(read_fd, "rb", buffering=0)
        self._write = os.fdopen(write_fd, "wb", buffering=1 << 20)
        self._conn = conn
        self._thread = threading.Thread(target=self._copy, name=f"snapshot-{schema}.{table}", daemon=True)
        self._thread.start()
        self._reader: pcsv.CSVStreamingReader | None = None
        self._block_bytes = block_bytes
        self._done = False

    def _copy(self) -> None:
        try:
            with self._conn.cursor() as cur:
                cur.copy_expert(self._query, self._write, size=1 << 20)
        except BaseException as e:  # reported by next_batch()
            self.error = e
        finally:
            try:
                self._write.close()
            except OSError:
                pass

    def _open(self) -> pcsv.CSVStreamingReader | None:
        names = self.columns
        try:
            return pcsv.open_csv(
                self._read,
                read_options=pcsv.ReadOptions(
                    column_names=names, block_size=self._block_bytes, use_threads=True
                ),
                parse_options=pcsv.ParseOptions(newlines_in_values=True),
                convert_options=pcsv.ConvertOptions(
                    column_types={n: pa.string() for n in names},
                    strings_can_be_null=True,
                    quoted_strings_can_be_null=False,
                    null_values=[""],
                ),
            )
        except pa.ArrowInvalid as e:
            if "Empty CSV file" in str(e):
                return None
            raise

    def next_batch(self) -> pa.RecordBatch | None:
        """The next batch of rows, or None at the end of the table."""
        if self._done:
            return None
        if self._reader is None:
            self._reader = self._open()
        batch = None
        if self._reader is not None:
            try:
                batch = self._reader.read_next_batch()
            except StopIteration:
                batch = None
        if batch is None:
            self._done = True
            self._thread.join()
            self._read.close()
            if self.error is not None:
                raise self.error
        return batch

    def close(self) -> None:
        """Abandon the table (the connection is then unusable: close it too)."""
        if not self._done:
            self._done = True
            self._read.close()
