"""The stage protocol: small classes with one job each, plain Python, testable without Ray.

Kinds of stage:
- :class:`Filter` decides per document whether to keep it; every drop carries a reason.
- :class:`Transform` adds or rewrites columns (an annotator is a transform that only adds).
- :class:`GlobalStage` needs all the data at once (dedup, shuffle, tokenization into shards); the engine
  ends a streaming phase before it and hands it a :class:`GlobalContext`.

A streaming stage (filter or transform) gets a batch of documents as an Arrow table and returns a
:class:`StageResult`. State that is expensive to build (a model, a block list) is built in ``setup()``,
which the engine calls once per worker before the first batch; the constructor only stores plain
parameters so that a stage pickles cheaply to remote workers.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, TypeVar

import numpy as np
import pyarrow as pa

DROP_REASON = "drop_reason"
DROP_VALUE = "drop_value"


@dataclass(frozen=True)
class Resources:
    """What one worker of a stage needs. The engine sizes its actor pools and tasks from this."""

    num_cpus: float = 1.0
    memory_mb: int = 0  # a hint for the scheduler; 0 means "small"
    num_gpus: float = 0.0


@dataclass(frozen=True, slots=True)
class Drop:
    """Why a document was removed: a reason (``snake_case``) and, where a rule measured one, the value."""

    reason: str
    value: float | str | None = None


@dataclass
class StageResult:
    """What a stage did to a batch.

    ``kept`` holds the surviving rows (with any new columns). ``dropped`` holds the removed rows with
    two added columns, ``drop_reason`` and ``drop_value`` (a string, may be null). ``counters`` are
    extra counts for the run's stats (e.g. PII entities found, extractor time-outs).
    """

    kept: pa.Table
    dropped: pa.Table | None = None
    counters: dict[str, int] = field(default_factory=dict)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _name_of(stage: Stage | GlobalStage) -> str:
    return getattr(stage, "_name", None) or stage.default_name or _snake_case(type(stage).__name__)


class Stage(ABC):
    """Base of every stage. Subclasses set ``resources`` and implement ``process``."""

    resources: ClassVar[Resources] = Resources()
    #: The engine writes this stage's dropped rows to ``removed/<name>/`` when true (e.g. non-English
    #: documents kept for per-language processing), partitioned by ``removed_partition`` if set.
    keep_removed: bool = False
    removed_partition: str | None = None
    #: Whether the stage works in child processes (the extractors), whose CPU the engine then adds to
    #: the stage's: finding them scans the process table, so other stages are timed by their own process.
    uses_child_processes: ClassVar[bool] = False
    #: The name in stats, reports and output folders; empty: the class name in snake case. Set where
    #: that splits a proper noun (``FineWeb`` would read ``fine_web``).
    default_name: ClassVar[str] = ""

    @property
    def name(self) -> str:
        """The name used in stats and reports; unique within a pipeline (the engine checks)."""
        return _name_of(self)

    def named(self: StageT, name: str) -> StageT:
        """Give this instance another name, e.g. to run the same filter twice in one pipeline."""
        self._name = name
        return self

    def setup(self) -> None:
        """Load per-worker state (models, lists). Called once per worker before the first batch."""

    @abstractmethod
    def process(self, batch: pa.Table) -> StageResult:
        """Process one batch of documents."""

    def __call__(self, batch: pa.Table) -> StageResult:
        return self.process(batch)


StageT = TypeVar("StageT", bound=Stage)


def split_by_decisions(batch: pa.Table, decisions: Sequence[Drop | None]) -> StageResult:
    """Split ``batch`` into kept rows (decision ``None``) and dropped rows with reason and value columns."""
    if len(decisions) != batch.num_rows:
        raise ValueError(f"got {len(decisions)} decisions for a batch of {batch.num_rows} rows")
    keep = np.fromiter((d is None for d in decisions), dtype=bool, count=len(decisions))
    if keep.all():
        return StageResult(kept=batch)
    drop_idx = np.flatnonzero(~keep)
    dropped = batch.take(pa.array(drop_idx))
    drops = [d for d in decisions if d is not None]  # in row order, as drop_idx
    reasons = [d.reason for d in drops]
    values = [_value_text(d.value) for d in drops]
    dropped = dropped.append_column(DROP_REASON, pa.array(reasons, pa.string()))
    dropped = dropped.append_column(DROP_VALUE, pa.array(values, pa.string()))
    return StageResult(kept=select_rows(batch, keep), dropped=dropped)


MAX_SLICED_RUNS = 16


def select_rows(batch: pa.Table, keep: np.ndarray) -> pa.Table:
    """The rows of ``batch`` where ``keep`` is true. Up to ``MAX_SLICED_RUNS`` runs of kept rows are
    zero-copy slices: ``filter`` copies every column, before extraction a chunk's HTML (~40 MB) to
    drop one row."""
    runs = np.flatnonzero(np.diff(keep, prepend=False, append=False)).reshape(-1, 2)  # [start, end)
    if len(runs) > MAX_SLICED_RUNS:
        return batch.filter(pa.array(keep))
    if len(runs) == 1:
        return batch.slice(runs[0, 0], runs[0, 1] - runs[0, 0])
    return pa.concat_tables([batch.slice(start, end - start) for start, end in runs]) if len(runs) else batch.slice(0, 0)


def _value_text(value: float | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return f"{value:.4g}"


class Filter(Stage):
    """A stage that keeps or drops each document. Implement ``decide``."""

    @abstractmethod
    def decide(self, batch: pa.Table) -> Sequence[Drop | None]:
        """One decision per row: ``None`` keeps the document, a :class:`Drop` removes it."""

    def process(self, batch: pa.Table) -> StageResult:
        return split_by_decisions(batch, self.decide(batch))


class Transform(Stage):
    """A stage that adds or rewrites columns and keeps every row. Implement ``transform``."""

    @abstractmethod
    def transform(self, batch: pa.Table) -> pa.Table:
        """Return the batch with columns added or rewritten (same rows, same order)."""

    def process(self, batch: pa.Table) -> StageResult:
        out = self.transform(batch)
        if out.num_rows != batch.num_rows:
            raise ValueError(f"{self.name}: a Transform must keep every row ({batch.num_rows} in, {out.num_rows} out)")
        return StageResult(kept=out)


def set_column(table: pa.Table, name: str, values: pa.Array | pa.ChunkedArray | list[Any]) -> pa.Table:
    """Add ``name`` or replace it where it exists."""
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


R = TypeVar("R")


@dataclass(frozen=True)
class ShardRef:
    """One shard of a phase's input: its id (stable across runs) and the Parquet file holding it."""

    shard: str
    path: str


