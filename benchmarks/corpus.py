"""A larger WARC corpus from the bench WARCs, for throughput runs where start-up costs amortize.

Every response record of the inputs is written ``copies`` times, each copy with its own target URI
(``...#copy-K`` would be stripped by URL normalization, so a ``copy=K`` query parameter) and record
id, spread round-robin over ``files`` per-record-gzip WARC files so that file-parallel engines
(datatrove assigns whole files to tasks) get balanced work. Payloads are byte-identical to the
source records, so per-page extraction costs match the originals. ``skip_ids`` leaves records out by
their original record id (to compare frameworks on the records both of their readers read).

    python benchmarks/corpus.py OUT --copies 4 --files 8 ../shared/data/warc/bench-*.warc.gz
"""

from __future__ import annotations

import argparse
import gzip
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from fastwarc.warc import ArchiveIterator, WarcRecordType

from fineweb_pipe.readers.files import open_binary

_NAMESPACE = uuid.UUID("6b1e0a52-3c5e-4d55-9a5e-8f0a3f1b2c10")


def _with_copy(url: str, copy: int) -> str:
    base, _, fragment = url.partition("#")
    joined = f"{base}{'&' if '?' in base else '?'}copy={copy}"
    return f"{joined}#{fragment}" if fragment else joined


def _responses(path: str) -> Iterator[tuple[list[tuple[str, str]], bytes]]:
    with open_binary(path) as stream:
        for record in ArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=False):
            yield list(record.headers.astuples()), record.reader.read()


def _record(headers: list[tuple[str, str]], payload: bytes, copy: int) -> bytes:
    lines = ["WARC/1.0"]
    for name, value in headers:
        if name == "WARC-Target-URI":
            value = _with_copy(value, copy)
        elif name == "WARC-Record-ID":
            value = f"<urn:uuid:{uuid.uuid5(_NAMESPACE, f'{value}/{copy}')}>"
        elif name == "Content-Length":
            value = str(len(payload))
        lines.append(f"{name}: {value}")
    return gzip.compress("\r\n".join(lines).encode() + b"\r\n\r\n" + payload + b"\r\n\r\n", compresslevel=1)


def generate(out: Path, inputs: Sequence[str], copies: int, files: int,
             skip_ids: frozenset[str] = frozenset()) -> list[Path]:
    """Write the corpus (skipped when a finished one is there) and return its files."""
    paths = [out / f"corpus-{i:03d}.warc.gz" for i in range(files)]
    done = out / "_done"
    spec = f"{list(inputs)} {copies} {files}" + (f" skip {sorted(skip_ids)}" if skip_ids else "")
    if done.exists() and done.read_text() == spec:
        return paths
    out.mkdir(parents=True, exist_ok=True)
    sinks = [open(p, "wb") for p in paths]
    try:
        n = 0
        for copy in range(copies):
            for path in inputs:
                for headers, payload in _responses(path):
                    if dict(headers).get("WARC-Record-ID") in skip_ids:
                        continue
                    sinks[n % files].write(_record(headers, payload, copy))
                    n += 1
    finally:
        for sink in sinks:
            sink.close()
    if n == 0:
        raise ValueError(f"no response records in {list(inputs)}")
    done.write_text(spec)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--files", type=int, default=8)
    args = parser.parse_args()
    paths = generate(args.out, args.inputs, args.copies, args.files)
    print(f"wrote {len(paths)} files to {args.out}")


if __name__ == "__main__":
    main()
