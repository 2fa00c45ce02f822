from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fineweb_pipe.dedup.clusters import MEMBERS
from fineweb_pipe.dedup.components import star_components, union_find
from fineweb_pipe.dedup.nodes import NodeLayout
from fineweb_pipe.dedup.plan import Files, Plan
from fineweb_pipe.exchange import read_partition
from fineweb_pipe.writers.atomic import write_parquet


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
    plan = Plan(str(tmp_path), partitions, (0, 1), NodeLayout.fitting(1, 5201), 8)
    edges = _edge_files(plan, u, v)
    steps, _ = star_components(plan, _in_process, edges, 40)
    assert steps > 1
    table = read_partition(plan.files("members", partitions).urls(), 0, schema=MEMBERS)
    assert dict(zip(table["node"].to_pylist(), table["label"].to_pylist())) == expected


def test_a_node_with_20k_neighbours_spreads_over_every_task(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    hub = np.zeros(20_000, np.int64)  # node 0 is the smallest: the component becomes a star around it
    u = np.concatenate([hub, rng.integers(1, 40_000, 20_000)])
    v = np.concatenate([np.arange(1, 20_001), rng.integers(1, 40_000, 20_000)])
    partitions = 8
    plan = Plan(str(tmp_path), partitions, (0, 1), NodeLayout.fitting(1, 40_001), 8)
    edges = _edge_files(plan, u, v)
    measured: dict[str, list[int]] = {}

    def rounds(name: str, fn: Callable[[Any], dict[str, Any]], tasks: list[Any]) -> list[dict[str, Any]]:
        results = _in_process(name, fn, tasks)
        measured[name] = [r["rows_in"] for r in results]
        return results

    star_components(plan, rounds, edges, 40)
    table = read_partition(plan.files("members", partitions).urls(), 0, schema=MEMBERS)
    assert dict(zip(table["node"].to_pylist(), table["label"].to_pylist())) == _reference_labels(u, v)
    for name, rows_in in measured.items():
        assert max(rows_in) <= 1.2 * np.mean(rows_in), (name, rows_in)


def _edge_files(plan: Plan, u: np.ndarray, v: np.ndarray) -> Files:
    """The edges ``{u, v}`` in as many files as partitions, as the verify round writes them."""
    edges = plan.files("edges", plan.partitions)
    for p in range(plan.partitions):
        write_parquet(pa.table({"u": u[p::plan.partitions], "v": v[p::plan.partitions]}), edges.url(p))
    return edges


def _in_process(name: str, fn: Callable[[Any], dict[str, Any]], tasks: list[Any]) -> list[dict[str, Any]]:
    return [fn(task) for task in tasks]
