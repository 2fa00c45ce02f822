"""Choose LanguagePrescreen's threshold by measurement, and measure what the cascade saves.

For each page set (the two bench WARCs; the other real WARCs of ../shared/data; a generated sample crawl):
1. the exact recipe's streaming phase (URL filter, trafilatura, English LID >= 0.65 keeping removed pages,
   Gopher repetition and quality, C4, FineWeb quality) runs in-process: the pages it keeps, and the LID's
   language of every page it extracted;
2. the pre-screen's fast pass (resiliparse main text + LID-176) on every page the URL filter passes;
3. for a range of thresholds, with the LID reading the whole fast text and the default sample of it: the
   share of trafilatura calls skipped, the pages wrongly skipped (kept by the exact recipe) and the skipped
   pages the exact LID passes (English >= 0.65; the quality filters dropped them), each listed with its fast
   and exact languages; and, for information, how many pages with a short fast text the exact recipe keeps
   (a word-count pre-check would drop them);
4. the recipe with the pre-screen at ``--min-score`` runs for real: documents kept by one run and not the
   other, by cause, and whether the documents both keep are identical.

With ``--cpu N``: N alternating pairs of runs (exact, cascade) of the streaming phase on the bench WARCs, each
in its own process, in-process (``--engine local``) or on an embedded Ray (``--engine ray --workers 2``); CPU
per page read = the process tree's user+system time, measured by compare_datatrove.py's ``measure``.

    .venv/bin/python benchmarks/eval_language_prescreen.py [--data ../shared/data] [--sample-pages 1000] [--cpu 3]
    .venv/bin/python benchmarks/eval_language_prescreen.py --sets --cpu 2 --engine ray --workers 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import schema
from fineweb_pipe.engine.base import make_executor
from fineweb_pipe.engine.runner import Runner
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.readers import reader_for
from fineweb_pipe.sample import write_sample_warc
from fineweb_pipe.stage import Stage
from fineweb_pipe.stages.extraction import LanguagePrescreen, TrafilaturaExtractor
from fineweb_pipe.stages.extraction.prescreen import DEFAULT_LID_CHARS, DEFAULT_MIN_SCORE
from fineweb_pipe.stages.language import LanguageFilter
from fineweb_pipe.stages.quality import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
from fineweb_pipe.stages.url import UrlFilter
from fineweb_pipe.stats import ReaderCounts

REPO = Path(__file__).resolve().parent.parent
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.8, 0.9, 0.95)
SHORT_WORDS = (10, 25, 50)
BENCH = ("bench-scrapinghub_aeb.warc.gz", "bench-trafilatura_eval.warc.gz")
NOT_HTML_WARCS = (".wat", ".wet", ".wat.gz", ".wet.gz")


def recipe(min_score: float | None, keep_all_removed: bool = False) -> Pipeline:
    """The FineWeb recipe's streaming phase as pipelines/fineweb.py has it; with the pre-screen in front of
    trafilatura when ``min_score`` is given. ``keep_all_removed``: the quality filters' removed pages are
    written too, so that the LID's language is known for every page extracted."""
    steps: list[Stage] = [UrlFilter()]
    if min_score is not None:
        steps.append(LanguagePrescreen(languages=("en",), min_score=min_score, keep_removed=True))
    steps += [TrafilaturaExtractor(favor_precision=True, include_comments=False, timeout_s=1.0),
              LanguageFilter(languages=("en",), min_score=0.65, keep_removed=True),
              GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
              FineWebQualityFilter()]
    for stage in steps[-4:]:
        stage.keep_removed = keep_all_removed
    return Pipeline(steps=steps, name="fineweb-stream" if min_score is None else "fineweb-stream-prescreen")


def run_recipe(inputs: list[str], output: Path, min_score: float | None, keep_all_removed: bool = False,
               engine: str = "local", workers: int = 1) -> dict:
    with make_executor(engine, workers) as executor:
        return Runner(recipe(min_score, keep_all_removed), inputs, str(output), executor, show_progress=False).run()


def _read_folder(folder: Path, columns: list[str]) -> pa.Table:
    """``columns`` of every Parquet file under ``folder``; an empty shard's file has only ``id``."""
    tables = [pq.read_table(p) for p in sorted(folder.rglob("*.parquet"))]
    tables = [t.select([c for c in columns if c in t.column_names]) for t in tables if t.num_rows]
    return pa.concat_tables(tables, promote_options="permissive") if tables \
        else pa.table({c: pa.array([], pa.string()) for c in columns})


