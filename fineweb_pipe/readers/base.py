"""What every reader does: turn one input file (a shard) into a stream of document batches."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar

import pyarrow as pa

from fineweb_pipe.stats import ReaderCounts

DEFAULT_BATCH_DOCS = 256
DEFAULT_BATCH_BYTES = 32 << 20


class Reader(ABC):
    """Reads one file at a time, streaming: batches are yielded as they fill, never the whole file.

    ``batch_docs`` and ``batch_bytes`` bound a batch; a batch closes at whichever comes first. Readers
    count what they read, skip and fail on in ``counts`` as they go; bad input is counted and skipped,
    never raised, unless the whole file cannot be opened (then the error names the file).
    """

    #: glob patterns (fnmatch, on the file name) this reader takes when given a folder
    patterns: tuple[str, ...] = ()
    #: the columns of every batch, where they do not depend on the file: a file that yields no document
    #: still comes out of a pipeline with the columns its documents would have had
    document_schema: ClassVar[pa.Schema | None] = None

    def __init__(self, batch_docs: int = DEFAULT_BATCH_DOCS, batch_bytes: int = DEFAULT_BATCH_BYTES) -> None:
        self.batch_docs = batch_docs
        self.batch_bytes = batch_bytes

    @abstractmethod
    def iter_batches(self, path: str, counts: ReaderCounts) -> Iterator[pa.Table]:
        """Yield the documents of ``path`` as Arrow tables of at most ``batch_docs`` rows."""
