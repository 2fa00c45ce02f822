"""Evaluate the PII stage: quality on presidio's synthetic dev set, phone numbers on real text, speed on
real ~3 KB web documents.

Quality (``pii/presidio_synth.dev.json``), per entity type: recall (a gold span is found when a
detection of its type overlaps it), the share of gold spans replaced whole (one detection covers all of
it: one tag, nothing of the value left), found in part (some of it left in the text), leaked digits (the
gold spans' digits still in the text after scrubbing, as a count and a share of all their digits),
precision (a detection is right when it overlaps a gold span of its type), characters replaced outside
gold spans of the type, and false positives on the samples that hold no PII at all. Scrubbing copies the
text outside the replaced spans unchanged, so what is left is what the detections do not cover.

Generated phone numbers: Faker's layouts (which wrote the dev set) and others seen on real pages, with
random digits, so area codes are often unassigned: found, replaced whole, leaked digits per layout.

Phone numbers on real text (``text/``, ``quality/``, ``extraction/*.gold.jsonl``, ``lid/``; no gold):
phone detections, and those with a digit group of the number still beside them (a digit, or a
separator used inside the detection and a digit, right before or after it: "079 <PHONE_NUMBER> 1744").

Speed: real texts from ``text/*.jsonl`` cut into ~3 KB documents, dev-set PII sentences injected into
some of them; documents/s per core (CPU time of this process, so other work on the machine matters
less) with and without the prefilter, in the same run, and a check that both give the same output.

    .venv/bin/python benchmarks/eval_pii.py [--data ../shared/data] [--docs 1500] [--pii-fraction 0.1]

To measure another version of the package (e.g. before a change) with this script, put its source first
on the path: ``git archive REV fineweb_pipe | tar -x -C /tmp/rev`` and run from outside the repository,
``cd /tmp && PYTHONPATH=/tmp/rev /path/to/.venv/bin/python /path/to/benchmarks/eval_pii.py``.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa

import fineweb_pipe
from fineweb_pipe.stages.pii import PiiScrubber, Policy
from fineweb_pipe.stages.pii.entities import PATTERN_ENTITIES

REPO = Path(__file__).resolve().parent.parent
DOC_CHARS = 3000
PHONE = "PHONE_NUMBER"


def overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def evaluate_quality(samples: list[dict]) -> dict[str, dict[str, float]]:
    """Prints the table and returns its figures per entity type."""
    stage = PiiScrubber(policy=Policy.TAG)
    stage.setup()
    tp, found_gold, whole_gold, gold_total, detected = Counter(), Counter(), Counter(), Counter(), Counter()
    leaked_chars, gold_chars, leaked_digits, gold_digits, outside = Counter(), Counter(), Counter(), Counter(), Counter()
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
            same = [g for g in gold if g["entity_type"] == d.entity_type]
            outside[d.entity_type] += sum(1 for i in range(d.start, d.end)
                                          if not any(g["start_position"] <= i < g["end_position"] for g in same))
        for g in gold:
            kind, start, end = g["entity_type"], g["start_position"], g["end_position"]
            gold_total[kind] += 1
            found_gold[kind] += any(d.entity_type == kind and overlaps(d.start, d.end, start, end) for d in scrubbed)
            whole_gold[kind] += any(d.entity_type == kind and d.start <= start and end <= d.end for d in scrubbed)
            # A character survives scrubbing unless some replaced span covers it (replacement is exact).
            left = [i for i in range(start, end) if not any(d.start <= i < d.end for d in scrubbed)]
            gold_chars[kind] += end - start
            leaked_chars[kind] += len(left)
            gold_digits[kind] += sum(text[i].isdigit() for i in range(start, end))
            leaked_digits[kind] += sum(text[i].isdigit() for i in left)
        if not sample["spans"]:
            clean_samples += 1
            clean_flagged += bool(scrubbed)
            clean_detections += len(scrubbed)
            clean_by_type.update(d.entity_type for d in scrubbed)

    print(f"quality on {len(samples)} dev samples (policy tag, default entities and phone regions)")
    print(f"{'entity type':<15}{'gold':>6}{'recall':>8}{'whole':>8}{'in part':>9}{'leaked digits':>19}"
          f"{'leak':>7}{'detected':>10}{'precision':>11}{'outside':>9}")
    figures: dict[str, dict[str, float]] = {}
    for kind in PATTERN_ENTITIES:
        n = gold_total[kind]
        row = {
            "gold": n,
            "recall": found_gold[kind] / n if n else float("nan"),
            "whole": whole_gold[kind] / n if n else float("nan"),
            "in_part": found_gold[kind] - whole_gold[kind],
            "leaked_digits": leaked_digits[kind],
            "gold_digits": gold_digits[kind],
            "leak": leaked_chars[kind] / gold_chars[kind] if gold_chars[kind] else float("nan"),
            "detected": detected[kind],
            "precision": tp[kind] / detected[kind] if detected[kind] else float("nan"),
            "outside": outside[kind],
        }
        figures[kind] = row
        digits = f"{row['leaked_digits']}/{row['gold_digits']}"
        share = row["leaked_digits"] / row["gold_digits"] if row["gold_digits"] else 0.0
        print(f"{kind:<15}{n:>6}{row['recall']:>8.3f}{row['whole']:>8.3f}{row['in_part']:>9}"
              f"{digits:>12} ({share:>4.1%}){row['leak']:>7.3f}{row['detected']:>10}{row['precision']:>11.3f}"
              f"{row['outside']:>9}")
    print("  recall: gold spans overlapped by a detection of their type; whole: covered by one; in part: "
          "found, not whole;\n  leaked digits: digits of gold spans left in the text; leak: share of gold "
          "characters left;\n  outside: characters replaced by a detection of the type outside its gold spans")
    print(f"samples with no PII: {clean_samples}; flagged: {clean_flagged}; false detections: {clean_detections} "
          f"{dict(clean_by_type)}")
    return figures


# Layouts of phone numbers as Faker (which wrote the dev set) and real pages write them, "#" a random digit.
PHONE_LAYOUTS = ["001-###-###-####", "001-###-###-####x###", "00 44 #### ######", "0044 ## #### ####",
                 "011 44 ## #### ####", "+1-###-###-####x#####", "### #### ####", "0### ### ####",
                 "## ### ### ####"]


def evaluate_generated_phones(per_layout: int = 200, seed: int = 0) -> None:
    """Numbers with random digits (area codes valid or not) in ``Call me on NUMBER today.``."""
    stage = PiiScrubber(policy=Policy.TAG)
    stage.setup()
    rng = random.Random(seed)
    print(f"\ngenerated phone numbers ({per_layout} a layout, random digits, in 'Call me on NUMBER today.')")
    print(f"{'layout':<24}{'found':>7}{'whole':>7}{'leaked digits':>16}")
    for layout in PHONE_LAYOUTS:
        found = whole = leaked = total = 0
        for _ in range(per_layout):
            number = "".join(str(rng.randrange(10)) if c == "#" else c for c in layout)
            text = f"Call me on {number} today."
            start, end = 11, 11 + len(number)
            detections = [d for d in stage.detect(text)[0] if d.entity_type == PHONE]
            found += any(overlaps(d.start, d.end, start, end) for d in detections)
            whole += any(d.start <= start and end <= d.end for d in detections)
            total += sum(c.isdigit() for c in number)
            leaked += sum(text[i].isdigit() for i in range(start, end)
                          if not any(d.start <= i < d.end for d in detections))
        print(f"{layout:<24}{found:>7}{whole:>7}{f'{leaked}/{total}':>16}")


def real_texts(data: Path) -> list[str]:
    """Real text without gold PII: web documents, Wikipedia lines, article gold texts, LID sentences."""
    texts: list[str] = []
    for path in sorted((data / "text").glob("*.jsonl")) + sorted((data / "quality").glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    for path in sorted((data / "extraction").glob("*.gold.jsonl")):
        texts += [r["gold_text"] for r in map(json.loads, path.open(encoding="utf-8")) if r.get("gold_text")]
    wikitext = data / "text" / "wikitext-2_valid.txt"
    if wikitext.is_file():
        texts += [line for line in wikitext.open(encoding="utf-8") if line.strip()]
    lid = data / "lid" / "sentences.dev.tsv"
    if lid.is_file():
        texts += [line.split("\t", 1)[1] for line in lid.open(encoding="utf-8") if "\t" in line]
    return texts


_SEPARATOR = " .-"


def digits_beside(text: str, start: int, end: int) -> bool:
    """Whether a digit group of the number is still beside a replaced phone span: a digit right next to
    it, or a separator it uses inside and then a digit ("079 <PHONE_NUMBER> 1744")."""
    inside = {c for c in text[start:end] if c in _SEPARATOR}
    after, before = text[end:end + 2], text[max(0, start - 2):start]
    if after[:1].isdigit() or before[-1:].isdigit():
        return True
    return bool(re.fullmatch(r"[ .\-]\d", after) and after[0] in inside
                or re.fullmatch(r"\d[ .\-]", before) and before[1] in inside)


def evaluate_real_text_phones(data: Path) -> tuple[int, int]:
    texts = real_texts(data)
    stage = PiiScrubber(policy=Policy.TAG)
    stage.setup()
    phones = beside = 0
    examples: list[str] = []
    for text in texts:
        for d in stage.detect(text)[0]:
            if d.entity_type != PHONE:
                continue
            phones += 1
            if digits_beside(text, d.start, d.end):
                beside += 1
                if len(examples) < 5:
                    examples.append(f"{text[max(0, d.start - 12):d.start]}[{text[d.start:d.end]}]{text[d.end:d.end + 8]}")
    print(f"\nphone numbers on real text ({len(texts)} texts, {sum(map(len, texts)) / 1e6:.1f} M chars, no gold): "
          f"{phones} detected, {beside} with digits of the number still beside them")
    for example in examples:
        print("  " + example.replace("\n", "\\n"))
    return phones, beside


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
    print(f"package: {Path(fineweb_pipe.__file__).parent}")
    evaluate_quality(samples)
    evaluate_generated_phones()
    evaluate_real_text_phones(args.data)
    evaluate_speed(args.data, samples, args.docs, args.pii_fraction)


if __name__ == "__main__":
    main()
