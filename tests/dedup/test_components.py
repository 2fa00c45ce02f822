from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe.dedup.components import StarStep, star_step, union_find, write_half_edges


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

    partitions, current, previous = 4, str(tmp_path / "0"), None
    write_half_edges(u, v, current, "input", partitions)
    for step in range(1, 40):
        large = str(tmp_path / f"{step}-large")
        stats = [star_step(StarStep("large", current, large, p, partitions)) for p in range(partitions)]
        signature = (sum(s["edges"] for s in stats), sum(s["checksum"] for s in stats) % (1 << 64))
        if signature == previous:
            break
        previous, current = signature, str(tmp_path / f"{step}-small")
        for p in range(partitions):
            star_step(StarStep("small", large, current, p, partitions))
    for p in range(partitions):
        star_step(StarStep("labels", current, str(tmp_path / "labels"), p, partitions))
    table = pa.concat_tables([pq.read_table(f) for f in (tmp_path / "labels").rglob("*.parquet")])
    assert dict(zip(table["node"].to_pylist(), table["label"].to_pylist())) == expected
