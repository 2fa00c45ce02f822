"""Peak memory of reading a large WARC does not grow with the file: read two generated files (N and 4N
pages, per-record gzip, each with a 50 MB page in it) in child processes and print each one's peak RSS.

    .venv/bin/python benchmarks/bench_memory.py --pages 20000 --folder /tmp/fwp-mem
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import time

from fineweb_pipe.readers import WarcReader
from fineweb_pipe.sample.bad_crawl import HUGE_PAGE_BYTES, _Writer, http
from fineweb_pipe.stats import ReaderCounts


def write_large_warc(path: str, pages: int, seed: int = 0) -> int:
    """``pages`` sample pages (repeated from a pool, per-record gzip) with one 50 MB page in the middle."""
    writer = _Writer(seed)
    pool = [gzip.compress(writer.good()[1], compresslevel=1, mtime=0) for _ in range(200)]
    huge = writer.record("https://huge.example.org/", http("text/html", b"<p>" + b"x" * HUGE_PAGE_BYTES))
    with open(path, "wb") as f:
        for i in range(pages):
            f.write(pool[i % len(pool)])
            if i == pages // 2:
                f.write(gzip.compress(huge, compresslevel=1, mtime=0))
    return os.path.getsize(path)


def read_and_report(path: str) -> None:
    """Child: read every document, print documents, decompressed bytes and peak RSS."""
    counts = ReaderCounts()
    started = time.perf_counter()
    docs = sum(table.num_rows for table in WarcReader().iter_batches(path, counts))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{docs} docs, {counts.bytes / 1e9:.2f} GB of HTML, errors {dict(counts.errors)}, "
          f"{time.perf_counter() - started:.1f} s, peak RSS {peak_mb:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20000)
    parser.add_argument("--folder", default="/tmp/fwp-bench-memory")
    parser.add_argument("--read", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        read_and_report(args.read)
        return
    os.makedirs(args.folder, exist_ok=True)
    for pages in (args.pages, 4 * args.pages):
        path = os.path.join(args.folder, f"large-{pages}.warc.gz")
        size = write_large_warc(path, pages)
        print(f"{pages} pages, {size / 1e9:.2f} GB compressed: ", end="", flush=True)
        subprocess.run([sys.executable, __file__, "--read", path], check=True)
        os.remove(path)


if __name__ == "__main__":
    main()
