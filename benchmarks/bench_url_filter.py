"""URL filter at UT1 scale: a synthetic 4.5M-domain list, compiled once, mapped by every worker.

Prints: the one-time build (parse, hash, sort, write), the load time and memory of a worker that maps
the compiled list (private vs shared page-cache memory) next to one that holds the list as a Python set,
and URLs/s through ``UrlFilter.process``. Workers are fresh spawned processes, as on Ray.

    .venv/bin/python benchmarks/bench_url_filter.py [--domains 4500000] [--urls 200000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import tempfile
import time
from pathlib import Path

import pyarrow as pa

from fineweb_pipe.stages.url import UrlFilter

TLDS = ("com", "net", "org", "info", "biz", "de", "fr", "co.uk", "ru", "xyz", "io", "com.br")


def memory_mb() -> dict[str, float]:
    """RSS split into private (anonymous) and file-backed (shared page cache) memory, in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def write_domains(path: Path, n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    domains = [f"{''.join(rng.choices(letters, k=rng.randint(5, 14)))}{i}.{rng.choice(TLDS)}" for i in range(n)]
    path.write_text("\n".join(domains) + "\n")
    return domains


def worker_mapped(domain_file: str, cache_dir: str, queue: multiprocessing.Queue) -> None:
    before = memory_mb()
    started = time.perf_counter()
    stage = UrlFilter(domain_lists=[domain_file], cache_dir=cache_dir)
    stage.setup()
    stage.decide(pa.table({"url": ["https://example.com/"]}))  # includes tldextract's lazy snapshot load
    load_s = time.perf_counter() - started
    int(stage._domains.hashes.sum())  # touch every page, as a long run of lookups eventually does
    after = memory_mb()
    queue.put((load_s, {k: after[k] - before[k] for k in after}))


def worker_set(domain_file: str, queue: multiprocessing.Queue) -> None:
    before = memory_mb()
    started = time.perf_counter()
    with open(domain_file, encoding="utf-8") as f:
        domains = {line.strip() for line in f}
    load_s = time.perf_counter() - started
    after = memory_mb()
    queue.put((load_s, {k: after[k] - before[k] for k in after}, len(domains)))


def in_worker(target, *args) -> tuple:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=4_500_000)
    parser.add_argument("--urls", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        domain_file, cache_dir = Path(tmp) / "domains", Path(tmp) / "cache"
        started = time.perf_counter()
        domains = write_domains(domain_file, args.domains)
        print(f"synthetic list: {args.domains:,} domains, {domain_file.stat().st_size / 1e6:.0f} MB "
              f"(written in {time.perf_counter() - started:.1f} s)")

        started = time.perf_counter()
        stage = UrlFilter(domain_lists=[domain_file], cache_dir=cache_dir)
        stage.setup()
        compiled = next(cache_dir.glob("domains-*.npy"))
        print(f"build (once per machine and list version): {time.perf_counter() - started:.2f} s, "
              f"{compiled.stat().st_size / 1e6:.0f} MB compiled file")

        for i in range(args.workers):
            load_s, delta = in_worker(worker_mapped, str(domain_file), str(cache_dir))
            print(f"worker {i} mapped: load + first URL {load_s * 1e3:.0f} ms, RSS +{delta['VmRSS']:.0f} MB "
                  f"(private +{delta['RssAnon']:.0f} MB, shared page cache +{delta['RssFile']:.0f} MB)")
        load_s, delta, n = in_worker(worker_set, str(domain_file))
        print(f"worker with a Python set of {n:,} domains: load {load_s:.2f} s, RSS +{delta['VmRSS']:.0f} MB "
              f"(private +{delta['RssAnon']:.0f} MB), per worker process")

        rng = random.Random(1)
        urls = [f"https://{'www.' if rng.random() < 0.5 else ''}"
                f"{rng.choice(domains) if rng.random() < 0.05 else f'site{rng.randrange(10**9)}.com'}"
                f"/{rng.choice(['news', 'blog', 'shop'])}/{rng.randrange(10**6)}.html" for _ in range(args.urls)]
        batches = [pa.table({"url": urls[i:i + 1000]}) for i in range(0, len(urls), 1000)]
        started = time.perf_counter()
        dropped = sum(stage.process(b).dropped.num_rows for b in batches)
        elapsed = time.perf_counter() - started
        print(f"filter: {len(urls) / elapsed:,.0f} URLs/s ({len(urls):,} URLs, {dropped:,} blocked, batches of 1000)")


if __name__ == "__main__":
    main()
