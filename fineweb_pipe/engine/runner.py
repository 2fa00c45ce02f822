"""Runs a pipeline's phases with an executor, resumably, and writes ``stats.json``.

Output folder layout::

    documents/<shard>.parquet        the documents that came through (one file per input shard)
    removed/<stage>/...              removed documents of stages that keep them (and dedup's)
    tokens/                          token shards, when the pipeline tokenizes
    stats.json                       counts of everything (layout in ``fineweb_pipe.stats``)
    _work/<phase>/...                intermediate files; finished shards there make a rerun resume

A rerun with the same output folder skips shards and global phases that finished, redoes partial
ones, and ends with the same files as an uninterrupted run.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import schema
from fineweb_pipe.engine.base import Executor
from fineweb_pipe.engine.chunks import PhaseDirs, ShardInput
from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.engine.ledger import PhaseLedger, ShardStats
from fineweb_pipe.engine.progress import Progress
from fineweb_pipe.pipeline import Phase, Pipeline
from fineweb_pipe.readers import READERS, ParquetReader, reader_for
from fineweb_pipe.readers.files import expand_inputs, shard_id
from fineweb_pipe.stage import Filter, Resources, ShardRef, Stage, Transform
from fineweb_pipe.stats import Profile, ReaderCounts, StageCounts, text_bytes
from fineweb_pipe.writers.atomic import write_json

STATS_FORMAT = 1
# Runs of a phase over its unfinished shards when workers are lost (each run redoes only those).
PHASE_ATTEMPTS = 4
MEASURE_BATCH_ROWS = 4096


@dataclass
class _PhaseOutcome:
    shards: list[str]
    stats: ShardStats = field(default_factory=ShardStats)
    global_counts: StageCounts | None = None
    sections: dict[str, Any] = field(default_factory=dict)
    output: Profile | None = None  # of the documents a global stage wrote
    output_bytes: int = 0
    wall_s: float = 0.0


def output_folder(path: str) -> str:
    """The absolute output folder; an object-store URI is refused (parts and commits use file APIs)."""
    if "://" in path:
        raise ValueError(f"output {path!r}: give a file system path that every node sees (NFS, Lustre, "
                         "or a bucket mounted with mountpoint-s3); object-store URIs work for inputs only")
    return os.path.abspath(path)


class Runner:
    """Runs ``pipeline`` over ``inputs`` into ``output`` with ``executor``."""

    def __init__(self, pipeline: Pipeline, inputs: Sequence[str], output: str, executor: Executor,
                 show_progress: bool = True) -> None:
        self.pipeline = pipeline
        self.output = output_folder(output)
        self.executor = executor
        patterns = pipeline.reader.patterns if pipeline.reader else tuple(p for cls in READERS for p in cls.patterns)
        self.files = expand_inputs(inputs, patterns)
        self.progress = Progress(enabled=show_progress)
        self.documents_phase = self._documents_phase()

    def run(self) -> dict[str, Any]:
        started = time.time()
        # A run killed mid-write leaves temporary files (never taken as finished); clear them.
        for stale in glob.glob(os.path.join(glob.escape(self.output), "**", "*.tmp-*"), recursive=True):
            os.remove(stale)
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        shard_ids = [shard_id(path) for path in self.files]
        if len(set(shard_ids)) != len(shard_ids):
            raise ValueError("two inputs map to the same shard id; pass each file once")
        outcomes: list[_PhaseOutcome] = []
        sources = [ShardInput(s, p, self.pipeline.reader or reader_for(p)) for s, p in zip(shard_ids, self.files)]
        for phase in self.pipeline.phases:
            phase_started = time.time()
            direct = self._global_reads_inputs(phase, sources)
            if direct:
                outcome = self._measure_inputs(sources)
            elif phase.global_stage is None:
                outcome = self._stream(phase, sources)
            else:
                outcome = self._global(phase, sources)
            outcome.wall_s = time.time() - phase_started
            outcomes.append(outcome)
            if not direct and (phase.global_stage is None or phase.global_stage.passes_documents):
                out_dir = self._phase_output_dir(phase)
                sources = [ShardInput(s, os.path.join(out_dir, f"{s}.parquet"), ParquetReader()) for s in shard_ids]
        stats = self._stats(outcomes, started_at, time.time() - started)
        write_json(stats, os.path.join(self.output, "stats.json"))
        self.progress.finish(stats)
        return stats

    # -- phases ---------------------------------------------------------------------------------

    def _documents_phase(self) -> int:
        """Index of the last phase whose output is documents: it writes to ``documents/``."""
        for phase in reversed(self.pipeline.phases):
            if phase.global_stage is None or phase.global_stage.passes_documents:
                return phase.index
        raise ValueError("the pipeline writes no documents")

    def _work_dir(self, phase: Phase) -> str:
        return os.path.join(self.output, "_work", phase.name)

    def _phase_output_dir(self, phase: Phase) -> str:
        if phase.index == self.documents_phase:
            return os.path.join(self.output, "documents")
        return os.path.join(self._work_dir(phase), "documents")

    def _global_reads_inputs(self, phase: Phase, sources: list[ShardInput]) -> bool:
        """Whether ``phase`` is the empty streaming phase before a leading global stage and can be
        skipped: the inputs are local Parquet files with text, read whole, so the global stage can read
        them itself instead of a copy (at 1M documents the copy took a fifth of a dedup run). Its
        documents then keep exactly the input's columns."""
        return (phase.index == 0 and not phase.stages and phase.index != self.documents_phase
                and all(type(s.reader) is ParquetReader and s.reader.columns is None and "://" not in s.path
                        and schema.TEXT in pq.read_schema(s.path).names for s in sources))

    def _measure_inputs(self, sources: list[ShardInput]) -> _PhaseOutcome:
        """The reader's counts and the documents' profile for inputs a global stage reads directly."""
        measured = self._measure([s.path for s in sources])
        profile = Profile.from_json(measured["profile"])
        reader = ReaderCounts(documents=profile.docs, bytes=measured["bytes"], records=Counter(row=profile.docs))
        stats = ShardStats(reader=reader, before=profile, after=Profile.from_json(measured["profile"]))
        return _PhaseOutcome(shards=[s.shard for s in sources], stats=stats)

    def _stream(self, phase: Phase, sources: list[ShardInput]) -> _PhaseOutcome:
        work = self._work_dir(phase)
        dirs = PhaseDirs(parts=os.path.join(work, "parts"), removed_parts=os.path.join(work, "removed_parts"))
        ledger = PhaseLedger(dirs, self._phase_output_dir(phase), os.path.join(work, "stats"),
                             os.path.join(self.output, "removed"), phase.stages)
        shards = [s.shard for s in sources]
        done = set(ledger.load_finished(shards))
        self.progress.start_phase(phase.name, [st.name for st in phase.stages], len(sources), len(done))
        for attempt in range(PHASE_ATTEMPTS):
            todo = [s for s in sources if s.shard not in ledger.committed]
            try:
                for result in self.executor.stream(todo, phase.stages, dirs):
                    self.progress.chunk(result)
                    if ledger.add(result):
                        self.progress.shard_done()
                break
            except Exception as exc:
                if attempt + 1 == PHASE_ATTEMPTS or not self.executor.is_transient(exc):
                    raise
                self.progress.retry(phase.name, exc)
                ledger.forget_unfinished()
        missing = [s.shard for s in sources if s.shard not in ledger.committed]
        if missing:
            raise RuntimeError(f"phase {phase.name}: {len(missing)} shards did not complete (e.g. {missing[:3]}); "
                               "rerun the same command to resume")
        outcome = _PhaseOutcome(shards=shards)
        for shard in shards:
            outcome.stats.merge(ledger.committed[shard])
        shutil.rmtree(dirs.parts, ignore_errors=True)
        shutil.rmtree(dirs.removed_parts, ignore_errors=True)
        return outcome

    def _global(self, phase: Phase, sources: list[ShardInput]) -> _PhaseOutcome:
        stage = phase.global_stage
        assert stage is not None
        work = self._work_dir(phase)
        summary_path = os.path.join(work, "summary.json")
        shards = [s.shard for s in sources]
        self.progress.start_phase(phase.name, [stage.name], len(sources), 0)
        if os.path.exists(summary_path):
            with open(summary_path, encoding="utf-8") as f:
                summary = json.load(f)
        else:
            context = PhaseContext(
                stage_name=stage.name,
                inputs=[ShardRef(s.shard, s.path) for s in sources],
                work_dir=os.path.join(work, "work"),
                run_dir=self.output,
                output_dir=self._phase_output_dir(phase),
                mapper=self.executor.map,
            )
            stage.run(context)
            summary = {"counts": context.total().to_json(), "sections": context.sections}
            if stage.passes_documents:
                folder = self._phase_output_dir(phase)
                summary["output"] = self._measure([os.path.join(folder, f"{s}.parquet") for s in shards])
            write_json(summary, summary_path)  # last: its presence marks the phase finished
        self.progress.global_done(stage.name, summary["counts"])
        output = summary.get("output")
        return _PhaseOutcome(shards=shards, global_counts=StageCounts.from_json(summary["counts"]),
                             sections=summary["sections"],
                             output=Profile.from_json(output["profile"]) if output else None,
                             output_bytes=output["bytes"] if output else 0)

    def _measure(self, paths: list[str]) -> dict[str, Any]:
        """Text bytes and profile of the documents in ``paths`` (Parquet), one task per file."""
        measured = self.executor.map(measure_documents, paths, Resources(num_cpus=1.0))
        profile = Profile()
        for m in measured:
            profile.merge(Profile.from_json(m["profile"]))
        return {"bytes": sum(m["bytes"] for m in measured), "profile": profile.to_json()}

    # -- stats ----------------------------------------------------------------------------------

    def _stats(self, outcomes: list[_PhaseOutcome], started_at: str, wall_s: float) -> dict[str, Any]:
        stages: list[dict[str, Any]] = []
        samples: dict[str, Any] = {}
        sections: dict[str, Any] = {}
        for phase, outcome in zip(self.pipeline.phases, outcomes):
            if phase.global_stage is not None:
                counts = outcome.global_counts
                assert counts is not None
                # Global stages count documents; their bytes follow from what they read and wrote.
                counts.bytes_in = stages[-1]["bytes_out"] if stages else outcomes[0].stats.reader.bytes
                counts.bytes_out = outcome.output_bytes if phase.global_stage.passes_documents else counts.bytes_in
                stages.append({"name": phase.global_stage.name, "kind": "global", "phase": phase.index,
                               **counts.to_json()})
                sections.update(outcome.sections)
                continue
            for stage in phase.stages:
                counts = outcome.stats.stages.get(stage.name, StageCounts())
                stages.append({"name": stage.name, "kind": _kind(stage), "phase": phase.index, **counts.to_json()})
            samples.update(outcome.stats.samples)
        first = outcomes[0].stats
        last_docs = outcomes[self.documents_phase]
        after = last_docs.output or last_docs.stats.after
        return {
            "format": STATS_FORMAT,
            "run": {
                "pipeline": self.pipeline.name,
                "description": self.pipeline.description,
                "engine": self.executor.name,
                "workers": self.executor.workers,
                "started": started_at,
                "wall_s": round(wall_s, 3),
                "phases": [{"name": p.name, "wall_s": round(o.wall_s, 3)} for p, o in zip(self.pipeline.phases, outcomes)],
                "input_files": self.files,
                "output": self.output,
            },
            "reader": {k: v for k, v in first.reader.to_json().items() if k != "error_list"} | {"files": len(self.files)},
            "stages": stages,
            "profiles": {"before": first.before.to_json(), "after": after.to_json()},
            "samples": {"removed": samples, "kept": last_docs.stats.kept},
            "errors": first.reader.error_list,
            "sections": sections,
        }


def measure_documents(path: str) -> dict[str, Any]:
    """Text bytes and profile of one documents file, read batch by batch and only the profiled columns."""
    parquet = pq.ParquetFile(path)
    columns = [c for c in (schema.TEXT, schema.LANGUAGE, schema.LANGUAGE_SCORE) if c in parquet.schema_arrow.names]
    profile, nbytes = Profile(), 0
    for batch in parquet.iter_batches(MEASURE_BATCH_ROWS, columns=columns):
        table = pa.Table.from_batches([batch])
        profile.add(table)
        nbytes += text_bytes(table)
    return {"bytes": nbytes, "profile": profile.to_json()}


def _kind(stage: Stage) -> str:
    if isinstance(stage, Filter):
        return "filter"
    if isinstance(stage, Transform):
        return "transform"
    return "stage"
