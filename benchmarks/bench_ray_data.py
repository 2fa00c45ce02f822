"""The FineWeb recipe's streaming stages on the engine's own actor pool and as a Ray Data program, in one run.

    .venv/bin/python benchmarks/bench_ray_data.py [--files 8] [--pages 500] [--input FILE ...] [--workers 2]

The stages are ``pipelines/fineweb.py``'s up to ``FineWebQualityFilter`` (URL filter, language pre-screen,
trafilatura, LID, Gopher repetition and quality, C4, FineWeb quality), removed documents not kept on either
side. The input is a generated sample crawl (``--files`` WARCs of ``--pages`` pages, ``fineweb-pipe
sample``) unless ``--input`` names files. Sides, each a child process measured from outside
(``compare_datatrove.measure``), all on an embedded Ray of ``--workers`` CPUs:

- ``engine``: ``fineweb-pipe run --engine ray --workers N`` (through ``main_for_pipeline``): a pool of N actors
  taking whole files, per-shard commits, stats, samples;
- ``ray_data``: ``read_documents`` + one ``map_stages`` pool of N actors running every stage (the engine's
  layout) + ``write_parquet``, with a ``StageCounts`` for the stats;
- ``ray_data_per_stage``: the same with a pool per stage (trafilatura N actors, the others one each).

Printed per side: wall seconds (the child's, from before Ray starts to the output written), documents read
per second, the driver's peak RSS (its own ``ru_maxrss``), the process tree's CPU seconds (by process title
too) and peak PSS, and whether the kept document ids equal the engine's.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from compare_datatrove import measure  # noqa: E402

SIDES = ("engine", "ray_data", "ray_data_per_stage")
# Ray Data's pools hold their CPUs for the whole run; reading and writing tasks need some beside them or
# they never start. Fractions that add up to the workers' CPUs.
IO_CPUS = 0.2


def streaming_stages() -> list[Any]:
    """The recipe's stages up to its first global stage, removed documents not kept (same work on both
    sides: Ray Data has no removed folders)."""
    from fineweb_pipe.cli import load_pipeline
    from fineweb_pipe.stage import Stage

    stages = []
    for step in load_pipeline(str(ROOT / "pipelines" / "fineweb.py")).steps:
        if not isinstance(step, Stage):
            break
        stage = copy.copy(step)
        stage.keep_removed = False
        stages.append(stage)
    return stages


def run_engine(inputs: list[str], output: str, workers: int) -> int:
    from fineweb_pipe.cli import main_for_pipeline
    from fineweb_pipe.pipeline import Pipeline

    pipeline = Pipeline(name="fineweb-streaming", steps=streaming_stages())
    rc = main_for_pipeline(pipeline, ["--input", *inputs, "--output", output, "--engine", "ray", "--workers",
                                      str(workers), "--no-report", "--quiet"])
    if rc:
        raise SystemExit(rc)
    stats = json.loads((Path(output) / "stats.json").read_text())
    return int(stats["reader"]["documents"])


def run_ray_data(inputs: list[str], output: str, workers: int, per_stage: bool, ray_temp: str) -> int:
    import logging

    import ray

    ray.init(num_cpus=workers, _temp_dir=ray_temp, include_dashboard=False, logging_level=logging.WARNING,
             # as the engine starts its embedded Ray: no idle workers ahead of need, no metrics export
             _system_config={"enable_worker_prestart": False, "prestart_worker_first_driver": False,
                             "enable_metrics_collection": False})
    from fineweb_pipe.engine.ray_data import StageCounts, map_stages, read_documents

    ray.data.DataContext.get_current().enable_progress_bars = False
    counts = StageCounts()
    docs = read_documents(inputs, counts=counts, num_cpus=IO_CPUS)
    stages = streaming_stages()
    pools = workers - 2 * IO_CPUS
    if per_stage:
        heavy = next(s for s in stages if s.name == "trafilatura_extractor")
        light = (pools / 2) / (len(stages) - 1)  # half the CPUs for the light stages, one actor each
        for stage in stages:
            if stage is heavy:
                docs = map_stages(docs, [stage], concurrency=workers, num_cpus=pools / 2 / workers, counts=counts)
            else:
                docs = map_stages(docs, [stage], num_cpus=light, counts=counts)
    else:
        docs = map_stages(docs, stages, concurrency=workers, num_cpus=pools / workers, counts=counts)
    docs.write_parquet(str(Path(output) / "documents"), ray_remote_args={"num_cpus": IO_CPUS})
    return int(counts.totals()["reader"]["documents"])


def child(args: argparse.Namespace) -> None:
    """One side, in this process: prints a JSON line with its wall time, documents read and peak RSS."""
    ray_temp = tempfile.mkdtemp(prefix="fwp-brd-", dir="/tmp")  # short: Ray's socket paths have a limit
    os.environ.update({"RAY_TMPDIR": ray_temp, "RAY_ADDRESS": ""})
    started = time.perf_counter()
    if args.side == "engine":
        docs = run_engine(args.input, args.output, args.workers)
    else:
        docs = run_ray_data(args.input, args.output, args.workers, args.side == "ray_data_per_stage", ray_temp)
    wall = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps({"wall_s": round(wall, 2), "docs": docs, "driver_peak_rss_mb": round(rss_mb)}))
    if args.side != "engine":
        import ray

        ray.shutdown()
    shutil.rmtree(ray_temp, ignore_errors=True)


def kept_ids(output: str) -> set[str]:
    return set(pads.dataset(str(Path(output) / "documents"), format="parquet").to_table(columns=["id"])["id"]
               .to_pylist())


def sample_crawl(folder: Path, files: int, pages: int) -> list[str]:
    from fineweb_pipe.sample import write_sample_warc

    folder.mkdir(parents=True, exist_ok=True)
    return [write_sample_warc(str(folder / f"part-{i}.warc.gz"), pages=pages, seed=i) for i in range(files)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", nargs="+", help="WARC files (default: a generated sample crawl)")
    parser.add_argument("--files", type=int, default=8, help="sample crawl files")
    parser.add_argument("--pages", type=int, default=500, help="pages per sample crawl file")
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the embedded Ray and actors per pool")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--work", default=None, help="folder for inputs and outputs (default: a temporary one)")
    parser.add_argument("--side", choices=SIDES, help=argparse.SUPPRESS)  # run one side in this process
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        child(args)
        return

    work = Path(args.work or tempfile.mkdtemp(prefix="bench-ray-data-"))
    inputs = [os.path.abspath(p) for p in args.input] if args.input else sample_crawl(work / "crawl", args.files,
                                                                                      args.pages)
    print(f"inputs: {len(inputs)} files, {sum(os.path.getsize(p) for p in inputs) / 2**20:.1f} MB; work: {work}; "
          f"load average {os.getloadavg()[0]:.1f}")
    results: dict[str, dict[str, Any]] = {}
    for side in args.sides:
        output = str(work / side)
        shutil.rmtree(output, ignore_errors=True)
        log = work / f"{side}.log"
        measured = measure([sys.executable, __file__, "--side", side, "--output", output, "--workers",
                            str(args.workers), "--input", *inputs], log)
        line = next(line for line in log.read_text().splitlines() if line.startswith("RESULT "))
        result = json.loads(line.removeprefix("RESULT "))
        result.update(tree_cpu_s=measured.cpu_s, tree_peak_pss_mb=measured.peak_tree_pss_mb,
                      docs_per_s=round(result["docs"] / result["wall_s"], 1), kept=len(kept_ids(output)),
                      cpu_s_by_process=measured.cpu_s_by_process)
        results[side] = result
        print(f"{side:>20}: {result['wall_s']:6.1f} s wall, {result['docs']} docs read, {result['docs_per_s']:6.1f} "
              f"docs/s, driver peak RSS {result['driver_peak_rss_mb']} MB, tree CPU {measured.cpu_s:.1f} s, "
              f"tree peak PSS {measured.peak_tree_pss_mb:.0f} MB, kept {result['kept']}\n{'':>22}CPU s by process: "
              f"{measured.cpu_s_by_process}", flush=True)
    if "engine" in results:
        engine = kept_ids(str(work / "engine"))
        for side in results:
            if side != "engine":
                print(f"{side}: kept ids {'equal' if kept_ids(str(work / side)) == engine else 'DIFFER from'} "
                      "the engine's")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
