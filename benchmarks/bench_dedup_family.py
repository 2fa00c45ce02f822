"""The dedup family at scale: exact, URL and span (line) dedup and decontamination. Per stage and size: wall
time, documents/s per core, what it removed, and per round the largest task's peak resident set and the CPU
its tasks used.

    .venv/bin/python benchmarks/bench_dedup_family.py WORKDIR --sizes 300000 1000000 [--workers 2]
        [--examples 100000] [--stages exact url span decontaminate]

Two corpora, made once per size under WORKDIR before any timing, in shards of 10,000 documents:

- keyed (exact and URL dedup): windows of 100-300 words of real web text (``dedup_corpus.load_real_texts``),
  each made unique by its slot number; 20 % of the documents are exact copies of an earlier one (some
  upper-cased), and 30 % re-crawl an earlier document's URL (another date; scheme/host case, a trailing
  slash, a fragment or a ``utm_source`` parameter changed) with a text of their own.
- prose (span dedup and decontamination): sample-prose articles (``fineweb_pipe.sample.prose``), a third
  with one of 200 boilerplate footers, one in twenty with one of 50 repeated three-sentence blocks, one in
  a thousand with a benchmark example pasted in. The benchmark: GSM8K's questions from ../shared/data
  (or ``$FINEWEB_PIPE_SHARED_DATA``) where present, the rest 20 to 40 made-up words (so that they share no n-gram with the prose by chance).

Every task runs in a process of its own, forked from a small server, so a task's ``ru_maxrss`` is its own
peak and its ``getrusage`` CPU (user + system, all threads) its own work. Wall time includes process
starts and, on a shared machine, waiting for cores.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dedup import RoundMapper, run_stage  # noqa: E402
from dedup_corpus import SHARED, load_real_texts  # noqa: E402

import fineweb_pipe  # noqa: E402
from fineweb_pipe.dedup import Decontaminate, ExactDedup, SpanDedup, UrlDedup  # noqa: E402
from fineweb_pipe.sample.prose import TOPICS, english_article  # noqa: E402
from fineweb_pipe.stage import GlobalStage  # noqa: E402

SHARD_DOCS = 10_000
EXACT_COPIES = 0.2
URL_RECRAWLS = 0.3
GSM8K = SHARED / "benchmarks" / "gsm8k_test.jsonl"
STAGES = ("exact", "url", "span", "decontaminate")


def url_variant(url: str, rng: np.random.Generator) -> str:
    """The same page's URL as another crawl may write it."""
    change = int(rng.integers(5))
    if change == 0:
        return url.replace("https://site", "https://SITE")
    if change == 1:
        return url + "/"
    if change == 2:
        return url + "#comments"
    if change == 3:
        return url + "?utm_source=feed"
    return url


def write_keyed_corpus(folder: Path, docs: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    words = " ".join(load_real_texts()).split()
    texts: list[str] = []
    urls: list[str] = []
    for shard, lo in enumerate(range(0, docs, SHARD_DOCS)):
        ids, dates = [], []
        for slot in range(lo, min(lo + SHARD_DOCS, docs)):
            if slot and rng.random() < EXACT_COPIES:
                text = texts[int(rng.integers(slot))]
                texts.append(text.upper() if rng.random() < 0.3 else text)
            else:
                start, length = int(rng.integers(len(words) - 300)), int(rng.integers(100, 300))
                texts.append(f"Item {slot}. " + " ".join(words[start:start + length]))
            if slot and rng.random() < URL_RECRAWLS:
                urls.append(url_variant(urls[int(rng.integers(slot))], rng))
            else:
                urls.append(f"https://site-{slot % 997}.example.com/page/{slot}")
            ids.append(f"doc-{slot:08d}")
            dates.append(f"2024-{1 + slot % 12:02d}-{1 + slot % 28:02d}T00:00:00Z")
        pq.write_table(pa.table({"id": ids, "url": urls[lo:], "date": dates, "text": texts[lo:]}),
                       folder / f"shard-{shard:05d}.parquet")


def write_prose_corpus(folder: Path, docs: int, examples: list[str], seed: int = 0) -> None:
    rng = random.Random(seed)
    topics = sorted(TOPICS)
    footers = [f"Published by the {rng.choice(topics)} desk {i}. All rights reserved. Share this page." for i in range(200)]
    blocks = [" ".join(english_article(rng, rng.choice(topics), 1)[0].split(". ")[:3]) for _ in range(50)]
    for shard, lo in enumerate(range(0, docs, SHARD_DOCS)):
        texts = []
        for i in range(lo, min(lo + SHARD_DOCS, docs)):
            paragraphs = english_article(rng, rng.choice(topics), rng.randint(3, 6))
            if i % 20 == 0:
                paragraphs.insert(1, rng.choice(blocks))
            if i % 1000 == 1:
                paragraphs.insert(1, rng.choice(examples))
            if i % 3 == 0:
                paragraphs.append(rng.choice(footers))
            texts.append("\n".join(paragraphs))
        pq.write_table(pa.table({"id": [f"d{lo + j}" for j in range(len(texts))], "text": texts}),
                       folder / f"shard-{shard:05d}.parquet")


def benchmark_examples(count: int, seed: int = 1) -> list[str]:
    examples = [json.loads(line)["question"] for line in GSM8K.read_text().splitlines()] if GSM8K.exists() else []
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "vo", "ri", "pe", "zu", "ba", "go"]
    vocabulary = sorted({"".join(rng.choices(syllables, k=3)) for _ in range(3000)})
    while len(examples) < count:
        examples.append(" ".join(rng.choices(vocabulary, k=rng.randint(20, 40))))
    return examples[:count]


