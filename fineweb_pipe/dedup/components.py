"""Connected components of the candidate graph: in one process for small graphs, else in rounds of
large-star / small-star (Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC 2014)
in which no task holds a node's whole neighbourhood.

With ``mu(u) = min(u and its smaller neighbours)``, each step rewrites every edge ``{u < v}``:

- large-star: into ``{mu(u), v}``;
- small-star: into ``{u, mu(v)}`` (none when ``u = mu(v)``) and ``{mu(v), v}``.

Alternating them turns each component into a star centred on its minimum node in O(log^2 n) steps at
worst (O(log n) observed); convergence is seen when a large-star step's input equals the previous one
(edge count and an order-free 64-bit sum of edge hashes). Then ``label(u) = mu(u)``.

Skew: an edge ``{lo, hi}`` is stored once, in partition ``hash(lo, hi) mod P``, so each edge partition
holds ``edges / P`` whatever the degrees. ``mu`` is a minimum, so it is computed in two levels, as a
combiner would: each step is three rounds of ``P`` tasks,

1. min, per edge partition: each node's partial minimum over this partition's edges, one row per node,
   to the node's partition, saying whether this edge partition needs ``mu(node)`` back;
2. serve, per node partition: ``mu(node)``, the minimum of its partial minimums, sent to each edge
   partition that asked;
3. link, per edge partition: its edges and the ``mu`` values it asked for give the new edges, by hash.

A node of degree ``d`` puts at most ``min(d, P)`` rows into a serve task, so a cluster's size never lands
in one task: every task reads about ``edges / P`` rows. Each task writes one exchange file
(:mod:`fineweb_pipe.exchange`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa

from fineweb_pipe.dedup import index
from fineweb_pipe.dedup.clusters import write_labels
from fineweb_pipe.dedup.nodes import lookup
from fineweb_pipe.dedup.plan import Files, Plan
from fineweb_pipe.dedup.signatures import U64, fmix64
from fineweb_pipe.exchange import read_partition, write_partitioned
from fineweb_pipe.resumable import Rounds

EDGES = pa.schema([("lo", pa.int64()), ("hi", pa.int64())])  # an undirected edge, lo < hi
# A node's minimum over one edge partition's edges; ``asker``: that edge partition if it needs mu(node)
# back, else -1.
PARTIAL_MINIMUMS = pa.schema([("node", pa.int64()), ("min", pa.int64()), ("asker", pa.int64())])
MINIMUMS = pa.schema([("node", pa.int64()), ("min", pa.int64())])  # mu(node), to an edge partition that asked
_MIX = U64(0x9E3779B97F4A7C15)

Star = Literal["large", "small"]


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


def edge_partition(plan: Plan, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Hash partition of each edge ``(lo, hi)``: a node's edges spread over every partition."""
    return (fmix64(lo.astype(U64) * _MIX + hi.astype(U64)) % U64(plan.partitions)).astype(np.int64)


def write_edges(plan: Plan, u: np.ndarray, v: np.ndarray, url: str) -> None:
    """The undirected edges ``{u, v}`` (``u != v``) to the exchange file ``url``, each once as ``(lo, hi)``
    in its edge partition."""
    pairs = np.unique(np.stack([np.minimum(u, v), np.maximum(u, v)], axis=1), axis=0)
    lo, hi = pairs[:, 0], pairs[:, 1]
    write_partitioned(pa.table({"lo": lo, "hi": hi}, schema=EDGES), edge_partition(plan, lo, hi),
                      plan.partitions, url)


