"""Exact and URL dedup at scale: wall time, documents/s per core, and the largest per-task peak memory.

    .venv/bin/python benchmarks/bench_dedup_family.py WORKDIR --sizes 100000 300000 [--workers 2]

The corpus (made once per size under WORKDIR) is windows of 100-300 words of real web text
(``dedup_corpus.load_real_texts``), each made unique by its slot number, in shards of 10,000 documents:
20 % of the documents are exact copies of an earlier one (some with other whitespace and case), and
30 % re-crawl an earlier document's URL (another date; scheme/host case, a trailing slash, a fragment or
a ``utm_source`` parameter changed) with a text of their own. Every task runs in a process of its own
(``bench_dedup.TaskPeakMapper``), so a round's peak is its largest task's resident set; the "row counts"
round (Parquet footers only) shows what the interpreter and the imports alone take.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_dedup import TaskPeakMapper, run_stage  # noqa: E402
from dedup_corpus import load_real_texts  # noqa: E402

from fineweb_pipe.dedup import ExactDedup, UrlDedup  # noqa: E402
from fineweb_pipe.dedup.keyed import KeyedDedup  # noqa: E402

SHARD_DOCS = 10_000
EXACT_COPIES = 0.2
URL_RECRAWLS = 0.3


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


def generate(out: Path, docs: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    words = " ".join(load_real_texts()).split()
    (out / "docs").mkdir(parents=True, exist_ok=True)
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
                       out / "docs" / f"shard-{shard:05d}.parquet")
    return out


def bench(work: Path, size: int, workers: int, stage: KeyedDedup) -> None:
    corpus = work / f"corpus-{size}"
    if not (corpus / "docs").exists():
        start = time.time()
        generate(corpus, size)
        print(f"generated {size} docs in {time.time() - start:.0f} s", flush=True)
    start = time.time()
    ctx = run_stage(corpus, work / f"run-{stage.name}-{size}", stage, workers, TaskPeakMapper,  # type: ignore[arg-type]
                    task_processes=True)
    wall = time.time() - start
    section = ctx.sections[stage.name]
    assert isinstance(ctx.mapper, TaskPeakMapper)
    peaks = ctx.mapper.peaks
    print(json.dumps({"stage": stage.name, "docs": size, "workers": workers, "wall_s": round(wall, 1),
                      "docs_per_s_per_core": round(size / wall / workers), "removed": section["removed"],
                      "groups": section["groups"], "partitions": section["partitions"],
                      "write_groups": section["write_groups"], "task_peak_rss_mb": round(max(peaks.values())),
                      "task_peak_rss_mb_by_round": {k: round(v) for k, v in peaks.items()},
                      "cpu_s": section["cpu_s"]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    for size in args.sizes:
        for stage in (ExactDedup(normalize="whitespace_case", docs_per_partition=50_000),
                      UrlDedup(docs_per_partition=50_000)):
            bench(args.work, size, args.workers, stage)


if __name__ == "__main__":
    main()
