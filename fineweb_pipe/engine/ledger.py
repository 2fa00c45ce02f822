"""Driver-side accounting of a streaming phase: chunk results in, whole shards committed out.

A shard is committed once every chunk's rows are accounted for: its parts are merged in sequence
order into one Parquet file per shard (so the output does not depend on scheduling), its stats are
written next to it, and its parts are removed. The shard's stats file is written before its Parquet
file is renamed into place, so a committed shard always has its stats: on a resume, a shard is done
if and only if its output file exists.

Before a commit, conservation is checked: the merged files hold exactly the rows the chunks reported
writing, and the shard's reader read exactly what the previous phase wrote for it. A mismatch is an
:class:`IntegrityError` naming the shard, and nothing of it is committed.
"""

from __future__ import annotations

import glob
import json
import os
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.engine.chunks import ChunkResult, PhaseDirs, ShardEvent, ShardFailed, ShardRestarted, clear_parts
from fineweb_pipe.errors import IntegrityError
from fineweb_pipe.stage import Stage
from fineweb_pipe.stats import KEPT_SAMPLES, Profile, ReaderCounts, StageCounts, merge_samples
from fineweb_pipe.writers.atomic import read_arrow, write_json, write_parquet


@dataclass
class ShardStats:
    """Everything counted for one shard (or, merged, for a phase)."""

    reader: ReaderCounts = field(default_factory=ReaderCounts)
    stages: dict[str, StageCounts] = field(default_factory=dict)
    samples: dict[str, dict[str, list]] = field(default_factory=dict)
    kept: list[dict[str, Any]] = field(default_factory=list)
    before: Profile = field(default_factory=Profile)
    after: Profile = field(default_factory=Profile)

    def add_chunk(self, result: ChunkResult) -> None:
        if result.reader:
            self.reader.merge(ReaderCounts.from_json(result.reader))
        for name, counts in result.stages.items():
            self.stages.setdefault(name, StageCounts()).merge(StageCounts.from_json(counts))
        merge_samples(self.samples, result.samples)
        self.kept.extend(result.kept_samples[: max(0, KEPT_SAMPLES - len(self.kept))])
        if result.before:
            self.before.merge(Profile.from_json(result.before))
        if result.after:
            self.after.merge(Profile.from_json(result.after))

    def merge(self, other: ShardStats) -> None:
        self.reader.merge(other.reader)
        for name, counts in other.stages.items():
            self.stages.setdefault(name, StageCounts()).merge(counts)
        merge_samples(self.samples, other.samples)
        self.kept.extend(other.kept[: max(0, KEPT_SAMPLES - len(self.kept))])
        self.before.merge(other.before)
        self.after.merge(other.after)

    def to_json(self) -> dict[str, Any]:
        return {
            "reader": self.reader.to_json(),
            "stages": {name: counts.to_json() for name, counts in self.stages.items()},
            "samples": self.samples,
            "kept": self.kept,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardStats:
        return cls(
            reader=ReaderCounts.from_json(data["reader"]),
            stages={name: StageCounts.from_json(c) for name, c in data["stages"].items()},
            samples=data["samples"],
            kept=data["kept"],
            before=Profile.from_json(data["before"]),
            after=Profile.from_json(data["after"]),
        )


@dataclass
class _ShardProgress:
    results: dict[int, ChunkResult] = field(default_factory=dict)  # by first sequence number
    last_chunk: int | None = None

    def complete(self) -> bool:
        if self.last_chunk is None:
            return False
        rows: dict[int, int] = defaultdict(int)
        declared: dict[int, int] = {}
        for r in self.results.values():
            rows[r.chunk] += r.rows
            declared[r.chunk] = r.chunk_rows
        return all(rows.get(c, 0) == declared.get(c, -1) for c in range(self.last_chunk + 1))


class PhaseLedger:
    """Collects chunk results of one streaming phase and commits shards as they complete.

    ``expected_rows``: the documents the previous phase wrote per shard (``None`` for the first phase,
    which reads the inputs). ``before_commit`` runs before each commit (the run's lock check).
    """

    def __init__(self, dirs: PhaseDirs, output_dir: str, stats_dir: str, removed_dir: str,
                 stages: Sequence[Stage], expected_rows: Mapping[str, int] | None = None,
                 before_commit: Callable[[], None] = lambda: None) -> None:
        self.dirs = dirs
        self.output_dir = output_dir
        self.stats_dir = stats_dir
        self.removed_dir = removed_dir
        self.stages = stages
        self.expected_rows = expected_rows
        self.before_commit = before_commit
        self._progress: dict[str, _ShardProgress] = defaultdict(_ShardProgress)
        self.committed: dict[str, ShardStats] = {}
        self.failed: dict[str, ShardFailed] = {}

    def output_path(self, shard: str) -> str:
        return os.path.join(self.output_dir, f"{shard}.parquet")

    def stats_path(self, shard: str) -> str:
        return os.path.join(self.stats_dir, f"{shard}.json")

    def load_finished(self, shards: Sequence[str]) -> list[str]:
        """Shards committed by an earlier run (kept as they are); clears parts of unfinished ones."""
        done = []
        for shard in shards:
            if os.path.exists(self.output_path(shard)) and os.path.exists(self.stats_path(shard)):
                with open(self.stats_path(shard), encoding="utf-8") as f:
                    self.committed[shard] = ShardStats.from_json(json.load(f))
                done.append(shard)
            else:
                clear_parts(self.dirs, shard)
        return done

    def forget_unfinished(self) -> None:
        """Drop what was gathered for shards not yet committed, and their parts, to run them again."""
        for shard in list(self._progress):
            clear_parts(self.dirs, shard)
        self._progress.clear()

    def add(self, event: ShardEvent) -> str | None:
        """Record a worker's event; commit and return the shard if it is now complete."""
        if event.shard in self.committed:
            return None  # a retried task reporting again
        if isinstance(event, ShardRestarted):
            self._progress.pop(event.shard, None)  # the worker reads it again from the start
            return None
        if isinstance(event, ShardFailed):
            self._progress.pop(event.shard, None)
            self.failed[event.shard] = event
            return None
        self.failed.pop(event.shard, None)
        progress = self._progress[event.shard]
        progress.results[event.first_seq] = event
        if event.chunk_last:
            progress.last_chunk = event.chunk
        if not progress.complete():
            return None
        self._commit(event.shard, progress)
        del self._progress[event.shard]
        return event.shard

    def _commit(self, shard: str, progress: _ShardProgress) -> None:
        results = [progress.results[first_seq] for first_seq in sorted(progress.results)]
        stats = ShardStats()
        for result in results:
            stats.add_chunk(result)
        if self.expected_rows is not None and stats.reader.documents != self.expected_rows.get(shard):
            raise IntegrityError(f"shard {shard}: this phase read {stats.reader.documents} documents, the phase "
                                 f"before wrote {self.expected_rows.get(shard)}; not committed")
        columns = pa.ipc.read_schema(pa.py_buffer(results[-1].columns))
        documents = _merge_parts(os.path.join(self.dirs.parts, shard), columns)
        _check_rows(shard, "documents", documents.num_rows, sum(r.rows_out for r in results))
        removed = {stage.name: _merge_parts(os.path.join(self.dirs.removed_parts, stage.name, shard))
                   for stage in self.stages if stage.keep_removed}
        for name, table in removed.items():
            _check_rows(shard, f"removed by {name}", table.num_rows, sum(r.removed_out.get(name, 0) for r in results))
        self.before_commit()
        self._commit_removed(shard, removed)
        write_json(stats.to_json(), self.stats_path(shard))
        write_parquet(documents, self.output_path(shard))
        self.committed[shard] = stats
        clear_parts(self.dirs, shard)

    def _commit_removed(self, shard: str, removed: dict[str, pa.Table]) -> None:
        for stage in self.stages:
            table = removed.get(stage.name)
            if table is None or table.num_rows == 0:
                continue
            partition = stage.removed_partition
            if partition and partition in table.column_names:
                for value in sorted({v for v in table.column(partition).to_pylist()}, key=str):
                    rows = table.filter(pa.compute.equal(table.column(partition), value)) if value is not None \
                        else table.filter(pa.compute.is_null(table.column(partition)))
                    folder = _safe_name(str(value)) if value is not None else "unknown"
                    write_parquet(rows, os.path.join(self.removed_dir, stage.name, folder, f"{shard}.parquet"))
            else:
                write_parquet(table, os.path.join(self.removed_dir, stage.name, f"{shard}.parquet"))


def _check_rows(shard: str, what: str, written: int, counted: int) -> None:
    if written != counted:
        raise IntegrityError(f"shard {shard}: its {what} parts hold {written} rows, its chunks reported {counted} "
                             "(were parts deleted by another process?); not committed, rerun to redo it")


def _merge_parts(folder: str, columns: pa.Schema | None = None) -> pa.Table:
    """The parts of a shard in sequence order, without engine columns; if none, an empty table with
    ``columns`` (so that an empty shard's file has the same columns as the others)."""
    paths = sorted(glob.glob(os.path.join(glob.escape(folder), "*.arrow")))
    if not paths:
        return (columns or pa.schema([(schema.ID, pa.string())])).empty_table()
    tables = [read_arrow(p) for p in paths]
    return schema.document_columns(pa.concat_tables(tables, promote_options="permissive"))


def _safe_name(value: str) -> str:
    """A folder name from data (a language code, say): no path separators or dot-dot."""
    cleaned = "".join(c if c.isalnum() or c in "-_" else "_" for c in value)[:64]
    return cleaned or "unknown"
