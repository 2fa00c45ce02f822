"""Score our extraction stages end to end (WARC reader -> extractor stage) against gold data.

- scrapinghub_aeb (181 English articles, human gold text): bag-of-words precision / recall / F1, computed
  the way the article-extraction-benchmark does (per-page counts of ``\\w+`` tokens, normalised per page;
  precision and recall averaged over pages, F1 from the averages).
- trafilatura_eval (990 multilingual pages, gold snippets): a ``with`` snippet found in the extract is a
  true positive (else a false negative), a ``without`` snippet found is a false positive, after
  whitespace normalisation; counts summed over pages, as trafilatura's own evaluation does.

A page our pipeline drops (empty extraction, time-out, crash) scores as an empty extract. Also prints
pages/s of each stage (extraction only, one worker, child process included) and the cost of the child
process round trip alone. Acceptance: trafilatura F1 >= 0.95 (aeb) and >= 0.92 (trafilatura_eval).

    .venv/bin/python benchmarks/eval_extraction.py [--data ../shared/data] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from fastwarc.warc import ArchiveIterator, WarcRecordType

from fineweb_pipe import schema
from fineweb_pipe.readers.warc import WarcReader
from fineweb_pipe.stages.extraction import HtmlExtractor, ResiliparseExtractor, TrafilaturaExtractor
from fineweb_pipe.stages.extraction.isolated import IsolatedFunction
from fineweb_pipe.stats import ReaderCounts

REPO = Path(__file__).resolve().parent.parent
SETS = ("scrapinghub_aeb", "trafilatura_eval")
TARGETS = {("trafilatura", "scrapinghub_aeb"): 0.95, ("trafilatura", "trafilatura_eval"): 0.92}
_WORD = re.compile(r"\w+")


@dataclass
class Scores:
    precision: float
    recall: float
    f1: float


def bag_of_words(pairs: list[tuple[str, str]]) -> Scores:
    """(gold, extracted) pairs -> article-extraction-benchmark scores on single tokens."""
    precisions, recalls = [], []
    for gold, extracted in pairs:
        want, got = Counter(_WORD.findall(gold)), Counter(_WORD.findall(extracted))
        tp = sum((want & got).values())
        fp, fn = sum(got.values()) - tp, sum(want.values()) - tp
        if fp == fn == 0:
            precisions.append(1.0)
            recalls.append(1.0)
            continue
        if tp + fp:
            precisions.append(tp / (tp + fp))
        if tp + fn:
            recalls.append(tp / (tp + fn))
    p, r = statistics.mean(precisions), statistics.mean(recalls)
    return Scores(p, r, 2 * p * r / (p + r) if p + r else 0.0)


def _norm(text: str) -> str:
    return " ".join(text.split())


def snippets(items: list[tuple[dict, str]]) -> Scores:
    """(gold item, extracted) pairs -> micro-averaged snippet precision / recall / F1."""
    tp = fp = fn = 0
    for item, extracted in items:
        text = _norm(extracted)
        found = sum(_norm(s) in text for s in item["with"])
        tp += found
        fn += len(item["with"]) - found
        fp += sum(_norm(s) in text for s in item["without"])
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return Scores(p, r, 2 * p * r / (p + r) if p + r else 0.0)


def eval_ids(warc: Path) -> dict[str, str]:
    """WARC-Record-ID -> WARC-Eval-Id. The reader does not expose custom headers, so read them here."""
    ids = {}
    with open(warc, "rb") as stream:
        for record in ArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=False):
            ids[record.headers.get("WARC-Record-ID")] = record.headers.get("WARC-Eval-Id")
    return ids


def extract_set(stage: HtmlExtractor, warc: Path, limit: int | None) -> tuple[dict[str, str], int, float, Counter]:
    """Run the stage over the WARC: extracts by WARC-Record-ID ("" when dropped), pages, seconds, counts."""
    extracts: dict[str, str] = {}
    outcomes: Counter = Counter()
    seconds = 0.0
    for batch in WarcReader(batch_docs=64).iter_batches(str(warc), ReaderCounts()):
        if limit is not None:
            batch = batch.slice(0, max(0, limit - len(extracts)))
        if batch.num_rows == 0:
            break
        started = time.perf_counter()
        result = stage.process(batch)
        seconds += time.perf_counter() - started
        kept = result.kept
        extracts.update(zip(kept.column(schema.WARC_RECORD_ID).to_pylist(), kept.column(schema.TEXT).to_pylist()))
        outcomes["kept"] += kept.num_rows
        if result.dropped is not None:
            extracts.update((rid, "") for rid in result.dropped.column(schema.WARC_RECORD_ID).to_pylist())
            outcomes.update(result.dropped.column("drop_reason").to_pylist())
    return extracts, len(extracts), seconds, outcomes


def echo_length(html: str) -> int:
    return len(html)


def ipc_cost_us(warc: Path, pages: int = 100) -> float:
    """Microseconds per page for the child-process round trip alone (a function that does nothing)."""
    batch = next(WarcReader(batch_docs=pages).iter_batches(str(warc), ReaderCounts()))
    htmls = batch.column(schema.HTML).to_pylist()
    child = IsolatedFunction(echo_length, timeout_s=5.0)
    child.start()
    started = time.perf_counter()
    for html in htmls:
        child(html)
    elapsed = time.perf_counter() - started
    child.close()
    return elapsed / len(htmls) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--limit", type=int, default=None, help="pages per set (default: all)")
    args = parser.parse_args()

    gold = {name: {json.loads(line)["id"]: json.loads(line) for line in
                   (args.data / "extraction" / f"{name}.gold.jsonl").open(encoding="utf-8")} for name in SETS}
    extractors = {"trafilatura": TrafilaturaExtractor, "resiliparse": ResiliparseExtractor}
    failed = []
    for set_name in SETS:
        warc = args.data / "warc" / f"bench-{set_name}.warc.gz"
        to_eval_id = eval_ids(warc)
        for ex_name, cls in extractors.items():
            stage = cls()
            stage.setup()
            extracts, pages, seconds, outcomes = extract_set(stage, warc, args.limit)
            stage.close()
            pairs = [(gold[set_name][to_eval_id[rid]], text) for rid, text in extracts.items()]
            if set_name == "scrapinghub_aeb":
                scores, metric = bag_of_words([(item["gold_text"], text) for item, text in pairs]), "bag-of-words"
            else:
                scores, metric = snippets(pairs), "snippets"
            target = TARGETS.get((ex_name, set_name))
            verdict = "" if target is None else ("  PASS" if scores.f1 >= target else "  FAIL") + f" (>= {target})"
            if target is not None and scores.f1 < target:
                failed.append(f"{ex_name}/{set_name}")
            print(f"{set_name:<17} {ex_name:<12} {metric:<13} P={scores.precision:.3f} R={scores.recall:.3f} "
                  f"F1={scores.f1:.3f}  {pages} pages (of {len(gold[set_name])} gold), "
                  f"{pages / seconds:.1f} pages/s ({seconds / pages * 1e3:.1f} ms/page)  "
                  f"{dict(outcomes)}{verdict}")
    warc = args.data / "warc" / "bench-trafilatura_eval.warc.gz"
    print(f"child-process round trip alone: {ipc_cost_us(warc):.0f} us/page (HTML sent, length returned)")
    if failed:
        raise SystemExit(f"below target: {', '.join(failed)}")


if __name__ == "__main__":
    main()
