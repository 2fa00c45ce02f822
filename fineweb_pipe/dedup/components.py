"""Connected components of the candidate graph: in one process for small graphs, else in rounds of
large-star / small-star (Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC 2014)
over edge files partitioned by node hash.

Distributed: an undirected edge ``{a, b}`` is stored as two half-edges, ``(a -> b)`` in partition
``p(a)`` and ``(b -> a)`` in ``p(b)`` (each step's tasks write one exchange file each,
:mod:`fineweb_pipe.exchange`), so one reduce task sees a node's whole neighbourhood ``N(u)`` and
nothing else. With ``m(u) = min(N(u) + {u})``:

- large-star: for each ``u``, link every neighbour ``v > u`` to ``m(u)``;
- small-star: for each ``u``, link ``u`` and every neighbour ``v < u`` to ``m({v <= u})``.

Each step is one map over partitions (read one partition's half-edges, write new half-edges for
every partition), so a task holds ``edges / partitions`` rows on average: that does not grow with the
corpus when partitions grow with it, but a node's neighbourhood is never split, so the partition of a
component's minimum node holds that whole component once the component has become a star. Alternating the two steps converges to a star per component
centred on its minimum node in O(log^2 n) steps at worst (O(log n) observed); convergence is seen
when a large-star step's input equals the previous one (edge count and an order-free 64-bit sum of
edge hashes). Then ``label(u) = m(u)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from fineweb_pipe.dedup import index
from fineweb_pipe.dedup.clusters import write_labels
from fineweb_pipe.dedup.plan import Files, Plan
from fineweb_pipe.dedup.signatures import U64, fmix64
from fineweb_pipe.exchange import read_partition, write_partitioned

HALF_EDGES = pa.schema([("src", pa.int64()), ("dst", pa.int64())])


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


def write_half_edges(plan: Plan, u: np.ndarray, v: np.ndarray, url: str) -> None:
    """Write both directions of the edges ``{u, v}`` to the exchange file ``url``, by ``p(src)``."""
    src = np.concatenate([u, v])
    dst = np.concatenate([v, u])
    write_partitioned(pa.table({"src": src, "dst": dst}, schema=HALF_EDGES), plan.partition_of(src),
                      plan.partitions, url)


def read_half_edges(files: Files, partition: int) -> tuple[np.ndarray, np.ndarray]:
    """All half-edges of one partition, deduplicated, sorted by ``(src, dst)``."""
    table = read_partition(files.urls(), partition, schema=HALF_EDGES)
    pairs = np.unique(np.stack([table["src"].to_numpy(), table["dst"].to_numpy()], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def read_edges(url: str) -> tuple[np.ndarray, np.ndarray]:
    edges = index.read_table(url, ["u", "v"])
    return edges["u"].to_numpy(), edges["v"].to_numpy()


@dataclass(frozen=True)
class UnionFindTask:
    """All edges in one task (a graph of at most ``single_node_max_edges``)."""

    plan: Plan
    edges: Files
    members: Files
    partials: Files

    @property
    def key(self) -> str:
        return "union-find"


def union_find_task(task: UnionFindTask) -> dict[str, Any]:
    start = time.process_time()
    parts = [read_edges(url) for url in task.edges.urls()]
    u = np.concatenate([p[0] for p in parts])
    v = np.concatenate([p[1] for p in parts])
    nodes, labels = union_find(u, v)
    write_labels(task.plan, nodes, labels, task.members, task.partials, 0)
    return {"rows_in": len(u), "files": 2, "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class ScatterTask:
    """One edge file to half-edges, the input of the first star step."""

    plan: Plan
    edges: Files
    writer: int
    out: Files

    @property
    def key(self) -> str:
        return f"p{self.writer}"


def scatter_task(task: ScatterTask) -> dict[str, Any]:
    start = time.process_time()
    u, v = read_edges(task.edges.url(task.writer))
    write_half_edges(task.plan, u, v, task.out.url(task.writer))
    return {"rows_in": len(u), "files": 1, "cpu_s": time.process_time() - start}


def _group_min(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """For each half-edge, ``m(src)``: the minimum of ``src`` and all its neighbours (src sorted)."""
    starts = np.flatnonzero(np.concatenate(([True], src[1:] != src[:-1])))
    group_min = np.minimum.reduceat(dst, starts)
    sizes = np.diff(np.append(starts, len(src)))
    return np.minimum(np.repeat(group_min, sizes), src)


@dataclass(frozen=True)
class StarStep:
    """One step for one partition: ``kind`` is "large", "small" or "labels" (which writes ``out`` as the
    members and ``partials`` files of :mod:`.clusters`)."""

    kind: str
    plan: Plan
    source: Files
    out: Files
    partition: int
    partials: Files | None = None

    @property
    def key(self) -> str:
        return f"p{self.partition}"


def star_step(step: StarStep) -> dict[str, Any]:
    """Run one large-star, small-star or labelling step on one partition.

    Returns the partition's input edge count and checksum (for the convergence test)."""
    start = time.process_time()
    plan, k = step.plan, step.partition
    src, dst = read_half_edges(step.source, k)
    upper = src > dst  # each undirected edge counted once, in the partition of its larger end
    checksum = int(np.sum(fmix64(src[upper].astype(U64) * U64(0x9E3779B97F4A7C15) + dst[upper].astype(U64)),
                          dtype=U64))
    if step.kind == "large":
        m = _group_min(src, dst) if len(src) else src
        keep = dst > src
        write_half_edges(plan, dst[keep], m[keep], step.out.url(k))
    elif step.kind == "small":
        keep = dst < src
        s, d = src[keep], dst[keep]
        m = _group_min(s, d) if len(s) else s
        heads = np.concatenate(([True], s[1:] != s[:-1])) if len(s) else np.zeros(0, bool)
        u = np.concatenate([d, s[heads]])
        mm = np.concatenate([m, m[heads]])
        link = u != mm
        write_half_edges(plan, u[link], mm[link], step.out.url(k))
    elif step.kind == "labels" and step.partials is not None:
        heads = np.concatenate(([True], src[1:] != src[:-1])) if len(src) else np.zeros(0, bool)
        labels = _group_min(src, dst)[heads] if len(src) else src
        write_labels(plan, src[heads], labels, step.out, step.partials, k)
    else:
        raise ValueError(f"unknown star step {step.kind!r}: expected large, small, or labels with partials")
    return {"edges": int(upper.sum()), "checksum": checksum, "rows_in": len(src), "files": 1 + (step.kind == "labels"),
            "cpu_s": time.process_time() - start}
