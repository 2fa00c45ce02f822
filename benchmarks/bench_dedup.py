"""MinHash dedup benchmarks: signature speed, recall/precision on a generated corpus, scaling.

    python benchmarks/bench_dedup.py speed [--docs 4000]
    python benchmarks/bench_dedup.py quality CORPUS [--workers 1]   # corpus from dedup_corpus.py
    python benchmarks/bench_dedup.py scale WORKDIR --sizes 100000 1000000 [--workers 2] [--boilerplate 0]

Quality: recall is the share of injected pairs with true Jaccard >= 0.85 that end in one cluster;
precision is the share of predicted pairs (injected pairs in one cluster, plus every pair of documents
from different families in one cluster) whose true Jaccard is >= 0.7, about where the bands put the
LSH threshold ((1/16)**(1/8) = 0.71 for our 16 x 8, 0.72 for FineWeb's 14 x 8). Peak memory is the largest resident set of any process (ru_maxrss
of this process and of its worker processes).

Scale: every task runs in a process of its own, so its ``ru_maxrss`` is that task's peak (the "row_count"
round, which reads Parquet footers, shows what the interpreter and the imports alone take). Per round it
prints the tasks, the files written, the rows read per task (largest and mean: how evenly the work is
spread) and the largest task peak. ``--boilerplate N`` makes N of the documents one templated cluster.
"""

from __future__ import annotations

import argparse
import glob
import json
import multiprocessing
import os
import resource
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dedup_corpus import generate, load_real_texts  # noqa: E402

from fineweb_pipe import storage  # noqa: E402
from fineweb_pipe.dedup import MinHashDedup, MinHasher, MinHashParams, shingle_hash, shingles  # noqa: E402
from fineweb_pipe.engine.context import PhaseContext  # noqa: E402
from fineweb_pipe.resumable import Resumable  # noqa: E402
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


def _measured(fn: Callable[[Any], Any], item: Any) -> tuple[Any, float, float]:
    """``fn(item)``, the peak resident set (MB) and the CPU seconds of this process, which ran nothing else."""
    result = fn(item)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return result, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


@dataclass
class Round:
    name: str
    tasks: int
    peak_mb: float  # the largest task's
    cpu_s: float  # all its tasks'


class RoundMapper:
    """A ``PhaseContext`` mapper that runs every task in a new process and measures each round."""

    def __init__(self, pool: ProcessPoolExecutor) -> None:
        self.pool = pool
        self.rounds: list[Round] = []

    def peaks(self) -> dict[str, float]:
        return {r.name: r.peak_mb for r in self.rounds}

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any], resources: Resources) -> list[Any]:
        name = storage.basename(fn.done_dir) if isinstance(fn, Resumable) else getattr(fn, "__name__", "task")
        done = list(self.pool.map(_measured, [fn] * len(items), items))
        measured = Round(name, len(items), max((peak for _, peak, _ in done), default=0.0),
                         sum(cpu for _, _, cpu in done))
        self.rounds.append(measured)
        # As it goes, so that a run stopped part-way still shows the rounds it finished.
        print(f"  {time.strftime('%H:%M:%S')} {name}: {measured.tasks} tasks, task peak {measured.peak_mb:.0f} MB, "
              f"{measured.cpu_s:.1f} CPU-s", flush=True)
        return [result for result, _, _ in done]


def run_stage(corpus: Path, run_dir: Path, stage: MinHashDedup, workers: int,
              mapper: Callable[[ProcessPoolExecutor], Any] = PoolMapper, task_processes: bool = False) -> PhaseContext:
    shutil.rmtree(run_dir, ignore_errors=True)
    inputs = [ShardRef(Path(f).stem, f) for f in sorted(glob.glob(str(corpus / "docs" / "*.parquet")))]
    ctx = PhaseContext.local(stage.name, inputs, str(run_dir))
    if task_processes:
        # Forked from a small server (not from this process, whose peak a forked child would inherit).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["fineweb_pipe.dedup.stage"])
        with ProcessPoolExecutor(workers, context, max_tasks_per_child=1) as pool:  # type: ignore[call-overload]
            ctx.mapper = mapper(pool)
            stage.run(ctx)
    elif workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            ctx.mapper = mapper(pool)
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


def bench_scale(work: Path, sizes: list[int], workers: int, edges_single_node: int, boilerplate: int) -> None:
    for size in sizes:
        corpus = work / (f"corpus-{size}" + (f"-boilerplate-{boilerplate}" if boilerplate else ""))
        if not (corpus / "families.parquet").exists():
            t = time.time()
            generate(corpus, size, boilerplate=boilerplate)
            print(f"generated {size} docs in {time.time() - t:.0f} s", flush=True)
        stage = MinHashDedup(single_node_max_edges=edges_single_node, docs_per_partition=50_000)
        start = time.time()
        ctx = run_stage(corpus, work / f"run-{size}", stage, workers, RoundMapper, task_processes=True)
        wall = time.time() - start
        sec = ctx.sections["dedup"]
        assert isinstance(ctx.mapper, RoundMapper)
        peaks = ctx.mapper.peaks()
        print(json.dumps({"docs": size, "boilerplate": boilerplate, "workers": workers, "wall_s": round(wall, 1),
                          "partitions": sec["partitions"], "write_groups": sec["write_groups"],
                          "sources": len(ctx.inputs), "components": sec["components"], "removed": sec["removed"],
                          "largest_cluster": max(map(int, sec["cluster_sizes"]), default=0),
                          "files_written": sum(r["files"] for r in sec["rounds"].values()),
                          "task_peak_rss_mb": round(max(peaks.values())), "cpu_s": sec["cpu_s"]}), flush=True)
        print(f"  {'round':<16} {'tasks':>6} {'files':>6} {'rows in: max':>13} {'mean':>10} {'max/mean':>8} "
              f"{'task peak MB':>12}")
        print(f"  {'row counts':<16} {len(ctx.inputs):>6} {0:>6} {'':>13} {'':>10} {'':>8} {peaks['row_count']:>12.0f}")
        for name, r in sec["rounds"].items():
            ratio = r["rows_in_max"] / r["rows_in_mean"] if r["rows_in_mean"] else 1.0
            print(f"  {name:<16} {r['tasks']:>6} {r['files']:>6} {r['rows_in_max']:>13,} {r['rows_in_mean']:>10,.0f} "
                  f"{ratio:>8.2f} {peaks[name]:>12.0f}", flush=True)


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
    scale.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    scale.add_argument("--workers", type=int, default=2)
    scale.add_argument("--single-node-max-edges", type=int, default=0,
                       help="0 forces the distributed components rounds")
    scale.add_argument("--boilerplate", type=int, default=0, help="documents in one templated cluster")
    args = parser.parse_args()
    if args.command == "speed":
        bench_speed(args.docs)
    elif args.command == "quality":
        bench_quality(args.corpus, args.workers, args.run_dir)
    else:
        bench_scale(args.work, args.sizes, args.workers, args.single_node_max_edges, args.boilerplate)


if __name__ == "__main__":
    main()
