"""The last round: per write group (consecutive input shards with about ``docs / groups`` documents),
each shard's survivors to ``ctx.output_path`` and its removed documents to
``<run_dir>/removed/<stage>/<shard>.parquet``, and survivors' signatures to an index if asked.

A task reads its group's ``members`` and ``clusters`` partitions (:mod:`.clusters`) and then its shards
one after another, a row group at a time: memory is the group's cluster members and one batch of output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fineweb_pipe import schema
from fineweb_pipe.dedup import index
from fineweb_pipe.dedup.clusters import CLUSTERS, MEMBERS
from fineweb_pipe.dedup.kept_removed import WRITE_BATCH_ROWS, ShardSplit, write_kept_and_removed
from fineweb_pipe.dedup.lsh import has_shingles
from fineweb_pipe.dedup.nodes import lookup
from fineweb_pipe.dedup.plan import Files, Plan
from fineweb_pipe.dedup.rounds import LENGTH, Source, document_nodes
from fineweb_pipe.exchange import read_partition

NEAR_DUPLICATE = "near_duplicate"
CLUSTER_ID = "dedup_cluster_id"
CLUSTER_SIZE = "dedup_cluster_size"
EXAMPLE_MEMBERS = 5


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
    files, excerpts = write_kept_and_removed(source.path, shard.output_path, shard.removed_path, ShardSplit(
        removed, duplicate_of, NEAR_DUPLICATE, {CLUSTER_ID: cluster_id, CLUSTER_SIZE: cluster_size}, examples),
        WRITE_BATCH_ROWS)
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
        "examples": [{"cluster_id": int(label), "kept": bool(own[i] == label), **excerpts[i]}
                     for i, label in examples.items()],
        "files": files,
    }

