"""Reader speed per format on the same documents, next to what the bytes alone cost to read.

    python benchmarks/bench_readers.py [--mb 30] [--repeat 5] [--warc ../shared/data/warc/bench-*.warc.gz]

Writes the same generated documents as .warc.gz (HTML responses), .wet.gz, .jsonl, .jsonl.gz,
.jsonl.zst and Parquet into a temporary folder, then reads each with its reader and with a baseline:
a plain buffered read of the same (decompressed) bytes, ``json.loads`` per line over a buffered file for
JSONL, and FastWARC's own iteration (its gzip stream, every record's content read) for WARC/WET.
Rates are per CPU second of this process (one core): MB of decompressed input and documents. Each reader,
its baseline and the plain read run in turn ``--repeat`` times; rates are medians, and reader/baseline is the
median of the ratios of each turn (a shared machine's load changes between turns, less within one).
``--warc`` adds real WARC files, each read by the WARC reader against FastWARC's iteration in the same way.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from fastwarc.warc import ArchiveIterator

from fineweb_pipe.readers import JsonlReader, ParquetReader, WarcReader, WetReader
from fineweb_pipe.readers.files import open_binary
from fineweb_pipe.stats import ReaderCounts


def documents(total_bytes: int, seed: int = 1) -> list[str]:
    """Texts of 2-20 kB of words (a few accented), ``total_bytes`` in all."""
    rng = random.Random(seed)
    words = [rng.choice(["the", "of", "and", "data", "crawl", "café", "naïve", "pipeline", "web", "text"])
             + str(rng.randrange(100)) for _ in range(5000)]
    texts, size = [], 0
    while size < total_bytes:
        n = rng.randrange(300, 3000)
        text = "\n".join(" ".join(rng.choices(words, k=20)) + "." for _ in range(n // 20))
        texts.append(text)
        size += len(text.encode())
    return texts


def _warc_record(kind: str, uri: str, n: int, block: bytes, content_type: str) -> bytes:
    header = (f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: {uri}\r\nWARC-Date: 2024-01-01T00:00:00Z\r\n"
              f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{n:012d}>\r\nContent-Type: {content_type}\r\n"
              f"Content-Length: {len(block)}\r\n\r\n")
    return gzip.compress(header.encode() + block + b"\r\n\r\n", compresslevel=6)


def write_inputs(folder: Path, texts: list[str]) -> dict[str, Path]:
    paths = {name: folder / f"docs{name}" for name in
             (".warc.gz", ".wet.gz", ".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet")}
    with paths[".warc.gz"].open("wb") as warc, paths[".wet.gz"].open("wb") as wet:
        for n, text in enumerate(texts):
            uri = f"http://example.com/{n}"
            html = ("<html><head><title>t</title></head><body><p>" + text.replace("\n", "</p><p>")
                    + "</p></body></html>").encode()
            http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html
            warc.write(_warc_record("response", uri, n, http, "application/http; msgtype=response"))
            wet.write(_warc_record("conversion", uri, n, text.encode(), "text/plain"))
    lines = "".join(json.dumps({"id": str(n), "url": f"http://example.com/{n}", "text": text}, ensure_ascii=False)
                    + "\n" for n, text in enumerate(texts)).encode()
    paths[".jsonl"].write_bytes(lines)
    paths[".jsonl.gz"].write_bytes(gzip.compress(lines, compresslevel=6))
    paths[".jsonl.zst"].write_bytes(zstandard.compress(lines))
    pq.write_table(pa.table({"id": [str(n) for n in range(len(texts))], "text": texts}), paths[".parquet"])
    return paths


def cpu_seconds(fns: list[Callable[[], int]], repeat: int) -> list[list[float]]:
    """CPU seconds of this process for each of ``fns``, run in turn ``repeat`` times (alternating, so that
    a change in the machine's load hits all of them alike): one list of times per function."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, spent in zip(fns, times):
            start = time.process_time()
            fn()
            spent.append(time.process_time() - start)
    return times


def read_with(reader: Callable[[], object], path: Path) -> Callable[[], int]:
    def run() -> int:
        counts = ReaderCounts()
        return sum(t.num_rows for t in reader().iter_batches(str(path), counts))  # type: ignore[attr-defined]
    return run


def buffered_read(path: Path) -> Callable[[], int]:
    def run() -> int:
        stream = io.BufferedReader(open_binary(str(path)), 1 << 20)  # type: ignore[arg-type]
        size = 0
        while chunk := stream.read(1 << 20):
            size += len(chunk)
        stream.close()
        return size
    return run


def json_loads_lines(path: Path) -> Callable[[], int]:
    def run() -> int:
        stream = io.BufferedReader(open_binary(str(path)), 1 << 20)  # type: ignore[arg-type]
        n = sum(1 for line in stream if json.loads(line))
        stream.close()
        return n
    return run


def fastwarc_iteration(path: Path) -> Callable[[], int]:
    def run() -> int:
        n = 0
        for record in ArchiveIterator(str(path), parse_http=False):  # its own file and gzip streams
            record.reader.read()
            n += 1
        return n
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=float, default=30, help="MB of document text (default 30)")
    parser.add_argument("--repeat", type=int, default=5, help="turns of each, medians kept (default 5)")
    parser.add_argument("--warc", nargs="*", default=[], type=Path, help="real WARC files to measure too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        texts = documents(int(args.mb * 1e6))
        paths = write_inputs(Path(tmp), texts)
        print(f"{len(texts)} documents, {sum(len(t.encode()) for t in texts) / 1e6:.1f} MB of text; "
              "rates per CPU second (one core), MB of decompressed input")
        readers: dict[str, tuple[Callable[[], object], str, Callable[[Path], Callable[[], int]]]] = {
            ".warc.gz": (WarcReader, "FastWARC iteration", fastwarc_iteration),
            ".wet.gz": (WetReader, "FastWARC iteration", fastwarc_iteration),
            ".jsonl": (JsonlReader, "json.loads, buffered lines", json_loads_lines),
            ".jsonl.gz": (JsonlReader, "json.loads, buffered lines", json_loads_lines),
            ".jsonl.zst": (JsonlReader, "json.loads, buffered lines", json_loads_lines),
            ".parquet": (ParquetReader, "pyarrow read_table", lambda p: lambda: pq.read_table(p).num_rows),
        }
        measured = [(name, paths[name], *reader) for name, reader in readers.items()]
        measured += [(path.name, path, *readers[".warc.gz"]) for path in args.warc]
        width = max(len(name) for name, *_ in measured)
        print(f"{'format':{width}} {'reader MB/s':>11} {'docs/s':>9} {'baseline':28} {'MB/s':>7} {'reader/baseline':>15}")
        for name, path, reader, baseline_name, baseline in measured:
            size = path.stat().st_size if name == ".parquet" else buffered_read(path)()
            docs = read_with(reader, path)()
            ours, base, plain = cpu_seconds([read_with(reader, path), baseline(path), buffered_read(path)], args.repeat)
            ratio = statistics.median(o / b for o, b in zip(ours, base))
            seconds, base_seconds = statistics.median(ours), statistics.median(base)
            print(f"{name:{width}} {size / 1e6 / seconds:11.1f} {docs / seconds:9.0f} {baseline_name:28} "
                  f"{size / 1e6 / base_seconds:7.1f} {ratio:14.2f}x"
                  f"   (plain buffered read {size / 1e6 / statistics.median(plain):.0f} MB/s)")


if __name__ == "__main__":
    main()
