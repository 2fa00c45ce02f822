"""Peak memory of a block of code, for the readers' bounded-memory tests."""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def peak_allocated() -> Iterator[Callable[[], int]]:
    """Yields a function giving the most bytes allocated at once inside the block (Python's allocator,
    which bytes objects, decompressors' output and Arrow's conversions from Python go through)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = [0]
    try:
        yield lambda: result[0]
    finally:
        result[0] = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