class GlobalContext(Protocol):
    """What the engine gives a :class:`GlobalStage`.

    Global stages are written as rounds of parallel work over partitions, exchanging files under
    ``work_dir`` (map-side writes, reduce-side reads), so that no worker holds the whole corpus and the
    same code runs in-process or on a cluster.
    """

    inputs: Sequence[ShardRef]
    work_dir: str  # a folder for this stage's intermediate files, kept across a resume
    run_dir: str  # the run's output folder (e.g. for token shards under ``run_dir/tokens``)

    def map(self, fn: Callable[[Any], R], items: Sequence[Any], resources: Resources | None = None) -> list[R]:
        """Run ``fn(item)`` for each item in parallel (on Ray: tasks) and return the results in order."""

    def output_path(self, shard: str) -> str:
        """Where this stage writes the output shard ``shard`` (atomically, see :func:`writers.atomic`)."""

    def record(self, shard: str, docs_in: int, docs_out: int, dropped: dict[str, int], cpu_s: float,
               counters: dict[str, int] | None = None) -> None:
        """Add this stage's counts for one shard to the run's stats."""

    def add_section(self, name: str, data: dict[str, Any]) -> None:
        """Put a JSON-serialisable section into ``stats.json`` (e.g. dedup cluster sizes, token counts)."""


class GlobalStage(ABC):
    """A stage that needs all documents (dedup, global shuffle, tokenization into shards)."""

    resources: ClassVar[Resources] = Resources()
    #: False for a stage that consumes the documents (tokenization into shards): the documents the
    #: pipeline writes are then those that entered it.
    passes_documents: ClassVar[bool] = True
    default_name: ClassVar[str] = ""  # as :attr:`Stage.default_name`
    @property
    def name(self) -> str:
        return _name_of(self)

    @property
    def run_outputs(self) -> tuple[str, ...]:
        """Top-level names in the run's output folder this stage writes (e.g. ``tokens``): the engine
        clears them when the stage must run again from scratch, and never deletes anything else."""
        return ()

    @abstractmethod
    def run(self, ctx: GlobalContext) -> None:
        """Read ``ctx.inputs``; if ``passes_documents``, write one output shard per input shard at
        ``ctx.output_path`` (an input shard may come out empty, but it must be written)."""
