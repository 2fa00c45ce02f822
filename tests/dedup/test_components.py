from __future__ import annotations

from pathlib import Path

import numpy as np

from fineweb_pipe.dedup.clusters import MEMBERS
from fineweb_pipe.dedup.components import StarStep, star_step, union_find, write_half_edges
from fineweb_pipe.dedup.nodes import NodeLayout
from fineweb_pipe.dedup.plan import Plan
from fineweb_pipe.exchange import read_partition


def _reference_labels(u: np.ndarray, v: np.ndarray) -> dict[int, int]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for a, b in zip(u.tolist(), v.tolist()):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in parent}


def test_union_find_and_star_rounds_agree_with_a_reference(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    u, v = rng.integers(0, 5000, 3000), rng.integers(0, 5000, 3000)
    u = np.concatenate([u, np.arange(100, 200)])  # a long path: the worst case for label propagation
    v = np.concatenate([v, np.arange(101, 201)])
    expected = _reference_labels(u, v)
    nodes, labels = union_find(u, v)
    assert dict(zip(nodes.tolist(), labels.tolist())) == expected

    # Nodes 0..5200 as rows of one source, written by one write group.
    partitions = 4
    plan = Plan(str(tmp_path), partitions, NodeLayout.fitting(1, 5201), (0, 1), 8)
    current, previous = plan.files("0", partitions), None
    for p in range(partitions):  # the input edges, split over as many files as the steps write
        write_half_edges(plan, u[p::partitions], v[p::partitions], current.url(p))
    for step in range(1, 40):
        large = plan.files(f"{step}-large", partitions)
        stats = [star_step(StarStep("large", plan, current, large, p)) for p in range(partitions)]
        signature = (sum(s["edges"] for s in stats), sum(s["checksum"] for s in stats) % (1 << 64))
        if signature == previous:
            break
        previous, current = signature, plan.files(f"{step}-small", partitions)
        for p in range(partitions):
            star_step(StarStep("small", plan, large, current, p))
    members = plan.files("members", partitions)
    for p in range(partitions):
        star_step(StarStep("labels", plan, current, members, p, plan.files("partials", partitions)))
    table = read_partition(members.urls(), 0, schema=MEMBERS)
    assert dict(zip(table["node"].to_pylist(), table["label"].to_pylist())) == expected
