"""Node ids: one int64 per document that says where it lives and which document of a cluster is kept.

Layout (63 bits): ``priority`` (22) | ``source`` (18) | ``row`` (23). ``source`` indexes the stage's
sources (input shards, then the shards of a reference index) and ``row`` the row within it. Clusters
keep their smallest node, so ``priority`` implements the keep rule: 0 for a reference index (a later
crawl never re-admits what an earlier one holds), then 1 for "first" (input order), or ``1 + (cap -
length)`` for "longest". Bucket centres and component labels are minima too, so no round needs to look
up a document's length or position.
"""

from __future__ import annotations

import numpy as np

ROW_BITS = 23
SOURCE_BITS = 18
PRIORITY_BITS = 22
MAX_ROWS = 1 << ROW_BITS
MAX_SOURCES = 1 << SOURCE_BITS
MAX_PRIORITY = (1 << PRIORITY_BITS) - 1
KEEP_RULES = ("first", "longest")


def priorities(rule: str, lengths: np.ndarray) -> np.ndarray:
    """Priority of each document of an input shard under ``rule`` (smaller is kept)."""
    if rule == "first":
        return np.ones(len(lengths), dtype=np.int64)
    if rule == "longest":
        return 1 + (MAX_PRIORITY - 1 - np.minimum(lengths.astype(np.int64), MAX_PRIORITY - 1))
    raise ValueError(f"unknown keep rule {rule!r}: use one of {KEEP_RULES}")


def encode(priority: np.ndarray, source: int, rows: np.ndarray) -> np.ndarray:
    if source >= MAX_SOURCES:
        raise ValueError(f"{source + 1} sources exceed the {MAX_SOURCES} a node id can address; "
                         "merge input shards into fewer, larger files")
    if len(rows) and rows.max() >= MAX_ROWS:
        raise ValueError(f"source {source} has {rows.max() + 1} rows, more than {MAX_ROWS}; split it")
    return (priority.astype(np.int64) << (SOURCE_BITS + ROW_BITS)) | (source << ROW_BITS) | rows.astype(np.int64)


def source_of(nodes: np.ndarray) -> np.ndarray:
    return (nodes >> ROW_BITS) & (MAX_SOURCES - 1)


def row_of(nodes: np.ndarray) -> np.ndarray:
    return nodes & (MAX_ROWS - 1)
