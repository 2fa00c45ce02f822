"""One output of a shard, gathered on the worker until the shard ends, then written as one file.

A shard's batches need not all have the same columns (a JSONL field that appears late, a column that is
all nulls in one batch), and a Parquet file has one schema; so a worker keeps what a shard produces in
memory up to a limit, beyond it as Arrow files on its own local disk, and writes the final file at the
end with the union of the batches' schemas, streaming one batch at a time. Nothing here is shared with
other workers or the driver.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from types import TracebackType

import pyarrow as pa

from fineweb_pipe.writers.dataset import conform, one_schema
from fineweb_pipe.writers.sinks import DocumentSink

#: What a shard's output may hold in memory before it goes to the worker's local disk.
SPILL_MEMORY_BYTES = 64 << 20


class Spill:
    """Tables added in order; :meth:`write` writes them as one file with one schema."""

    def __init__(self, memory_bytes: int = SPILL_MEMORY_BYTES) -> None:
        self.memory_bytes = memory_bytes
        self.rows = 0
        self._schemas: list[pa.Schema] = []
        self._tables: list[pa.Table | str] = []  # in memory, or the path of a local Arrow file
        self._in_memory = 0
        self._folder: str | None = None

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._tables = []
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def add(self, table: pa.Table) -> None:
        """Add ``table``'s rows; a table without rows still contributes its columns."""
        if not self._schemas or not table.schema.equals(self._schemas[-1]):
            self._schemas.append(table.schema)
        if table.num_rows == 0:
            return
        self.rows += table.num_rows
        if self._in_memory + table.nbytes <= self.memory_bytes:
            self._tables.append(table)
            self._in_memory += table.nbytes
            return
        if self._folder is None:
            self._folder = tempfile.mkdtemp(prefix="fwp-shard-")
        path = os.path.join(self._folder, f"{len(self._tables):08d}.arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        self._tables.append(path)

    @property
    def schema(self) -> pa.Schema | None:
        """The union of the added tables' schemas (null columns widened to the type others have)."""
        if not self._schemas:
            return None
        return one_schema(self._schemas)

    def _iter_tables(self) -> Iterator[pa.Table]:
        for item in self._tables:
            if isinstance(item, str):
                # Memory-mapped: its buffers are released once the cast copy is written.
                yield pa.ipc.open_file(pa.memory_map(item, "r")).read_all()
            else:
                yield item

    def write(self, url: str, sink: DocumentSink, default: pa.Schema) -> tuple[int, pa.Schema]:
        """Write every row added to ``url`` through ``sink`` (a file with no rows when none was added, with
        the added columns or else ``default``); returns the rows written and the file's schema."""
        schema = self.schema or default
        written = 0
        with sink.open(url, schema) as out:
            for table in self._iter_tables():
                out.write(conform(table, schema))
                written += table.num_rows
        return written, schema

