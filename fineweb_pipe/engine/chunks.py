"""Chunks: the unit in which the engine reads, processes and accounts for documents.

A reader's batches become *chunks*: each row carries its shard, chunk number, sequence number and the
chunk's declared row count (``schema.ENGINE_COLUMNS``). A worker runs the stages over a chunk and
reports a ``ChunkResult``; the driver counts a chunk complete when the rows reported for it add up to
its declared count, so completion is exact and a result reported twice (a retried task) changes
nothing (results are keyed by the chunk's first sequence number).

This module is plain Python: both executors run exactly this code.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc

from fineweb_pipe import schema
from fineweb_pipe.errors import ConfigurationError, InputUnavailable, PipelineError, is_transport_error
from fineweb_pipe.readers.base import Reader
from fineweb_pipe.stage import DROP_REASON, DROP_VALUE, Stage, select_rows
from fineweb_pipe.stats import KEPT_SAMPLES, SAMPLES_PER_REASON, Profile, ReaderCounts, StageCounts, sample_rows, text_bytes
from fineweb_pipe.writers.atomic import write_arrow


@dataclass(frozen=True)
class InputRetry:
    """How often a shard whose input cannot be read now (``InputUnavailable``) is read again."""

    attempts: int = 4
    backoff_s: float = 2.0  # doubled after each failed attempt: 2, 4, 8 s

    def delay(self, attempt: int) -> float:
        return self.backoff_s * 2**attempt


@dataclass(frozen=True)
class ShardInput:
    """One input file of a phase and how to read it."""

    shard: str
    path: str
    reader: Reader
    retry: InputRetry = InputRetry()
    columns: pa.Schema | None = None  # where known beforehand (the phase before wrote the file)


def iter_chunks(source: ShardInput) -> Iterator[pa.Table]:
    """The shard's documents as chunks with engine columns; the last chunk is flagged.

    A shard that yields no document still produces one chunk (a single sentinel row with the shard's
    columns: known beforehand, or from the reader's empty batch or its ``document_schema``) so that the
    driver learns it is finished and gets its reader counts. A reader bug ends the shard with the documents read so far and is counted with the file's name; an
    input that cannot be read now raises :class:`InputUnavailable`, and a configuration error raises.
    """
    counts = ReaderCounts()
    chunk, seq = 0, 0
    pending: pa.Table | None = None
    pending_counts: ReaderCounts | None = None
    columns = source.columns or source.reader.document_schema
    batches = source.reader.iter_batches(source.path, counts)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except PipelineError:
            raise
        except Exception as exc:
            if is_transport_error(exc):
                raise InputUnavailable(source.path, exc) from exc
            # A reader bug on odd input must not take the run down: the shard keeps what was read.
            counts.error("read_failed", source.path, None, f"{type(exc).__name__}: {exc}")
            break
        if batch.num_rows == 0:  # a reader's way of saying which columns a file without rows has
            columns = batch.schema
            continue
        if pending is not None:
            yield _with_engine_columns(pending, source.shard, chunk, seq, False, pending_counts)
            seq += pending.num_rows
            chunk += 1
        pending, pending_counts = batch, counts.drain()
    if pending is None:
        yield _sentinel(columns, source.shard, chunk, seq, counts.drain())
        return
    assert pending_counts is not None
    pending_counts.merge(counts.drain())  # what the reader counted after its last batch
    yield _with_engine_columns(pending, source.shard, chunk, seq, True, pending_counts)


def _with_engine_columns(table: pa.Table, shard: str, chunk: int, seq: int, last: bool,
                         counts: ReaderCounts | None) -> pa.Table:
    n = table.num_rows
    stats = [json.dumps(counts.to_json())] + [None] * (n - 1) if counts else [None] * n
    columns = {
        schema.SHARD: pa.array([shard] * n, pa.string()),
        schema.SEQ: pa.array(np.arange(seq, seq + n, dtype=np.int64)),
        schema.CHUNK: pa.array([chunk] * n, pa.int32()),
        schema.CHUNK_ROWS: pa.array([n] * n, pa.int32()),
        schema.CHUNK_LAST: pa.array([last] * n, pa.bool_()),
        schema.READER_STATS: pa.array(stats, pa.string()),
        schema.SENTINEL: pa.array([False] * n, pa.bool_()),
    }
    for name, values in columns.items():
        table = table.append_column(name, values)
    return table


def _sentinel(columns: pa.Schema | None, shard: str, chunk: int, seq: int, counts: ReaderCounts) -> pa.Table:
    # One row of nulls with the documents' columns: the stages turn it (once dropped) into an empty
    # table with their output's columns, which the shard's empty file then has.
    table = pa.Table.from_pylist([{}], schema=columns or pa.schema([(schema.ID, pa.string())]))
    engine = {
        schema.SHARD: pa.array([shard], pa.string()),
        schema.SEQ: pa.array([seq], pa.int64()),
        schema.CHUNK: pa.array([chunk], pa.int32()),
        schema.CHUNK_ROWS: pa.array([1], pa.int32()),
        schema.CHUNK_LAST: pa.array([True]),
        schema.READER_STATS: pa.array([json.dumps(counts.to_json())], pa.string()),
        schema.SENTINEL: pa.array([True]),
    }
    for name, values in engine.items():
        table = table.append_column(name, values)
    return table


@dataclass
class PhaseDirs:
    """Where a streaming phase's workers put chunk parts before the driver commits whole shards."""

    parts: str  # documents: parts/<shard>/<first seq>.arrow
    removed_parts: str  # removed rows of keep_removed stages: removed_parts/<stage>/<shard>/<first seq>.arrow

    def part_path(self, shard: str, first_seq: int) -> str:
        return os.path.join(self.parts, shard, f"{first_seq:012d}.arrow")

    def removed_part_path(self, stage: str, shard: str, first_seq: int) -> str:
        return os.path.join(self.removed_parts, stage, shard, f"{first_seq:012d}.arrow")


class StageFailed(RuntimeError):
    """A stage raised on a chunk: a bug or bad configuration, not bad input (that is counted)."""


@dataclass
class ShardRestarted:
    """A worker reads the shard again from its start (its input was unavailable): forget its chunks."""

    shard: str
    error: str


@dataclass
class ShardFailed:
    """A shard's input stayed unavailable through every attempt: nothing of it is committed."""

    shard: str
    path: str
    error: str


@dataclass
class ChunkResult:
    """What processing one chunk produced: the driver's accounting record."""

    shard: str
    chunk: int
    first_seq: int
    rows: int  # rows of the chunk (a sentinel row included)
    chunk_rows: int
    chunk_last: bool
    reader: dict[str, Any] | None
    rows_out: int = 0  # documents written to the chunk's part
    removed_out: dict[str, int] = field(default_factory=dict)  # rows written to removed parts, by stage
    columns: bytes = b""  # the schema of what came out (serialised), also when no row did
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: dict[str, dict[str, list]] = field(default_factory=dict)
    kept_samples: list[dict[str, Any]] = field(default_factory=list)
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


def process_chunk(chunk: pa.Table, stages: Sequence[Stage], dirs: PhaseDirs) -> ChunkResult:
    """Run every stage over one chunk (from ``iter_chunks``), write its surviving rows, and account for
    all of it."""
    first = chunk.slice(0, 1).to_pylist()[0]
    reader_json = next((s for s in chunk.column(schema.READER_STATS).to_pylist() if s), None)
    result = ChunkResult(
        shard=first[schema.SHARD], chunk=first[schema.CHUNK], first_seq=first[schema.SEQ], rows=chunk.num_rows,
        chunk_rows=first[schema.CHUNK_ROWS], chunk_last=first[schema.CHUNK_LAST],
        reader=json.loads(reader_json) if reader_json else None,
    )
    batch = select_rows(chunk, ~chunk.column(schema.SENTINEL).to_numpy()).drop_columns(
        [schema.CHUNK, schema.CHUNK_ROWS, schema.CHUNK_LAST, schema.READER_STATS, schema.SENTINEL])
    before: Profile | None = None
    for stage in stages:
        # Also on no rows: what comes out then still has the stage's output columns.
        batch = _run_stage(stage, batch, result, dirs)
        if before is None and schema.TEXT in batch.column_names:
            before = Profile()
            before.add(batch)  # documents as first seen with text: after extraction, before filters
    after = Profile()
    after.add(batch)
    result.before = (before or after).to_json()  # no stage made text: as read
    result.after = after.to_json()
    result.kept_samples = sample_rows(batch, KEPT_SAMPLES, scores=True)  # the report buckets them by score
    written = batch.drop_columns([schema.SHARD])
    result.columns = schema.document_columns(written).schema.serialize().to_pybytes()
    if batch.num_rows:
        write_arrow(written, dirs.part_path(result.shard, result.first_seq))
    result.rows_out = batch.num_rows
    return result


ShardEvent = ChunkResult | ShardRestarted | ShardFailed


def process_shard(source: ShardInput, stages: Sequence[Stage], dirs: PhaseDirs) -> Iterator[ShardEvent]:
    """Every chunk of a shard through ``process_chunk``; what both executors run for a shard.

    An input that cannot be read now is read again from its start after a back-off (its parts cleared
    first, and a :class:`ShardRestarted` tells the driver to forget its chunks); when every attempt
    failed, a :class:`ShardFailed` says so and the shard is left uncommitted.
    """
    for attempt in range(source.retry.attempts):
        for stage in stages:
            stage.ensure_setup()
            stage.begin_shard()
        try:
            for chunk in iter_chunks(source):
                yield process_chunk(chunk, stages, dirs)
            return
        except InputUnavailable as exc:
            clear_parts(dirs, source.shard)
            if attempt + 1 == source.retry.attempts:
                yield ShardFailed(source.shard, source.path, str(exc))
                return
            yield ShardRestarted(source.shard, str(exc))
            time.sleep(source.retry.delay(attempt))


def clear_parts(dirs: PhaseDirs, shard: str) -> None:
    """Delete a shard's document and removed parts."""
    shutil.rmtree(os.path.join(dirs.parts, shard), ignore_errors=True)
    for stage_dir in glob.glob(os.path.join(glob.escape(dirs.removed_parts), "*")):
        shutil.rmtree(os.path.join(stage_dir, shard), ignore_errors=True)


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


def _run_stage(stage: Stage, batch: pa.Table, result: ChunkResult, dirs: PhaseDirs) -> pa.Table:
    counts = StageCounts(docs_in=batch.num_rows, bytes_in=text_bytes(batch))
    clock = cpu_seconds if stage.uses_child_processes else time.process_time
    started = clock()
    try:
        outcome = stage(batch)
    except ConfigurationError as exc:
        raise ConfigurationError(f"stage '{stage.name}' on {_where(batch, result)}: {exc}") from exc
    except Exception as exc:
        raise StageFailed(f"stage '{stage.name}' failed on {_where(batch, result)}: {type(exc).__name__}: {exc}") from exc
    counts.cpu_s = clock() - started
    kept = outcome.kept
    counts.docs_out = kept.num_rows
    counts.bytes_out = text_bytes(kept)
    counts.counters.update(outcome.counters)
    dropped = outcome.dropped
    if dropped is not None and dropped.num_rows:
        reasons = dropped.column(DROP_REASON)
        counts.dropped.update(reasons.to_pylist())
        stage_samples = result.samples.setdefault(stage.name, {})
        for reason in sorted(counts.dropped):
            rows = dropped.filter(pc.equal(reasons, reason))
            stage_samples[reason] = sample_rows(rows, SAMPLES_PER_REASON, DROP_VALUE)
        if stage.keep_removed:
            _write_removed(stage, dropped, result, dirs)
            result.removed_out[stage.name] = dropped.num_rows
    result.stages[stage.name] = counts.to_json()
    return kept


def _where(batch: pa.Table, result: ChunkResult) -> str:
    """The shard, rows and source file of a batch, for errors."""
    if batch.num_rows == 0:
        return f"shard {result.shard} (no rows)"
    seq = batch.column(schema.SEQ)
    source = batch.column(schema.SOURCE_FILE)[0].as_py() if schema.SOURCE_FILE in batch.column_names else "?"
    return f"shard {result.shard} rows {pc.min(seq).as_py()}-{pc.max(seq).as_py()} (source {source})"


def _write_removed(stage: Stage, dropped: pa.Table, result: ChunkResult, dirs: PhaseDirs) -> None:
    # Written by the worker next to the document parts; the driver commits them with the shard.
    path = dirs.removed_part_path(stage.name, result.shard, result.first_seq)
    write_arrow(dropped.drop_columns([schema.SHARD]), path)
