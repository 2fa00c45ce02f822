"""SpanDedup and Decontaminate at scale: wall time, documents/s per core and the largest per-task peak
memory (each task runs in a fresh process from a forkserver, its peak resident set read after it).

    .venv/bin/python benchmarks/bench_span_dedup.py --docs 100000 300000 --examples 100000

The corpus: sample-prose articles (``fineweb_pipe.sample.prose``), 10,000 a shard, a third with one of
200 boilerplate footers, one in twenty with one of 50 repeated three-sentence blocks. The benchmark
examples: GSM8K's questions from ../shared/data where present, the rest 20 to 40 random made-up words
(so that they share no n-gram with the prose by chance); one document in a thousand has an example
pasted in.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe.dedup import Decontaminate, SpanDedup
from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.sample.prose import TOPICS, english_article
from fineweb_pipe.stage import GlobalStage, Resources, ShardRef

SHARD_DOCS = 10_000
GSM8K = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks" / "gsm8k_test.jsonl"


def _measured(fn: Callable[[Any], Any], item: Any) -> tuple[Any, int]:
    result = fn(item)
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KB on Linux


class FreshProcessMapper:
    """Runs every task in a new process (``workers`` at a time) and keeps the largest peak per round."""

    def __init__(self, workers: int) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["fineweb_pipe.dedup"])
        self.pool = ProcessPoolExecutor(workers, mp_context=context, max_tasks_per_child=1)
        self.peaks: list[tuple[str, int, float]] = []  # round function, tasks, largest peak MB

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any], resources: Resources) -> list[Any]:
        done = list(self.pool.map(_measured, [fn] * len(items), items))
        name = getattr(getattr(fn, "fn", fn), "__name__", "task")
        self.peaks.append((name, len(items), max((kb for _, kb in done), default=0) / 1024))
        return [result for result, _ in done]


def write_corpus(folder: Path, docs: int, examples: list[str], seed: int = 0) -> list[ShardRef]:
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    footers = [f"Published by the {rng.choice(topics)} desk {i}. All rights reserved. Share this page." for i in range(200)]
    blocks = [" ".join(english_article(rng, rng.choice(topics), 1)[0].split(". ")[:3]) for _ in range(50)]
    folder.mkdir(parents=True, exist_ok=True)
    refs = []
    for s, start in enumerate(range(0, docs, SHARD_DOCS)):
        texts = []
        for i in range(start, min(start + SHARD_DOCS, docs)):
            paragraphs = english_article(rng, rng.choice(topics), rng.randint(3, 6))
            if i % 20 == 0:
                paragraphs.insert(1, rng.choice(blocks))
            if i % 1000 == 1:
                paragraphs.insert(1, rng.choice(examples))
            if i % 3 == 0:
                paragraphs.append(rng.choice(footers))
            texts.append("\n".join(paragraphs))
        path = folder / f"shard-{s:04d}.parquet"
        pq.write_table(pa.table({"id": [f"d{start + j}" for j in range(len(texts))], "text": texts}), path)
        refs.append(ShardRef(path.stem, str(path)))
    return refs


def benchmark_examples(count: int, seed: int = 1) -> list[str]:
    examples = [json.loads(line)["question"] for line in GSM8K.read_text().splitlines()] if GSM8K.exists() else []
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "vo", "ri", "pe", "zu", "ba", "go"]
    vocabulary = sorted({"".join(rng.choices(syllables, k=3)) for _ in range(3000)})
    while len(examples) < count:
        examples.append(" ".join(rng.choices(vocabulary, k=rng.randint(20, 40))))
    return examples[:count]


def measure(stage: GlobalStage, refs: list[ShardRef], run_dir: Path, workers: int) -> dict[str, Any]:
    mapper = FreshProcessMapper(workers)
    ctx = PhaseContext.local(stage.name, refs, str(run_dir))
    ctx.mapper = mapper
    start = time.perf_counter()
    try:
        stage.run(ctx)
    finally:
        mapper.pool.shutdown()
    wall = time.perf_counter() - start
    total = ctx.total()
    return {"stage": stage.name, "docs": total.docs_in, "docs_out": total.docs_out, "wall_s": round(wall, 1),
            "docs_per_s_per_core": round(total.docs_in / wall / workers), "peaks_mb": mapper.peaks,
            "section": {k: v for k, v in ctx.sections[stage.name].items() if k not in ("rounds", "samples")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--examples", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    examples = benchmark_examples(args.examples)
    with tempfile.TemporaryDirectory(prefix="fwp-span-bench-") as folder:
        bench = Path(folder) / "bench.jsonl"
        bench.write_text("".join(json.dumps({"text": e}) + "\n" for e in examples))
        for docs in args.docs:
            refs = write_corpus(Path(folder) / f"corpus-{docs}", docs, examples)
            for stage in (SpanDedup(), Decontaminate({"bench": str(bench)})):
                result = measure(stage, refs, Path(folder) / f"run-{docs}-{stage.name}", args.workers)
                print(json.dumps(result), flush=True)
                for name, tasks, peak in result["peaks_mb"]:
                    print(f"  {stage.name} {docs:>8,} docs  {name:<18} {tasks:>4} tasks  peak {peak:7.0f} MB",
                          file=sys.stderr)


if __name__ == "__main__":
    main()