@dataclass
class Outcome:
    """What one run of the recipe kept, and the language each removed page was filed under."""

    kept: dict[str, str]  # id -> text
    exact_language: dict[str, tuple[str | None, float]]  # id -> the LID's language and score, extracted pages
    removed_by: dict[str, str]  # id -> the stage that filed it under removed/ (LID or pre-screen)
    stats: dict

    @classmethod
    def read(cls, output: Path, stats: dict) -> Outcome:
        docs = _read_folder(output / "documents", [schema.ID, schema.TEXT, schema.LANGUAGE, schema.LANGUAGE_SCORE])
        kept = dict(zip(docs.column(schema.ID).to_pylist(), docs.column(schema.TEXT).to_pylist()))
        exact: dict[str, tuple[str | None, float]] = {}
        removed_by: dict[str, str] = {}
        for table, stage in [(docs, "")] + [(_read_folder(folder, [schema.ID, schema.LANGUAGE, schema.LANGUAGE_SCORE]),
                                             folder.name) for folder in sorted((output / "removed").glob("*"))]:
            for doc_id, language, score in zip(*(table.column(c).to_pylist()
                                                 for c in (schema.ID, schema.LANGUAGE, schema.LANGUAGE_SCORE))):
                if stage:
                    removed_by[doc_id] = stage
                if stage != "language_prescreen":
                    exact[doc_id] = (language, score)
        return cls(kept, exact, removed_by, stats)


@dataclass
class Page:
    id: str
    url: str
    fast_language: str | None
    fast_score: float
    fast_words: int  # 0: a blank fast text, never skipped


def fast_pass(inputs: list[str], lid_chars: int | None) -> tuple[list[Page], float]:
    """The pre-screen's fast pass on every page the URL filter passes, and its CPU seconds (with the child's)."""
    from fineweb_pipe.engine.shard import cpu_seconds

    url_filter = UrlFilter()
    url_filter.setup()
    screen = LanguagePrescreen(lid_chars=lid_chars)
    screen.setup()
    pages: list[Page] = []
    cpu = 0.0
    for path in inputs:
        for batch in reader_for(path).iter_batches(path, ReaderCounts()):
            batch = url_filter.process(batch).kept
            started = cpu_seconds()
            screening = screen.screen(batch.column(schema.HTML).cast(pa.large_binary()).to_pylist())
            cpu += cpu_seconds() - started
            for doc_id, url, text, language, score in zip(batch.column(schema.ID).to_pylist(),
                                                          batch.column(schema.URL).to_pylist(), screening.texts,
                                                          screening.languages, screening.scores):
                pages.append(Page(doc_id, url, language, float(score), len(text.split()) if text else 0))
    screen.close()
    return pages, cpu


def sweep(name: str, pages: list[Page], exact: Outcome, lid_chars: int | None) -> None:
    n = len(pages)
    kept_en = sum(p.id in exact.kept for p in pages)
    print(f"\n== {name}, LID on {lid_chars or 'all'} characters of the fast text: {n:,} pages reach the extractor, "
          f"the exact recipe keeps {kept_en:,}; blank fast text: {sum(p.fast_words == 0 for p in pages):,}")
    print("threshold  skipped   share  wrongly  LID-passed  skipped pages: exact LID agrees")
    for threshold in THRESHOLDS:
        skipped = [p for p in pages if p.fast_words and p.fast_language != "en" and p.fast_score >= threshold]
        wrong = [p for p in skipped if p.id in exact.kept]
        passed = [p for p in skipped if _passes_lid(*exact.exact_language.get(p.id, (None, 0.0)))]
        same = sum(exact.exact_language.get(p.id, (None, 0.0))[0] == p.fast_language for p in skipped)
        print(f"{threshold:>9.2f} {len(skipped):>8,} {len(skipped) / max(n, 1):>7.1%} {len(wrong):>8,} "
              f"{len(passed):>11,}  {same:>6,} of {len(skipped):,} same language")
        for p in wrong + [p for p in passed if p not in wrong]:
            language, score = exact.exact_language.get(p.id, (None, 0.0))
            print(f"{'':>12}{'kept' if p in wrong else 'LID-passed'}: {p.url} fast {p.fast_language} {p.fast_score:.3f} "
                  f"({p.fast_words} words), exact {language} {score:.3f}")
    for words in SHORT_WORDS:
        short = [p for p in pages if 0 < p.fast_words < words]
        print(f"fast text of 1-{words - 1} words: {len(short):,} pages ({len(short) / max(n, 1):.1%}), "
              f"{sum(p.id in exact.kept for p in short):,} kept by the exact recipe")


def _passes_lid(language: str | None, score: float) -> bool:
    """Whether the exact recipe's LID (English, >= 0.65) passes a page; the quality filters may still drop it."""
    return language == "en" and score >= 0.65


