"""What every reader does: turn one input file (a shard) into a stream of document batches, and the one
batching and byte-accounting path they all share."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
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
    """Collects rows and cuts a table when it holds ``max_docs`` rows or ``max_bytes`` bytes.

    Rows come one at a time (``add``, column-wise into Python lists) or as Arrow tables already
    (``add_table``, cut at the same rows as if added one by one). Each row's size is the payload's
    UTF-8 bytes, or an upper bound of them (a JSONL line). A string with a lone surrogate (a ``\\ud800``
    escape in JSON) cannot be UTF-8: it is replaced by U+FFFD and counted as ``invalid_bytes`` at the
    row's offset. A string column may take ``bytes`` (WARC's HTML), fastest when it takes only
    bytes: they must be valid UTF-8, as they are not checked again.
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
        # earlier rows, in order: tables added, and rows added one by one before them (made a table only
        # in flush, where a lone surrogate is counted, as when every row comes one by one)
        self.pieces: list[pa.Table | dict[str, list[Any]]] = []
        self.rows = 0  # in pieces and columns together
        self.bytes = 0

    def add(self, row: dict[str, Any], size: int) -> pa.Table | None:
        for name, values in self.columns.items():
            values.append(row.get(name))
        self.rows += 1
        self.bytes += size
        return self.flush() if self.rows >= self.max_docs or self.bytes >= self.max_bytes else None

    def add_table(self, table: pa.Table, sizes: np.ndarray) -> Iterator[pa.Table]:
        """Add the rows of ``table`` (of this batcher's schema), ``sizes`` their sizes; yields the
        batches they fill."""
        if self.columns[self.schema.names[0]]:
            self.pieces.append(self.columns)
            self.columns = {name: [] for name in self.schema.names}
        ends = np.cumsum(sizes)
        start = 0
        while start < table.num_rows:
            before = int(ends[start - 1]) if start else 0
            # up to max_docs rows, or up to the row that brings the batch to max_bytes
            take = min(self.max_docs - self.rows, table.num_rows - start,
                       int(np.searchsorted(ends[start:], self.max_bytes - self.bytes + before)) + 1)
            self.pieces.append(table.slice(start, take))
            self.rows += take
            self.bytes += int(ends[start + take - 1]) - before
            start += take
            if self.rows >= self.max_docs or self.bytes >= self.max_bytes:
                yield self.flush()

    def flush(self) -> pa.Table | None:
        if not self.rows:
            return None
        pieces = [self._table(p) if isinstance(p, dict) else p for p in self.pieces]
        if self.columns[self.schema.names[0]]:
            pieces.append(self._table(self.columns))
        table = pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces).combine_chunks()
        self._reset()
        return emitted(table, self.counts)

    def _table(self, columns: dict[str, list[Any]]) -> pa.Table:
        try:
            arrays = [_array(columns[f.name], f.type) for f in self.schema]
        except UnicodeEncodeError:
            columns = self._without_surrogates(columns)
            arrays = [_array(columns[f.name], f.type) for f in self.schema]
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _without_surrogates(self, columns: dict[str, list[Any]]) -> dict[str, list[Any]]:
        offsets = columns.get(schema.SOURCE_OFFSET) or [None] * len(columns[self.schema.names[0]])
        clean: dict[str, list[Any]] = {}
        for name, values in columns.items():
            clean[name] = []
            for value, offset in zip(values, offsets):
                if isinstance(value, str) and _SURROGATE.search(value):
                    self.counts.error("invalid_bytes", self.path, offset,
                                      f"lone surrogate in '{name}' replaced by U+FFFD")
                    value = _SURROGATE.sub("\ufffd", value)
                clean[name].append(value)
        return clean


_BINARY_OF = {pa.string(): pa.binary(), pa.large_string(): pa.large_binary()}


def _array(values: list[Any], type_: pa.DataType) -> pa.Array:
    binary = _BINARY_OF.get(type_)
    if binary is not None and values and type(values[0]) is bytes:  # (a str after it is encoded)
        # UTF-8 bytes made a string array through binary, not checked again (the reader checked them):
        # 40x faster than converting them as strings
        return _binary_array(values, binary).view(type_)
    return pa.array(values, type_)


def _binary_array(values: list[Any], binary: pa.DataType) -> pa.Array:
    """``values`` as a binary array, their bytes copied once where all are ``bytes``: Arrow's builder
    grows its buffer by copying, which took 30-100 ms for a 34 MB batch of WARC pages. The copy goes into
    a buffer of Arrow's memory pool, which reuses its memory: ``b"".join`` took a fresh mapping from the
    system for each batch, and 3-4x the time, in page faults (143 MB of pages: 39 against 9-12 ms)."""
    if not all(type(v) is bytes for v in values):
        return pa.array(values, binary)
    offsets = np.zeros(len(values) + 1, np.int64)
    np.cumsum(np.fromiter(map(len, values), np.int64, len(values)), out=offsets[1:])
    if binary == pa.binary():
        if offsets[-1] >= 1 << 31:  # over 32-bit offsets: left to Arrow, as before
            return pa.array(values, binary)
        offsets = offsets.astype(np.int32)
    data = pa.allocate_buffer(int(offsets[-1]))
    view = memoryview(data).cast("B")
    for value, start in zip(values, offsets.tolist()):
        view[start : start + len(value)] = value
    return pa.Array.from_buffers(binary, len(values), [None, pa.py_buffer(offsets), data])
