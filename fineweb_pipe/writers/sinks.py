"""Sinks: the file format a pipeline writes its documents in, named by the pipeline (``Pipeline(sink=...)``).

A sink opens one file per shard and takes tables with one schema; the file appears complete or not at
all (``fineweb_pipe.storage``), on a local disk or an object store. The engine reads what one phase
wrote with the Parquet reader in the next, so phases in between always write Parquet; the sink chosen
by the pipeline is used for ``documents/``.
"""

from __future__ import annotations

import gzip
import json
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import pyarrow as pa

from fineweb_pipe.storage import open_atomic
from fineweb_pipe.writers.atomic import PARQUET_COMPRESSION, ROW_GROUP_BYTES, ParquetSink


class TableWriter(Protocol):
    def write(self, table: pa.Table) -> None:
        """Append ``table``'s rows (with the schema the file was opened with)."""


class DocumentSink(ABC):
    """How documents are written: a file extension and a writer per file."""

    extension: str

    @abstractmethod
    def open(self, url: str, schema: pa.Schema) -> Any:
        """A context manager giving a :class:`TableWriter` for the file ``url``."""

    @property
    def readable_by_next_phase(self) -> bool:
        """Whether the engine's Parquet reader can read these files back (for a phase after this one)."""
        return False


@dataclass(frozen=True)
class ParquetDocuments(DocumentSink):
    """Zstd Parquet, streamed in row groups of about ``row_group_bytes`` (the default sink)."""

    compression: str = PARQUET_COMPRESSION
    row_group_bytes: int = ROW_GROUP_BYTES
    extension = ".parquet"

    def open(self, url: str, schema: pa.Schema) -> ParquetSink:
        return ParquetSink(url, schema, self.row_group_bytes, self.compression)

    @property
    def readable_by_next_phase(self) -> bool:
        return True


@dataclass(frozen=True)
class JsonlDocuments(DocumentSink):
    """One JSON object per line, gzip-compressed (``.jsonl.gz``), as Dolma and datatrove write documents.
    Dates become ISO strings; binary columns are not supported (a clear error names the column)."""

    extension = ".jsonl.gz"
    compresslevel: int = 6

    @contextmanager
    def open(self, url: str, schema: pa.Schema) -> Iterator[_JsonlWriter]:
        binary = [f.name for f in schema if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
        if binary:
            raise ValueError(f"{url}: JSONL cannot hold the binary columns {binary}; drop them or use ParquetDocuments")
        with open_atomic(url) as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=self.compresslevel) as out:
            yield _JsonlWriter(out)


class _JsonlWriter:
    def __init__(self, out: gzip.GzipFile) -> None:
        self._out = out

    def write(self, table: pa.Table) -> None:
        lines = [json.dumps(row, ensure_ascii=False, default=_json_value) for row in table.to_pylist()]
        if lines:
            self._out.write(("\n".join(lines) + "\n").encode("utf-8"))


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
