"""Readers turn input files into document batches; ``reader_for`` picks one by file name."""

from __future__ import annotations

import fnmatch

from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.readers.base import Reader
from fineweb_pipe.readers.jsonl import JsonlReader
from fineweb_pipe.readers.parquet import ParquetReader
from fineweb_pipe.readers.warc import WarcReader, WetReader

# WET before WARC: "x.warc.wet.gz" matches both.
READERS: tuple[type[Reader], ...] = (WetReader, WarcReader, JsonlReader, ParquetReader)


# Internet Archive ARC (Common Crawl before 2013): not read. Its records are not WARC records (FastWARC
# has no ARC parser), and converting once (warcio's `warcio recompress`, jwarc's `arc2warc`) gives files
# every WARC tool reads, with record ids, where parsing here would give documents without them.
ARC_PATTERNS = ("*.arc", "*.arc.gz")


def reader_for(path: str) -> Reader:
    """The reader for a file, by its name; an error lists the names understood."""
    name = path.rsplit("/", 1)[-1]
    if any(fnmatch.fnmatch(name, pattern) for pattern in ARC_PATTERNS):
        raise ConfigurationError(f"{path}: ARC files are not read; convert them to WARC first (e.g. "
                                 "`warcio recompress in.arc.gz out.warc.gz`) and give the .warc.gz files")
    for reader in READERS:
        if any(fnmatch.fnmatch(name, pattern) for pattern in reader.patterns):
            return reader()
    raise ConfigurationError(f"no reader for {path!r}: name it like one of {known_patterns()}, or give the "
                             "pipeline a reader")


def known_patterns() -> list[str]:
    """The file names some reader takes."""
    return [p for r in READERS for p in r.patterns]


__all__ = ["JsonlReader", "ParquetReader", "Reader", "WarcReader", "WetReader", "known_patterns", "reader_for"]
