"""Scale-out evidence (issue 18): what the driver costs per shard, files and task memory of the global
stages, the FineWeb recipe's throughput, one worker's write rate, and from these a projection for one
Common Crawl dump.

    .venv/bin/python benchmarks/scale.py all                                  # every part, then the projection
    .venv/bin/python benchmarks/scale.py driver --shards 2000 20000 --engines local ray [--batches 16] [--diagnose 2000]
    .venv/bin/python benchmarks/scale.py wait [--refs 2 64 1000 6400]
    .venv/bin/python benchmarks/scale.py recipe --warcs 8 --pages 1000 --workers 1 2
    .venv/bin/python benchmarks/scale.py write --megabytes 200
    .venv/bin/python benchmarks/scale.py globals --dedup-docs 100000 --token-docs 100000
    .venv/bin/python benchmarks/scale.py project                              # from the saved results only

Parts (results are merged into ``--json``, default ``/tmp/fwp-scale/results.json``, so parts can run apart):

- ``driver``: tiny JSONL shards (``--docs-per-shard`` documents each) through UrlFilter and a Gopher quality
  filter that keeps what it removes (so every shard writes documents, removed documents and a record, as
  the recipe's shards do). In-process (``local``) the driver is the whole process: the shard work is
  timed apart (CPU spent inside the executor's stream) and the rest is the driver's; memory is the growth
  of the resident set between two shard counts. On an embedded Ray with 2 workers the driver process is
  measured alone (psutil: its resident set and user+system CPU over ``Runner.run``, Ray already started),
  and the CPU of every process of the tree comes from outside (``compare_datatrove.measure``).
  ``--batches K`` adds shards of K one-document batches: the driver's cost per progress event (a WARC shard
  is ~100 batches); ``--diagnose N`` a traced and profiled run: where the driver's memory and time go.
- ``wait``: the driver CPU of one ``ray.wait`` over N refs, as the Ray executor calls it once per event over
  every running shard.
- ``recipe``: ``pipelines/fineweb.py`` (URL filter to token shards) over sample crawls
  (``fineweb_pipe.sample.write_sample_warc``, one seed per file), in-process and on Ray with 1 and 2 workers.
- ``write``: a pass-through stage over JSONL of real web text on Ray with one worker: MB/s of Parquet the
  worker writes, and the driver's CPU against the worker's.
- ``globals``: ``bench_dedup.py scale`` and ``bench_tokens.py --scale`` at the sizes asked (subprocesses;
  their output is shown as they print it).
- ``project``: one dump (``--dump-warcs`` WARC files, ``--dump-pages`` pages) on ``--nodes`` nodes of
  ``--cores-per-node`` cores, from the saved figures; assumptions are printed with it.

Each measured run is a child process of this one (``child`` subcommand, not for direct use).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import glob
import importlib.util
import json
import math
import os
import platform
import pstats
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare_datatrove import Measured, _become_subreaper, measure  # noqa: E402

from fineweb_pipe.engine.base import Executor, OnDone, make_executor  # noqa: E402
from fineweb_pipe.engine.runner import Runner  # noqa: E402
from fineweb_pipe.engine.shard import ShardEvent, ShardTask  # noqa: E402
from fineweb_pipe.pipeline import Pipeline  # noqa: E402
from fineweb_pipe.readers import JsonlReader  # noqa: E402
from fineweb_pipe.sample import write_sample_warc  # noqa: E402
from fineweb_pipe.stage import Resources, Stage, Transform  # noqa: E402
from fineweb_pipe.stages.quality import GopherQualityFilter  # noqa: E402
from fineweb_pipe.stages.url import UrlFilter  # noqa: E402

ROOT = HERE.parent
SHARED_TEXT = ROOT.parent / "shared" / "data" / "text"
RECIPE = ROOT / "pipelines" / "fineweb.py"
DEFAULT_WORK = Path(tempfile.gettempdir()) / "fwp-scale"
# Targets of issue 18 for the driver, per shard.
TARGET_DRIVER_KB = 2.0
TARGET_DRIVER_MS = 1.0
MB = 1 << 20
# For the projection: the WARC reader's batch (each batch is one progress event to the driver), dedup's
# partition size and files per source (signatures, node rows, band rows; survivors, removed), and a
# tokenizer core's rate (field notes: HF tokenizers 1.3-1.6M tokens/s).
WARC_BATCH_DOCS = 256
DEDUP_DOCS_PER_PARTITION = 200_000
DEDUP_FILES_PER_SOURCE = 5
TOKENS_PER_CORE_S = 1.4e6


@dataclass(frozen=True)
class Dump:
    """What the projection assumes of one Common Crawl dump and the cluster."""

    warcs: int
    pages: float
    nodes: list[int]
    cores: int
    cpu_ms_per_page: float
    kept_share: float
    tokens_per_doc: float
    shard_tokens: float


# -- stages and inputs -----------------------------------------------------------------------------

class KeptGopherQuality(GopherQualityFilter):
    """Gopher quality keeping what it removes: each shard also writes ``removed/<stage>/<shard>.parquet``,
    as the recipe's language filters make every shard do."""

    keep_removed = True


class PassThrough(Transform):
    """Changes nothing: what a worker costs to read and write documents, with no stage work."""

    def transform(self, batch: pa.Table) -> pa.Table:
        return batch


def driver_pipeline(batch_docs: int = 1024) -> Pipeline:
    return Pipeline([UrlFilter(), KeptGopherQuality()], reader=JsonlReader(batch_docs=batch_docs), name="scale-driver")


