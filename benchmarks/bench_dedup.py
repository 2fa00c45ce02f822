"""MinHash dedup benchmarks: signature speed, recall/precision on a generated corpus, scaling.

    python benchmarks/bench_dedup.py speed [--docs 4000]
    python benchmarks/bench_dedup.py quality CORPUS [--workers 1]   # corpus from dedup_corpus.py
    python benchmarks/bench_dedup.py scale WORKDIR --sizes 100000 300000 [--workers 2]

Quality: recall is the share of injected pairs with true Jaccard >= 0.85 that end in one cluster;
precision is the share of predicted pairs (injected pairs in one cluster, plus every pair of documents
from different families in one cluster) whose true Jaccard is >= 0.7, about where the bands put the
LSH threshold ((1/16)**(1/8) = 0.71 for our 16 x 8, 0.72 for FineWeb's 14 x 8). Peak memory is the largest resident set of any process (ru_maxrss
of this process and of its worker processes).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup_corpus import generate, load_real_texts  # noqa: E402

from fineweb_pipe.dedup import MinHashDedup, MinHasher, MinHashParams, shingle_hash, shingles  # noqa: E402
from fineweb_pipe.engine.context import PhaseContext  # noqa: E402
from fineweb_pipe.stage import Resources, ShardRef  # noqa: E402

RECALL_JACCARD = 0.85
NEAR_DUPLICATE_JACCARD = 0.7


def _max_rss_mb() -> float:
    """Largest resident set (MB) of this process or any finished child (Linux reports KB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


class PoolMapper:
    """A ``PhaseContext`` mapper on a process pool (the tests' and benchmarks' stand-in for Ray)."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self.pool = pool

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any], resources: Resources) -> list[Any]:
        return list(self.pool.map(fn, items))


def run_stage(corpus: Path, run_dir: Path, stage: MinHashDedup, workers: int) -> PhaseContext:
    shutil.rmtree(run_dir, ignore_errors=True)
    inputs = [ShardRef(Path(f).stem, f) for f in sorted(glob.glob(str(corpus / "docs" / "*.parquet")))]
    ctx = PhaseContext.local(stage.name, inputs, str(run_dir))
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            ctx.mapper = PoolMapper(pool)
            stage.run(ctx)
    else:
        stage.run(ctx)
    return ctx


def clusters_of(ctx: PhaseContext, stage_name: str) -> dict[str, int]:
    """Document id to cluster id, over the output and the removed files."""
    files = [ctx.output_path(ref.shard) for ref in ctx.inputs]
    files += glob.glob(os.path.join(ctx.run_dir, "removed", stage_name, "*.parquet"))
    table = pa.concat_tables([pq.read_table(f, columns=["id", "dedup_cluster_id"]) for f in files])
    return dict(zip(table["id"].to_pylist(), table["dedup_cluster_id"].to_pylist()))


def evaluate(corpus: Path, cluster: dict[str, int]) -> dict[str, float]:
    pairs = pq.read_table(corpus / "pairs.parquet").to_pydict()
    families = pq.read_table(corpus / "families.parquet").to_pydict()
    family = dict(zip(families["id"], families["family"]))
    same = np.array([cluster[a] == cluster[b] for a, b in zip(pairs["base_id"], pairs["variant_id"])])
    jac = np.array(pairs["jaccard"])
    high = jac >= RECALL_JACCARD
    members: dict[int, list[int]] = {}
    for doc, c in cluster.items():
        members.setdefault(c, []).append(family[doc])
    cross = 0
    for fams in members.values():
        if len(fams) > 1:
            counts = np.unique(fams, return_counts=True)[1]
            cross += (len(fams) ** 2 - int((counts ** 2).sum())) // 2
    predicted = int(same.sum()) + cross
    correct = int((same & (jac >= NEAR_DUPLICATE_JACCARD)).sum())
    return {"pairs": len(jac), "pairs_j>=0.85": int(high.sum()), "recall_j>=0.85": float(same[high].mean()),
            "predicted_pairs": predicted, "cross_family_pairs": cross,
            "precision": correct / predicted if predicted else 1.0}


def bench_speed(docs: int) -> None:
    from datasketch import MinHash

    words = np.array(" ".join(load_real_texts()).split())
    rng = np.random.default_rng(0)
    texts = [" ".join(words[rng.integers(0, len(words), 480)]) for _ in range(docs)]
    params = MinHashParams()
    hasher = MinHasher(params)
    hasher.signatures(texts[:10])
    start = time.process_time()
    for lo in range(0, docs, 1000):
        hasher.signatures(texts[lo:lo + 1000])
    ours = docs / (time.process_time() - start)
    sample = texts[: max(200, docs // 10)]
    start = time.process_time()
    for text in sample:
        m = MinHash(num_perm=params.num_perm, seed=params.seed, hashfunc=shingle_hash, scheme="affine64")
        m.update_batch(shingles(text, params))
    theirs = len(sample) / (time.process_time() - start)
    mean_bytes = np.mean([len(t.encode()) for t in texts])
    print(f"signatures, {params.num_perm} perms, {docs} docs of {mean_bytes:.0f} bytes, CPU time of one core:")
    print(f"  fineweb_pipe vectorized: {ours:,.0f} docs/s")
    print(f"  datasketch update_batch (same shingles and hash): {theirs:,.0f} docs/s")


def bench_quality(corpus: Path, workers: int, run_dir: Path) -> None:
    for verify in (0.75, None):
        stage = MinHashDedup(verify_threshold=verify)
        ctx = run_stage(corpus, run_dir, stage, workers)
        scores = evaluate(corpus, clusters_of(ctx, stage.name))
        sec = ctx.sections["dedup"]
        print(json.dumps({"verify_threshold": verify, "workers": workers, **scores, "removed": sec["removed"],
                          "clusters": sec["clusters"]}))


def bench_scale(work: Path, sizes: list[int], workers: int, edges_single_node: int) -> None:
    for size in sizes:
        corpus = work / f"corpus-{size}"
        if not (corpus / "families.parquet").exists():
            t = time.time()
            generate(corpus, size)
            print(f"generated {size} docs in {time.time() - t:.0f} s", flush=True)
        stage = MinHashDedup(single_node_max_edges=edges_single_node, docs_per_partition=50_000)
        start = time.time()
        # A fresh pool per size, so children's peak RSS is this size's (ru_maxrss of children is a max).
        ctx = run_stage(corpus, work / f"run-{size}", stage, workers)
        wall = time.time() - start
        sec = ctx.sections["dedup"]
        print(json.dumps({"docs": size, "workers": workers, "wall_s": round(wall, 1),
                          "docs_per_s": round(size / wall), "peak_rss_mb_any_process": round(_max_rss_mb()),
                          "partitions": sec["partitions"], "components": sec["components"],
                          "removed": sec["removed"], "cpu_s": sec["cpu_s"]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    speed = sub.add_parser("speed")
    speed.add_argument("--docs", type=int, default=4000)
    quality = sub.add_parser("quality")
    quality.add_argument("corpus", type=Path)
    quality.add_argument("--workers", type=int, default=1)
    quality.add_argument("--run-dir", type=Path, default=Path("/tmp/fineweb-pipe-dedup-quality"))
    scale = sub.add_parser("scale")
    scale.add_argument("work", type=Path)
    scale.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    scale.add_argument("--workers", type=int, default=2)
    scale.add_argument("--single-node-max-edges", type=int, default=0,
                       help="0 forces the distributed components rounds")
    args = parser.parse_args()
    if args.command == "speed":
        bench_speed(args.docs)
    elif args.command == "quality":
        bench_quality(args.corpus, args.workers, args.run_dir)
    else:
        bench_scale(args.work, args.sizes, args.workers, args.single_node_max_edges)


if __name__ == "__main__":
    main()
