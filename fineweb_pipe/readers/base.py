"""What every reader does: turn one input file (a shard) into a stream of document batches, and the one
batching and byte-accounting path they all share."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from fineweb_pipe import schema
from fineweb_pipe.stats import ReaderCounts, text_bytes

DEFAULT_BATCH_DOCS = 256
DEFAULT_BATCH_BYTES = 32 << 20
#: The most bytes one record (WARC block, inflated payload) or one JSONL line may take in memory.
DEFAULT_MAX_RECORD_BYTES = 32 << 20

_SURROGATE = re.compile("[\ud800-\udfff]")


class Reader(ABC):
    """Reads one file at a time, streaming: batches are yielded as they fill, never the whole file.

    ``batch_docs`` and ``batch_bytes`` bound a batch; a batch closes at whichever comes first (bytes are
    the UTF-8 bytes of the payload, ``text`` or ``html``). Readers count what they read, skip and fail on
    in ``counts`` as they go. Corrupt content is counted and skipped; a file that cannot be read now
    raises :class:`~fineweb_pipe.errors.InputUnavailable`; a file that lacks a required column or has it
    in the wrong type raises :class:`~fineweb_pipe.errors.ConfigurationError`.
    """

    #: glob patterns (fnmatch, on the file name) this reader takes when given a folder
    patterns: tuple[str, ...] = ()
    #: the columns of every batch, where they do not depend on the file: a file that yields no document
    #: still comes out of a pipeline with the columns its documents would have had
    document_schema: ClassVar[pa.Schema | None] = None

    def __init__(self, batch_docs: int = DEFAULT_BATCH_DOCS, batch_bytes: int = DEFAULT_BATCH_BYTES) -> None:
        self.batch_docs = batch_docs
        self.batch_bytes = batch_bytes

    @abstractmethod
    def iter_batches(self, path: str, counts: ReaderCounts) -> Iterator[pa.Table]:
        """Yield the documents of ``path`` as Arrow tables of at most ``batch_docs`` rows."""


def fallback_id(path: str, offset: int) -> str:
    """The id of a document that has none: stable for its file and offset (byte, line or row)."""
    return hashlib.sha1(f"{path}:{offset}".encode()).hexdigest()


def emitted(table: pa.Table, counts: ReaderCounts) -> pa.Table:
    """Count ``table`` as read (documents, and UTF-8 bytes of its payload) and return it: every reader's
    batches pass here, so byte counts mean the same for every format."""
    counts.documents += table.num_rows
    counts.bytes += text_bytes(table)
    return table


def split_by_bytes(table: pa.Table, max_bytes: int) -> Iterator[pa.Table]:
    """``table`` cut into slices of at most ``max_bytes`` payload bytes (a single larger row is a slice)."""
    column = next((c for c in (schema.TEXT, schema.HTML) if c in table.column_names), None)
    if column is None or table.num_rows == 0 or text_bytes(table) <= max_bytes:
        yield table
        return
    sizes = pc.binary_length(table.column(column)).fill_null(0).to_numpy()
    start, size = 0, 0
    for row, row_size in enumerate(sizes):
        if row > start and size + row_size > max_bytes:
            yield table.slice(start, row - start)
            start, size = row, 0
        size += int(row_size)
    yield table.slice(start)


class Batcher:
    """Collects rows column-wise and cuts a table when it holds ``max_docs`` rows or ``max_bytes`` bytes.

    ``add`` takes each row's size in bytes: the payload's UTF-8 bytes, or an upper bound of them (a JSONL
    line). A string with a lone surrogate (a ``\\ud800`` escape in JSON) cannot be UTF-8: it is replaced
    by U+FFFD and counted as ``invalid_bytes`` at the row's offset.
    """

    def __init__(self, table_schema: pa.Schema, max_docs: int, max_bytes: int, path: str,
                 counts: ReaderCounts) -> None:
        self.schema = table_schema
        self.max_docs = max_docs
        self.max_bytes = max_bytes
        self.path = path
        self.counts = counts
        self._reset()

    def _reset(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in self.schema.names}
        self.rows = 0
        self.bytes = 0

    def add(self, row: dict[str, Any], size: int) -> pa.Table | None:
        for name, values in self.columns.items():
            values.append(row.get(name))
        self.rows += 1
        self.bytes += size
        return self.flush() if self.rows >= self.max_docs or self.bytes >= self.max_bytes else None

    def flush(self) -> pa.Table | None:
        if not self.rows:
            return None
        try:
            table = pa.table(self.columns, schema=self.schema)
        except UnicodeEncodeError:
            table = pa.table(self._without_surrogates(), schema=self.schema)
        self._reset()
        return emitted(table, self.counts)

    def _without_surrogates(self) -> dict[str, list[Any]]:
        offsets = self.columns.get(schema.SOURCE_OFFSET) or [None] * self.rows
        clean: dict[str, list[Any]] = {}
        for name, values in self.columns.items():
            clean[name] = []
            for value, offset in zip(values, offsets):
                if isinstance(value, str) and _SURROGATE.search(value):
                    self.counts.error("invalid_bytes", self.path, offset,
                                      f"lone surrogate in '{name}' replaced by U+FFFD")
                    value = _SURROGATE.sub("\ufffd", value)
                clean[name].append(value)
        return clean
