"""The rounds of :class:`~fineweb_pipe.dedup.span_stage.SpanDedup`, each a task function over a small,
picklable description that returns a JSON-able summary (``rows_in``, ``files``, ``cpu_s`` and its own
figures) for :class:`fineweb_pipe.resumable.Resumable`:

1. spans, per input shard: each distinct span hash of the shard once, with the number of the shard's
   documents that have it and the first of them (a partial count), by span partition ``hash mod P``;
2. count, per span partition: documents per span (a sum of partial counts), the first document in input
   order (the smallest shard, then its first row); for a span in ``min_documents`` or more documents, one
   decision per shard that has it (the row that keeps it there, or -1), by the shard's write group;
3. write, per write group: each shard's texts without the repeated spans they do not keep, documents
   left too short to ``removed/<stage>/``.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import schema, storage
from fineweb_pipe.dedup.plan import Files, GroupedPlan
from fineweb_pipe.dedup.spans import SpanConfig, covered_units, split_texts
from fineweb_pipe.exchange import read_partition, write_partitioned
from fineweb_pipe.stage import DROP_REASON, DROP_VALUE
from fineweb_pipe.stats import EXCERPT_CHARS
from fineweb_pipe.writers.atomic import ParquetSink

TOO_SHORT = "too_short_after_span_dedup"
READ_BATCH_ROWS = 4096
TOP_SPANS = 10  # the most repeated spans each count task reports, for the stats' examples
# One row per (span, shard) that has it: ``docs`` of the shard's documents, ``row`` the first of them.
SPANS = pa.schema([("hash", pa.uint64()), ("source", pa.int32()), ("row", pa.int64()), ("docs", pa.int64())])
# A repeated span in one shard: ``keep_row`` is the row that keeps it, -1 where another shard's does.
DECISIONS = pa.schema([("hash", pa.uint64()), ("source", pa.int32()), ("keep_row", pa.int64())])


@dataclass(frozen=True)
class SpanTask:
    source: int
    path: str
    config: SpanConfig
    partitions: int
    spans: Files  # out: SPANS rows by span partition

    @property
    def key(self) -> str:
        return f"s{self.source}"


def read_texts(path: str) -> Any:
    """A shard's ``text`` column a batch at a time: a task holds one batch of texts."""
    with storage.open_input(path) as f:
        for batch in pq.ParquetFile(f).iter_batches(READ_BATCH_ROWS, columns=[schema.TEXT]):
            yield batch.column(0).to_pylist()


