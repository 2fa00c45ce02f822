"""The first rounds of :class:`~fineweb_pipe.dedup.stage.MinHashDedup`: signatures per source, then LSH
buckets per band-hash partition.

Every task function takes one small, picklable task description (a :class:`~.plan.Plan`, numbers,
never data), reads its source or its partition, writes its outputs atomically and returns a JSON-able
summary (with ``rows_in``, the rows it read, and ``files``, the files it wrote), which
:class:`fineweb_pipe.resumable.Resumable` records so that a rerun skips finished items.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fineweb_pipe import schema, storage
from fineweb_pipe.dedup import index
from fineweb_pipe.dedup.lsh import bucket_rows, has_shingles, star_edges
from fineweb_pipe.dedup.plan import Files, Plan
from fineweb_pipe.dedup.signatures import U64, MinHasher, MinHashParams
from fineweb_pipe.exchange import read_partition, write_partitioned
from fineweb_pipe.writers.atomic import write_parquet

LENGTH = "length"  # of each document's text, in the signature files of input shards
BANDS = pa.schema([("band", pa.uint8()), ("band_hash", pa.uint64()), ("node", pa.int64())])
EDGES = pa.schema([("u", pa.int64()), ("v", pa.int64())])  # u: a bucket member, v: the bucket's centre
REQUESTS = pa.schema([("node", pa.int64()), ("to", pa.int64())])  # a centre's signature, wanted by partition ``to``


@dataclass(frozen=True)
class Source:
    """A set of documents with signatures: an input shard, or one file of a reference index."""

    index: int
    shard: str
    path: str  # Parquet with an ``id`` column (and ``text`` for an input shard, ``sig`` for a reference)
    sig_path: str
    reference: bool


def text_lengths(texts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.fill_null(pc.utf8_length(texts), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def document_nodes(plan: Plan, source: Source, keep: str, lengths: np.ndarray) -> np.ndarray:
    return plan.layout.encode(plan.layout.priorities(keep, lengths), source.index, np.arange(len(lengths)))


@dataclass(frozen=True)
class SignatureTask:
    source: Source
    plan: Plan
    params: MinHashParams
    keep: str
    batch_size: int
    nodes: Files  # out: (node, sig, id) by node partition
    bands: Files  # out: band rows by band-hash partition

    @property
    def key(self) -> str:
        return f"s{self.source.index}"


def signature_task(task: SignatureTask) -> dict[str, Any]:
    """Signatures of one source: to its signature file (input shards), to the node partitions (for the
    verify and cluster rounds) and, as band rows, to the bucket partitions."""
    start = time.process_time()
    plan, params, source = task.plan, task.params, task.source
    files = 2
    if source.reference:
        table = index.read_table(source.sig_path, [schema.ID, "sig"])
        ids, signatures = pc.cast(table[schema.ID], pa.string()), index.signature_array(table["sig"], params.num_perm, source.sig_path)
        node_ids = plan.layout.encode(np.zeros(len(signatures), np.int64), source.index, np.arange(len(signatures)))
    else:
        # Batch by batch from the file: memory is one batch of texts, not the shard's.
        hasher = MinHasher(params)
        parts, length_parts, id_parts = [np.zeros((0, params.num_perm), U64)], [np.zeros(0, np.int64)], []
        with storage.open_input(source.path) as f:
            for batch in pq.ParquetFile(f).iter_batches(task.batch_size, columns=[schema.TEXT, schema.ID]):
                texts = batch.column(schema.TEXT)
                parts.append(hasher.signatures(texts.to_pylist()))
                length_parts.append(text_lengths(texts))
                id_parts.append(batch.column(schema.ID))
        signatures, lengths = np.concatenate(parts), np.concatenate(length_parts)
        # One id type in every source's node file, so that partitions concatenate.
        ids = pa.chunked_array([pc.cast(i, pa.string()) for i in id_parts], pa.string())
        node_ids = document_nodes(plan, source, task.keep, lengths)
        # The lengths go along for the write round, which then needs no second pass over the texts.
        write_parquet(pa.table({"sig": index.signature_column(signatures), LENGTH: lengths}), source.sig_path)
        files += 1
    with_shingles = has_shingles(signatures)  # the others never join a bucket, so no round looks them up
    node_table = pa.table({"node": node_ids[with_shingles], "sig": index.signature_column(signatures[with_shingles]),
                           "id": ids.filter(pa.array(with_shingles))})
    write_partitioned(node_table, plan.partition_of(node_table["node"].to_numpy()), plan.partitions,
                      task.nodes.url(source.index))
    band, band_hash, node = bucket_rows(signatures, node_ids, params.num_bands, params.rows_per_band)
    write_partitioned(pa.table({"band": band, "band_hash": band_hash, "node": node}, schema=BANDS),
                      (band_hash % U64(plan.partitions)).astype(np.int64), plan.partitions,
                      task.bands.url(source.index))
    return {"docs": len(signatures), "rows_in": len(signatures), "files": files, "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class BucketTask:
    partition: int
    plan: Plan
    bands: Files
    verify: bool
    edges: Files  # out: candidate edges by member partition (verify), else the final edges
    requests: Files  # out (verify): which partitions want each centre's signature, by centre partition

    @property
    def key(self) -> str:
        return f"p{self.partition}"


def bucket_task(task: BucketTask) -> dict[str, Any]:
    """Group one partition's band rows into buckets; write star edges (to be verified, or final)."""
    start = time.process_time()
    plan, k = task.plan, task.partition
    rows = read_partition(task.bands.urls(), k, schema=BANDS)
    u, v = star_edges(rows["band"].to_numpy(), rows["band_hash"].to_numpy(), rows["node"].to_numpy())
    edges = pa.table({"u": u, "v": v}, schema=EDGES)
    if task.verify:
        # Edges go to their member's partition, which holds the member's signature; each centre's
        # signature is asked for once per partition that needs it, so a centre with a million members
        # costs its partition at most P requests from this task, not a million rows.
        member_partition = plan.partition_of(u)
        write_partitioned(edges, member_partition, plan.partitions, task.edges.url(k))
        wanted = np.unique(np.stack([v, member_partition], axis=1), axis=0)
        write_partitioned(pa.table({"node": wanted[:, 0], "to": wanted[:, 1]}, schema=REQUESTS),
                          plan.partition_of(wanted[:, 0]), plan.partitions, task.requests.url(k))
        files = 2
    else:
        write_parquet(edges, task.edges.url(k))
        files = 1
    return {"edges": len(u), "rows_in": rows.num_rows, "files": files, "cpu_s": time.process_time() - start}
