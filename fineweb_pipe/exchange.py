"""The partitioned exchange between rounds of a global stage: map tasks write, reduce tasks read.

A map task writes **one** Parquet file for all partitions: its rows grouped by partition, each
partition in its own row groups, and the row groups of each partition recorded in the file's
metadata. Reduce task ``k`` reads only partition ``k``'s row groups from every map file (ranged
reads, which object stores serve well). So a round writes as many files as it has map tasks, not map
tasks x partitions (at a Common Crawl dump's 90,000 shards and 1,000 partitions, 90 million small
files), and a partition's rows come to its reducer in map-task order, whatever ran where.

The partition of a row is the caller's (a hash of its key), so that the work of each reducer is the
corpus's divided by the number of partitions and does not grow with the size of any one group.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import storage

PARTITIONS_KEY = b"fineweb_pipe.partitions"
# Rows per row group within a partition: a reducer reads a partition a row group at a time.
MAX_ROW_GROUP_ROWS = 1 << 20


def write_partitioned(table: pa.Table, partition: np.ndarray, partitions: int, url: str,
                      compression: str = "zstd") -> list[int]:
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
    layout: list[list[int]] = []  # per partition: [first row group, row groups]
    groups = 0
    for n in counts.tolist():
        used = -(-n // MAX_ROW_GROUP_ROWS)
        layout.append([groups, used])
        groups += used
    meta = dict(table.schema.metadata or {})
    meta[PARTITIONS_KEY] = json.dumps(layout).encode()
    file_schema = table.schema.with_metadata(meta)
    with storage.open_atomic(url) as out, pq.ParquetWriter(out, file_schema, compression=compression) as writer:
        start = 0
        for n in counts.tolist():
            for offset in range(0, n, MAX_ROW_GROUP_ROWS):
                size = min(MAX_ROW_GROUP_ROWS, n - offset)
                writer.write_table(grouped.slice(start + offset, size).replace_schema_metadata(meta),
                                   row_group_size=size)
            start += n
    return [int(n) for n in counts]


def iter_partition(urls: Sequence[str], k: int, columns: Sequence[str] | None = None) -> Iterator[pa.Table]:
    """Partition ``k``'s rows from each map file in ``urls``, in their order, a row group at a time."""
    for url in urls:
        with storage.open_input(url) as f:
            parquet = pq.ParquetFile(f)
            layout = _layout(parquet, url)
            if k >= len(layout):
                raise ValueError(f"{url} has {len(layout)} partitions; partition {k} was asked for")
            first, used = layout[k]
            for group in range(first, first + used):
                yield _plain(parquet.read_row_group(group, columns=list(columns) if columns else None))


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
        with storage.open_input(urls[0]) as f:
            schema = _plain_schema(pq.read_schema(f))
        if columns:
            schema = pa.schema([schema.field(c) for c in columns])
    return schema.empty_table()


def partition_rows(url: str) -> list[int]:
    """Rows per partition in a map file (from its footer)."""
    with storage.open_input(url) as f:
        parquet = pq.ParquetFile(f)
        layout = _layout(parquet, url)
        meta = parquet.metadata
        return [sum(meta.row_group(g).num_rows for g in range(first, first + used)) for first, used in layout]


def _layout(parquet: pq.ParquetFile, url: str) -> list[list[int]]:
    raw = (parquet.schema_arrow.metadata or {}).get(PARTITIONS_KEY)
    if raw is None:
        raise ValueError(f"{url} is not a partitioned exchange file (no {PARTITIONS_KEY.decode()} in its metadata)")
    layout: list[list[int]] = json.loads(raw)
    return layout


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    meta = {k: v for k, v in (schema.metadata or {}).items() if k != PARTITIONS_KEY}
    return schema.with_metadata(meta) if meta else schema.remove_metadata()


def _plain(table: pa.Table) -> pa.Table:
    return table.replace_schema_metadata(_plain_schema(table.schema).metadata)