def span_task(task: SpanTask) -> dict[str, Any]:
    start = time.process_time()
    hashes, rows, docs = [], [], 0
    for texts in read_texts(task.path):
        for row, split in enumerate(split_texts(texts, task.config), start=docs):
            unique = np.unique(split.hashes)  # a span counts once per document
            hashes.append(unique)
            rows.append(np.full(len(unique), row, np.int64))
        docs += len(texts)
    all_hashes = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    all_rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    # Rows are in input order, so the first occurrence of a hash is its first document in the shard.
    distinct, first, counts = np.unique(all_hashes, return_index=True, return_counts=True)
    table = pa.table({"hash": distinct, "source": np.full(len(distinct), task.source, np.int32),
                      "row": all_rows[first], "docs": counts.astype(np.int64)}, schema=SPANS)
    write_partitioned(table, (distinct % np.uint64(task.partitions)).astype(np.int64), task.partitions,
                      task.spans.url(task.source))
    return {"docs": docs, "spans": len(all_hashes), "rows_in": docs, "files": 1,
            "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class CountTask:
    partition: int
    min_documents: int
    plan: GroupedPlan  # the write groups
    spans: Files
    decisions: Files  # out: DECISIONS rows by write group

    @property
    def key(self) -> str:
        return f"p{self.partition}"


def count_task(task: CountTask) -> dict[str, Any]:
    start = time.process_time()
    rows = read_partition(task.spans.urls(), task.partition, schema=SPANS)
    hashes, sources = rows["hash"].to_numpy(), rows["source"].to_numpy()
    order = np.lexsort((sources, hashes))  # by hash, then input order
    hashes, sources = hashes[order], sources[order]
    first_rows, docs = rows["row"].to_numpy()[order], rows["docs"].to_numpy()[order]
    starts = np.flatnonzero(np.concatenate(([True], hashes[1:] != hashes[:-1]))) if len(hashes) else np.zeros(0, int)
    totals = np.add.reduceat(docs, starts) if len(starts) else np.zeros(0, np.int64)
    repeated = totals >= task.min_documents
    group_of_row = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(hashes))))
    mine = repeated[group_of_row]
    keeper = np.zeros(len(hashes), bool)
    keeper[starts] = True  # the first shard of each span keeps it, at its first row
    decisions = pa.table({"hash": hashes[mine], "source": sources[mine].astype(np.int32),
                          "keep_row": np.where(keeper, first_rows, -1)[mine]}, schema=DECISIONS)
    write_partitioned(decisions, task.plan.group_of_source(sources[mine]), task.plan.groups,
                      task.decisions.url(task.partition))
    top = np.argsort(-totals[repeated], kind="stable")[:TOP_SPANS]
    return {"distinct_spans": len(starts), "repeated_spans": int(repeated.sum()),
            "occurrences_removed": int((totals[repeated] - 1).sum()),
            "most_repeated": [[int(h), int(n)] for h, n in zip(hashes[starts][repeated][top].tolist(),
                                                                   totals[repeated][top].tolist())],
            "rows_in": rows.num_rows, "files": 1, "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class ShardOutput:
    source: int
    path: str
    output_path: str
    removed_path: str


@dataclass(frozen=True)
class SpanWriteTask:
    group: int
    shards: tuple[ShardOutput, ...]
    config: SpanConfig
    min_words: int
    min_chars: int
    decisions: Files
    example_hashes: tuple[int, ...]  # spans whose text (where kept) the stats show

    @property
    def key(self) -> str:
        return f"g{self.group}"


def span_write_task(task: SpanWriteTask) -> dict[str, Any]:
    start = time.process_time()
    decisions = read_partition(task.decisions.urls(), task.group, schema=DECISIONS)
    sources = decisions["source"].to_numpy()
    results = []
    examples: dict[int, str] = {}
    for shard in task.shards:
        mine = sources == shard.source
        hashes, keep_rows = decisions["hash"].to_numpy()[mine], decisions["keep_row"].to_numpy()[mine]
        order = np.argsort(hashes)
        shard_start = time.process_time()
        result = write_shard(task, shard, hashes[order], keep_rows[order], examples)
        results.append({**result, "cpu_s": time.process_time() - shard_start})
    return {"shards": results, "examples": {str(h): t for h, t in examples.items()},
            "rows_in": decisions.num_rows + sum(r["docs_in"] for r in results),
            "files": sum(r["files"] for r in results), "cpu_s": time.process_time() - start}


def write_shard(task: SpanWriteTask, shard: ShardOutput, repeated: np.ndarray, keep_rows: np.ndarray,
                examples: dict[int, str]) -> dict[str, Any]:
    """Rewrite one shard's texts a batch at a time; ``repeated`` (sorted) are its repeated spans and
    ``keep_rows`` the row that keeps each (-1: none of this shard's)."""
    counts = {"docs_in": 0, "docs_out": 0, "dropped": 0, "changed": 0, "spans_removed": 0, "chars_removed": 0}
    wanted = set(task.example_hashes)
    with storage.open_input(shard.path) as f:
        source = pq.ParquetFile(f)
        source_schema = source.schema_arrow
        removed_schema = source_schema.append(pa.field(DROP_REASON, pa.string())).append(
            pa.field(DROP_VALUE, pa.string()))
        text_type = source_schema.field(schema.TEXT).type
        with ParquetSink(shard.output_path, source_schema) as kept, ExitStack() as stack:
            dropped: ParquetSink | None = None
            for batch in source.iter_batches(READ_BATCH_ROWS):
                table = pa.Table.from_batches([batch], source_schema)
                texts = table[schema.TEXT].to_pylist()
                new_texts: list[str | None] = list(texts)
                too_short: dict[int, int] = {}
                for i, split in enumerate(split_texts(texts, task.config) if len(repeated) else ()):
                    row = counts["docs_in"] + i
                    at = np.minimum(np.searchsorted(repeated, split.hashes), len(repeated) - 1)
                    hit = repeated[at] == split.hashes
                    keeps = hit & (keep_rows[at] == row)
                    for h in wanted.intersection(split.hashes[keeps].tolist()).difference(examples):
                        j = int(np.flatnonzero(split.hashes == h)[0])
                        examples[h] = " ".join(split.units[j:j + task.config.window])[:EXCERPT_CHARS]
                    gone = hit & ~keeps
                    if not gone.any():
                        continue
                    text = split.without(covered_units(np.flatnonzero(gone), len(split.units), task.config.window))
                    counts["changed"] += 1
                    counts["spans_removed"] += int(gone.sum())
                    counts["chars_removed"] += len(texts[i] or "") - len(text)
                    new_texts[i] = text
                    words = len(text.split())
                    if words < task.min_words or len(text) < task.min_chars or not text:
                        too_short[i] = words
                table = table.set_column(table.column_names.index(schema.TEXT), schema.TEXT,
                                         pa.array(new_texts, text_type))
                gone_rows = np.zeros(table.num_rows, bool)
                gone_rows[list(too_short)] = True
                kept.write(table.filter(pa.array(~gone_rows)))
                if too_short:
                    if dropped is None:
                        dropped = stack.enter_context(ParquetSink(shard.removed_path, removed_schema))
                    n = len(too_short)
                    dropped.write(table.filter(pa.array(gone_rows))
                                  .append_column(DROP_REASON, pa.array([TOO_SHORT] * n, pa.string()))
                                  .append_column(DROP_VALUE, pa.array([str(too_short[i]) for i in sorted(too_short)],
                                                                      pa.string())))
                counts["docs_in"] += table.num_rows
                counts["docs_out"] += table.num_rows - len(too_short)
                counts["dropped"] += len(too_short)
    return {**counts, "files": 1 + (counts["dropped"] > 0)}
