"""The engine's overhead: no-op stages over the bench WARC files, against a plain loop over the reader.

All runs happen in this one process, one after another, on the same input, so the ratios hold even
on a busy machine. The plain loop is what one would write by hand: read each file, apply the no-op
stages, write one zstd Parquet file per input. The engine does the same work plus its bookkeeping
(chunk accounting, parts, atomic commits, stats).

    python benchmarks/bench_engine.py [--copies 4] [--stages 3]
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import schema
from fineweb_pipe.engine.local import LocalExecutor
from fineweb_pipe.engine.ray_executor import RayExecutor
from fineweb_pipe.engine.runner import Runner
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.readers import WarcReader
from fineweb_pipe.stage import Transform
from fineweb_pipe.stats import ReaderCounts

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "warc"


class NoOp(Transform):
    def transform(self, batch: pa.Table) -> pa.Table:
        return batch


def plain_loop(files: list[str], stages: int, output: Path) -> int:
    reader, noop, docs = WarcReader(), NoOp(), 0
    output.mkdir(parents=True)
    for n, path in enumerate(files):
        with pq.ParquetWriter(output / f"{n}.parquet", schema.WARC_SCHEMA, compression="zstd") as writer:
            for batch in reader.iter_batches(path, ReaderCounts()):
                for _ in range(stages):
                    batch = noop(batch).kept
                writer.write_table(batch)
                docs += batch.num_rows
    return docs


def timed(label: str, fn, docs_hint: int | None = None) -> tuple[float, float, int]:
    wall, cpu = time.perf_counter(), time.process_time()
    docs = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<34} {wall:8.2f} s wall {cpu:8.2f} s driver CPU {docs / wall:10,.0f} docs/s")
    return wall, cpu, docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=4, help="copies of each bench file (more input, same pages)")
    parser.add_argument("--stages", type=int, default=3, help="no-op stages in the pipeline")
    args = parser.parse_args()
    sources = sorted(glob.glob(str(SHARED / "bench-*.warc.gz")))
    if not sources:
        raise SystemExit(f"bench WARC files not found under {SHARED}")
    work = Path(tempfile.mkdtemp(prefix="fwp-bench-"))
    try:
        files = []
        for copy in range(args.copies):
            for src in sources:
                dst = work / "input" / f"{Path(src).stem}-{copy}.warc.gz"
                dst.parent.mkdir(exist_ok=True)
                os.link(src, dst) if os.stat(src).st_dev == os.stat(work).st_dev else shutil.copy(src, dst)
                files.append(str(dst))
        pipeline = Pipeline([NoOp().named(f"noop_{i}") for i in range(args.stages)], name="noop")
        print(f"input: {len(files)} files ({sum(os.path.getsize(f) for f in files) / 1e6:.0f} MB gz), "
              f"{args.stages} no-op stages, {os.cpu_count()} CPUs")
        loop_wall, _, docs = timed("plain loop: read, stages, write", lambda: plain_loop(files, args.stages, work / "loop"))

        def run(executor, name: str) -> int:
            with executor:
                stats = Runner(pipeline, files, str(work / name), executor, show_progress=False).run()
            return stats["stages"][-1]["docs_out"]

        local_wall, _, local_docs = timed("local executor (in-process)", lambda: run(LocalExecutor(), "local"))
        started = time.perf_counter()
        ray_executor = RayExecutor(workers=os.cpu_count())
        init_s = time.perf_counter() - started
        print(f"{'ray.init (embedded)':<34} {init_s:8.2f} s")
        ray_wall, _, ray_docs = timed(f"ray executor, {ray_executor.workers} workers", lambda: run(ray_executor, "ray"))
        assert docs == local_docs == ray_docs, (docs, local_docs, ray_docs)
        print(f"\ndocuments: {docs:,}")
        print(f"local engine overhead over the plain loop: {100 * (local_wall / loop_wall - 1):+.1f} %")
        print(f"ray engine, {ray_executor.workers} workers, wall vs the single-process loop: {ray_wall / loop_wall:.2f}x "
              f"({loop_wall / ray_wall:.2f}x speed-up); ray.init not included")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
