"""Verification of candidate edges: estimated Jaccard similarity of the member's and the centre's
signatures, in two rounds over node partitions.

A centre (a bucket's smallest node) may have a million members, so edges are never grouped by centre:

1. serve, per partition k: the centres of partition k send their signature to each partition that asked
   for it (the bucket round wrote one request per centre and asking partition), so a centre costs at
   most P rows however large its cluster;
2. check, per partition k: the edges whose member is in partition k meet the member's signature (from
   the node partition) and the centre's (served to k), and those that reach the threshold are kept.

A task reads its partition's share of the nodes and of the edges (at most one per band per member),
which does not grow with the corpus or with any cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from fineweb_pipe.dedup import index
from fineweb_pipe.dedup.nodes import lookup
from fineweb_pipe.dedup.plan import Files, Plan
from fineweb_pipe.dedup.rounds import EDGES, REQUESTS
from fineweb_pipe.exchange import read_partition, write_partitioned
from fineweb_pipe.writers.atomic import write_parquet


def signature_rows(plan: Plan, node_files: Files, partition: int) -> pa.Table:
    """``(node, sig)`` of the documents in one node partition."""
    schema = pa.schema([("node", pa.int64()), ("sig", pa.binary(plan.num_perm * 8))])
    return read_partition(node_files.urls(), partition, ["node", "sig"], schema)


@dataclass(frozen=True)
class ServeTask:
    partition: int
    plan: Plan
    nodes: Files
    requests: Files
    centres: Files  # out: (node, sig) by asking partition

    @property
    def key(self) -> str:
        return f"p{self.partition}"


def serve_task(task: ServeTask) -> dict[str, Any]:
    start = time.process_time()
    plan, k = task.plan, task.partition
    requests = read_partition(task.requests.urls(), k, schema=REQUESTS)
    wanted = np.unique(np.stack([requests["node"].to_numpy(), requests["to"].to_numpy()], axis=1), axis=0)
    own = signature_rows(plan, task.nodes, k)
    at = lookup(own["node"].to_numpy(), wanted[:, 0], f"serve partition {k}")
    served = pa.table({"node": wanted[:, 0], "sig": own["sig"].take(pa.array(at))})
    write_partitioned(served, wanted[:, 1], plan.partitions, task.centres.url(k))
    return {"rows_in": requests.num_rows + own.num_rows, "files": 1, "cpu_s": time.process_time() - start}


@dataclass(frozen=True)
class CheckTask:
    partition: int
    plan: Plan
    threshold: float
    nodes: Files
    candidates: Files
    centres: Files
    edges: Files  # out: the verified edges of this partition

    @property
    def key(self) -> str:
        return f"p{self.partition}"


def check_task(task: CheckTask) -> dict[str, Any]:
    start = time.process_time()
    plan, k, num_perm = task.plan, task.partition, task.plan.num_perm
    candidates = read_partition(task.candidates.urls(), k, schema=EDGES)
    # A pair that shares several bands came from several bucket partitions: checked once.
    pairs = np.unique(np.stack([candidates["u"].to_numpy(), candidates["v"].to_numpy()], axis=1), axis=0)
    u, v = pairs[:, 0], pairs[:, 1]
    own = signature_rows(plan, task.nodes, k)
    centres = signature_rows(plan, task.centres, k)
    where = f"check partition {k}"
    sig_u = index.signature_array(own["sig"].take(pa.array(lookup(own["node"].to_numpy(), u, where))), num_perm, where)
    sig_v = index.signature_array(centres["sig"].take(pa.array(lookup(centres["node"].to_numpy(), v, where))),
                                  num_perm, where)
    similar = (sig_u == sig_v).mean(axis=1) >= task.threshold if len(u) else np.zeros(0, bool)
    write_parquet(pa.table({"u": u[similar], "v": v[similar]}, schema=EDGES), task.edges.url(k))
    return {"candidates": len(u), "verified": int(similar.sum()), "rejected": int((~similar).sum()),
            "rows_in": candidates.num_rows + own.num_rows + centres.num_rows, "files": 1,
            "cpu_s": time.process_time() - start}
