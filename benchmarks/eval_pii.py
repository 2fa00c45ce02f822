"""Evaluate the PII stage: quality on presidio's synthetic dev set, speed on real ~3 KB web documents.

Quality (``pii/presidio_synth.dev.json``): per entity type, precision (a detection is right when it
overlaps a gold span of its type), recall (a gold span is found when a detection of its type overlaps
it), leak rate (the fraction of gold PII characters still in the text after scrubbing), and false
positives on the samples that hold no PII at all.

Speed: real texts from ``text/*.jsonl`` cut into ~3 KB documents, dev-set PII sentences injected into
some of them; documents/s per core (CPU time of this process, so other work on the machine matters
less) with and without the prefilter, in the same run, and a check that both give the same output.

    .venv/bin/python benchmarks/eval_pii.py [--data ../shared/data] [--docs 1500] [--pii-fraction 0.1]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa

from fineweb_pipe.stages.pii import PiiScrubber, Policy
from fineweb_pipe.stages.pii.entities import PATTERN_ENTITIES

REPO = Path(__file__).resolve().parent.parent
DOC_CHARS = 3000


def overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def evaluate_quality(samples: list[dict]) -> None:
    stage = PiiScrubber(policy=Policy.TAG)
    stage.setup()
    tp, found_gold, gold_total, detected = Counter(), Counter(), Counter(), Counter()
    leaked_chars, gold_chars = Counter(), Counter()
    clean_samples = clean_flagged = clean_detections = 0
    clean_by_type: Counter[str] = Counter()
    for sample in samples:
        text = sample["full_text"]
        scrubbed, _ = stage.detect(text)
        gold = [s for s in sample["spans"] if s["entity_type"] in PATTERN_ENTITIES]
        for d in scrubbed:
            detected[d.entity_type] += 1
            tp[d.entity_type] += any(g["entity_type"] == d.entity_type and
                                     overlaps(d.start, d.end, g["start_position"], g["end_position"]) for g in gold)
        for g in gold:
            kind, start, end = g["entity_type"], g["start_position"], g["end_position"]
            gold_total[kind] += 1
            found_gold[kind] += any(d.entity_type == kind and overlaps(d.start, d.end, start, end) for d in scrubbed)
            # A character survives scrubbing unless some replaced span covers it (replacement is exact).
            covered = sum(1 for i in range(start, end) if any(d.start <= i < d.end for d in scrubbed))
            gold_chars[kind] += end - start
            leaked_chars[kind] += end - start - covered
        if not sample["spans"]:
            clean_samples += 1
            clean_flagged += bool(scrubbed)
            clean_detections += len(scrubbed)
            clean_by_type.update(d.entity_type for d in scrubbed)

    print(f"quality on {len(samples)} dev samples (policy tag, default entities and phone regions)")
    print(f"{'entity type':<15}{'gold':>6}{'found':>7}{'recall':>8}{'detected':>10}{'precision':>11}{'leak':>8}")
    for kind in PATTERN_ENTITIES:
        recall = found_gold[kind] / gold_total[kind] if gold_total[kind] else float("nan")
        precision = tp[kind] / detected[kind] if detected[kind] else float("nan")
        leak = leaked_chars[kind] / gold_chars[kind] if gold_chars[kind] else float("nan")
        print(f"{kind:<15}{gold_total[kind]:>6}{found_gold[kind]:>7}{recall:>8.3f}{detected[kind]:>10}"
              f"{precision:>11.3f}{leak:>8.3f}")
    print(f"samples with no PII: {clean_samples}; flagged: {clean_flagged}; false detections: {clean_detections} "
          f"{dict(clean_by_type)}")


def web_documents(data: Path, samples: list[dict], n_docs: int, pii_fraction: float, seed: int) -> list[str]:
    """Real web texts cut into ~3 KB documents at line ends; PII sentences injected into some."""
    chunks: list[str] = []
    for path in sorted((data / "text").glob("*.jsonl")):
        for line in path.open(encoding="utf-8"):
            text = json.loads(line)["text"]
            current: list[str] = []
            size = 0
            for part in text.splitlines(keepends=True):
                current.append(part)
                size += len(part)
                if size >= DOC_CHARS:
                    chunks.append("".join(current))
                    current, size = [], 0
            if size >= DOC_CHARS // 3:
                chunks.append("".join(current))
    rng = random.Random(seed)
    pii_sentences = [s["full_text"] for s in samples if any(x["entity_type"] in PATTERN_ENTITIES for x in s["spans"])]
    docs = []
    for i in range(n_docs):
        doc = chunks[i % len(chunks)]
        if rng.random() < pii_fraction:
            cut = doc.find("\n", rng.randrange(len(doc))) % len(doc)
            doc = doc[:cut] + "\n" + rng.choice(pii_sentences) + "\n" + doc[cut:]
        docs.append(doc)
    return docs


def throughput(stage: PiiScrubber, docs: list[str], batch_size: int = 256) -> tuple[float, float, list[str]]:
    """Documents per CPU second and per wall second, and the output texts."""
    out: list[str] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(0, len(docs), batch_size):
        batch = pa.table({"text": pa.array(docs[i:i + batch_size], pa.large_string())})
        out += stage.process(batch).kept.column("text").to_pylist()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return len(docs) / cpu, len(docs) / wall, out


def evaluate_speed(data: Path, samples: list[dict], n_docs: int, pii_fraction: float) -> None:
    docs = web_documents(data, samples, n_docs, pii_fraction, seed=0)
    mean_chars = sum(map(len, docs)) / len(docs)
    with_prefilter = PiiScrubber(policy=Policy.FINEWEB)
    without_prefilter = PiiScrubber(policy=Policy.FINEWEB, prefilter=False)
    with_prefilter.setup()
    without_prefilter.setup()
    # presidio alone is slow: time it on a slice of the same documents.
    slow_docs = docs[: max(1, len(docs) // 5)]
    throughput(with_prefilter, docs[:50])  # warm up (lazy regex compilation)
    fast_cpu, fast_wall, fast_out = throughput(with_prefilter, docs)
    slow_cpu, slow_wall, slow_out = throughput(without_prefilter, slow_docs)
    analyzed = sum(1 for d in docs if with_prefilter._prefilter.windows(d))  # noqa: SLF001 - diagnostics
    differing = sum(a != b for a, b in zip(fast_out, slow_out))
    print(f"\nspeed on {len(docs)} real web documents (mean {mean_chars:.0f} chars, {pii_fraction:.0%} with "
          f"injected PII), policy fineweb, default entities")
    print(f"  prefilter sends {analyzed / len(docs):.1%} of documents to presidio")
    print(f"  with prefilter:    {fast_cpu:8.0f} docs/s per core (CPU time), {fast_wall:8.0f} docs/s wall")
    print(f"  without prefilter: {slow_cpu:8.0f} docs/s per core (CPU time), {slow_wall:8.0f} docs/s wall "
          f"({len(slow_docs)} docs)")
    print(f"  speed-up {fast_cpu / slow_cpu:.1f}x; outputs differing with vs without prefilter: "
          f"{differing} of {len(slow_docs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--docs", type=int, default=1500, help="documents for the speed test")
    parser.add_argument("--pii-fraction", type=float, default=0.1, help="share of documents given a PII sentence")
    args = parser.parse_args()
    dev = args.data / "pii" / "presidio_synth.dev.json"
    if not dev.is_file():
        raise SystemExit(f"dev set not found at {dev}; pass --data pointing at the shared data folder")
    samples = json.loads(dev.read_text(encoding="utf-8"))
    evaluate_quality(samples)
    evaluate_speed(args.data, samples, args.docs, args.pii_fraction)


if __name__ == "__main__":
    main()