def removed_detail(stage: GlobalStage, section: dict[str, Any]) -> str:
    """What the stage took out beyond whole documents."""
    if isinstance(stage, SpanDedup):
        return (f"{section['spans_removed']:,} spans from {section['documents_changed']:,} docs, "
                f"{section['partitions']} partitions")
    if isinstance(stage, Decontaminate):
        return f"{section['index_ngrams']:,} benchmark n-grams"
    return f"{section['groups']:,} groups, {section['partitions']} partitions"


def bench(stage: GlobalStage, corpus: Path, run_dir: Path, workers: int) -> dict[str, Any]:
    start = time.time()
    ctx = run_stage(corpus, run_dir, stage, workers, RoundMapper, task_processes=True)  # type: ignore[arg-type]
    wall = time.time() - start
    assert isinstance(ctx.mapper, RoundMapper)
    total = ctx.total()
    return {"stage": stage.name, "docs": total.docs_in, "workers": workers, "wall_s": round(wall, 1),
            "docs_per_s_per_core": round(total.docs_in / wall / workers), "removed": total.docs_in - total.docs_out,
            "detail": removed_detail(stage, ctx.sections[stage.name]),
            "rounds": [{"round": r.name, "tasks": r.tasks, "task_peak_mb": round(r.peak_mb),
                        "cpu_s": round(r.cpu_s, 1)} for r in ctx.mapper.rounds]}


def table_row(result: dict[str, Any]) -> str:
    rounds = result["rounds"]
    return (f"| `{result['stage']}` | {result['docs']:,} | {result['wall_s']} | {result['docs_per_s_per_core']:,} | "
            f"{result['removed']:,} ({result['detail']}) | "
            + " / ".join(f"{r['task_peak_mb']}" for r in rounds) + " | "
            + " / ".join(f"{r['cpu_s']}" for r in rounds) + " | "
            + " / ".join(f"{r['round']} ({r['tasks']})" for r in rounds) + " |")


def corpus(work: Path, kind: str, docs: int, write: Callable[[Path, int], None]) -> Path:
    """``WORKDIR/<kind>-<docs>`` with its shards under ``docs/``, written when absent."""
    folder = work / f"{kind}-{docs}"
    if not (folder / "docs").exists():
        start = time.time()
        (folder / "partial").mkdir(parents=True, exist_ok=True)
        write(folder / "partial", docs)
        (folder / "partial").rename(folder / "docs")  # a run stopped while writing leaves no half corpus
        print(f"wrote the {kind} corpus of {docs:,} documents in {time.time() - start:.0f} s", flush=True)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[300_000, 1_000_000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--examples", type=int, default=100_000, help="benchmark examples to decontaminate against")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    args = parser.parse_args()
    print(f"fineweb_pipe from {Path(fineweb_pipe.__file__).parent}", flush=True)
    examples = benchmark_examples(args.examples)
    bench_file = args.work / f"benchmark-{args.examples}.jsonl"
    args.work.mkdir(parents=True, exist_ok=True)
    bench_file.write_text("".join(json.dumps({"text": e}) + "\n" for e in examples))
    stages: dict[str, tuple[str, GlobalStage]] = {
        "exact": ("keyed", ExactDedup(normalize="whitespace_case", docs_per_partition=50_000)),
        "url": ("keyed", UrlDedup(docs_per_partition=50_000)),
        "span": ("prose", SpanDedup()),
        "decontaminate": ("prose", Decontaminate({"benchmark": str(bench_file)})),
    }
    writers: dict[str, Callable[[Path, int], None]] = {
        "keyed": write_keyed_corpus,
        "prose": lambda folder, docs: write_prose_corpus(folder, docs, examples),
    }
    rows = []
    for size in args.sizes:
        for key in args.stages:
            kind, stage = stages[key]
            folder = corpus(args.work, kind, size, writers[kind])
            result = bench(stage, folder, args.work / f"run-{stage.name}-{size}", args.workers)
            print(json.dumps(result), flush=True)
            rows.append(table_row(result))
    print("| stage | docs | wall s | docs/s per core | removed docs | task peak MB by round | CPU s by round | rounds (tasks) |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
