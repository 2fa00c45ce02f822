"""The per-item work of each round of :class:`~fineweb_pipe.dedup.stage.MinHashDedup`.

Every function takes one small, picklable task description (paths and numbers, never data), reads its
partition's files, writes its outputs atomically and returns a JSON-able summary, which
:class:`fineweb_pipe.resumable.Resumable` records so that a rerun skips finished items.
"""

from __future__ import annotations

import glob
import os
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fineweb_pipe import schema
from fineweb_pipe.dedup import index, nodes
from fineweb_pipe.dedup.components import union_find, write_half_edges, write_labels
from fineweb_pipe.dedup.lsh import bucket_rows, has_shingles, star_edges
from fineweb_pipe.dedup.signatures import U64, MinHasher, MinHashParams
from fineweb_pipe.stage import DROP_REASON, DROP_VALUE
from fineweb_pipe.stats import EXCERPT_CHARS
from fineweb_pipe.writers.atomic import ParquetSink, write_parquet

NEAR_DUPLICATE = "near_duplicate"
DUPLICATE_OF = "duplicate_of"
CLUSTER_ID = "dedup_cluster_id"
CLUSTER_SIZE = "dedup_cluster_size"
LENGTH = "length"  # of each document's text, in the signature files of input shards
EXAMPLE_MEMBERS = 5
WRITE_BATCH_ROWS = 4096


@dataclass(frozen=True)
class Source:
    """A set of documents with signatures: an input shard, or one file of a reference index."""

    index: int
    shard: str
    path: str  # Parquet with an ``id`` column (and ``text`` for an input shard, ``sig`` for a reference)
    sig_path: str
    reference: bool


def _read_files(pattern: str, columns: list[str] | None = None) -> pa.Table | None:
    files = sorted(glob.glob(pattern))
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files]) if files else None


def _part_path(work_dir: str, folder: str, partition: int | str, writer: str) -> str:
    return os.path.join(work_dir, folder, f"{partition}", f"{writer}.parquet")


@dataclass(frozen=True)
class SignatureTask:
    source: Source
    params: MinHashParams
    keep: str
    partitions: int
    work_dir: str
    batch_size: int

    @property
    def key(self) -> str:
        return f"s{self.source.index}"


