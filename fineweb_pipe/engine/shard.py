"""A shard of a streaming phase, done whole by one worker: read, run the stages, write, commit.

The worker reads its input batch by batch, runs every stage on each batch, and writes the shard's
final files itself, to the output location (a local folder or an object store): its documents, the
rows each ``keep_removed`` stage set aside, and last its *completion record* (counts, samples, the
files' schemas). A shard is finished if and only if its record exists; files without one are ignored
and rewritten by the next attempt (names are fixed per shard, so a retry replaces them). The driver
only learns of completions: documents never pass through it.

Before it commits, the worker checks conservation (it read exactly what the phase before wrote for
the shard; it wrote exactly the rows the stages kept) and that the run still holds its output's lock.

This module is plain Python: both executors run exactly this code.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import psutil
import pyarrow as pa
import pyarrow.compute as pc

from fineweb_pipe import schema, storage
from fineweb_pipe.engine.lock import LockFence
from fineweb_pipe.engine.spill import Spill
from fineweb_pipe.errors import ConfigurationError, InputUnavailable, IntegrityError, PipelineError, is_transport_error
from fineweb_pipe.readers.base import Reader
from fineweb_pipe.stage import DROP_REASON, DROP_VALUE, Stage
from fineweb_pipe.stats import (
    KEPT_SAMPLES, SAMPLES_PER_REASON, Profile, ReaderCounts, ShardStats, StageCounts, merge_samples, sample_rows,
    text_bytes,
)
from fineweb_pipe.writers.sinks import DocumentSink, ParquetDocuments


@dataclass(frozen=True)
class InputRetry:
    """How often a shard whose input cannot be read now (``InputUnavailable``) is read again."""

    attempts: int = 4
    backoff_s: float = 2.0  # doubled after each failed attempt: 2, 4, 8 s

    def delay(self, attempt: int) -> float:
        return self.backoff_s * 2**attempt


@dataclass(frozen=True)
class ShardOutputs:
    """Where one shard's files go (paths or URLs)."""

    documents: str
    removed: tuple[tuple[str, str], ...]  # (stage name, file) for each keep_removed stage
    record: str  # the completion record, written last
    sink: DocumentSink = ParquetDocuments()


@dataclass(frozen=True)
class ShardTask:
    """One input file of a streaming phase: how to read it, where its results go, what to check."""

    shard: str
    path: str
    reader: Reader
    outputs: ShardOutputs
    retry: InputRetry = InputRetry()
    columns: pa.Schema | None = None  # where known beforehand (the phase before wrote the file)
    expected_rows: int | None = None  # documents the phase before wrote for this shard
    fence: LockFence | None = None  # checked before the commit
    size: int = 0  # of the input, in bytes where known (big shards are started first)


@dataclass
class ShardRecord:
    """The completion record of a shard: what the driver learns, and what a resumed run reads back."""

    shard: str
    stats: ShardStats
    rows: int  # documents written
    removed: dict[str, int]  # rows set aside, by stage
    schemas: dict[str, str]  # of each file written ("documents", stage names): serialised, base64

    def to_json(self) -> dict[str, Any]:
        return {"shard": self.shard, "stats": self.stats.to_json(), "rows": self.rows, "removed": self.removed,
                "schemas": self.schemas}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardRecord:
        return cls(data["shard"], ShardStats.from_json(data["stats"]), data["rows"], data["removed"], data["schemas"])

    @staticmethod
    def decode_schema(serialised: str) -> pa.Schema:
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(serialised)))


@dataclass
class ChunkDone:
    """Progress of a shard so far (for the live display only): sent at most every ``PROGRESS_INTERVAL_S``,
    since each event costs the driver a Ray call (a WARC shard has ~100 batches)."""

    shard: str
    read: int  # documents read from the shard so far
    out: dict[str, int]  # documents each stage let through so far


@dataclass
class ShardDone:
    """The shard is committed."""

    record: ShardRecord

    @property
    def shard(self) -> str:
        return self.record.shard


@dataclass
class ShardRestarted:
    """A worker reads the shard again from its start (its input was unavailable)."""

    shard: str
    error: str


@dataclass
class ShardFailed:
    """A shard's input stayed unavailable through every attempt: nothing of it is committed."""

    shard: str
    path: str
    error: str


