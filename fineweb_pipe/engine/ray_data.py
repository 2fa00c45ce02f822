"""fineweb-pipe's readers and streaming stages inside a user's own Ray Data program.

``map_stages(ds, stages)`` is ``ds.map_batches`` with a pool of actors (:class:`StageFn`) that each set the
stages up once and run them in order over every pyarrow batch, asking Ray for what the stages declare in
``resources``; ``read_documents(paths)`` reads input files with the project's readers into a dataset. What
the engine's stats would hold (documents in and out, drops per reason, the stages' counters, the reader's
counts) goes to a :class:`StageCounts` when one is given, and is otherwise dropped with a warning from each
actor whose stages counted something. Guide and example: ``docs/ray-data.md``.

This is not the engine: Ray Data has no shards, so there is no per-shard commit, resume or stats file here
(``docs/architecture.md``, "Ray Data or the own actor pool: measured").
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any, TypedDict

import pyarrow as pa
import pyarrow.compute as pc
import ray

try:
    import ray.data
except ImportError as exc:  # Ray Data needs pandas, which ray[default] does not install
    raise ImportError(f"fineweb_pipe.engine.ray_data needs Ray Data ({exc}): pip install 'ray[data]'") from exc

from fineweb_pipe.readers import Reader, reader_for
from fineweb_pipe.stage import DROP_REASON, DROP_VALUE, Stage
from fineweb_pipe.stats import ReaderCounts

logger = logging.getLogger(__name__)

#: Rows per call of the stages: the readers' default batch, so that a stage sees batches of the size the
#: engine gives it.
DEFAULT_BATCH_SIZE = 256
PATH = "path"


class _Totals:
    """The actor behind :class:`StageCounts`."""

    def __init__(self) -> None:
        self._stages: dict[str, dict[str, Any]] = {}
        self._reader = ReaderCounts()

    def add_stage(self, name: str, docs_in: int, docs_out: int, dropped: dict[str, int],
                  counters: dict[str, int]) -> None:
        totals = self._stages.setdefault(name, {"docs_in": 0, "docs_out": 0, "dropped": Counter(),
                                                "counters": Counter()})
        totals["docs_in"] += docs_in
        totals["docs_out"] += docs_out
        totals["dropped"].update(dropped)
        totals["counters"].update(counters)

    def add_reader(self, counts: ReaderCounts) -> None:
        self._reader.merge(counts)

    def totals(self) -> dict[str, Any]:
        stages = {name: {**t, "dropped": dict(t["dropped"]), "counters": dict(t["counters"])}
                  for name, t in self._stages.items()}
        return {"reader": self._reader.to_json(), "stages": stages}


class StageCounts:
    """Totals of what the stages and readers of a Ray Data program counted, summed over all their actors
    and tasks in one small actor: per stage ``docs_in``, ``docs_out``, ``dropped`` (per reason) and
    ``counters`` (what ``Stage.count`` added), and the reader's counts (records, skips, errors).

    Create it on the driver (Ray must be running), pass it to :func:`map_stages` and
    :func:`read_documents`, and read :meth:`totals` once the dataset has been consumed (e.g. after
    ``write_parquet``). Each batch is counted when its call returns, so a batch Ray Data runs again (a
    lost worker, a dataset consumed twice) is counted again.
    """

    def __init__(self) -> None:
        self._actor: Any = ray.remote(num_cpus=0)(_Totals).remote()  # Any: Ray types a handle as the class

    def add_stage(self, name: str, docs_in: int, docs_out: int, dropped: dict[str, int],
                  counters: dict[str, int]) -> None:
        # Waited for: the driver's totals() after the dataset is consumed must see every batch.
        ray.get(self._actor.add_stage.remote(name, docs_in, docs_out, dropped, counters))

    def add_reader(self, counts: ReaderCounts) -> None:
        ray.get(self._actor.add_reader.remote(counts))

    def totals(self) -> dict[str, Any]:
        """``{"reader": {...}, "stages": {name: {"docs_in", "docs_out", "dropped", "counters"}}}``."""
        totals: dict[str, Any] = ray.get(self._actor.totals.remote())
        return totals


class MapResources(TypedDict, total=False):
    """The resource arguments of ``Dataset.map_batches``."""

    num_cpus: float
    num_gpus: float
    memory: float


def stage_resources(stages: Stage | Sequence[Stage]) -> MapResources:
    """``map_batches`` keyword arguments for what one actor running ``stages`` needs: the largest
    ``num_cpus``, ``num_gpus`` and ``memory`` (bytes, from ``memory_mb``) any of them declares; GPUs and
    memory only where one declares them."""
    stages = [stages] if isinstance(stages, Stage) else list(stages)
    if not stages:
        raise ValueError("stage_resources: give at least one stage")
    needs = MapResources(num_cpus=max(s.resources.num_cpus for s in stages))
    gpus = max(s.resources.num_gpus for s in stages)
    memory_mb = max(s.resources.memory_mb for s in stages)
    if gpus:
        needs["num_gpus"] = gpus
    if memory_mb:
        needs["memory"] = float(memory_mb << 20)
    return needs


def _with_drop_columns(table: pa.Table) -> pa.Table:
    null = pa.nulls(table.num_rows, pa.string())
    return table.append_column(DROP_REASON, null).append_column(DROP_VALUE, null)


class StageFn:
    """A callable class for ``Dataset.map_batches(..., batch_format="pyarrow")``: each actor sets
    ``stages`` up once, then runs them in order over every batch and returns the rows they keep.

    With ``with_dropped`` it returns the dropped rows too, with ``drop_reason`` and ``drop_value`` (null on
    kept rows); rows that come in already dropped (a ``drop_reason``, from an earlier ``StageFn`` with
    ``with_dropped``) pass through untouched, so a chain of them gives every row once.

    Ray Data has no shards: ``begin_shard()`` runs before every batch, so that a stage that remembers
    documents (``TrafilaturaExtractor(deduplicate=True)``) gives each batch's output from that batch alone,
    whatever actor runs it and in whatever order.
    """

    def __init__(self, *stages: Stage, with_dropped: bool = False, counts: StageCounts | None = None) -> None:
        if not stages:
            raise ValueError("StageFn: give at least one stage, e.g. fn_constructor_args=(UrlFilter(),)")
        self.stages = stages
        self.with_dropped = with_dropped
        self.counts = counts
        self._warned = False
        for stage in stages:
            stage.ensure_setup()

    def __call__(self, batch: pa.Table) -> pa.Table:
        passed: list[pa.Table] = []
        if DROP_REASON in batch.column_names:
            upstream = batch.column(DROP_REASON).is_null()
            passed.append(batch.filter(pc.invert(upstream)))
            batch = batch.filter(upstream).drop_columns([DROP_REASON, DROP_VALUE])
        for stage in self.stages:
            stage.begin_shard()
            result = stage(batch)
            self._count(stage, batch.num_rows, result.kept.num_rows, result.dropped, result.counters)
            if self.with_dropped and result.dropped is not None and result.dropped.num_rows:
                passed.append(result.dropped)
            batch = result.kept
        if not self.with_dropped:
            return batch
        # Rows dropped before a stage lack the columns it adds (and keep those it removes): nulls there.
        return pa.concat_tables([_with_drop_columns(batch), *passed], promote_options="default")

    def _count(self, stage: Stage, docs_in: int, docs_out: int, dropped: pa.Table | None,
               counters: dict[str, int]) -> None:
        reasons = dict(Counter(dropped.column(DROP_REASON).to_pylist())) if dropped is not None else {}
        if self.counts is not None:
            self.counts.add_stage(stage.name, docs_in, docs_out, reasons, counters)
        elif counters and not self._warned:
            self._warned = True
            logger.warning("%s counted %s; these counts are dropped: pass counts=StageCounts() to map_stages "
                           "(or StageFn) to keep them", stage.name, sorted(counters))


def map_stages(ds: ray.data.Dataset, stages: Sequence[Stage], *, batch_size: int = DEFAULT_BATCH_SIZE,
               concurrency: int | tuple[int, int] = 1, num_cpus: float | None = None, with_dropped: bool = False,
               counts: StageCounts | None = None) -> ray.data.Dataset:
    """``ds`` through ``stages`` in one pool of ``concurrency`` actors (a size, or ``(min, max)`` to let Ray
    Data scale it), each asking for :func:`stage_resources` (``num_cpus`` overrides the CPUs, e.g. 0.25 for
    a cheap filter that shares a node with an expensive stage's pool). Batches of ``batch_size`` rows go
    to the stages as pyarrow tables; see :class:`StageFn` for ``with_dropped`` and ``counts``."""
    needs = stage_resources(stages)
    if num_cpus is not None:
        needs["num_cpus"] = num_cpus
    pool = (ray.data.ActorPoolStrategy(size=concurrency) if isinstance(concurrency, int)
            else ray.data.ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1]))
    return ds.map_batches(StageFn, fn_constructor_args=tuple(stages),
                          fn_constructor_kwargs={"with_dropped": with_dropped, "counts": counts},
                          batch_size=batch_size, batch_format="pyarrow",
                          compute=pool, **needs)


def map_stage(ds: ray.data.Dataset, stage: Stage, **options: Any) -> ray.data.Dataset:
    """``ds`` through one stage in a pool of its own: :func:`map_stages` with ``[stage]``."""
    return map_stages(ds, [stage], **options)


def _read_files(paths: pa.Table, reader: Reader | None, counts: StageCounts | None) -> Iterator[pa.Table]:
    for path in paths.column(PATH).to_pylist():
        read = ReaderCounts()
        yield from (reader or reader_for(path)).iter_batches(path, read)
        if counts is not None:
            counts.add_reader(read)


def read_documents(paths: Sequence[str], reader: Reader | None = None, counts: StageCounts | None = None,
                   num_cpus: float = 1.0) -> ray.data.Dataset:
    """The documents of ``paths`` (local files or URIs the readers open), read by one Ray task per file
    (``num_cpus`` each) with ``reader`` (default: by file name, as the engine picks), as blocks of the
    reader's batches (256 documents). The reader's counts (records, skips, errors) go to ``counts`` if
    given. A read task must find CPUs beside the stages' actor pools, which hold theirs for the whole run:
    with pools that take every CPU, reading never starts (give it a fraction, e.g. 0.25)."""
    if not paths:
        raise ValueError("read_documents: no input files given (e.g. sorted(glob.glob('crawl/*.warc.gz')))")
    # Local paths made absolute here: Ray's workers do not share the driver's working directory.
    paths = [p if "://" in p else os.path.abspath(p) for p in paths]
    return ray.data.from_items([{PATH: p} for p in paths], override_num_blocks=len(paths)).map_batches(
        partial(_read_files, reader=reader, counts=counts), batch_size=1, batch_format="pyarrow", num_cpus=num_cpus)
