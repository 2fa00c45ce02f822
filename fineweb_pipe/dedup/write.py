"""The last round: per write group (consecutive input shards with about ``docs / groups`` documents),
each shard's survivors to ``ctx.output_path`` and its removed documents to
``<run_dir>/removed/<stage>/<shard>.parquet``, and survivors' signatures to an index if asked.

A task reads its group's ``members`` and ``clusters`` partitions (:mod:`.clusters`) and then its shards
one after another, a row group at a time: memory is the group's cluster members and one batch of output.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fineweb_pipe import schema, storage
from fineweb_pipe.dedup import index
from fineweb_pipe.dedup.clusters import CLUSTERS, MEMBERS
from fineweb_pipe.dedup.lsh import has_shingles
from fineweb_pipe.dedup.nodes import lookup
from fineweb_pipe.dedup.plan import Files, Plan
from fineweb_pipe.dedup.rounds import LENGTH, Source, document_nodes
from fineweb_pipe.exchange import read_partition
from fineweb_pipe.stage import DROP_REASON, DROP_VALUE
from fineweb_pipe.stats import EXCERPT_CHARS
from fineweb_pipe.writers.atomic import ParquetSink

NEAR_DUPLICATE = "near_duplicate"
DUPLICATE_OF = "duplicate_of"
CLUSTER_ID = "dedup_cluster_id"
CLUSTER_SIZE = "dedup_cluster_size"
EXAMPLE_MEMBERS = 5
WRITE_BATCH_ROWS = 4096


@dataclass(frozen=True)
class ShardOutput:
    source: Source
    output_path: str
    removed_path: str


@dataclass(frozen=True)
class WriteTask:
    group: int
    plan: Plan
    shards: tuple[ShardOutput, ...]
    keep: str
    members: Files
    clusters: Files
    example_labels: tuple[int, ...]
    save_index: str | None

    @property
    def key(self) -> str:
        return f"g{self.group}"


@dataclass(frozen=True)
class Membership:
    """The clustered documents of one shard: their rows, labels, cluster sizes and kept documents' ids."""

    rows: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray
    kept_ids: pa.Array


def write_task(task: WriteTask) -> dict[str, Any]:
    start = time.process_time()
    plan = task.plan
    members = read_partition(task.members.urls(), task.group, schema=MEMBERS)
    clusters = read_partition(task.clusters.urls(), task.group, schema=CLUSTERS)
    node, label = members["node"].to_numpy(), members["label"].to_numpy()
    at = pa.array(lookup(clusters["label"].to_numpy(), label, f"write group {task.group}"))
    sizes = clusters["size"].take(at).to_numpy()
    kept_ids = clusters["kept_id"].take(at).combine_chunks()
    source = plan.layout.source_of(node)
    order = np.argsort(source, kind="stable")
    shard_results = []
    for shard in task.shards:
        lo, hi = np.searchsorted(source[order], [shard.source.index, shard.source.index + 1])
        mine = order[lo:hi]
        membership = Membership(plan.layout.row_of(node[mine]), label[mine], sizes[mine],
                                kept_ids.take(pa.array(mine)))
        shard_start = time.process_time()
        result = write_shard(plan, shard, task.keep, membership, task.example_labels, task.save_index)
        shard_results.append({**result, "cpu_s": time.process_time() - shard_start})
    return {"shards": shard_results, "rows_in": members.num_rows + clusters.num_rows + sum(
        r["docs_in"] for r in shard_results), "files": sum(r["files"] for r in shard_results),
        "cpu_s": time.process_time() - start}


def write_shard(plan: Plan, shard: ShardOutput, keep: str, membership: Membership, example_labels: tuple[int, ...],
                save_index: str | None) -> dict[str, Any]:
    """Write one input shard's survivors (with cluster id and size) and its removed documents, batch by
    batch: memory is a row group of output, not the shard."""
    source = shard.source
    lengths = index.read_table(source.sig_path, [LENGTH])[LENGTH].to_numpy()
    own = document_nodes(plan, source, keep, lengths)
    cluster_id, cluster_size = own.copy(), np.ones(len(own), np.int32)
    rows = membership.rows
    cluster_id[rows] = membership.labels
    cluster_size[rows] = membership.sizes
    position = np.full(len(own), -1)
    position[rows] = np.arange(len(rows))
    duplicate_of = membership.kept_ids.take(pa.array(np.where(position >= 0, position, 0))) if len(rows) else \
        pa.nulls(len(own), pa.string())
    duplicate_of = pc.if_else(pa.array(position >= 0), duplicate_of, pa.nulls(len(own), pa.string()))
    removed = cluster_id != own
    examples = {int(i): label for label in example_labels
                for i in np.flatnonzero(cluster_id == label)[:EXAMPLE_MEMBERS]}
    example_rows: dict[int, dict[str, Any]] = {}
    files = 1
    with storage.open_input(source.path) as f:
        source_file = pq.ParquetFile(f)
        source_schema = source_file.schema_arrow
        kept_schema = source_schema.append(pa.field(CLUSTER_ID, pa.int64())).append(pa.field(CLUSTER_SIZE, pa.int32()))
        removed_schema = kept_schema.append(pa.field(DROP_REASON, pa.string())).append(
            pa.field(DROP_VALUE, pa.string())).append(pa.field(DUPLICATE_OF, pa.string()))
        with ParquetSink(shard.output_path, kept_schema) as kept, ExitStack() as stack:
            dropped = stack.enter_context(ParquetSink(shard.removed_path, removed_schema)) if removed.any() else None
            files += dropped is not None
            first = 0
            for batch in source_file.iter_batches(WRITE_BATCH_ROWS):
                end = first + batch.num_rows
                part = slice(first, end)
                table = pa.Table.from_batches([batch], source_schema).append_column(
                    CLUSTER_ID, pa.array(cluster_id[part])).append_column(CLUSTER_SIZE, pa.array(cluster_size[part]))
                gone = removed[part]
                kept.write(table.filter(pa.array(~gone)))
                if dropped is not None and gone.any():
                    mask = pa.array(gone)
                    n = int(gone.sum())
                    dropped.write(table.filter(mask).append_column(DROP_REASON, pa.array([NEAR_DUPLICATE] * n, pa.string()))
                                  .append_column(DROP_VALUE, pa.nulls(n, pa.string()))
                                  .append_column(DUPLICATE_OF, duplicate_of[part].filter(mask)))
                for i in (i for i in examples if first <= i < end):
                    example_rows[i] = _example(table, i - first, examples[i], own[i] == examples[i])
                first = end
    if save_index:
        signatures = index.read_signatures(source.sig_path, plan.num_perm)
        survivors = ~removed & has_shingles(signatures)
        ids = index.read_table(source.path, [schema.ID])[schema.ID]
        index.write_source(save_index, source.shard, ids.filter(pa.array(survivors)), signatures[survivors])
        files += 1
    return {
        "docs_in": len(own),
        "docs_out": int((~removed).sum()),
        "removed": int(removed.sum()),
        "examples": [example_rows[i] for i in examples],
        "files": files,
    }


def _example(table: pa.Table, row: int, label: int, kept: bool) -> dict[str, Any]:
    """One member of an example cluster, for the report."""
    example: dict[str, Any] = {"cluster_id": int(label), "kept": bool(kept)}
    for column in (schema.ID, schema.URL):
        if column in table.column_names:
            example[column] = table[column][row].as_py()
    example["text"] = (table[schema.TEXT][row].as_py() or "")[:EXCERPT_CHARS]
    return example
