"""Node ids: one int64 per document that says where it lives and which document of a cluster is kept.

Layout (63 bits): ``priority | source | row``. ``source`` indexes the stage's sources (input shards,
then the shards of a reference index) and ``row`` the row within it; their widths are the fewest bits
that hold this run's source count and largest shard (:meth:`NodeLayout.fitting`), and the priority gets
the rest, up to 22 bits. Clusters keep their smallest node, so ``priority`` implements the keep rule: 0
for a reference index (a later crawl never re-admits what an earlier one holds), then 1 for "first"
(input order), or ``1 + (cap - length)`` for "longest". Bucket centres and component labels are minima
too, so no round needs to look up a document's length or position.

Node ids are also what the rounds partition by: :func:`partition_of` hashes them, so a partition's share
of the documents does not depend on which shard they came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fineweb_pipe.dedup.signatures import U64, fmix64

ID_BITS = 63  # non-negative int64
MAX_PRIORITY_BITS = 22  # lengths up to 4M characters are told apart under keep="longest"
KEEP_RULES = ("first", "longest")


def _bits(count: int) -> int:
    """Bits that hold the numbers ``0 .. count - 1`` (at least one)."""
    return max(1, (count - 1).bit_length())


@dataclass(frozen=True)
class NodeLayout:
    source_bits: int
    row_bits: int

    @classmethod
    def fitting(cls, sources: int, max_rows: int) -> NodeLayout:
        """The layout for ``sources`` sources of at most ``max_rows`` rows; an error if no priority bit is
        left (for example 10 million sources leave room for shards of up to 2**38 rows)."""
        layout = cls(_bits(sources), _bits(max_rows))
        if layout.source_bits + layout.row_bits > ID_BITS - 1:
            raise ValueError(
                f"{sources} sources of up to {max_rows} rows need {layout.source_bits} + {layout.row_bits} bits of "
                f"node id, more than the {ID_BITS - 1} there are: merge the smallest input shards into fewer "
                "files, or split the largest")
        return layout

    @property
    def priority_bits(self) -> int:
        return min(MAX_PRIORITY_BITS, ID_BITS - self.source_bits - self.row_bits)

    @property
    def max_priority(self) -> int:
        return (1 << self.priority_bits) - 1

    def priorities(self, rule: str, lengths: np.ndarray) -> np.ndarray:
        """Priority of each document of an input shard under ``rule`` (smaller is kept). Under "longest",
        lengths past ``max_priority - 1`` characters count as equal (input order decides)."""
        if rule == "first":
            return np.ones(len(lengths), dtype=np.int64)
        if rule == "longest":
            cap = self.max_priority - 1
            return 1 + (cap - np.minimum(lengths.astype(np.int64), cap))
        raise ValueError(f"unknown keep rule {rule!r}: use one of {KEEP_RULES}")

    def encode(self, priority: np.ndarray, source: int, rows: np.ndarray) -> np.ndarray:
        if source >= 1 << self.source_bits or (len(rows) and rows.max() >= 1 << self.row_bits):
            raise ValueError(f"source {source} with {len(rows)} rows does not fit {self}: its row count changed "
                             "since the run counted it; rerun with a fresh work folder")
        return ((priority.astype(np.int64) << (self.source_bits + self.row_bits)) | (source << self.row_bits)
                | rows.astype(np.int64))

    def source_of(self, nodes: np.ndarray) -> np.ndarray:
        return (nodes >> self.row_bits) & ((1 << self.source_bits) - 1)

    def row_of(self, nodes: np.ndarray) -> np.ndarray:
        return nodes & ((1 << self.row_bits) - 1)


def partition_of(nodes: np.ndarray, partitions: int) -> np.ndarray:
    """Hash partition of each node id (or of any int64 key) in ``[0, partitions)``."""
    return (fmix64(nodes.astype(U64)) % U64(partitions)).astype(np.int64)


def lookup(keys: np.ndarray, wanted: np.ndarray, what: str) -> np.ndarray:
    """The index in ``keys`` (unique node ids) of each of ``wanted``; every one must be there."""
    if len(wanted) == 0:
        return np.zeros(0, np.int64)
    order = np.argsort(keys, kind="stable")
    at = order[np.minimum(np.searchsorted(keys[order], wanted), max(len(keys) - 1, 0))] if len(keys) else None
    if at is None or not np.array_equal(keys[at], wanted):
        raise RuntimeError(f"{what}: node ids missing from their partition; the work folder is incomplete or "
                           "from another run: delete it and rerun")
    return at
