"""Parquet and JSON written atomically: a file appears under its final name complete or not at all.

A rerun takes any file under its final name as finished, so every writer goes through here (and
``fineweb_pipe.storage``, which does the same for local folders and object stores alike).
"""

from __future__ import annotations

from contextlib import ExitStack
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe.storage import open_atomic, read_json, write_json

__all__ = ["ParquetSink", "read_json", "write_json", "write_parquet"]

PARQUET_COMPRESSION = "zstd"
# Row groups of a streamed Parquet file: large enough for column-wise reads, small enough to buffer.
ROW_GROUP_BYTES = 64 << 20


def write_parquet(table: pa.Table, path: str) -> None:
    """Write ``table`` as one zstd Parquet file, atomically."""
    with open_atomic(path) as out:
        pq.write_table(table, out, compression=PARQUET_COMPRESSION)


class ParquetSink:
    """One Parquet file written table by table, atomically, holding at most a row group in memory.

    Tables are buffered into row groups of about ``row_group_bytes`` (in memory, uncompressed). The file
    appears under ``path`` when the ``with`` block ends without an error, with ``schema`` even if no
    row was written; every table must have that schema.
    """

    def __init__(self, path: str, schema: pa.Schema, row_group_bytes: int = ROW_GROUP_BYTES,
                 compression: str = PARQUET_COMPRESSION) -> None:
        self.path = path
        self.schema = schema
        self.row_group_bytes = row_group_bytes
        self.compression = compression
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0
        self._stack = ExitStack()
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> ParquetSink:
        out = self._stack.enter_context(open_atomic(self.path))
        self._writer = self._stack.enter_context(pq.ParquetWriter(out, self.schema, compression=self.compression))
        return self

    def write(self, table: pa.Table) -> None:
        if not table.schema.equals(self.schema):
            raise ValueError(f"{self.path}: table schema {table.schema} differs from the file's {self.schema}")
        self._pending.append(table)
        self._pending_bytes += table.nbytes
        if self._pending_bytes >= self.row_group_bytes:
            self._flush()

    def _flush(self) -> None:
        assert self._writer is not None, "use ParquetSink in a with block"
        if self._pending:
            table = pa.concat_tables(self._pending)
            self._writer.write_table(table, row_group_size=max(1, table.num_rows))
        self._pending, self._pending_bytes = [], 0

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        # The writer closes, then the file is renamed into place, or removed on an error (the last
        # row group's write included).
        try:
            if exc_type is None:
                self._flush()
        except BaseException as error:
            self._stack.__exit__(type(error), error, error.__traceback__)
            raise
        else:
            self._stack.__exit__(exc_type, exc, traceback)
        finally:
            self._pending = []

