"""A set of strings stored as a sorted array of 64-bit hashes in a file that workers memory-map.

Block lists run to millions of entries (UT1: 4.5M domains). Held as a Python set they cost hundreds of
MB in every worker process; as a sorted ``uint64`` array in a ``.npy`` file mapped read-only, the pages
live once in the OS page cache and every worker on the machine shares them. Membership is a vectorised
``np.searchsorted``. Two different strings share a 64-bit hash with probability ~n/2^64 per lookup
(about 2.5e-13 for 4.5M entries): a false block is that rare.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable

import numpy as np
import xxhash


def hash_entries(entries: Iterable[bytes]) -> np.ndarray:
    """xxh3-64 of each entry, as ``uint64``."""
    return np.fromiter((xxhash.xxh3_64_intdigest(e) for e in entries), dtype=np.uint64)


def hash_strings(entries: Iterable[str]) -> np.ndarray:
    return hash_entries(e.encode("utf-8", "surrogatepass") for e in entries)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values. ``np.unique`` would do, but numpy 2.3+ takes a hash-table path for it that
    is ~10x slower than a sort on millions of 64-bit values."""
    values = np.sort(values)
    if len(values) == 0:
        return values
    return values[np.concatenate(([True], values[1:] != values[:-1]))]


class MappedHashSet:
    """Read-only membership over a sorted hash array (usually a memory-mapped ``.npy`` file)."""

    def __init__(self, hashes: np.ndarray) -> None:
        self.hashes = hashes

    @classmethod
    def open(cls, path: str) -> MappedHashSet:
        return cls(np.load(path, mmap_mode="r"))

    @staticmethod
    def build(hashes: np.ndarray, path: str) -> None:
        """Sort and deduplicate ``hashes`` and write them to ``path`` atomically (readers never see a
        partial file, and concurrent builders of the same set simply replace each other's result)."""
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npy.tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                np.save(out, _sorted_unique(hashes.astype(np.uint64, copy=False)))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise

    def __len__(self) -> int:
        return len(self.hashes)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """Boolean array: which of ``hashes`` are in the set."""
        if len(self.hashes) == 0 or len(hashes) == 0:
            return np.zeros(len(hashes), dtype=bool)
        idx = np.searchsorted(self.hashes, hashes)
        np.minimum(idx, len(self.hashes) - 1, out=idx)
        return np.asarray(self.hashes[idx] == hashes)
