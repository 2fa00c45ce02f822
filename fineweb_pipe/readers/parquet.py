"""Parquet documents, e.g. the output of an earlier run: streamed by row group, never loaded whole."""

from __future__ import annotations

from collections.abc import Iterator

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import schema
from fineweb_pipe.readers.base import Reader
from fineweb_pipe.stats import ReaderCounts, text_bytes


class ParquetReader(Reader):
    """Reads every column; a file needs ``text`` or ``html``. Adds ``source_file``/``source_offset``
    (the row number) when the file has none."""

    patterns = ("*.parquet",)

    def __init__(self, batch_docs: int = 1024, batch_bytes: int = 32 << 20, columns: list[str] | None = None) -> None:
        super().__init__(batch_docs, batch_bytes)
        self.columns = columns

    def iter_batches(self, path: str, counts: ReaderCounts) -> Iterator[pa.Table]:
        with fsspec.open(path, "rb") as f:
            parquet = pq.ParquetFile(f)
            names = parquet.schema_arrow.names
            if schema.TEXT not in names and schema.HTML not in names:
                raise ValueError(f"{path}: Parquet input needs a '{schema.TEXT}' or '{schema.HTML}' column, has {names}")
            row = 0
            for batch in parquet.iter_batches(batch_size=self.batch_docs, columns=self.columns):
                table = pa.Table.from_batches([batch])
                if schema.SOURCE_FILE not in names:
                    table = table.append_column(schema.SOURCE_FILE, pa.array([path] * table.num_rows, pa.string()))
                    table = table.append_column(schema.SOURCE_OFFSET, pa.array(range(row, row + table.num_rows), pa.int64()))
                row += table.num_rows
                counts.records["row"] += table.num_rows
                counts.documents += table.num_rows
                counts.bytes += text_bytes(table)
                yield table