def compare(name: str, exact: Outcome, cascade: Outcome, min_score: float) -> None:
    only_exact = sorted(set(exact.kept) - set(cascade.kept))
    only_cascade = sorted(set(cascade.kept) - set(exact.kept))
    both = set(exact.kept) & set(cascade.kept)
    union = len(set(exact.kept) | set(cascade.kept))
    causes = Counter("skipped by the pre-screen" if cascade.removed_by.get(i) == "language_prescreen"
                     else "extracted differently" for i in only_exact)
    changed = sum(exact.kept[i] != cascade.kept[i] for i in both)
    print(f"\n== {name}, recipe with the pre-screen at {min_score} against the exact recipe")
    print(f"kept: exact {len(exact.kept):,}, cascade {len(cascade.kept):,}, both {len(both):,} "
          f"(texts differ: {changed:,}); agreement {len(both) / max(union, 1):.2%}")
    print(f"kept only by the exact recipe: {len(only_exact):,} {dict(causes)}; only with the pre-screen: {len(only_cascade):,}")
    for label, stats in (("exact", exact.stats), ("cascade", cascade.stats)):
        cpu = {s["name"]: round(s["cpu_s"], 2) for s in stats["stages"]}
        print(f"{label} stage CPU s: {cpu}")
    screened = [i for i, stage in cascade.removed_by.items() if stage == "language_prescreen"]
    exact_langs = Counter(exact.exact_language.get(i, (None, 0.0))[0] for i in screened)
    print(f"pre-screened pages: {len(screened):,}; the exact LID's languages for them: {dict(exact_langs.most_common())}")


def cpu_runs(inputs: list[str], rounds: int, min_score: float, engine: str, workers: int, work: Path) -> None:
    """Alternating runs, each in its own process; CPU of the process tree per page read, measured as
    compare_datatrove.py measures it (on Ray the daemons and actors are sampled, the driver's tree reaped)."""
    from compare_datatrove import _become_subreaper, measure

    _become_subreaper()
    per_page: dict[str, list[float]] = {"exact": [], "cascade": []}
    for r in range(rounds):
        for label in ("exact", "cascade"):
            out = work / f"cpu-{label}-{r}"
            measured = measure([sys.executable, __file__, "--run-one", label, "--min-score", str(min_score),
                                "--engine", engine, "--workers", str(workers), "--output", str(out), *inputs],
                               work / f"cpu-{label}-{r}.log")
            pages = json.loads((out / "stats.json").read_text())["reader"]["documents"]
            per_page[label].append(measured.cpu_s / pages * 1000)
            print(f"round {r + 1} {label:>7}: {measured.cpu_s:6.2f} CPU-s, {measured.wall_s:6.2f} s wall, "
                  f"{measured.cpu_s / pages * 1000:6.2f} ms a page ({pages:,} pages, {pages / measured.cpu_s:.1f} "
                  "per CPU-s)", flush=True)
    exact, cascade = statistics.median(per_page["exact"]), statistics.median(per_page["cascade"])
    print(f"median CPU per page: exact {exact:.2f} ms, cascade {cascade:.2f} ms: {exact / cascade:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--sample-pages", type=int, default=1000)
    parser.add_argument("--min-score", type=float, default=DEFAULT_MIN_SCORE, help="the threshold run for real")
    parser.add_argument("--cpu", type=int, default=0, help="alternating CPU rounds on the bench WARCs (0: none)")
    parser.add_argument("--sets", nargs="*", default=["bench", "other-real", "sample"], help="page sets to measure (none: --cpu only)")
    parser.add_argument("--engine", choices=("local", "ray"), default="local", help="engine of the --cpu runs")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers of the --cpu runs")
    parser.add_argument("--run-one", choices=("exact", "cascade"), help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("inputs", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_one:
        run_recipe(args.inputs, args.output, args.min_score if args.run_one == "cascade" else None,
                   engine=args.engine, workers=args.workers)
        return

    warcs = args.data / "warc"
    with tempfile.TemporaryDirectory(prefix="prescreen-") as tmp:
        work = Path(tmp)
        bench = [str(warcs / name) for name in BENCH]
        sets = {
            "bench": bench,
            "other-real": [str(p) for p in sorted(warcs.glob("*.warc*"))
                           if p.name not in BENCH and not p.name.endswith(NOT_HTML_WARCS)],
            "sample": [write_sample_warc(str(work / "sample" / "sample.warc.gz"), pages=args.sample_pages, seed=0)],
        }
        for name in args.sets:
            inputs = sets[name]
            exact = Outcome.read(work / f"{name}-exact", run_recipe(inputs, work / f"{name}-exact", None, True))
            for lid_chars in (None, DEFAULT_LID_CHARS):
                pages, fast_cpu = fast_pass(inputs, lid_chars)
                sweep(name, pages, exact, lid_chars)
                print(f"fast pass: {fast_cpu / max(len(pages), 1) * 1000:.2f} CPU-ms a page")
            cascade = Outcome.read(work / f"{name}-cascade", run_recipe(inputs, work / f"{name}-cascade", args.min_score, True))
            compare(name, exact, cascade, args.min_score)
        if args.cpu:
            where = "in-process, one core" if args.engine == "local" else f"Ray, {args.workers} workers"
            print(f"\n== CPU, {args.cpu} alternating rounds on the bench WARCs, {where}")
            cpu_runs(bench, args.cpu, args.min_score, args.engine, args.workers, work)


if __name__ == "__main__":
    main()
