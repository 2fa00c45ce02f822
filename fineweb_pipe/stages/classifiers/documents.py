"""Text documents for training a classifier or sampling a threshold: any text input, a run's output too."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import pyarrow as pa

from fineweb_pipe.engine.inputs import find_inputs
from fineweb_pipe.readers import JsonlReader, ParquetReader, WetReader, reader_for
from fineweb_pipe.stats import ReaderCounts

#: Inputs with text: a WARC has HTML only (run a pipeline with an extractor first and use its output).
TEXT_PATTERNS = (*WetReader.patterns, *JsonlReader.patterns, *ParquetReader.patterns)


def text_files(specs: Sequence[str], exclude: str = os.devnull) -> list[str]:
    """The text files named by ``specs`` (files, folders, globs, URIs), none under ``exclude``; in a run's
    output folder its documents only, not ``removed/`` or ``_work/``."""
    files = find_inputs(specs, TEXT_PATTERNS, exclude).files
    return [f.path for f in files if not any(p == "removed" or p.startswith(("_", "."))
                                             for p in f.key.split("/")[:-1])]


def text_batches(path: str) -> Iterator[pa.Table]:
    """The documents of one text file, as its reader yields them."""
    yield from reader_for(path).iter_batches(path, ReaderCounts())