def text_lengths(texts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.fill_null(pc.utf8_length(texts), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def document_nodes(task_source: Source, keep: str, lengths: np.ndarray) -> np.ndarray:
    return nodes.encode(nodes.priorities(keep, lengths), task_source.index, np.arange(len(lengths)))


def signature_task(task: SignatureTask) -> dict[str, Any]:
    """Signatures of one source to its signature file, and its band rows to the bucket partitions."""
    start = time.process_time()
    params, source = task.params, task.source
    if source.reference:
        signatures = index.read_signatures(source.sig_path, params.num_perm)
        node_ids = nodes.encode(np.zeros(len(signatures), np.int64), source.index, np.arange(len(signatures)))
    else:
        # Batch by batch from the file: memory is one batch of texts, not the shard's.
        hasher = MinHasher(params)
        parts, length_parts = [np.zeros((0, params.num_perm), U64)], [np.zeros(0, np.int64)]
        for batch in pq.ParquetFile(source.path).iter_batches(task.batch_size, columns=[schema.TEXT]):
            texts = batch.column(0)
            parts.append(hasher.signatures(texts.to_pylist()))
            length_parts.append(text_lengths(texts))
        signatures, lengths = np.concatenate(parts), np.concatenate(length_parts)
        node_ids = document_nodes(source, task.keep, lengths)
        # The lengths go along for the write round, which then needs no second pass over the texts.
        write_parquet(pa.table({"sig": index.signature_column(signatures), LENGTH: lengths}), source.sig_path)
    band, band_hash, node = bucket_rows(signatures, node_ids, params.num_bands, params.rows_per_band)
    part = (band_hash % U64(task.partitions)).astype(np.int64)
    for k in np.unique(part):
        sel = part == k
        table = pa.table({"band": band[sel], "band_hash": band_hash[sel], "node": node[sel]})
        write_parquet(table, _part_path(task.work_dir, "bands", f"p{k}", f"s{source.index}"))
    return {"docs": len(signatures), "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class BucketTask:
    partition: int
    work_dir: str
    verify: bool

    @property
    def key(self) -> str:
        return f"p{self.partition}"


def bucket_task(task: BucketTask) -> dict[str, Any]:
    """Group one partition's band rows into buckets; write star edges (to be verified, or final)."""
    start = time.process_time()
    rows = _read_files(_part_path(task.work_dir, "bands", f"p{task.partition}", "*"))
    if rows is None:
        return {"edges": 0, "cpu_s": time.process_time() - start}
    u, v = star_edges(rows["band"].to_numpy(), rows["band_hash"].to_numpy(), rows["node"].to_numpy())
    if task.verify:  # grouped by the source of the centre, whose signatures are attached next
        owner = nodes.source_of(v)
        for s in np.unique(owner):
            sel = owner == s
            write_parquet(pa.table({"u": u[sel], "v": v[sel]}),
                          _part_path(task.work_dir, "candidates", f"s{s}", f"p{task.partition}"))
    elif len(u):
        write_parquet(pa.table({"u": u, "v": v}), _part_path(task.work_dir, "edges", "all", f"p{task.partition}"))
    return {"edges": len(u), "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class VerifyTask:
    source: Source
    params: MinHashParams
    work_dir: str
    threshold: float
    step: str  # "attach": add the centre's signature; "check": compare with the member's

    @property
    def key(self) -> str:
        return f"{self.step}-s{self.source.index}"


def verify_task(task: VerifyTask) -> dict[str, Any]:
    """One side of the signature join: candidate edges meet the signatures of one source at a time,
    so a task holds one source's signatures and the edges that touch it."""
    start = time.process_time()
    num_perm = task.params.num_perm
    if task.step == "attach":
        edges = _read_files(_part_path(task.work_dir, "candidates", f"s{task.source.index}", "*"))
        if edges is None:
            return {"candidates": 0, "cpu_s": time.process_time() - start}
        pairs = np.unique(np.stack([edges["u"].to_numpy(), edges["v"].to_numpy()], axis=1), axis=0)
        u, v = pairs[:, 0], pairs[:, 1]
        sig_v = index.read_signatures(task.source.sig_path, num_perm)[nodes.row_of(v)]
        owner = nodes.source_of(u)
        for s in np.unique(owner):
            sel = owner == s
            table = pa.table({"u": u[sel], "v": v[sel], "sig": index.signature_column(sig_v[sel])})
            write_parquet(table, _part_path(task.work_dir, "joined", f"s{s}", f"s{task.source.index}"))
        return {"candidates": len(u), "cpu_s": time.process_time() - start}
    pattern = _part_path(task.work_dir, "joined", f"s{task.source.index}", "*")
    edges = _read_files(pattern, ["u", "v"])
    if edges is None:
        return {"verified": 0, "rejected": 0, "cpu_s": time.process_time() - start}
    sig_v = np.concatenate([index.read_signatures(f, num_perm) for f in sorted(glob.glob(pattern))])
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    sig_u = index.read_signatures(task.source.sig_path, num_perm)[nodes.row_of(u)]
    similar = (sig_u == sig_v).mean(axis=1) >= task.threshold
    if similar.any():
        write_parquet(pa.table({"u": u[similar], "v": v[similar]}),
                      _part_path(task.work_dir, "edges", "all", f"s{task.source.index}"))
    return {"verified": int(similar.sum()), "rejected": int((~similar).sum()), "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class EdgeFilesTask:
    """Union-find over all edges (``partitions == 0``) or scattering one edge file into half-edges."""

    files: tuple[str, ...]
    out_dir: str
    partitions: int

    @property
    def key(self) -> str:
        return "union-find" if self.partitions == 0 else os.path.basename(self.files[0]).removesuffix(".parquet")


def edge_files_task(task: EdgeFilesTask) -> dict[str, Any]:
    start = time.process_time()
    edges = pa.concat_tables([pq.read_table(f) for f in task.files])
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    if task.partitions == 0:
        node_ids, labels = union_find(u, v)
        write_labels(node_ids, labels, task.out_dir, "union-find")
    else:
        write_half_edges(u, v, task.out_dir, task.key, task.partitions)
    return {"cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class ClusterTask:
    source: Source
    work_dir: str

    @property
    def key(self) -> str:
        return f"s{self.source.index}"


def cluster_task(task: ClusterTask) -> dict[str, Any]:
    """Sizes and kept ids of the clusters whose kept document is in this source; members are sent to
    the tasks of their own sources."""
    start = time.process_time()
    labels = _read_files(os.path.join(task.work_dir, "labels", f"s{task.source.index}", "*.parquet"))
    if labels is None:
        return {"sizes": {}, "largest": [], "cpu_s": time.process_time() - start}
    node, label = labels["node"].to_numpy(), labels["label"].to_numpy()
    unique_labels, inverse, sizes = np.unique(label, return_inverse=True, return_counts=True)
    ids = pq.read_table(task.source.path, columns=[schema.ID])[schema.ID]
    kept_ids = ids.take(pa.array(nodes.row_of(unique_labels)))
    owner = nodes.source_of(node)
    for s in np.unique(owner):
        sel = np.flatnonzero(owner == s)
        table = pa.table({"node": node[sel], "label": label[sel], "size": sizes[inverse[sel]].astype(np.int32),
                          "kept_id": kept_ids.take(pa.array(inverse[sel]))})
        write_parquet(table, _part_path(task.work_dir, "members", f"s{s}", f"s{task.source.index}"))
    largest = np.argsort(-sizes, kind="stable")[:EXAMPLE_MEMBERS]
    return {
        "sizes": {str(k): int(n) for k, n in Counter(sizes.tolist()).items()},
        "largest": [[int(unique_labels[i]), int(sizes[i])] for i in largest],
        "reference_hits": int(sizes.sum() - len(sizes)) if task.source.reference else 0,
        "cpu_s": time.process_time() - start,
    }


@dataclass(frozen=True)
class WriteTask:
    source: Source
    keep: str
    num_perm: int
    work_dir: str
    output_path: str
    removed_path: str
    example_labels: tuple[int, ...]
    save_index: str | None

    @property
    def key(self) -> str:
        return f"s{self.source.index}"


def write_task(task: WriteTask) -> dict[str, Any]:
    """Write one input shard's survivors (with cluster id and size) and its removed documents, batch by
    batch: memory is a row group of output, not the shard."""
    start = time.process_time()
    lengths = pq.read_table(task.source.sig_path, columns=[LENGTH])[LENGTH].to_numpy()
    own = document_nodes(task.source, task.keep, lengths)
    cluster_id, cluster_size = own.copy(), np.ones(len(own), np.int32)
    duplicate_of = pa.nulls(len(own), pa.string())
    members = _read_files(os.path.join(task.work_dir, "members", f"s{task.source.index}", "*.parquet"))
    if members is not None:
        rows = nodes.row_of(members["node"].to_numpy())
        cluster_id[rows] = members["label"].to_numpy()
        cluster_size[rows] = members["size"].to_numpy()
        position = np.full(len(own), -1)
        position[rows] = np.arange(len(rows))
        duplicate_of = members["kept_id"].combine_chunks().take(pa.array(np.where(position >= 0, position, 0)))
        duplicate_of = pc.if_else(pa.array(position >= 0), duplicate_of, pa.nulls(len(own), duplicate_of.type))
    removed = cluster_id != own
    examples = {int(i): label for label in task.example_labels
                for i in np.flatnonzero(cluster_id == label)[:EXAMPLE_MEMBERS]}
    example_rows: dict[int, dict[str, Any]] = {}
    source = pq.ParquetFile(task.source.path)
    kept_schema = source.schema_arrow.append(pa.field(CLUSTER_ID, pa.int64())).append(pa.field(CLUSTER_SIZE, pa.int32()))
    removed_schema = kept_schema.append(pa.field(DROP_REASON, pa.string())).append(
        pa.field(DROP_VALUE, pa.string())).append(pa.field(DUPLICATE_OF, duplicate_of.type))
    with ParquetSink(task.output_path, kept_schema) as kept, ExitStack() as stack:
        dropped = stack.enter_context(ParquetSink(task.removed_path, removed_schema)) if removed.any() else None
        first = 0
        for batch in source.iter_batches(WRITE_BATCH_ROWS):
            end = first + batch.num_rows
            part = slice(first, end)
            table = pa.Table.from_batches([batch], source.schema_arrow).append_column(
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
    if task.save_index:
        signatures = index.read_signatures(task.source.sig_path, task.num_perm)
        survivors = ~removed & has_shingles(signatures)
        ids = pq.read_table(task.source.path, columns=[schema.ID])[schema.ID]
        index.write_source(task.save_index, task.source.shard, ids.filter(pa.array(survivors)), signatures[survivors])
    return {
        "docs_in": len(own),
        "docs_out": int((~removed).sum()),
        "removed": int(removed.sum()),
        "examples": [example_rows[i] for i in examples],
        "cpu_s": time.process_time() - start,
    }


def _example(table: pa.Table, row: int, label: int, kept: bool) -> dict[str, Any]:
    """One member of an example cluster, for the report."""
    example: dict[str, Any] = {"cluster_id": int(label), "kept": bool(kept)}
    for column in (schema.ID, schema.URL):
        if column in table.column_names:
            example[column] = table[column][row].as_py()
    example["text"] = (table[schema.TEXT][row].as_py() or "")[:EXCERPT_CHARS]
    return example