ShardEvent = ChunkDone | ShardDone | ShardRestarted | ShardFailed
#: How often a worker tells the driver how far a shard has got: each report costs the driver a Ray call,
#: and a cluster has thousands of shards in flight.
PROGRESS_INTERVAL_S = 10.0


class StageFailed(RuntimeError):
    """A stage raised on a batch: a bug or bad configuration, not bad input (that is counted)."""


def process_shard(task: ShardTask, stages: Sequence[Stage]) -> Iterator[ShardEvent]:
    """Do the shard ``task`` with ``stages``; what both executors run for a shard.

    An input that cannot be read now is read again from its start after a back-off (a
    :class:`ShardRestarted` says so); when every attempt failed, a :class:`ShardFailed` says so and
    the shard is left without a record.
    """
    for attempt in range(task.retry.attempts):
        for stage in stages:
            stage.ensure_setup()
            stage.begin_shard()
        try:
            record = yield from _run(task, stages)
        except InputUnavailable as exc:
            if attempt + 1 == task.retry.attempts:
                yield ShardFailed(task.shard, task.path, str(exc))
                return
            yield ShardRestarted(task.shard, str(exc))
            time.sleep(task.retry.delay(attempt))
            continue
        yield ShardDone(record)
        return


def _run(task: ShardTask, stages: Sequence[Stage]) -> Generator[ChunkDone, None, ShardRecord]:
    stats = ShardStats()
    counts = ReaderCounts()
    columns = task.columns or task.reader.document_schema
    with ExitStack() as stack:
        documents = stack.enter_context(Spill())
        removed = {s.name: stack.enter_context(Spill()) for s in stages if s.keep_removed}
        first_row = kept = 0
        next_progress = time.monotonic() + PROGRESS_INTERVAL_S
        for batch in _read(task, counts):
            if batch.num_rows == 0:  # a reader's way of saying which columns a file without rows has
                columns = batch.schema
                continue
            passed = _run_stages(stages, batch, stats, removed, task.shard, first_row)
            documents.add(passed)
            first_row += batch.num_rows
            kept += passed.num_rows
            if time.monotonic() >= next_progress:
                next_progress = time.monotonic() + PROGRESS_INTERVAL_S
                yield ChunkDone(task.shard, first_row, {name: c.docs_out for name, c in stats.stages.items()})
        if first_row == 0:  # no document: the stages still give the shard's file its columns
            empty = (columns or pa.schema([(schema.ID, pa.string())])).empty_table()
            documents.add(_run_stages(stages, empty, stats, removed, task.shard, 0))
        stats.reader = counts
        if task.expected_rows is not None and counts.documents != task.expected_rows:
            raise IntegrityError(f"shard {task.shard}: this phase read {counts.documents} documents from {task.path}, "
                                 f"the phase before wrote {task.expected_rows}; not committed, rerun to redo it")
        return _commit(task, stats, documents, kept, removed)


def _read(task: ShardTask, counts: ReaderCounts) -> Iterator[pa.Table]:
    """The reader's batches; a reader bug ends the shard with what was read (counted, with the file's
    name), an input that cannot be read now raises :class:`InputUnavailable`."""
    batches = task.reader.iter_batches(task.path, counts)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except PipelineError:
            raise
        except Exception as exc:
            if is_transport_error(exc):
                raise InputUnavailable(task.path, exc) from exc
            # A reader bug on odd input must not take the run down: the shard keeps what was read.
            counts.error("read_failed", task.path, None, f"{type(exc).__name__}: {exc}")
            return
        yield batch


def _run_stages(stages: Sequence[Stage], batch: pa.Table, stats: ShardStats, removed: dict[str, Spill],
                shard: str, first_row: int) -> pa.Table:
    """Every stage over one batch (also over no rows: what comes out still has the stages' columns)."""
    before: Profile | None = None
    for stage in stages:
        batch = _run_stage(stage, batch, stats, removed, shard, first_row)
        if before is None and schema.TEXT in batch.column_names:
            before = Profile()
            before.add(batch)  # documents as first seen with text: after extraction, before filters
    after = Profile()
    after.add(batch)
    stats.before.merge(before or after)  # no stage made text: as read
    stats.after.merge(after)
    if len(stats.kept) < KEPT_SAMPLES:
        stats.kept.extend(sample_rows(batch, KEPT_SAMPLES - len(stats.kept), scores=True))
    return batch