def read_edge_partition(files: Files, partition: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lo, hi)``: all edges of one edge partition, deduplicated."""
    table = read_partition(files.urls(), partition, schema=EDGES)
    pairs = np.unique(np.stack([table["lo"].to_numpy(), table["hi"].to_numpy()], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def read_edges(url: str) -> tuple[np.ndarray, np.ndarray]:
    edges = index.read_table(url, ["u", "v"])
    return edges["u"].to_numpy(), edges["v"].to_numpy()


def _min_per_node(node: np.ndarray, candidate: np.ndarray, asks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(nodes, minimum, asked)``: each distinct node, its smallest candidate, and whether any row asked."""
    if len(node) == 0:
        return node, candidate, asks
    order = np.lexsort((candidate, node))
    node, candidate, asks = node[order], candidate[order], asks[order]
    heads = np.flatnonzero(np.concatenate(([True], node[1:] != node[:-1])))
    return node[heads], candidate[heads], np.logical_or.reduceat(asks, heads)


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
    """One edge file of the verify (or bucket) round to edge partitions, the input of the first step."""

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
    write_edges(task.plan, u, v, task.out.url(task.writer))
    return {"rows_in": len(u), "files": 1, "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class MinTask:
    """Round 1 of a step, on one edge partition. A large-star step asks for ``mu`` of each edge's smaller
    end and gives every node on an edge a row (so that its rows also give the labels); a small-star step
    asks for ``mu`` of each edge's larger end."""

    star: Star
    plan: Plan
    edges: Files
    partition: int
    out: Files  # partial minimums, by node partition

    @property
    def key(self) -> str:
        return f"p{self.partition}"


def min_task(task: MinTask) -> dict[str, Any]:
    """Partial minimums of one edge partition; returns its edge count and checksum (for convergence)."""
    start = time.process_time()
    plan, k = task.plan, task.partition
    lo, hi = read_edge_partition(task.edges, k)
    checksum = int(np.sum(fmix64(hi.astype(U64) * _MIX + lo.astype(U64)), dtype=U64))
    if task.star == "large":
        node, candidate = np.concatenate([hi, lo]), np.concatenate([lo, lo])
        asks = np.concatenate([np.zeros(len(hi), bool), np.ones(len(lo), bool)])
    else:
        node, candidate, asks = hi, lo, np.ones(len(hi), bool)
    nodes, minimum, asked = _min_per_node(node, candidate, asks)
    write_partitioned(pa.table({"node": nodes, "min": minimum, "asker": np.where(asked, k, -1)},
                               schema=PARTIAL_MINIMUMS), plan.partition_of(nodes), plan.partitions, task.out.url(k))
    return {"edges": len(lo), "checksum": checksum, "rows_in": len(lo), "files": 1,
            "cpu_s": time.process_time() - start}


def _read_minimums(partials: Files, partition: int) -> tuple[pa.Table, np.ndarray, np.ndarray]:
    """One node partition's partial minimums, and ``(nodes, mu)`` from them."""
    table = read_partition(partials.urls(), partition, schema=PARTIAL_MINIMUMS)
    node = table["node"].to_numpy()
    nodes, mu, _ = _min_per_node(node, table["min"].to_numpy(), np.zeros(len(node), bool))
    return table, nodes, mu


@dataclass(frozen=True)
class ServeTask:
    """Round 2 of a step, on one node partition: ``mu`` of its nodes to the edge partitions that asked."""

    plan: Plan
    partials: Files
    partition: int
    out: Files  # (node, mu) by asking edge partition

    @property
    def key(self) -> str:
        return f"p{self.partition}"


def serve_task(task: ServeTask) -> dict[str, Any]:
    start = time.process_time()
    table, nodes, mu = _read_minimums(task.partials, task.partition)
    # One row per (node, asking edge partition): each min task wrote a node once.
    asker = table["asker"].to_numpy()
    wanted = table["node"].to_numpy()[asker >= 0]
    served = mu[np.searchsorted(nodes, wanted)]
    write_partitioned(pa.table({"node": wanted, "min": served}, schema=MINIMUMS), asker[asker >= 0],
                      task.plan.partitions, task.out.url(task.partition))
    return {"rows_in": table.num_rows, "files": 1, "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class LabelTask:
    """After the last step, on one node partition: each node's label, ``mu(node)``, for :mod:`.clusters`."""

    plan: Plan
    partials: Files  # of the last large-star step's min round
    partition: int
    members: Files
    counts: Files  # the ``partials`` files of :mod:`.clusters`

    @property
    def key(self) -> str:
        return f"p{self.partition}"


def label_task(task: LabelTask) -> dict[str, Any]:
    start = time.process_time()
    table, nodes, mu = _read_minimums(task.partials, task.partition)
    write_labels(task.plan, nodes, mu, task.members, task.counts, task.partition)
    return {"rows_in": table.num_rows, "files": 2, "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class LinkTask:
    """Round 3 of a step, on one edge partition: its edges rewritten with the ``mu`` values it asked for."""

    star: Star
    plan: Plan
    edges: Files
    minimums: Files
    partition: int
    out: Files  # the new edges, by edge partition

    @property
    def key(self) -> str:
        return f"p{self.partition}"


def link_task(task: LinkTask) -> dict[str, Any]:
    start = time.process_time()
    plan, k = task.plan, task.partition
    lo, hi = read_edge_partition(task.edges, k)
    served = read_partition(task.minimums.urls(), k, schema=MINIMUMS)
    nodes, mu = served["node"].to_numpy(), served["min"].to_numpy()
    what = f"edge partition {k} of {task.edges.folder}"
    if task.star == "large":
        u, v = mu[lookup(nodes, lo, what)], hi
    else:
        m = mu[lookup(nodes, hi, what)]
        u, v = np.concatenate([lo, m]), np.concatenate([m, hi])
    linked = u != v
    write_edges(plan, u[linked], v[linked], task.out.url(k))
    return {"rows_in": len(lo) + served.num_rows, "files": 1, "cpu_s": time.process_time() - start}


def star_components(plan: Plan, rounds: Rounds, edges: Files, max_steps: int) -> tuple[int, Files]:
    """Label every node on ``edges`` with its component's smallest node, in rounds over ``plan.partitions``.
    Returns the large-star steps taken and the labelling tasks' ``partials`` files (their ``members``
    files have the same writers)."""
    partitions = range(plan.partitions)

    def files(folder: str) -> Files:
        return plan.files(folder, plan.partitions)

    def min_round(star: Star, step: int, current: Files) -> tuple[Files, list[dict[str, Any]]]:
        out = files(f"cc/{step}-{star}-min")
        return out, rounds(f"cc-{step}-{star}-min", min_task, [MinTask(star, plan, current, p, out) for p in partitions])

    def serve_and_link(star: Star, step: int, current: Files, partials: Files) -> Files:
        minimums, out = files(f"cc/{step}-{star}-serve"), files(f"cc/{step}-{star}")
        rounds(f"cc-{step}-{star}-serve", serve_task, [ServeTask(plan, partials, p, minimums) for p in partitions])
        rounds(f"cc-{step}-{star}-link", link_task, [LinkTask(star, plan, current, minimums, p, out) for p in partitions])
        return out

    current = files("cc/0")
    rounds("cc-scatter", scatter_task, [ScatterTask(plan, edges, p, current) for p in partitions])
    previous = None
    for step in range(1, max_steps + 1):
        partials, stats = min_round("large", step, current)
        signature = (sum(s["edges"] for s in stats), sum(s["checksum"] for s in stats) % (1 << 64))
        if signature == previous:
            counts = files("partials")
            rounds("cc-labels", label_task, [LabelTask(plan, partials, p, files("members"), counts) for p in partitions])
            return step, counts
        previous = signature
        large = serve_and_link("large", step, current, partials)
        current = serve_and_link("small", step, large, min_round("small", step, large)[0])
    raise RuntimeError(f"connected components did not converge in {max_steps} large/small-star rounds; raise "
                       "max_star_rounds (each round at most squares the progress)")
