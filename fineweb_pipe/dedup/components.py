"""Connected components of the candidate graph: in one process for small graphs, else in rounds of
large-star / small-star (Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC 2014)
over edge files partitioned by node hash.

Distributed: an undirected edge ``{a, b}`` is stored as two half-edges, ``(a -> b)`` in partition
``p(a)`` and ``(b -> a)`` in ``p(b)``, so one reduce task sees a node's whole neighbourhood ``N(u)``
and nothing else. With ``m(u) = min(N(u) + {u})``:

- large-star: for each ``u``, link every neighbour ``v > u`` to ``m(u)``;
- small-star: for each ``u``, link ``u`` and every neighbour ``v < u`` to ``m({v <= u})``.

Each step is one map over partitions (read one partition's half-edges, write new half-edges into
every partition's inbox), so a task holds ``edges / partitions`` rows: memory does not grow with the
corpus when partitions grow with it. Alternating the two steps converges to a star per component
centred on its minimum node in O(log^2 n) steps at worst (O(log n) observed); convergence is seen
when a large-star step's input equals the previous one (edge count and an order-free 64-bit sum of
edge hashes). Then ``label(u) = m(u)``.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe.dedup.nodes import source_of
from fineweb_pipe.dedup.signatures import U64, fmix64
from fineweb_pipe.writers.atomic import write_parquet

EDGE_SCHEMA = pa.schema([("src", pa.int64()), ("dst", pa.int64())])


def union_find(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(nodes, labels)``: every node on an edge and its component's minimum node, in one process.

    Vectorized hooking and pointer jumping: each pass hooks every edge's larger root under its smaller
    root, then halves paths until every node points at a root; O(log n) passes.
    """
    nodes, inverse = np.unique(np.concatenate([u, v]), return_inverse=True)
    a, b = inverse[: len(u)], inverse[len(u):]
    parent = np.arange(len(nodes))
    while True:
        pa_, pb = parent[a], parent[b]
        differ = pa_ != pb
        if not differ.any():
            break
        np.minimum.at(parent, np.maximum(pa_, pb)[differ], np.minimum(pa_, pb)[differ])
        while True:
            grand = parent[parent]
            if (grand == parent).all():
                break
            parent = grand
    return nodes, nodes[parent]


def partition_of(nodes: np.ndarray, partitions: int) -> np.ndarray:
    return (fmix64(nodes.astype(U64)) % U64(partitions)).astype(np.int64)


def write_half_edges(u: np.ndarray, v: np.ndarray, out_dir: str, writer: str, partitions: int) -> None:
    """Write both directions of the edges ``{u, v}`` to ``out_dir/p<k>/<writer>.parquet`` by ``p(src)``."""
    src = np.concatenate([u, v])
    dst = np.concatenate([v, u])
    part = partition_of(src, partitions)
    for k in np.unique(part):
        sel = part == k
        table = pa.table({"src": src[sel], "dst": dst[sel]}, schema=EDGE_SCHEMA)
        write_parquet(table, os.path.join(out_dir, f"p{k}", f"{writer}.parquet"))


def read_half_edges(in_dir: str, partition: int) -> tuple[np.ndarray, np.ndarray]:
    """All half-edges of one partition, deduplicated, sorted by ``(src, dst)``."""
    files = sorted(glob.glob(os.path.join(in_dir, f"p{partition}", "*.parquet")))
    if not files:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    table = pa.concat_tables([pq.read_table(f) for f in files])
    pairs = np.unique(np.stack([table["src"].to_numpy(), table["dst"].to_numpy()], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def write_labels(nodes: np.ndarray, labels: np.ndarray, out_dir: str, writer: str) -> None:
    """Write ``(node, label)`` to ``out_dir/s<source of label>/<writer>.parquet``: a cluster's rows meet
    in the task of the source that holds its kept document."""
    owner = source_of(labels)
    for source in np.unique(owner):
        sel = owner == source
        table = pa.table({"node": nodes[sel], "label": labels[sel]})
        write_parquet(table, os.path.join(out_dir, f"s{source}", f"{writer}.parquet"))


def _group_min(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """For each half-edge, ``m(src)``: the minimum of ``src`` and all its neighbours (src sorted)."""
    starts = np.flatnonzero(np.concatenate(([True], src[1:] != src[:-1])))
    group_min = np.minimum.reduceat(dst, starts)
    sizes = np.diff(np.append(starts, len(src)))
    return np.minimum(np.repeat(group_min, sizes), src)


@dataclass(frozen=True)
class StarStep:
    """One step for one partition: ``kind`` is "large", "small" or "labels"."""

    kind: str
    in_dir: str
    out_dir: str
    partition: int
    partitions: int

    @property
    def key(self) -> str:
        return f"{os.path.basename(self.out_dir)}-p{self.partition}"


def star_step(step: StarStep) -> dict[str, int]:
    """Run one large-star, small-star or labelling step on one partition.

    Returns the partition's input edge count and checksum (for the convergence test)."""
    src, dst = read_half_edges(step.in_dir, step.partition)
    upper = src > dst  # each undirected edge counted once, in the partition of its larger end
    checksum = int(np.sum(fmix64(src[upper].astype(U64) * U64(0x9E3779B97F4A7C15) + dst[upper].astype(U64)),
                          dtype=U64))
    stats = {"edges": int(upper.sum()), "checksum": checksum}
    if len(src) == 0:
        return stats
    if step.kind == "large":
        m = _group_min(src, dst)
        keep = dst > src
        write_half_edges(dst[keep], m[keep], step.out_dir, f"from-p{step.partition}", step.partitions)
    elif step.kind == "small":
        keep = dst < src
        s, d = src[keep], dst[keep]
        if len(s):
            m = _group_min(s, d)
            heads = np.concatenate(([True], s[1:] != s[:-1]))
            u = np.concatenate([d, s[heads]])
            mm = np.concatenate([m, m[heads]])
            link = u != mm
            write_half_edges(u[link], mm[link], step.out_dir, f"from-p{step.partition}", step.partitions)
    elif step.kind == "labels":
        heads = np.concatenate(([True], src[1:] != src[:-1]))
        write_labels(src[heads], _group_min(src, dst)[heads], step.out_dir, f"p{step.partition}")
    else:
        raise ValueError(f"unknown star step kind {step.kind!r}: expected large, small or labels")
    return stats
