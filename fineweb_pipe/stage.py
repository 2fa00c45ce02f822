"""The stage protocol: small classes with one job each, plain Python, testable without Ray.

Kinds of stage:
- :class:`Filter` decides per document whether to keep it; every drop carries a reason.
- :class:`Transform` adds or rewrites columns (an annotator is a transform that only adds).
- :class:`GlobalStage` needs all the data at once (dedup, shuffle, tokenization into shards); the engine
  ends a streaming phase before it and hands it a :class:`GlobalContext`.

A streaming stage (filter or transform) gets a batch of documents as an Arrow table and returns a
:class:`StageResult`. State that is expensive to build (a model, a block list, a child process) is built
in ``setup()`` and its attribute names listed in ``worker_state``: the constructor only stores plain
parameters, the base class leaves the worker state out when the stage is pickled to a worker or copied,
and the engine runs ``setup()`` once per worker before the first batch. Counts for the run's stats
(entities found, time-outs) are added with :meth:`Stage.count` from any stage.
"""

from __future__ import annotations

import copy
import re
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

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


NamedT = TypeVar("NamedT", bound="_Named")


class _Named:
    """A stage's name: ``default_name``, else the class name in snake case, unless ``named()`` set one."""

    #: The name in stats, reports and output folders; empty: the class name in snake case. Set where
    #: that splits a proper noun (``FineWeb`` would read ``fine_web``).
    default_name: ClassVar[str] = ""
    _name: str = ""

    @property
    def name(self) -> str:
        """The name used in stats and reports; unique within a pipeline (the engine checks)."""
        return self._name or self.default_name or _snake_case(type(self).__name__)

    def named(self: NamedT, name: str) -> NamedT:
        """A copy of this stage under another name, e.g. to run the same filter twice in one pipeline."""
        renamed = copy.copy(self)
        renamed._name = name
        return renamed


class Stage(_Named, ABC):
    """Base of every stage. Subclasses set ``resources`` and implement ``process``; one that builds
    per-worker state in ``setup()`` lists those attributes in ``worker_state``."""

    resources: ClassVar[Resources] = Resources()
    #: The engine writes this stage's dropped rows to ``removed/<name>/`` when true (e.g. non-English
    #: documents kept for per-language processing), one file per input shard, whose
    #: ``removed_partition`` column (if set) tells the groups apart (the report counts them by it).
    keep_removed: bool = False
    removed_partition: str | None = None
    #: Whether the stage works in child processes (the extractors), whose CPU the engine then adds to
    #: the stage's: finding them scans the process table, so other stages are timed by their own process.
    uses_child_processes: ClassVar[bool] = False
    #: The attributes ``setup()`` builds (annotate them on the class, without a default). They are not
    #: pickled or copied: each worker builds its own.
    worker_state: ClassVar[tuple[str, ...]] = ()
    _set_up: bool = False
    _counts: Counter[str] | None = None

    def setup(self) -> None:
        """Build per-worker state (models, lists, child processes) into the ``worker_state`` attributes."""

    def ensure_setup(self) -> None:
        """Run ``setup()`` unless this instance has run it: the engine calls it on every worker before the
        first batch."""
        if self._set_up:
            return
        self._set_up = True  # first: setup() may read the worker state it has built
        try:
            self.setup()
        except BaseException:
            self._set_up = False
            raise

    if not TYPE_CHECKING:  # mypy would otherwise take every missing attribute of a stage for Any

        def __getattr__(self, name: str) -> Any:
            # Only reached for a missing attribute: worker state read before setup() (a stage used
            # directly, as in tests and benchmarks) runs it then.
            if name in type(self).worker_state and not self._set_up:
                self.ensure_setup()
                return getattr(self, name)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getstate__(self) -> dict[str, Any]:
        dropped = {*type(self).worker_state, "_set_up", "_counts"}
        return {k: v for k, v in self.__dict__.items() if k not in dropped}

    def begin_shard(self) -> None:
        """Called before the first batch of each input shard (and again when a shard is read anew). A stage
        whose output depends on the documents it saw before (a cache of repeated paragraphs) clears that
        here, so that a shard's output depends on the shard alone: on any worker, in any order, resumed
        or not."""

    def count(self, counter: str, n: int = 1) -> None:
        """Add ``n`` to ``counter`` of the batch being processed (zero too: the counter then shows as 0).
        ``Filter`` and ``Transform`` report them with the batch; a stage that implements ``process``
        itself returns them with :meth:`take_counts` in its :class:`StageResult`."""
        if self._counts is None:
            self._counts = Counter()
        self._counts[counter] += n

    def take_counts(self) -> dict[str, int]:
        """The counts added since the last call, as ``StageResult.counters``."""
        counts, self._counts = self._counts, None
        return dict(counts) if counts else {}

    @abstractmethod
    def process(self, batch: pa.Table) -> StageResult:
        """Process one batch of documents."""

    def __call__(self, batch: pa.Table) -> StageResult:
        self.ensure_setup()
        return self.process(batch)


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
        result = split_by_decisions(batch, self.decide(batch))
        result.counters = self.take_counts()
        return result


class Transform(Stage):
    """A stage that adds or rewrites columns and keeps every row. Implement ``transform``."""

    @abstractmethod
    def transform(self, batch: pa.Table) -> pa.Table:
        """Return the batch with columns added or rewritten (same rows, same order)."""

    def process(self, batch: pa.Table) -> StageResult:
        out = self.transform(batch)
        if out.num_rows != batch.num_rows:
            raise ValueError(f"{self.name}: a Transform must keep every row ({batch.num_rows} in, {out.num_rows} out)")
        return StageResult(kept=out, counters=self.take_counts())


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

    def removed_path(self, shard: str) -> str:
        """Where this stage writes the documents it removes from ``shard`` (``removed/<stage>/<shard>.parquet``)."""

    def record(self, shard: str, docs_in: int, docs_out: int, dropped: dict[str, int], cpu_s: float,
               counters: dict[str, int] | None = None) -> None:
        """Add this stage's counts for one shard to the run's stats."""

    def add_section(self, name: str, data: dict[str, Any]) -> None:
        """Put a JSON-serialisable section into ``stats.json`` (e.g. dedup cluster sizes, token counts)."""


class GlobalStage(_Named, ABC):
    """A stage that needs all documents (dedup, global shuffle, tokenization into shards)."""

    resources: ClassVar[Resources] = Resources()
    #: False for a stage that consumes the documents (tokenization into shards): the documents the
    #: pipeline writes are then those that entered it.
    passes_documents: ClassVar[bool] = True

    @property
    def run_outputs(self) -> tuple[str, ...]:
        """Top-level names in the run's output folder this stage writes (e.g. ``tokens``): the engine
        clears them when the stage must run again from scratch, and never deletes anything else."""
        return ()

    @abstractmethod
    def run(self, ctx: GlobalContext) -> None:
        """Read ``ctx.inputs``; if ``passes_documents``, write one output shard per input shard at
        ``ctx.output_path`` (an input shard may come out empty, but it must be written)."""
