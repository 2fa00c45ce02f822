"""The partitioned exchange between rounds of a global stage: map tasks write, reduce tasks read.

A map task writes **one** file for all partitions: its rows grouped by partition, each partition an Arrow
IPC stream (zstd-compressed buffers) of its own, one after another, then a fixed-width index (offset,
length and rows of each partition) and a small trailer that says where the index starts::

    [schema stream][partition 0][partition 1]...[partition P-1][index: P x 3 u64][trailer: 4 u64]

Reduce task ``k`` reads only what it needs: the trailer (a suffix read), index entry ``k`` and partition
``k``'s bytes: three ranged reads of a few bytes plus its data, whatever the number of partitions (a
Parquet footer would grow with the partitions, and each reducer would parse all of it). A run of
consecutive partitions is contiguous, and ``iter_partitions`` reads it in one read per file. So a round
writes as many files as it has map tasks, not map tasks x partitions (at a Common Crawl dump's 90,000
shards and 1,000 partitions, 90 million small files), and a partition's rows come to its reducer in
map-task order, whatever ran where.

The partition of a row is the caller's (a hash of its key), so that the work of each reducer is the
corpus's divided by the number of partitions and does not grow with the size of any one group.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa

from fineweb_pipe import storage

MAGIC = b"FWPXCHG1"
TRAILER = struct.Struct("<QQQ8s")  # index offset, partitions, schema stream length, magic
ENTRY = struct.Struct("<QQQ")  # offset, length, rows of one partition
# Rows per record batch within a partition: a reducer holds a partition's batches of one file at a time.
MAX_BATCH_ROWS = 1 << 20
_WRITE_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


def write_partitioned(table: pa.Table, partition: np.ndarray, partitions: int, url: str) -> list[int]:
    """Write ``table``'s rows to ``url`` grouped by ``partition`` (one int per row, in
    ``[0, partitions)``); within a partition rows keep their order. Returns the rows per partition."""
    partition = np.asarray(partition, dtype=np.int64)
    if len(partition) != table.num_rows:
        raise ValueError(f"{url}: {len(partition)} partition numbers for {table.num_rows} rows")
    if len(partition) and (partition.min() < 0 or partition.max() >= partitions):
        raise ValueError(f"{url}: partition numbers must be in [0, {partitions})")
    order = np.argsort(partition, kind="stable")
    counts = np.bincount(partition, minlength=partitions)
    grouped = table.take(pa.array(order)) if len(order) else table
    file_schema = table.schema
    with storage.open_atomic(url) as out:
        schema_stream = _stream_bytes(file_schema, [])
        out.write(schema_stream)
        position, start = len(schema_stream), 0
        index = bytearray()
        for n in counts.tolist():
            if n:
                data = _stream_bytes(file_schema, grouped.slice(start, n).to_batches(MAX_BATCH_ROWS))
                out.write(data)
            else:
                data = b""
            index += ENTRY.pack(position, len(data), n)
            position += len(data)
            start += n
        out.write(bytes(index))
        out.write(TRAILER.pack(position, partitions, len(schema_stream), MAGIC))
    return [int(n) for n in counts]


def _stream_bytes(schema: pa.Schema, batches: Sequence[pa.RecordBatch]) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=_WRITE_OPTIONS) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


class _MapFile:
    """One map file's trailer, read once."""

    def __init__(self, url: str) -> None:
        self.url = url
        raw = storage.read_range(url, -TRAILER.size)
        if len(raw) != TRAILER.size or TRAILER.unpack(raw)[3] != MAGIC:
            raise ValueError(f"{url} is not a partitioned exchange file (no {MAGIC.decode()} trailer); was it "
                             "written by another version, or cut short? Rerun the stage from scratch")
        self.index_offset, self.partitions, self.schema_length, _ = TRAILER.unpack(raw)

    def entries(self, first: int, stop: int) -> list[tuple[int, int, int]]:
        if not 0 <= first <= stop <= self.partitions:
            raise ValueError(f"{self.url} has {self.partitions} partitions; partitions {first}-{stop - 1} were "
                             "asked for")
        raw = storage.read_range(self.url, self.index_offset + first * ENTRY.size, self.index_offset + stop * ENTRY.size)
        return [ENTRY.unpack_from(raw, i * ENTRY.size) for i in range(stop - first)]

    def schema(self) -> pa.Schema:
        return pa.ipc.open_stream(pa.py_buffer(storage.read_range(self.url, 0, self.schema_length))).schema


def iter_partitions(urls: Sequence[str], partitions: range, columns: Sequence[str] | None = None
                    ) -> Iterator[pa.Table]:
    """The rows of the consecutive ``partitions`` from each map file in ``urls``, file by file (and within a
    file partition by partition), a record batch at a time; one ranged read of data per file."""
    for url in urls:
        # A file at a time in its own frame: its range is let go before the next file's is read.
        yield from _file_partitions(url, partitions, columns)


def _file_partitions(url: str, partitions: range, columns: Sequence[str] | None) -> Iterator[pa.Table]:
    entries = _MapFile(url).entries(partitions.start, partitions.stop)
    filled = [(offset, length) for offset, length, _ in entries if length]
    if not filled:
        return
    first = filled[0][0]
    data = pa.py_buffer(storage.read_range(url, first, filled[-1][0] + filled[-1][1]))
    for offset, length in filled:
        for batch in pa.ipc.open_stream(data.slice(offset - first, length)):
            table = pa.Table.from_batches([batch])
            yield table.select(list(columns)) if columns else table


def iter_partition(urls: Sequence[str], k: int, columns: Sequence[str] | None = None) -> Iterator[pa.Table]:
    """Partition ``k``'s rows from each map file in ``urls``, in their order, a record batch at a time."""
    return iter_partitions(urls, range(k, k + 1), columns)


def read_partition(urls: Sequence[str], k: int, columns: Sequence[str] | None = None,
                   schema: pa.Schema | None = None) -> pa.Table:
    """Partition ``k``'s rows from every map file in ``urls``, concatenated in their order; an empty table
    with ``schema`` (or the first file's) when none has rows."""
    tables = list(iter_partition(urls, k, columns))
    if tables:
        return pa.concat_tables(tables)
    if schema is None:
        if not urls:
            raise ValueError(f"partition {k}: no map files and no schema to make an empty table from")
        schema = _MapFile(urls[0]).schema()
        if columns:
            schema = pa.schema([schema.field(c) for c in columns])
    return schema.empty_table()


def partition_rows(url: str) -> list[int]:
    """Rows per partition in a map file (from its index)."""
    mapped = _MapFile(url)
    return [rows for _, _, rows in mapped.entries(0, int(mapped.partitions))]
