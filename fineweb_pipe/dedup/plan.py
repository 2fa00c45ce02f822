"""What every task of a dedup run shares: the work folder, the node id layout, the partition and write
group counts, and where each round's files are.

Every round is a map over ``P`` hash partitions or over sources, and every task writes at most one file
per output (an exchange file, :mod:`fineweb_pipe.exchange`, that holds all partitions), named by the
task's index: ``<work>/<folder>/<writer>.parquet``. So a round writes O(sources + partitions) files,
and a reader knows the files of a round from its folder and writer count, without listing a folder.

:func:`size_run` gives a run's counts, the same for every dedup stage: ``P = ceil(docs /
docs_per_partition)`` partitions and write groups of consecutive shards with about equal documents.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from fineweb_pipe import storage
from fineweb_pipe.dedup.nodes import NodeLayout, partition_of
from fineweb_pipe.stage import GlobalContext, Resources

# Write tasks: one per partition, and at least this many where there are as many shards, so that a
# small run still writes its shards in parallel.
MIN_WRITE_GROUPS = 64


@dataclass(frozen=True)
class Files:
    """The files one round wrote: ``<work>/<folder>/<0 .. writers-1>.parquet``."""

    work_dir: str
    folder: str
    writers: int

    def url(self, writer: int) -> str:
        return storage.join(self.work_dir, self.folder, f"{writer}.parquet")

    def urls(self) -> list[str]:
        return [self.url(j) for j in range(self.writers)]


@dataclass(frozen=True)
class GroupedPlan:
    """Where a corpus-wide stage's rounds meet: ``partitions`` key partitions and write groups of consecutive
    input shards, ``group_starts`` (the first shard of each group, then the number of input shards); a write
    task writes the shards of one group."""

    work_dir: str
    partitions: int
    group_starts: tuple[int, ...]

    @property
    def groups(self) -> int:
        return len(self.group_starts) - 1

    def files(self, folder: str, writers: int) -> Files:
        return Files(self.work_dir, folder, writers)

    def group_of_source(self, sources: np.ndarray) -> np.ndarray:
        """Write group of each source; ``groups`` for sources past the last group (a reference index's)."""
        return np.searchsorted(np.array(self.group_starts), sources, side="right") - 1


@dataclass(frozen=True)
class Plan(GroupedPlan):
    """MinHash dedup's: also the node layout (node id to source and row) and the signatures' width."""

    layout: NodeLayout
    num_perm: int

    def partition_of(self, nodes: np.ndarray) -> np.ndarray:
        return partition_of(nodes, self.partitions)

    def group_of(self, nodes: np.ndarray) -> np.ndarray:
        """Write group of each node's source; ``groups`` for a reference index's documents (not written)."""
        return self.group_of_source(self.layout.source_of(nodes))


def write_groups(docs_per_source: list[int], groups: int) -> tuple[int, ...]:
    """Starts of ``groups`` runs of consecutive sources with about equal documents (fewer if there are
    fewer sources), followed by the number of sources."""
    groups = max(1, min(groups, len(docs_per_source)))
    ends = np.cumsum(docs_per_source)
    total = int(ends[-1]) if len(ends) else 0
    # Source i starts a new group when the documents before it cross the next multiple of total / groups.
    before = np.concatenate(([0], ends[:-1]))
    group = np.minimum((before * groups) // max(total, 1), groups - 1)
    starts = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1]))) if len(group) else np.zeros(0, int)
    return (*starts.tolist(), len(docs_per_source))


@dataclass(frozen=True)
class RunSize:
    """A dedup run's counts: ``rows`` of each source, ``partitions`` (``P``), and ``group_starts``, the
    first source of each write group, then the number of written sources (see :func:`write_groups`)."""

    rows: list[int]
    partitions: int
    group_starts: tuple[int, ...]


def size_run(ctx: GlobalContext, paths: Sequence[str], docs_per_partition: int, written: int | None = None) -> RunSize:
    """Rows of each Parquet source in ``paths`` (footers, read by the workers), ``P = ceil(rows /
    docs_per_partition)`` partitions, and write groups of the first ``written`` sources (default: all;
    the others, a reference index's, are not written): one per partition, at least ``MIN_WRITE_GROUPS``."""
    rows = ctx.map(row_count, paths, Resources(num_cpus=0.5))
    partitions = max(1, math.ceil(sum(rows) / docs_per_partition))
    return RunSize(rows, partitions, write_groups(rows[:written], max(partitions, MIN_WRITE_GROUPS)))


def row_count(url: str) -> int:
    """Rows of one Parquet file, from its footer."""
    with storage.open_input(url) as f:
        return int(pq.read_metadata(f).num_rows)
