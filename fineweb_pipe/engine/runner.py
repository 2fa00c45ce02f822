"""Runs a pipeline's phases with an executor, resumably, and writes ``stats.json``.

Output folder layout::

    documents/<shard>.parquet        the documents that came through (one file per input shard)
    removed/<stage>/...              removed documents of stages that keep them (and dedup's)
    tokens/                          token shards, when the pipeline tokenizes
    stats.json                       counts of everything (layout in ``fineweb_pipe.stats``)
    _work/<phase>/...                intermediate files; finished shards there make a rerun resume

    run.json                         what the folder was made from (``engine.manifest``)
    run.lock                         while a run writes here (``engine.lock``)

A rerun of the same pipeline on the same inputs skips shards and global phases that finished, redoes
partial ones, and ends with the same files as an uninterrupted run; anything else is refused or must
be asked for (``engine.run_folder``). Between phases, every shard's documents are counted: a phase
must take in exactly what the one before put out.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
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
from fineweb_pipe.engine.chunks import InputRetry, PhaseDirs, ShardInput
from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.engine.inputs import find_inputs
from fineweb_pipe.engine.ledger import PhaseLedger, ShardStats
from fineweb_pipe.engine.lock import RunLock
from fineweb_pipe.engine.manifest import RunManifest, pipeline_fingerprint
from fineweb_pipe.engine.progress import Progress
from fineweb_pipe.engine.run_folder import DOCUMENTS, REMOVED, STATS, WORK, RunFolder
from fineweb_pipe.errors import ConfigurationError, InputsFailed, IntegrityError
from fineweb_pipe.pipeline import Phase, Pipeline
from fineweb_pipe.readers import READERS, ParquetReader, reader_for
from fineweb_pipe.stage import Filter, Resources, ShardRef, Stage, Transform
from fineweb_pipe.stats import ERRORS_KEPT, Profile, ReaderCounts, StageCounts, text_bytes
from fineweb_pipe.writers.atomic import write_json
from fineweb_pipe.writers.dataset import conform_to_one_schema

STATS_FORMAT = 1
# Runs of a phase over its unfinished shards when workers are lost (each run redoes only those).
PHASE_ATTEMPTS = 4
MEASURE_BATCH_ROWS = 4096
# Where `ray job submit --working-dir` unpacks the job's files, and runs it.
RAY_WORKING_DIR_COPY = "/runtime_resources/working_dir_files/"


@dataclass
class _PhaseOutcome:
    shards: list[str]
    stats: ShardStats = field(default_factory=ShardStats)
    global_counts: StageCounts | None = None
    sections: dict[str, Any] = field(default_factory=dict)
    output: Profile | None = None  # of the documents a global stage wrote
    output_bytes: int = 0
    rows_out: dict[str, int] | None = None  # documents written per shard (None: the phase writes none)
    errors: list[dict[str, Any]] = field(default_factory=list)  # its readers' errors
    shards_with_errors: int = 0
    resumed: int = 0  # shards an earlier run finished (a global phase: all of them, or none)
    wall_s: float = 0.0


def output_folder(path: str) -> str:
    """The absolute output folder; an object-store URI is refused (parts and commits use file APIs)."""
    if "://" in path:
        raise ConfigurationError(f"output {path!r}: give a file system path that every node sees (NFS, Lustre, "
                                 "or a bucket mounted with s3fs-fuse); object-store URIs work for inputs only")
    if not os.path.isabs(path) and RAY_WORKING_DIR_COPY in os.getcwd().replace(os.sep, "/"):
        raise ConfigurationError(f"output {path!r} is relative to Ray's copy of the job's --working-dir, which Ray "
                                 "deletes: give an absolute path that every node sees (e.g. /shared/out)")
    return os.path.abspath(path)


class Runner:
    """Runs ``pipeline`` over ``inputs`` into ``output`` with ``executor``.

    ``restart``: clear what earlier runs wrote to ``output`` and start over. ``add_inputs``: accept
    inputs an earlier run into ``output`` did not have (the phases that need every input are redone).
    Inputs and the output folder are checked here, before the executor starts anything.
    """

    def __init__(self, pipeline: Pipeline, inputs: Sequence[str], output: str, executor: Executor,
                 show_progress: bool = True, restart: bool = False, add_inputs: bool = False,
                 input_retry: InputRetry = InputRetry()) -> None:
        self.pipeline = pipeline
        self.output = output_folder(output)
        self.executor = executor
        self.folder = RunFolder(self.output, pipeline)
        self.folder.check_writable()
        patterns = pipeline.reader.patterns if pipeline.reader else tuple(p for cls in READERS for p in cls.patterns)
        self.inputs = find_inputs(inputs, patterns, self.output)
        self.files = [f.path for f in self.inputs.files]
        self.restart = restart
        self.add_inputs = add_inputs
        self.input_retry = input_retry
        self.progress = Progress(enabled=show_progress)
        self.documents_phase = pipeline.documents_phase
        self.lock = RunLock(self.output)

    def run(self) -> dict[str, Any]:
        with self.lock:
            return self._run()

    def _run(self) -> dict[str, Any]:
        started = time.time()
        started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        manifest = RunManifest(pipeline_fingerprint(self.pipeline), self.inputs.files, self.inputs.notes)
        notes = self.inputs.notes + self.folder.prepare(manifest, self.restart, self.add_inputs)
        for note in notes:
            print(f"note: {note}", file=sys.stderr)
        shard_ids = [f.shard for f in self.inputs.files]
        outcomes: list[_PhaseOutcome] = []
        sources = [ShardInput(f.shard, f.path, self.pipeline.reader or reader_for(f.path), self.input_retry)
                   for f in self.inputs.files]
        expected: dict[str, int] | None = None  # what the phase before wrote per shard
        for phase in self.pipeline.phases:
            phase_started = time.time()
            direct = self._global_reads_inputs(phase, sources)
            if direct:
                outcome = self._measure_inputs(sources)
            elif phase.global_stage is None:
                outcome = self._stream(phase, sources, expected)
            else:
                outcome = self._global(phase, sources, expected)
            outcome.wall_s = time.time() - phase_started
            outcomes.append(outcome)
            if outcome.rows_out is not None:
                expected = outcome.rows_out
            if not direct and (phase.global_stage is None or phase.global_stage.passes_documents):
                out_dir = self._phase_output_dir(phase)
                paths = [os.path.join(out_dir, f"{s}.parquet") for s in shard_ids]
                sources = [ShardInput(s, p, ParquetReader(), self.input_retry, pq.read_schema(p))
                           for s, p in zip(shard_ids, paths)]
        stats = self._stats(outcomes, started_at, time.time() - started, notes)
        self.lock.check()
        write_json(stats, os.path.join(self.output, STATS))
        self.progress.finish(stats)
        return stats

    # -- phases ---------------------------------------------------------------------------------

    def _work_dir(self, phase: Phase) -> str:
        return os.path.join(self.output, WORK, phase.name)

    def _phase_output_dir(self, phase: Phase) -> str:
        if phase.index == self.documents_phase:
            return os.path.join(self.output, DOCUMENTS)
        return os.path.join(self._work_dir(phase), DOCUMENTS)

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
        rows = {s.shard: pq.read_metadata(s.path).num_rows for s in sources}
        return _PhaseOutcome(shards=[s.shard for s in sources], stats=stats, rows_out=rows)

    def _stream(self, phase: Phase, sources: list[ShardInput], expected: dict[str, int] | None) -> _PhaseOutcome:
        work = self._work_dir(phase)
        dirs = PhaseDirs(parts=os.path.join(work, "parts"), removed_parts=os.path.join(work, "removed_parts"))
        ledger = PhaseLedger(dirs, self._phase_output_dir(phase), os.path.join(work, "stats"),
                             os.path.join(self.output, REMOVED), phase.stages, expected, self.lock.check)
        shards = [s.shard for s in sources]
        done = set(ledger.load_finished(shards))
        self.progress.start_phase(phase.name, [st.name for st in phase.stages], len(sources), len(done))
        for attempt in range(PHASE_ATTEMPTS):
            todo = [s for s in sources if s.shard not in ledger.committed]
            try:
                for event in self.executor.stream(todo, phase.stages, dirs):
                    self.progress.event(event)
                    if ledger.add(event):
                        self.progress.shard_done()
                self.progress.phase_done()
                break
            except Exception as exc:
                if attempt + 1 == PHASE_ATTEMPTS or not self.executor.is_transient(exc):
                    raise
                self.progress.retry(phase.name, exc)
                ledger.forget_unfinished()
        if ledger.failed:
            raise InputsFailed([(f.path, f.error) for f in ledger.failed.values()], len(ledger.committed), len(shards))
        missing = [s.shard for s in sources if s.shard not in ledger.committed]
        if missing:
            raise IntegrityError(f"phase {phase.name}: {len(missing)} shards did not complete (e.g. {missing[:3]}); "
                                 "rerun the same command to resume")
        outcome = _PhaseOutcome(shards=shards, rows_out={s: ledger.committed[s].after.docs for s in shards},
                                resumed=len(done))
        for shard in shards:
            outcome.stats.merge(ledger.committed[shard])
            outcome.shards_with_errors += bool(ledger.committed[shard].reader.errors)
        outcome.errors = [{"phase": phase.name, **e} for e in outcome.stats.reader.error_list]
        self._conform_outputs(phase, [ledger.output_path(s) for s in shards])
        shutil.rmtree(dirs.parts, ignore_errors=True)
        shutil.rmtree(dirs.removed_parts, ignore_errors=True)
        return outcome

    def _conform_outputs(self, phase: Phase, documents: list[str]) -> None:
        """One schema for all the files of each folder the phase wrote, so each reads as one dataset."""
        conform_to_one_schema(documents)
        steps = [phase.global_stage] if phase.global_stage else list(phase.stages)
        for step in steps:
            folder = os.path.join(self.output, REMOVED, step.name)
            conform_to_one_schema([os.path.join(d, f) for d, _, files in os.walk(folder) for f in sorted(files)
                                   if f.endswith(".parquet")])

    def _global(self, phase: Phase, sources: list[ShardInput], expected: dict[str, int] | None) -> _PhaseOutcome:
        stage = phase.global_stage
        assert stage is not None
        work = self._work_dir(phase)
        summary_path = os.path.join(work, "summary.json")
        shards = [s.shard for s in sources]
        self.progress.start_phase(phase.name, [stage.name], len(sources), 0)
        if expected is not None:  # before the stage writes anything: it must get what the phase before wrote
            for source in sources:
                _check_written(source.shard, source.path, expected[source.shard], "the phase before wrote")
        resumed = os.path.exists(summary_path)
        if resumed:
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
            self._check_global(stage.name, context, expected)
            summary = {"counts": context.total().to_json(), "sections": context.sections}
            if stage.passes_documents:
                paths = [context.output_path(s) for s in shards]
                for shard, path in zip(shards, paths):
                    if shard in context.counts:
                        _check_written(shard, path, context.counts[shard].docs_out)
                self._conform_outputs(phase, paths)
                summary["output"] = self._measure(paths)
            self.lock.check()
            write_json(summary, summary_path)  # last: its presence marks the phase finished
        self.progress.global_done(stage.name, summary["counts"])
        output = summary.get("output")
        folder = self._phase_output_dir(phase)
        rows = {s: pq.read_metadata(os.path.join(folder, f"{s}.parquet")).num_rows for s in shards} \
            if stage.passes_documents else None
        return _PhaseOutcome(shards=shards, global_counts=StageCounts.from_json(summary["counts"]),
                             sections=summary["sections"],
                             output=Profile.from_json(output["profile"]) if output else None,
                             output_bytes=output["bytes"] if output else 0, rows_out=rows,
                             resumed=len(shards) if resumed else 0)

    @staticmethod
    def _check_global(name: str, context: PhaseContext, expected: dict[str, int] | None) -> None:
        """A global stage took in exactly what the phase before wrote, shard by shard (where it counts by shard)."""
        if expected is None:
            return
        for shard, counts in context.counts.items():
            if counts.docs_in != expected.get(shard):
                raise IntegrityError(f"{name}: shard {shard} came in with {counts.docs_in} documents, the phase "
                                     f"before wrote {expected.get(shard)}")

    def _measure(self, paths: list[str]) -> dict[str, Any]:
        """Text bytes and profile of the documents in ``paths`` (Parquet), one task per file."""
        measured = self.executor.map(measure_documents, paths, Resources(num_cpus=1.0))
        profile = Profile()
        for m in measured:
            profile.merge(Profile.from_json(m["profile"]))
        return {"bytes": sum(m["bytes"] for m in measured), "profile": profile.to_json()}

    # -- stats ----------------------------------------------------------------------------------

    def _stats(self, outcomes: list[_PhaseOutcome], started_at: str, wall_s: float, notes: list[str]) -> dict[str, Any]:
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
                # wall_s is this run's; a phase's shards_resumed were finished by earlier runs, whose CPU
                # the stages' cpu_s include.
                "phases": [{"name": p.name, "wall_s": round(o.wall_s, 3), "shards": len(o.shards),
                            "shards_resumed": o.resumed} for p, o in zip(self.pipeline.phases, outcomes)],
                "input_files": self.files,
                "output": self.output,
                "notes": notes,
            },
            "reader": {k: v for k, v in first.reader.to_json().items() if k != "error_list"} |
                      {"files": len(self.files), "files_with_errors": outcomes[0].shards_with_errors},
            "stages": stages,
            "profiles": {"before": first.before.to_json(), "after": after.to_json()},
            "samples": {"removed": samples, "kept": last_docs.stats.kept},
            "errors": [e for o in outcomes for e in o.errors][:ERRORS_KEPT],
            "sections": sections,
        }


def _check_written(shard: str, path: str, counted: int, counter: str = "the stage counted") -> None:
    written = pq.read_metadata(path).num_rows
    if written != counted:
        raise IntegrityError(f"shard {shard}: {path} holds {written} documents, {counter} {counted}")


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
