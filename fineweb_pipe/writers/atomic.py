"""Atomic writes: a file appears under its final name complete or not at all.

A rerun takes any file under its final name as finished, so every writer goes through here: write to a
temporary name in the same folder, flush, then rename (atomic on POSIX file systems; object stores
publish an object only when its upload completes, so there the temporary step is skipped).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import TracebackType
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_COMPRESSION = "zstd"
# Row groups of a streamed Parquet file: large enough for column-wise reads, small enough to buffer.
ROW_GROUP_BYTES = 64 << 20
#: What marks a file being written: ``<final name><TEMPORARY_SUFFIX><12 hex digits>``.
TEMPORARY_SUFFIX = ".tmp-"


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``, on error removed."""
    if not is_local(path):
        yield path
        return
    path = path.removeprefix("file://")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}{TEMPORARY_SUFFIX}{uuid.uuid4().hex[:12]}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_parquet(table: pa.Table, path: str) -> None:
    """Write ``table`` as one zstd Parquet file, atomically."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression=PARQUET_COMPRESSION)


class ParquetSink:
    """One Parquet file written table by table, atomically, holding at most a row group in memory.

    Tables are buffered into row groups of about ``row_group_bytes`` (in memory, uncompressed). The file
    appears under ``path`` when the ``with`` block ends without an error, with ``schema`` even if no
    row was written; every table must have that schema.
    """

    def __init__(self, path: str, schema: pa.Schema, row_group_bytes: int = ROW_GROUP_BYTES) -> None:
        self.path = path
        self.schema = schema
        self.row_group_bytes = row_group_bytes
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0
        self._stack = ExitStack()
        self._writer: pq.ParquetWriter | None = None

    def __enter__(self) -> ParquetSink:
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._writer = self._stack.enter_context(pq.ParquetWriter(tmp, self.schema, compression=PARQUET_COMPRESSION))
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


def write_arrow(table: pa.Table, path: str) -> None:
    """Write ``table`` as an uncompressed Arrow IPC file, atomically: cheap to write and to map back,
    for intermediate files that are read once."""
    with atomic_path(path) as tmp, pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_arrow(path: str) -> pa.Table:
    """Read an Arrow IPC file written by :func:`write_arrow`, memory-mapped."""
    # Not closed here: the table's buffers point into the mapping, which lives as long as they do.
    return pa.ipc.open_file(pa.memory_map(path, "r")).read_all()


def write_json(data: Any, path: str) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")


def read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)