def cpu_seconds() -> float:
    """CPU time of this process and its live children: stages may work in child processes (the
    extractors run each page in one, to survive hangs), and that CPU belongs to the stage."""
    me = psutil.Process()
    total = time.process_time()
    for child in me.children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # it ended between listing and asking
            continue
        total += times.user + times.system
    return total


def _run_stage(stage: Stage, batch: pa.Table, stats: ShardStats, removed: dict[str, Spill], shard: str,
               first_row: int) -> pa.Table:
    counts = StageCounts(docs_in=batch.num_rows, bytes_in=text_bytes(batch))
    clock = cpu_seconds if stage.uses_child_processes else time.process_time
    started = clock()
    try:
        outcome = stage(batch)
    except ConfigurationError as exc:
        raise ConfigurationError(f"stage '{stage.name}' on {_where(batch, shard, first_row)}: {exc}") from exc
    except Exception as exc:
        raise StageFailed(f"stage '{stage.name}' failed on {_where(batch, shard, first_row)}: "
                          f"{type(exc).__name__}: {exc}") from exc
    counts.cpu_s = clock() - started
    kept = outcome.kept
    counts.docs_out = kept.num_rows
    counts.bytes_out = text_bytes(kept)
    counts.counters.update(outcome.counters)
    dropped = outcome.dropped
    if dropped is not None and dropped.num_rows:
        reasons = dropped.column(DROP_REASON)
        counts.dropped.update(reasons.to_pylist())
        samples: dict[str, list] = {}
        for reason in sorted(set(reasons.to_pylist())):
            samples[reason] = sample_rows(dropped.filter(pc.equal(reasons, reason)), SAMPLES_PER_REASON, DROP_VALUE)
        merge_samples(stats.samples, {stage.name: samples})
    if stage.name in removed and dropped is not None:
        removed[stage.name].add(dropped)
    stats.stages.setdefault(stage.name, StageCounts()).merge(counts)
    return kept


def _where(batch: pa.Table, shard: str, first_row: int) -> str:
    """The shard, rows and source file of a batch, for errors."""
    if batch.num_rows == 0:
        return f"shard {shard} (no rows)"
    source = batch.column(schema.SOURCE_FILE)[0].as_py() if schema.SOURCE_FILE in batch.column_names else "?"
    return f"shard {shard} rows {first_row}-{first_row + batch.num_rows - 1} of its input (source {source})"


def _commit(task: ShardTask, stats: ShardStats, documents: Spill, kept: int, removed: dict[str, Spill]) -> ShardRecord:
    """Write the shard's files, then its record (last: its presence marks the shard finished)."""
    outputs = task.outputs
    id_only = pa.schema([(schema.ID, pa.string())])
    try:
        rows, documents_schema = documents.write(outputs.documents, outputs.sink, id_only)
    except (pa.ArrowTypeError, pa.ArrowInvalid) as exc:  # from merging the batches' schemas or casting to it
        raise StageFailed(f"shard {task.shard}: the stages gave batches whose columns cannot be merged into one "
                          f"file ({exc}); a stage must give a column the same type in every batch") from exc
    _check_rows(task.shard, "documents", rows, kept)
    schemas = {"documents": _serialise(documents_schema)}
    removed_rows: dict[str, int] = {}
    for name, url in outputs.removed:
        spill = removed[name]
        if spill.rows:  # no file for a stage that set nothing aside here
            written, file_schema = spill.write(url, ParquetDocuments(), id_only)
            _check_rows(task.shard, f"removed by {name}", written, stats.stages[name].docs_in - stats.stages[name].docs_out)
            removed_rows[name] = written
            schemas[name] = _serialise(file_schema)
    if task.fence is not None:
        task.fence.check()
    record = ShardRecord(task.shard, stats, rows, removed_rows, schemas)
    storage.write_json(record.to_json(), outputs.record)
    return record


def _check_rows(shard: str, what: str, written: int, counted: int) -> None:
    if written != counted:
        raise IntegrityError(f"shard {shard}: wrote {written} rows of {what}, its stages counted {counted}; not committed")


def _serialise(file_schema: pa.Schema) -> str:
    return base64.b64encode(file_schema.serialize().to_pybytes()).decode("ascii")