def write_pipeline() -> Pipeline:
    return Pipeline([PassThrough()], reader=JsonlReader(), name="scale-write")


def recipe_pipeline() -> Pipeline:
    spec = importlib.util.spec_from_file_location("fineweb_recipe", RECIPE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pipeline: Pipeline = module.pipeline
    return pipeline


def real_documents() -> list[dict[str, str]]:
    """The shared real web texts, each with a URL (made up where the text has none)."""
    documents: list[dict[str, str]] = []
    for path in sorted(SHARED_TEXT.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            url = row.get("url") or row.get("id")
            if not (isinstance(url, str) and url.startswith("http")):
                url = f"https://example.org/{len(documents)}"
            documents.append({"url": url, "text": row["text"]})
    return documents


def write_tiny_shards(folder: Path, count: int, docs_per_shard: int, text_chars: int) -> list[str]:
    """``count`` JSONL files of ``docs_per_shard`` documents (the first ``text_chars`` of real texts)."""
    marker = folder / f".complete-{count}-{docs_per_shard}-{text_chars}"
    paths = [str(folder / f"shard-{i:06d}.jsonl") for i in range(count)]
    if marker.exists():
        return paths
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    documents = real_documents()
    picked = 0
    for i, path in enumerate(paths):
        lines = []
        for j in range(docs_per_shard):
            doc = documents[picked % len(documents)]
            picked += 1
            lines.append(json.dumps({"id": f"s{i}-{j}", "url": doc["url"], "text": doc["text"][:text_chars]}))
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    marker.touch()
    return paths


def write_text_shards(folder: Path, megabytes: float, files: int) -> list[str]:
    """About ``megabytes`` of JSONL as ``files`` files: documents of 100-1,000 words drawn at random from
    the real texts' words, so that no two repeat (repeated texts would compress to nothing in Parquet)."""
    marker = folder / f".complete-{megabytes:g}-{files}-words"
    paths = [str(folder / f"text-{i:03d}.jsonl") for i in range(files)]
    if marker.exists():
        return paths
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    documents = real_documents()
    words = np.array(" ".join(d["text"] for d in documents).split())
    rng = np.random.default_rng(0)
    per_file = megabytes * 1e6 / files
    n = 0
    for path in paths:
        written = 0.0
        with open(path, "w", encoding="utf-8") as out:
            while written < per_file:
                text = " ".join(words[rng.integers(0, len(words), int(rng.integers(100, 1000)))])
                line = json.dumps({"id": f"d{n}", "url": documents[n % len(documents)]["url"], "text": text}) + "\n"
                out.write(line)
                written += len(line)
                n += 1
    marker.touch()
    return paths


def write_sample_crawls(folder: Path, warcs: int, pages: int) -> list[str]:
    """``warcs`` sample crawls, one seed each (seeds whose generation fails are skipped, and named)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: list[str] = []
    seed = 0
    while len(paths) < warcs:
        path = str(folder / f"sample-{pages}p-{seed:02d}.warc.gz")
        if not os.path.exists(path):
            try:
                write_sample_warc(path, pages=pages, seed=seed)
            except ValueError as exc:  # fineweb_pipe.sample.crawl._edit on a paragraph without words
                print(f"  sample crawl seed {seed} cannot be generated ({exc}); next seed", flush=True)
                seed += 1
                continue
        paths.append(path)
        seed += 1
    return paths


# -- the child process: one measured run -------------------------------------------------------------

class MeasuredExecutor(Executor):
    """Wraps an executor: the CPU this process spends inside it (in-process: the shard work; on Ray: the
    Ray calls) apart from what the runner does with each event, and optionally a snapshot of the Python
    allocations at the end of a phase's stream (while the runner still holds every shard's record)."""

    def __init__(self, inner: Executor, trace: bool = False) -> None:
        self.inner = inner
        self.name = inner.name
        self.trace = trace
        self.inside_cpu_s = 0.0
        self.events = 0
        self.snapshots: list[tracemalloc.Snapshot] = []

    @property
    def workers(self) -> int:  # type: ignore[override]
        return self.inner.workers

    def stream(self, tasks: Sequence[ShardTask], stages: Sequence[Stage]) -> Iterator[ShardEvent]:
        events = self.inner.stream(tasks, stages)
        while True:
            started = time.process_time()
            event = next(events, None)
            self.inside_cpu_s += time.process_time() - started
            if event is None:
                if self.trace:
                    self.snapshots.append(tracemalloc.take_snapshot())
                return
            self.events += 1
            yield event

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], resources: Resources,
            on_done: OnDone | None = None) -> list[Any]:
        started = time.process_time()
        try:
            return self.inner.map(fn, items, resources, on_done)
        finally:
            self.inside_cpu_s += time.process_time() - started

    def is_transient(self, error: BaseException) -> bool:
        return self.inner.is_transient(error)

    def close(self) -> None:
        self.inner.close()


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()  # this process only, every thread (Ray's core worker threads included)
    return times.user + times.system


def _files_by_folder(output: str) -> dict[str, int]:
    """Files under ``output`` by folder (shard names and round numbers folded: ``_work/x/sig/s*``)."""
    counts: Counter = Counter()
    for folder, _, names in os.walk(output):
        relative = os.path.relpath(folder, output)
        relative = re.sub(r"/p\d+$|/s\d+$|/\d+$", "/*", relative)
        counts[relative] += len(names)
    return dict(sorted(counts.items()))


class _Sleeper:
    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def child_wait(ref_counts: list[int], repeats: int) -> dict[str, Any]:
    """Driver CPU of one ``ray.wait([...], num_returns=1)`` over N refs, as the Ray executor calls it once
    per event with every running shard's ref: refs of queued actor calls (none ready, ``timeout=0``) and of
    objects in the store (all ready)."""
    import ray

    from fineweb_pipe.engine.ray_executor import RayExecutor

    executor = RayExecutor(workers=2)
    executor._start()
    figures: dict[str, Any] = {}
    with executor:
        sleeper: Any = ray.remote(_Sleeper).options(num_cpus=0.1).remote()
        for count in ref_counts:
            pending = [sleeper.sleep.remote(3600) for _ in range(count)]
            ready = [ray.put(i) for i in range(count)]
            started = time.process_time()
            for _ in range(repeats):
                ray.wait(list(pending), num_returns=1, timeout=0)
            none_ready_ms = (time.process_time() - started) / repeats * 1e3
            started = time.process_time()
            for _ in range(repeats):
                ray.wait(list(ready), num_returns=1)
            all_ready_ms = (time.process_time() - started) / repeats * 1e3
            figures[str(count)] = {"none_ready_ms": round(none_ready_ms, 4), "all_ready_ms": round(all_ready_ms, 4)}
            for ref in pending:
                ray.cancel(ref, force=False)
        ray.kill(sleeper)
    return {"wait": figures, "repeats": repeats}


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One run as ``spec`` says; returns what the driver process measured of itself."""
    kind = spec["kind"]
    if kind == "wait":
        return child_wait(spec["refs"], spec["repeats"])
    pipeline = driver_pipeline(spec.get("batch_docs", 1024)) if kind == "driver" else \
        {"write": write_pipeline, "recipe": recipe_pipeline}[kind]()
    inner = make_executor(spec["engine"], spec.get("workers"))
    executor = MeasuredExecutor(inner, trace=spec.get("trace", False))
    me = psutil.Process()
    if spec["engine"] == "ray" and kind != "recipe":
        # Ray's start is a fixed cost of the driver, not one per shard: done before the measurement.
        inner._start()  # type: ignore[attr-defined]
    gc.collect()
    rss_start, cpu_start, wall_start = me.memory_info().rss, _cpu_s(me), time.perf_counter()
    if executor.trace:
        tracemalloc.start(1)
    profiler = cProfile.Profile() if spec.get("profile") else None
    with executor:
        runner = Runner(pipeline, spec["inputs"], spec["output"], executor, show_progress=False)
        stats = profiler.runcall(runner.run) if profiler else runner.run()
        wall = time.perf_counter() - wall_start
        cpu = _cpu_s(me) - cpu_start
        rss_end = me.memory_info().rss
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result: dict[str, Any] = {
        "engine": spec["engine"], "workers": inner.workers, "inputs": len(spec["inputs"]),
        "documents": stats["reader"]["documents"], "kept": stats["stages"][-1]["docs_out"] if stats["stages"] else 0,
        "wall_s": round(wall, 2), "phases": stats["run"]["phases"],
        "driver_cpu_s": round(cpu, 3), "inside_executor_cpu_s": round(executor.inside_cpu_s, 3),
        "events": executor.events, "rss_start_mb": round(rss_start / MB, 1), "rss_end_mb": round(rss_end / MB, 1),
        "peak_rss_mb": round(peak / MB, 1), "stage_cpu_s": round(sum(s.get("cpu_s", 0) for s in stats["stages"]), 2),
    }
    if kind in ("write", "recipe"):
        result["documents_mb"] = round(sum(os.path.getsize(p) for p in glob.glob(os.path.join(
            spec["output"], "documents", "*"))) / MB, 2)
        result["input_text_mb"] = round(stats["reader"]["bytes"] / MB, 2)
        result["files"] = _files_by_folder(spec["output"])
        result["stages"] = [{k: s.get(k) for k in ("name", "kind", "phase", "docs_in", "docs_out", "cpu_s")}
                            for s in stats["stages"]]
        result["sections"] = {name: {k: v for k, v in section.items() if k in (
            "partitions", "write_groups", "rounds", "shards", "docs_in", "removed", "cpu_s")}
            for name, section in stats["sections"].items() if isinstance(section, dict)}
    if profiler is not None:
        # Python time only: the CPU of Ray's own threads in the driver shows as time spent in its calls.
        table = pstats.Stats(profiler).sort_stats("tottime")
        result["python_profile"] = [
            {"where": f"{Path(file).name}:{line} {function}", "calls": calls, "own_s": round(own, 3),
             "with_callees_s": round(total, 3)}
            for (file, line, function), (_, calls, own, total, _) in
            sorted(table.stats.items(), key=lambda item: -item[1][2])[:15]]  # type: ignore[attr-defined]
    if executor.snapshots:
        top = executor.snapshots[-1].statistics("lineno")[:12]
        result["python_allocations_at_phase_end"] = [
            {"where": str(s.traceback[0]), "kb": round(s.size / 1024, 1), "blocks": s.count} for s in top]
    return result


# -- the parent: runs children, prints figures ---------------------------------------------------------

class Bench:
    def __init__(self, work: Path, results_path: Path) -> None:
        self.work = work
        self.results_path = results_path
        self.results: dict[str, Any] = json.loads(results_path.read_text()) if results_path.exists() else {}

    def save(self) -> None:
        self.results_path.parent.mkdir(parents=True, exist_ok=True)
        self.results["machine"] = machine()
        self.results_path.write_text(json.dumps(self.results, indent=1))

    def run_child(self, name: str, spec: dict[str, Any]) -> tuple[dict[str, Any], Measured]:
        """``spec`` in a child process with its own Ray temp folder; what it measured and the tree's CPU."""
        shutil.rmtree(spec["output"], ignore_errors=True)
        spec_path = self.work / "logs" / f"{name}.spec.json"
        result_path = self.work / "logs" / f"{name}.result.json"
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(json.dumps(spec))
        result_path.unlink(missing_ok=True)
        ray_tmp = tempfile.mkdtemp(prefix="fwp-sc-", dir="/tmp")  # short: Ray's socket paths have a length limit
        env = {"RAY_TMPDIR": ray_tmp, "RAY_ADDRESS": ""}
        load = os.getloadavg()[0]
        try:
            measured = measure([sys.executable, __file__, "child", str(spec_path), str(result_path)],
                               self.work / "logs" / f"{name}.log", env)
        finally:
            shutil.rmtree(ray_tmp, ignore_errors=True)
        result = json.loads(result_path.read_text())
        result.setdefault("load_before", 0)
        result["load_before"] = round(load, 1)
        result["tree"] = {"wall_s": measured.wall_s, "cpu_s": measured.cpu_s, "by_process": measured.cpu_s_by_process}
        return result, measured

    # -- part 1: the driver per shard

    def driver(self, shard_counts: list[int], engines: list[str], docs_per_shard: int, text_chars: int,
               batches: int, diagnose: int) -> None:
        inputs = write_tiny_shards(self.work / "tiny", max([*shard_counts, diagnose]), docs_per_shard, text_chars)
        runs: dict[str, dict[str, Any]] = self.results.setdefault("driver", {})
        for engine in engines:
            for count in sorted(shard_counts):
                name = f"driver-{engine}-{count}"
                print(f"{name}: {count:,} shards of {docs_per_shard} documents ...", flush=True)
                result, _ = self.run_child(name, {"kind": "driver", "engine": engine, "workers": 2,
                                                  "inputs": inputs[:count], "output": str(self.work / "out" / name)})
                runs[name] = result
                self.save()
                print_driver_run(result)
        print_driver_summary(runs)
        if batches:
            self.driver_events(min(shard_counts, default=2000), batches, text_chars, engines)
        if diagnose:
            self.diagnose_driver(inputs[:diagnose], engines)

    def driver_events(self, count: int, batches: int, text_chars: int, engines: list[str]) -> None:
        """The driver's cost of a shard's batches: a real WARC shard is read in ~100 batches (256 pages each);
        workers send progress at most every 2 s, so batches should cost the driver nothing. Shards of
        ``batches`` documents, one per batch, against the one-batch shards of the main runs."""
        inputs = write_tiny_shards(self.work / f"tiny-{batches}", count, batches, text_chars // 4)
        runs: dict[str, dict[str, Any]] = self.results.setdefault("driver_events", {})
        for engine in engines:
            name = f"events-{engine}-{count}x{batches}"
            print(f"{name}: {count:,} shards of {batches} batches of one document ...", flush=True)
            result, _ = self.run_child(name, {"kind": "driver", "engine": engine, "workers": 2, "batch_docs": 1,
                                              "inputs": inputs, "output": str(self.work / "out" / name)})
            runs[name] = result
            self.save()
            print_driver_run(result)
            single = self.results.get("driver", {}).get(f"driver-{engine}-{count}")
            if single:
                extra_events = result["events"] / count - single["events"] / count
                extra_cpu = (_driver_process_cpu(result) - _driver_process_cpu(single)) / count
                print(f"  {batches} batches a shard against one: {extra_cpu * 1e3:+.3f} ms of driver CPU a shard, "
                      f"{result['events'] / count:.1f} against {single['events'] / count:.1f} events per shard")
                if extra_events > 0:
                    print(f"  per progress event beyond the one-batch shards: {extra_cpu / extra_events * 1e3:.3f} ms")

    def diagnose_driver(self, inputs: list[str], engines: list[str]) -> None:
        """Where the driver's time and memory go (not used for the per-shard figures: tracing and profiling
        slow it): the Python allocations it holds at the end of the phase, and its Python profile."""
        diagnosed: dict[str, Any] = self.results.setdefault("driver_diagnosis", {})
        for engine in engines:
            name = f"diagnose-{engine}-{len(inputs)}"
            print(f"\n{name}: {len(inputs):,} shards, traced and profiled ...", flush=True)
            result, _ = self.run_child(name, {"kind": "driver", "engine": engine, "workers": 2, "trace": True,
                                              "profile": True, "inputs": inputs, "output": str(self.work / "out" / name)})
            diagnosed[name] = result
            self.save()
            print("  Python allocations held when the phase's last event was handled (tracemalloc):")
            for site in result.get("python_allocations_at_phase_end", []):
                print(f"    {site['kb']:>9,.1f} KB {site['blocks']:>8,} blocks  {site['where']}")
            print("  Python profile of Runner.run, by own time:")
            for entry in result.get("python_profile", []):
                print(f"    {entry['own_s']:>7.3f} s own {entry['with_callees_s']:>7.3f} s with callees "
                      f"{entry['calls']:>8,} calls  {entry['where']}")

    def wait(self, ref_counts: list[int], repeats: int) -> None:
        print(f"ray.wait over N refs, driver CPU per call (mean of {repeats}):", flush=True)
        result, _ = self.run_child("wait", {"kind": "wait", "refs": ref_counts, "repeats": repeats,
                                            "output": str(self.work / "out" / "wait")})
        self.results["wait"] = result["wait"]
        self.save()
        for count, f in result["wait"].items():
            print(f"  {int(count):>6,} refs: {f['none_ready_ms']:.3f} ms none ready, {f['all_ready_ms']:.3f} ms all ready")

    # -- part 3: the recipe's throughput, one worker's write rate

    def recipe(self, warcs: int, pages: int, worker_counts: list[int], local: bool) -> None:
        inputs = write_sample_crawls(self.work / "crawl", warcs, pages)
        runs: dict[str, dict[str, Any]] = self.results.setdefault("recipe", {})
        configurations = ([("local", 1)] if local else []) + [("ray", w) for w in worker_counts]
        for engine, workers in configurations:
            name = f"recipe-{engine}-{workers}"
            print(f"{name}: FineWeb recipe over {warcs} sample crawls of {pages} pages ...", flush=True)
            result, _ = self.run_child(name, {"kind": "recipe", "engine": engine, "workers": workers,
                                              "inputs": inputs, "output": str(self.work / "out" / name)})
            runs[name] = result
            self.save()
            print_throughput(name, result)
        print_files(runs[max(runs, key=lambda n: runs[n]["workers"])])

    def write(self, megabytes: float, files: int) -> None:
        inputs = write_text_shards(self.work / "text", megabytes, files)
        name = "write-ray-1"
        print(f"{name}: pass-through over {megabytes:g} MB of JSONL in {files} files, Ray, one worker ...", flush=True)
        result, _ = self.run_child(name, {"kind": "write", "engine": "ray", "workers": 1, "inputs": inputs,
                                          "output": str(self.work / "out" / name)})
        self.results["write"] = result
        self.save()
        print_write(result)

    # -- part 2: the global stages' own benchmarks

    def globals(self, dedup_docs: list[int], token_docs: list[int]) -> None:
        found: dict[str, Any] = self.results.setdefault("globals", {})
        if dedup_docs:
            command = [sys.executable, str(HERE / "bench_dedup.py"), "scale", str(self.work / "dedup"),
                       "--sizes", *map(str, dedup_docs), "--workers", "2"]
            found["dedup"] = _echo_json_lines(command)
        if token_docs:
            command = [sys.executable, str(HERE / "bench_tokens.py"), "--scale", *map(str, token_docs),
                       "--work", str(self.work / "tokens"), "--workers", "2"]
            found["tokens_output"] = _echo(command)
        self.save()


def _echo(command: list[str]) -> str:
    print("$ " + " ".join(os.path.relpath(c, ROOT) if c.startswith(str(ROOT)) else c for c in command), flush=True)
    started = time.perf_counter()
    process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    sys.stdout.write(process.stdout)
    if process.returncode:
        sys.stdout.write(process.stderr[-3000:])
        raise RuntimeError(f"{command[1]} exited with {process.returncode}")
    print(f"  ({time.perf_counter() - started:.0f} s)")
    return process.stdout


def _echo_json_lines(command: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in _echo(command).splitlines() if line.startswith("{")]


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "processor": platform.processor() or platform.machine()}


# -- printing -------------------------------------------------------------------------------------------

def _driver_process_cpu(result: dict[str, Any]) -> float:
    """The driver's CPU over Runner.run: in-process, all but the shard work; on Ray, the whole process."""
    if result["engine"] == "local":
        return float(result["driver_cpu_s"] - result["inside_executor_cpu_s"])
    return float(result["driver_cpu_s"])


# Ray's own daemons, by process title (the rest of the tree besides the driver is the work).
RAY_DAEMONS = ("Dashboard", "dashboard", "gcs_server", "raylet", "log_monitor", "monitor.py", "runtime_env", "agent")


def _title_cpu(result: dict[str, Any], wanted: Callable[[str], bool]) -> float:
    return sum(cpu for title, cpu in result["tree"]["by_process"].items() if wanted(title))


def _workers_cpu(result: dict[str, Any]) -> float:
    """The tree's CPU less the driver process and Ray's daemons: actors, task workers (``ray::IDLE`` once a
    task ended) and their children (the extraction processes)."""
    daemons = _title_cpu(result, lambda title: any(d in title for d in RAY_DAEMONS))
    driver = _title_cpu(result, lambda title: "scale.py" in title)
    return float(result["tree"]["cpu_s"] - daemons - driver)


def print_driver_run(r: dict[str, Any]) -> None:
    shards = r["inputs"]
    driver_cpu = _driver_process_cpu(r)
    line = (f"  {r['engine']:>5}: {shards:,} shards, {r['documents']:,} documents in {r['wall_s']:.1f} s "
            f"({shards / r['wall_s']:,.0f} shards/s, load {r['load_before']}); driver CPU {driver_cpu:.2f} s = "
            f"{driver_cpu / shards * 1e3:.3f} ms/shard")
    if r["engine"] == "local":
        line += f" (shard work {r['inside_executor_cpu_s']:.1f} s, not counted)"
    else:
        line += f" (of it inside Ray calls {r['inside_executor_cpu_s']:.2f} s); workers' CPU {_workers_cpu(r):.1f} s"
    print(line)
    print(f"         driver RSS {r['rss_start_mb']:.0f} -> {r['rss_end_mb']:.0f} MB (+{r['rss_end_mb'] - r['rss_start_mb']:.1f}), "
          f"peak {r['peak_rss_mb']:.0f} MB: {(r['rss_end_mb'] - r['rss_start_mb']) * 1024 / shards:.2f} KB/shard "
          "(fixed costs included)", flush=True)


def _peak_growth_mb(result: dict[str, Any]) -> float:
    return float(result["peak_rss_mb"] - result["rss_start_mb"])


def driver_per_shard(runs: dict[str, dict[str, Any]], engine: str) -> dict[str, Any] | None:
    """Per-shard figures of ``engine``: over the largest run, and between the smallest and the largest run
    (the marginal cost: fixed costs such as actor starts and stage setup cancel out)."""
    mine = sorted((r for n, r in runs.items() if n.startswith(f"driver-{engine}-")),
                  key=lambda r: r["inputs"])
    if not mine:
        return None
    small, large = mine[0], mine[-1]
    figures: dict[str, Any] = {
        "shards": [r["inputs"] for r in mine],
        "ms_per_shard": [_driver_process_cpu(r) / r["inputs"] * 1e3 for r in mine],
        "kb_per_shard": [(r["rss_end_mb"] - r["rss_start_mb"]) * 1024 / r["inputs"] for r in mine],
        "peak_rss_mb": large["peak_rss_mb"], "rss_start_mb": large["rss_start_mb"],
    }
    if large["inputs"] > small["inputs"]:
        extra = large["inputs"] - small["inputs"]
        figures["marginal_ms_per_shard"] = (_driver_process_cpu(large) - _driver_process_cpu(small)) / extra * 1e3
        figures["marginal_kb_per_shard"] = (large["rss_end_mb"] - small["rss_end_mb"]) * 1024 / extra
        # The peak (ru_maxrss) may come after the phase, while stats are written: its growth, per shard.
        figures["marginal_peak_kb_per_shard"] = (_peak_growth_mb(large) - _peak_growth_mb(small)) * 1024 / extra
    return figures


def print_driver_summary(runs: dict[str, dict[str, Any]]) -> None:
    print(f"\ndriver per shard (targets: < {TARGET_DRIVER_KB:g} KB and < {TARGET_DRIVER_MS:g} ms):")
    for engine in ("local", "ray"):
        f = driver_per_shard(runs, engine)
        if f is None:
            continue
        each = ", ".join(f"{n:,}: {ms:.3f} ms {kb:.2f} KB" for n, ms, kb in
                         zip(f["shards"], f["ms_per_shard"], f["kb_per_shard"]))
        print(f"  {engine:>5}: by run (shards: CPU, RSS growth per shard) {each}")
        if "marginal_ms_per_shard" in f:
            print(f"         marginal, {f['shards'][0]:,} -> {f['shards'][-1]:,} shards: "
                  f"{f['marginal_ms_per_shard']:.3f} ms and {f['marginal_kb_per_shard']:.2f} KB per shard "
                  f"(peak RSS: {f['marginal_peak_kb_per_shard']:.2f} KB per shard)")


def print_throughput(name: str, r: dict[str, Any]) -> None:
    by_process = r["tree"]["by_process"]
    driver_title = next((t for t in by_process if "scale.py" in t), None)
    tree_cpu = r["tree"]["cpu_s"]
    print(f"  {name}: {r['documents']:,} documents read, {r['kept']:,} kept, {r['wall_s']:.1f} s "
          f"(load {r['load_before']}): {r['documents'] / r['wall_s']:.1f} docs/s, "
          f"{r['documents'] / max(tree_cpu, 1e-9):.1f} docs per CPU-s of the process tree ({tree_cpu:.1f} CPU-s)")
    print("    phases: " + ", ".join(f"{p['name']} {p['wall_s']:.1f} s" for p in r["phases"]))
    print(f"    driver process CPU {_driver_process_cpu(r) if r['engine'] == 'ray' else float('nan'):.1f} s, "
          f"workers' {_workers_cpu(r):.1f} s; by process: "
          + ", ".join(f"{t} {c:.1f}" for t, c in by_process.items()) + (f" (driver: {driver_title})" if driver_title else ""),
          flush=True)


def print_files(r: dict[str, Any]) -> None:
    shards = r["inputs"]
    print(f"  files written by the recipe ({shards} input shards), by folder:")
    for folder, n in r["files"].items():
        print(f"    {n:>6} {folder}")
    for name, section in r.get("sections", {}).items():
        if "rounds" in section:
            print(f"    {name} rounds: " + ", ".join(f"{k} {v.get('tasks', '?')} tasks/{v.get('files', '?')} files"
                                                   for k, v in section["rounds"].items()))


def print_write(r: dict[str, Any]) -> None:
    phase_wall = r["phases"][0]["wall_s"]
    workers = _workers_cpu(r)
    print(f"  one worker: {r['input_text_mb']:.0f} MB of text read, {r['documents_mb']:.0f} MB of Parquet written "
          f"in {phase_wall:.1f} s: {r['documents_mb'] / phase_wall:.1f} MB/s of Parquet "
          f"({r['input_text_mb'] / phase_wall:.1f} MB/s of text; load {r['load_before']})")
    print(f"  per CPU-second of the worker: {r['documents_mb'] / max(workers, 1e-9):.1f} MB of Parquet "
          f"({r['input_text_mb'] / max(workers, 1e-9):.1f} MB of text): the figure that holds on a busy machine")
    print(f"  driver CPU {r['driver_cpu_s']:.2f} s against the worker's {workers:.1f} s "
          f"({r['driver_cpu_s'] / max(workers, 1e-9):.1%}); {r['inputs']} shards; documents never reach the driver")


# -- part 4: the projection --------------------------------------------------------------------------

def project(results: dict[str, Any], dump: Dump) -> None:
    """One dump from the saved figures; every assumption is printed next to what it gives."""
    print(f"\nprojection: one Common Crawl dump, {dump.warcs:,} WARC files, {dump.pages / 1e9:.1f}B pages "
          f"({dump.pages / dump.warcs:,.0f} per WARC), nodes of {dump.cores} cores")
    pages_per_warc = dump.pages / dump.warcs
    kept = dump.pages * dump.kept_share

    # Compute: the streaming phases' CPU per page, then the global stages on the kept documents.
    core_hours = dump.pages * dump.cpu_ms_per_page / 1e3 / 3600
    print(f"- compute, assumed {dump.cpu_ms_per_page:g} ms of CPU per real page through the streaming stages "
          f"(benchmarks/README.md section 1: 70.8 CPU-s for 2,937 bench pages on Ray, trafilatura ~3/4 of it): "
          f"{core_hours:,.0f} core-hours")
    recipe = results.get("recipe", {})
    if recipe:
        local = recipe.get("recipe-local-1") or next(iter(recipe.values()))
        print(f"  (the sample crawl's synthetic pages take {local['tree']['cpu_s'] / local['documents'] * 1e3:.1f} ms "
              f"each through the whole recipe in-process: small pages, not used for the projection)")
    dedup_runs = results.get("globals", {}).get("dedup") or []
    if dedup_runs:
        d = max(dedup_runs, key=lambda r: r["docs"])
        dedup_ms = sum(d["cpu_s"].values()) / d["docs"] * 1e3
        dedup_source = f"bench_dedup at {d['docs']:,} docs"
    else:
        dedup_ms, dedup_source = 0.323, "benchmarks/README.md: 323 CPU-s per 1M docs on Ray"
    dedup_hours = kept * dedup_ms / 1e3 / 3600
    tokens = kept * dump.tokens_per_doc
    token_hours = tokens / TOKENS_PER_CORE_S / 3600
    print(f"- kept documents, assumed {dump.kept_share:.0%} of pages ({kept / 1e9:.2f}B; the bench WARCs keep 22 %): "
          f"dedup {dedup_ms:.3f} ms/doc ({dedup_source}) = {dedup_hours:,.0f} core-hours; tokenization at "
          f"{TOKENS_PER_CORE_S / 1e6:.1f}M tokens/s per core (field notes), {dump.tokens_per_doc:g} tokens/doc = "
          f"{token_hours:,.0f} core-hours")
    total = core_hours + dedup_hours + token_hours
    print(f"  total {total:,.0f} core-hours = {total / dump.cores:,.0f} node-hours of {dump.cores} cores, whatever N:")
    shard_s = pages_per_warc * dump.cpu_ms_per_page / 1e3
    for n in dump.nodes:
        workers = n * dump.cores
        print(f"  {n:>5} nodes: {total / dump.cores / n:,.1f} h if the work spreads evenly ({workers:,} workers, "
              f"{workers / shard_s:,.1f} WARC shards finishing per second)")

    # The driver.
    runs = results.get("driver", {})
    ray = driver_per_shard(runs, "ray")
    event_ms = _event_ms(results)
    if ray:
        kb = max(ray.get("marginal_kb_per_shard", 0.0), ray.get("marginal_peak_kb_per_shard", 0.0),
                 ray["kb_per_shard"][-1])
        ms = max(ray.get("marginal_ms_per_shard", 0.0), ray["ms_per_shard"][-1])
        events = math.ceil(pages_per_warc / WARC_BATCH_DOCS)
        per_warc_ms = ms + events * event_ms
        print(f"- driver memory: {kb:.2f} KB per shard (the largest of the marginal, marginal-peak and whole-run "
              f"figures on Ray) -> {kb * dump.warcs / 1024:,.0f} MB for {dump.warcs:,} shards over its "
              f"{ray['rss_start_mb']:.0f} MB with Ray started")
        print(f"- driver CPU: {ms:.3f} ms per one-batch shard, {event_ms:.3f} ms per further progress event; a WARC "
              f"of {pages_per_warc:,.0f} pages is {events} batches of {WARC_BATCH_DOCS} -> {per_warc_ms:.0f} ms per "
              f"WARC shard, {per_warc_ms * dump.warcs / 1e3 / 60:,.0f} CPU-minutes in the first streaming phase")
        # Each event is one ray.wait over every running shard's ref (ray_executor.stream): its cost grows with
        # the cluster. Linear in the refs, from the largest count measured (none ready: workers busy).
        wait = results.get("wait", {})
        wait_ms_per_ref = 0.0
        if wait:
            largest = max(wait, key=int)
            wait_ms_per_ref = wait[largest]["none_ready_ms"] / int(largest)
            print(f"  one ray.wait over {int(largest):,} running shards' refs: {wait[largest]['none_ready_ms']:.2f} ms "
                  f"of driver CPU ({wait[min(wait, key=int)]['none_ready_ms']:.3f} ms over {min(wait, key=int)}), "
                  f"one per event (events + 1 per shard)")
        for n in dump.nodes:
            running = n * dump.cores
            rate = running / shard_s
            wait_ms = wait_ms_per_ref * running
            with_progress = per_warc_ms + (events + 2) * wait_ms
            records_only = ms + 3 * wait_ms
            print(f"  {n:>5} nodes: {rate:.1f} WARC shards/s, each {with_progress:.0f} ms of driver CPU: the driver "
                  f"{rate * with_progress / 1e3:.0%} busy ({rate * records_only / 1e3:.0%} if a shard sent only its "
                  "record)")

    # Objects.
    if recipe:
        r = next(iter(recipe.values()))
        per_shard_folders = [folder for folder, n in r["files"].items() if n == r["inputs"]]
        per_shard = len(per_shard_folders)
        partitions = math.ceil(kept / DEDUP_DOCS_PER_PARTITION)
        per_partition = 0.0
        if dedup_runs:
            d = max(dedup_runs, key=lambda r: r["docs"])
            per_partition = (d["files_written"] - DEDUP_FILES_PER_SOURCE * d["sources"]) / d["partitions"]
        token_shards = math.ceil(tokens / dump.shard_tokens)
        objects = per_shard * dump.warcs + per_partition * partitions + token_shards
        print(f"- objects: {per_shard} per shard (the recipe run's folders with one file per input: "
              f"{', '.join(per_shard_folders)}) = {per_shard * dump.warcs:,}; dedup's partition rounds "
              f"{per_partition:.0f} files per partition x {partitions:,} partitions of "
              f"{DEDUP_DOCS_PER_PARTITION:,} docs = {per_partition * partitions:,.0f} (bench_dedup; more with more "
              f"star steps); {token_shards:,} token shards of {dump.shard_tokens / 1e6:.0f}M tokens: "
              f"~{objects / 1e6:.1f}M objects")


def _event_ms(results: dict[str, Any]) -> float:
    """Driver CPU per progress event beyond a one-batch shard's, on Ray (0 where not measured)."""
    single = results.get("driver", {})
    for r in results.get("driver_events", {}).values():
        if r["engine"] != "ray":
            continue
        base = single.get(f"driver-ray-{r['inputs']}")
        extra = (r["events"] - base["events"]) / r["inputs"] if base else 0
        if base and extra > 0:  # workers send progress at most every 10 s: short shards send none
            return (_driver_process_cpu(r) - _driver_process_cpu(base)) / r["inputs"] / extra * 1e3
    return 0.0


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "child":
        spec = json.loads(Path(sys.argv[2]).read_text())
        Path(sys.argv[3]).write_text(json.dumps(child(spec)))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["all", "driver", "wait", "recipe", "write", "globals", "project"])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="inputs, outputs and logs")
    parser.add_argument("--json", type=Path, help="results file (default WORK/results.json)")
    parser.add_argument("--shards", type=int, nargs="*", default=[2000, 20000])
    parser.add_argument("--engines", nargs="+", choices=["local", "ray"], default=["local", "ray"])
    parser.add_argument("--docs-per-shard", type=int, default=4)
    parser.add_argument("--text-chars", type=int, default=1500)
    parser.add_argument("--batches", type=int, default=16,
                        help="also a run of shards of this many batches: the driver's cost per progress event")
    parser.add_argument("--diagnose", type=int, default=0, metavar="SHARDS",
                        help="also a traced and profiled driver run of SHARDS shards per engine: where its memory "
                             "and time go")
    parser.add_argument("--refs", type=int, nargs="+", default=[2, 64, 1000, 6400],
                        help="wait: refs per ray.wait (6,400: 100 nodes of 64 workers)")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--warcs", type=int, default=8)
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-local", action="store_true", help="recipe: skip the in-process run")
    parser.add_argument("--megabytes", type=float, default=200)
    parser.add_argument("--text-files", type=int, default=8)
    parser.add_argument("--dedup-docs", type=int, nargs="*", default=[100_000])
    parser.add_argument("--token-docs", type=int, nargs="*", default=[100_000])
    parser.add_argument("--dump-warcs", type=int, default=90_000)
    parser.add_argument("--dump-pages", type=float, default=2.5e9)
    parser.add_argument("--nodes", type=int, nargs="+", default=[10, 100, 500])
    parser.add_argument("--cores-per-node", type=int, default=64)
    parser.add_argument("--cpu-ms-per-page", type=float, default=24.0)
    parser.add_argument("--kept-share", type=float, default=0.22)
    parser.add_argument("--tokens-per-doc", type=float, default=1000)
    parser.add_argument("--shard-tokens", type=float, default=1e8)
    args = parser.parse_args()
    bench = Bench(args.work, args.json or args.work / "results.json")
    if args.part != "project":
        _become_subreaper()  # Ray's daemons and workers are reaped here: their CPU counts
    random.seed(0)
    if args.part in ("all", "driver"):
        bench.driver(args.shards, args.engines, args.docs_per_shard, args.text_chars, args.batches, args.diagnose)
    if args.part in ("all", "wait"):
        bench.wait(args.refs, args.repeats)
    if args.part in ("all", "recipe"):
        bench.recipe(args.warcs, args.pages, args.workers, not args.no_local)
    if args.part in ("all", "write"):
        bench.write(args.megabytes, args.text_files)
    if args.part in ("all", "globals"):
        bench.globals(args.dedup_docs, args.token_docs)
    project(bench.results, Dump(args.dump_warcs, args.dump_pages, args.nodes, args.cores_per_node,
                                args.cpu_ms_per_page, args.kept_share, args.tokens_per_doc, args.shard_tokens))


if __name__ == "__main__":
    main()
