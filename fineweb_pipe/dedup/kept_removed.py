"""The writer every dedup stage ends with: one input shard split into its kept documents (to the stage's
output shard) and its removed ones (to ``<run_dir>/removed/<stage>/<shard>.parquet``, with
``drop_reason``, ``drop_value`` and ``duplicate_of``, the id of the document kept in its place).

The shard is read a row group at a time, so memory is one batch of output whatever the shard's size; the
decisions (which rows go, and the id each duplicates) come in whole, one entry per row.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import schema, storage
from fineweb_pipe.stage import DROP_REASON, DROP_VALUE
from fineweb_pipe.stats import EXCERPT_CHARS
from fineweb_pipe.writers.atomic import ParquetSink

DUPLICATE_OF = "duplicate_of"
WRITE_BATCH_ROWS = 4096


@dataclass(frozen=True)
class ShardSplit:
    """What to write for one shard: ``removed`` (one bool per row), ``duplicate_of`` (one id per row, used
    where removed), ``reason`` (the removed rows' ``drop_reason``), ``columns`` (whole-shard arrays added
    to every row, kept and removed) and ``examples`` (rows whose excerpts the caller wants back)."""

    removed: np.ndarray
    duplicate_of: pa.Array
    reason: str
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)
    examples: Collection[int] = ()


def write_kept_and_removed(source_path: str, output_path: str, removed_path: str, split: ShardSplit,
                           batch_rows: int = WRITE_BATCH_ROWS) -> tuple[int, dict[int, dict[str, Any]]]:
    """Write the shard at ``source_path`` split by ``split``, ``batch_rows`` rows at a time; the removed
    file only where a row is removed. Returns the files written and an excerpt (id, url, text) of each example row."""
    removed = split.removed
    excerpts: dict[int, dict[str, Any]] = {}
    with storage.open_input(source_path) as f:
        source_file = pq.ParquetFile(f)
        source_schema = source_file.schema_arrow
        kept_schema = source_schema
        for name, values in split.columns.items():
            kept_schema = kept_schema.append(pa.field(name, pa.from_numpy_dtype(values.dtype)))
        removed_schema = kept_schema.append(pa.field(DROP_REASON, pa.string())).append(
            pa.field(DROP_VALUE, pa.string())).append(pa.field(DUPLICATE_OF, pa.string()))
        with ParquetSink(output_path, kept_schema) as kept, ExitStack() as stack:
            dropped = stack.enter_context(ParquetSink(removed_path, removed_schema)) if removed.any() else None
            first = 0
            for batch in source_file.iter_batches(batch_rows):
                end = first + batch.num_rows
                part = slice(first, end)
                table = pa.Table.from_batches([batch], source_schema)
                for name, values in split.columns.items():
                    table = table.append_column(name, pa.array(values[part]))
                gone = removed[part]
                kept.write(table.filter(pa.array(~gone)))
                if dropped is not None and gone.any():
                    mask = pa.array(gone)
                    n = int(gone.sum())
                    dropped.write(table.filter(mask).append_column(DROP_REASON, pa.array([split.reason] * n, pa.string()))
                                  .append_column(DROP_VALUE, pa.nulls(n, pa.string()))
                                  .append_column(DUPLICATE_OF, split.duplicate_of[part].filter(mask)))
                for i in (i for i in split.examples if first <= i < end):
                    excerpts[i] = excerpt(table, i - first)
                first = end
    return 1 + (dropped is not None), excerpts


def excerpt(table: pa.Table, row: int) -> dict[str, Any]:
    """One document as the report shows it: id and url where the table has them, the text's beginning."""
    doc: dict[str, Any] = {}
    for column in (schema.ID, schema.URL):
        if column in table.column_names:
            doc[column] = table[column][row].as_py()
    doc["text"] = (table[schema.TEXT][row].as_py() or "")[:EXCERPT_CHARS] if schema.TEXT in table.column_names else ""
    return doc
