"""Docs/s per core of each FineWeb quality filter on real texts, measured with ``time.process_time``.

Usage: ``python benchmarks/bench_quality_filters.py [--data ../shared/data] [--repeat 3]``.
Texts: ``text/clean_web_texts.dev.jsonl`` (181 articles) and ``text/dolma_ccnet_*.jsonl`` (CCNet
documents). Each filter gets the whole set as one Arrow batch, ``repeat`` times; the best run counts.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pyarrow as pa

from fineweb_pipe.stage import Stage
from fineweb_pipe.stages.quality import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def load_texts(data: Path) -> dict[str, list[str]]:
    sets = {"clean_web_texts": sorted((data / "text").glob("clean_web_texts*.jsonl")),
            "dolma_ccnet": sorted((data / "text").glob("dolma_ccnet*.jsonl"))}  # fmt: skip
    return {name: [json.loads(line)["text"] for path in paths for line in path.open()] for name, paths in sets.items()}


def docs_per_cpu_second(stage: Stage, batch: pa.Table, repeat: int) -> tuple[float, int]:
    best = float("inf")
    kept = 0
    for _ in range(repeat):
        start = time.process_time()
        kept = stage.process(batch).kept.num_rows
        best = min(best, time.process_time() - start)
    return batch.num_rows / best, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not (args.data / "text").is_dir():
        raise SystemExit(f"no text data under {args.data / 'text'}; pass --data PATH to the shared data folder")
    for set_name, texts in load_texts(args.data).items():
        batch = pa.table({"text": pa.array(texts, pa.large_string())})
        mean_chars = sum(map(len, texts)) / max(1, len(texts))
        print(f"{set_name}: {len(texts)} docs, mean {mean_chars:,.0f} chars")
        for stage in (GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter()):
            stage.setup()
            rate, kept = docs_per_cpu_second(stage, batch, args.repeat)
            print(f"  {stage.name:28s} {rate:9,.0f} docs/s per core  (kept {kept}/{batch.num_rows})")


if __name__ == "__main__":
    main()
