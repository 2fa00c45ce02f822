"""Runs a pipeline's phases with an executor, resumably, and writes ``stats.json``.

Output layout (a local folder or an object-store URL such as ``s3://bucket/run``)::

    documents/<shard>.parquet        the documents that came through (one file per input shard; the
                                     pipeline's sink names the format)
    removed/<stage>/<shard>.parquet  documents set aside by stages that keep them (language filters: with
                                     their ``language`` column), and dedup's
    tokens/                          token shards, when the pipeline tokenizes
    stats.json                       counts of everything (layout in ``fineweb_pipe.stats``)
    _work/<phase>/shards/<shard>.json  a streaming phase's completion records: a shard is finished iff
                                     its record exists (``engine.shard``)
    _work/<phase>/...                a global phase's intermediate files and ``summary.json``

    run.json                         what the folder was made from (``engine.manifest``)
    run.lock                         while a run writes here (``engine.lock``)

Workers write every file of a shard themselves and its record last; the driver only learns of
completions (counts, samples, the files' schemas), so its memory and work per shard are small and
documents never pass through it. A rerun of the same pipeline on the same inputs skips shards and
global phases that finished, redoes partial ones, and ends with the same files as an uninterrupted
run; anything else is refused or must be asked for (``engine.run_folder``). Between phases, every
shard's documents are counted: a phase must take in exactly what the one before put out.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, overload

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import schema, storage
from fineweb_pipe.engine.base import Executor
from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.engine.inputs import find_inputs
from fineweb_pipe.engine.interrupt import InterruptWatch
from fineweb_pipe.engine.lock import RunLock
from fineweb_pipe.engine.manifest import RunManifest, pipeline_fingerprint
from fineweb_pipe.engine.progress import Progress
from fineweb_pipe.engine.run_folder import DOCUMENTS, REMOVED, STATS, WORK, RunFolder
from fineweb_pipe.engine.shard import (
    InputRetry, ShardDone, ShardFailed, ShardOutputs, ShardRecord, ShardTask,
)
from fineweb_pipe.errors import ConfigurationError, InputsFailed, IntegrityError
from fineweb_pipe.pipeline import Phase, Pipeline
from fineweb_pipe.readers import ParquetReader, known_patterns, reader_for
from fineweb_pipe.readers.base import Reader
from fineweb_pipe.resumable import Resumable
from fineweb_pipe.stage import Filter, Resources, ShardRef, Stage, Transform
from fineweb_pipe.stats import ERRORS_KEPT, MergeInOrder, Profile, ReaderCounts, ShardStats, StageCounts, text_bytes
from fineweb_pipe.writers.dataset import differs, file_rows, file_schema, one_schema, rewrite_with_schema
from fineweb_pipe.writers.sinks import DocumentSink, ParquetDocuments

STATS_FORMAT = 1
# Runs of a phase over its unfinished shards when workers are lost (each run redoes only those).
PHASE_ATTEMPTS = 4
MEASURE_BATCH_ROWS = 4096
# Files whose footers one task reads (row counts, schemas): a task per file would cost more than the read.
FILES_PER_TASK = 256
# Completion records read at once when a run resumes (object stores answer each read in ~20 ms).
RECORD_READERS = 32
# Where `ray job submit --working-dir` unpacks the job's files, and runs it.
RAY_WORKING_DIR_COPY = "/runtime_resources/working_dir_files/"


@dataclass(frozen=True)
class _Source:
    """One shard of a phase's input."""

    shard: str
    path: str
    reader: Reader
    columns: pa.Schema | None = None  # where known beforehand (the phase before wrote the file)
    size: int = 0


@dataclass
class _StreamTotals:
    """What the driver keeps of a streaming phase's shards: merged counts, rows per shard, and each distinct
    schema of each output once (with the shards that have it), so that its memory per shard stays small."""

    order: dict[str, int]  # each shard's position in the phase's input
    stats: MergeInOrder = field(default_factory=MergeInOrder)
    rows: dict[str, int] = field(default_factory=dict)
    shards_with_errors: int = 0
    schemas: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # output -> schema -> shards

    def add(self, record: ShardRecord) -> None:
        self.stats.add(self.order[record.shard], record.stats)
        self.rows[record.shard] = record.rows
        self.shards_with_errors += bool(record.stats.reader.errors)
        for output, serialised in record.schemas.items():
            self.schemas.setdefault(output, {}).setdefault(serialised, []).append(record.shard)


@dataclass
class _PhaseOutcome:
    shards: list[str]
    stats: ShardStats = field(default_factory=ShardStats)
    global_counts: StageCounts | None = None
    sections: dict[str, Any] = field(default_factory=dict)
    output: Profile | None = None  # of the documents a global stage wrote
    output_bytes: int = 0
    rows_out: dict[str, int] | None = None  # documents written per shard (None: the phase writes none)
    columns: pa.Schema | None = None  # of the documents written
    errors: list[dict[str, Any]] = field(default_factory=list)  # its readers' errors
    shards_with_errors: int = 0
    resumed: int = 0  # shards an earlier run finished (a global phase: all of them, or none)
    wall_s: float = 0.0


class _Tasks(Sequence[ShardTask]):
    """A phase's shard tasks, each made when the executor takes it: the driver holds the sources it needs
    anyway, not every task with its output paths at once (~0.8 KB a shard at a dump's 90,000 shards)."""

    def __init__(self, sources: list[_Source], make: Callable[[_Source], ShardTask]) -> None:
        self._sources = sources
        self._make = make

    def __len__(self) -> int:
        return len(self._sources)

    @overload
    def __getitem__(self, index: int) -> ShardTask: ...

    @overload
    def __getitem__(self, index: slice) -> list[ShardTask]: ...

    def __getitem__(self, index: int | slice) -> ShardTask | list[ShardTask]:
        if isinstance(index, slice):
            return [self._make(s) for s in self._sources[index]]
        return self._make(self._sources[index])


def output_folder(path: str) -> str:
    """The absolute output folder or object-store URL."""
    if storage.is_local(path) and not os.path.isabs(path) and \
            RAY_WORKING_DIR_COPY in os.getcwd().replace(os.sep, "/"):
        raise ConfigurationError(f"output {path!r} is relative to Ray's copy of the job's --working-dir, which Ray "
                                 "deletes: give an absolute path that every node sees, or an object-store URL "
                                 "(e.g. s3://bucket/out)")
    return storage.absolute(path)


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
        patterns = pipeline.reader.patterns if pipeline.reader else tuple(known_patterns())
        self.inputs = find_inputs(inputs, patterns, self.output)
        self.files = [f.path for f in self.inputs.files]
        # Picked now: a file named on the command line that no reader takes stops the run before it starts.
        self.sources = [_Source(f.shard, f.path, pipeline.reader or reader_for(f.path), size=f.size)
                        for f in self.inputs.files]
        self.restart = restart
        self.add_inputs = add_inputs
        self.input_retry = input_retry
        self.progress = Progress(enabled=show_progress)
        self.documents_phase = pipeline.documents_phase
        self.lock = RunLock(self.output)
        self.interrupts = InterruptWatch()

    def run(self) -> dict[str, Any]:
        with self.lock, self.interrupts:
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
        sources = self.sources
        expected: dict[str, int] | None = None  # what the phase before wrote per shard
        for phase in self.pipeline.phases:
            self.interrupts.check()
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
                sources = [_Source(s, self._documents_url(phase, s), ParquetReader(), outcome.columns)
                           for s in shard_ids]
        stats = self._stats(outcomes, started_at, time.time() - started, notes)
        self.lock.check()
        storage.write_json(stats, storage.join(self.output, STATS))
        self.progress.finish(stats)
        return stats

    # -- phases ---------------------------------------------------------------------------------

    def _work_dir(self, phase: Phase) -> str:
        return storage.join(self.output, WORK, phase.name)

    def _phase_output_dir(self, phase: Phase) -> str:
        if phase.index == self.documents_phase:
            return storage.join(self.output, DOCUMENTS)
        return storage.join(self._work_dir(phase), DOCUMENTS)

    def _sink(self, phase: Phase) -> DocumentSink:
        return self.pipeline.sink if phase.index == self.documents_phase else ParquetDocuments()

    def _documents_url(self, phase: Phase, shard: str) -> str:
        return storage.join(self._phase_output_dir(phase), f"{shard}{self._sink(phase).extension}")

    def _global_reads_inputs(self, phase: Phase, sources: list[_Source]) -> bool:
        """Whether ``phase`` is the empty streaming phase before a leading global stage and can be
        skipped: the inputs are local Parquet files with text, read whole, so the global stage can read
        them itself instead of a copy (at 1M documents the copy took a fifth of a dedup run). Its
        documents then keep exactly the input's columns."""
        return (phase.index == 0 and not phase.stages and phase.index != self.documents_phase
                and all(type(s.reader) is ParquetReader and s.reader.columns is None and storage.is_local(s.path)
                        and schema.TEXT in pq.read_schema(s.path).names for s in sources))

    def _measure_inputs(self, sources: list[_Source]) -> _PhaseOutcome:
        """The reader's counts and the documents' profile for inputs a global stage reads directly."""
        measured = self._measure([s.path for s in sources])
        profile = Profile.from_json(measured["profile"])
        reader = ReaderCounts(documents=profile.docs, bytes=measured["bytes"], records=Counter(row=profile.docs))
        stats = ShardStats(reader=reader, before=profile, after=Profile.from_json(measured["profile"]))
        rows = dict(zip([s.shard for s in sources], self._rows([s.path for s in sources])))
        return _PhaseOutcome(shards=[s.shard for s in sources], stats=stats, rows_out=rows)

    def _task(self, phase: Phase, source: _Source, expected: dict[str, int] | None) -> ShardTask:
        removed = tuple((s.name, storage.join(self.output, REMOVED, s.name, f"{source.shard}.parquet"))
                        for s in phase.stages if s.keep_removed)
        outputs = ShardOutputs(documents=self._documents_url(phase, source.shard), removed=removed,
                               record=self._record_url(phase, source.shard), sink=self._sink(phase))
        return ShardTask(source.shard, source.path, source.reader, outputs, self.input_retry, source.columns,
                         None if expected is None else expected[source.shard], self.lock.fence(), source.size)

    def _record_url(self, phase: Phase, shard: str) -> str:
        return storage.join(self._work_dir(phase), "shards", f"{shard}.json")

    def _finished(self, phase: Phase, shards: list[str]) -> list[ShardRecord]:
        """The records of shards an earlier run finished (whose documents file is still there)."""
        present = {name.removesuffix(".json") for name in storage.list_names(storage.join(self._work_dir(phase), "shards"))}
        wanted = [s for s in shards if s in present]

        def load(shard: str) -> ShardRecord | None:
            if not storage.exists(self._documents_url(phase, shard)):
                return None
            return ShardRecord.from_json(storage.read_json(self._record_url(phase, shard)))

        with ThreadPoolExecutor(RECORD_READERS) as pool:
            return [r for r in pool.map(load, wanted) if r is not None]

    def _stream(self, phase: Phase, sources: list[_Source], expected: dict[str, int] | None) -> _PhaseOutcome:
        shards = [s.shard for s in sources]
        totals = _StreamTotals({s: i for i, s in enumerate(shards)})
        for record in self._finished(phase, shards):
            totals.add(record)
        resumed = len(totals.rows)
        self.progress.start_phase(phase.name, [st.name for st in phase.stages], len(sources), resumed)
        failed: dict[str, ShardFailed] = {}
        for attempt in range(PHASE_ATTEMPTS):
            todo = _Tasks([s for s in sources if s.shard not in totals.rows], lambda s: self._task(phase, s, expected))
            try:
                for event in self.executor.stream(todo, phase.stages):
                    self.interrupts.check()
                    self.progress.event(event)
                    if isinstance(event, ShardDone):
                        totals.add(event.record)
                        failed.pop(event.shard, None)
                        self.progress.shard_done()
                    elif isinstance(event, ShardFailed):
                        failed[event.shard] = event
                self.progress.phase_done()
                break
            except Exception as exc:
                if attempt + 1 == PHASE_ATTEMPTS or not self.executor.is_transient(exc):
                    raise
                self.progress.retry(phase.name, exc)
        if failed:
            raise InputsFailed([(f.path, f.error) for f in failed.values()], len(totals.rows), len(shards))
        missing = [s for s in shards if s not in totals.rows]
        if missing:
            raise IntegrityError(f"phase {phase.name}: {len(missing)} shards did not complete (e.g. {missing[:3]}); "
                                 "rerun the same command to resume")
        columns = self._conform_streamed(phase, totals)
        stats = totals.stats.result()
        outcome = _PhaseOutcome(shards=shards, stats=stats, rows_out={s: totals.rows[s] for s in shards},
                                columns=columns, resumed=resumed, shards_with_errors=totals.shards_with_errors)
        outcome.errors = [{"phase": phase.name, **e} for e in stats.reader.error_list]
        return outcome

    def _conform_streamed(self, phase: Phase, totals: _StreamTotals) -> pa.Schema:
        """One schema per folder the phase wrote (from the records: no file is read unless it must be
        rewritten); returns the documents' schema."""
        unified_documents: pa.Schema | None = None
        jobs: list[tuple[str, bytes]] = []
        for output, groups in totals.schemas.items():
            decoded = {serialised: ShardRecord.decode_schema(serialised) for serialised in groups}
            unified = one_schema(decoded.values())
            if output == "documents":
                unified_documents = unified
            for serialised, shards in groups.items():
                if differs(decoded[serialised], unified):
                    urls = [self._documents_url(phase, s) if output == "documents"
                            else storage.join(self.output, REMOVED, output, f"{s}.parquet") for s in shards]
                    jobs += [(url, unified.serialize().to_pybytes()) for url in urls]
        if jobs and not isinstance(self._sink(phase), ParquetDocuments):
            jobs = [j for j in jobs if j[0].endswith(".parquet")]
        if jobs:
            self.executor.map(rewrite_with_schema, jobs, Resources(num_cpus=1.0))
        assert unified_documents is not None
        return unified_documents

    def _rows(self, urls: list[str]) -> list[int]:
        """Rows of each Parquet file (footers, read by the workers)."""
        batches = [urls[i:i + FILES_PER_TASK] for i in range(0, len(urls), FILES_PER_TASK)]
        return [n for batch in self.executor.map(_rows_of, batches, Resources(num_cpus=0.5)) for n in batch]

    def _mapper(self, phase: Phase) -> Callable[[Callable[[Any], Any], Sequence[Any], Resources], list[Any]]:
        """The global stage's parallel map, with each round's progress in the live display; a Ctrl-C stops
        it at the next finished task."""
        def mapper(fn: Callable[[Any], Any], items: Sequence[Any], resources: Resources) -> list[Any]:
            name = storage.basename(fn.done_dir) if isinstance(fn, Resumable) else getattr(fn, "__name__", "tasks")
            shown = self.progress.round(phase.name, name)

            def done(finished: int, total: int) -> None:
                shown(finished, total)
                self.interrupts.check()
            return self.executor.map(fn, items, resources, done)
        return mapper

    def _global(self, phase: Phase, sources: list[_Source], expected: dict[str, int] | None) -> _PhaseOutcome:
        stage = phase.global_stage
        assert stage is not None
        work = self._work_dir(phase)
        summary_path = storage.join(work, "summary.json")
        shards = [s.shard for s in sources]
        self.progress.start_phase(phase.name, [stage.name], len(sources), 0)
        resumed = storage.exists(summary_path)
        if resumed:
            summary = storage.read_json(summary_path)
        else:
            if expected is not None:  # before the stage writes anything: it must get what the phase before wrote
                for source, held in zip(sources, self._rows([s.path for s in sources])):
                    if held != expected[source.shard]:
                        raise IntegrityError(f"shard {source.shard}: {source.path} holds {held} documents, the phase "
                                             f"before wrote {expected[source.shard]}")
            context = PhaseContext(
                stage_name=stage.name,
                inputs=[ShardRef(s.shard, s.path) for s in sources],
                work_dir=storage.join(work, "work"),
                run_dir=self.output,
                output_dir=self._phase_output_dir(phase),
                mapper=self._mapper(phase),
            )
            stage.run(context)
            self._check_global(stage.name, context, expected)
            summary = {"counts": context.total().to_json(), "sections": context.sections}
            if stage.passes_documents:
                paths = [context.output_path(s) for s in shards]
                rows = self._rows(paths)
                for shard, path, written in zip(shards, paths, rows):
                    if shard in context.counts and written != context.counts[shard].docs_out:
                        raise IntegrityError(f"shard {shard}: {path} holds {written} documents, the stage "
                                             f"counted {context.counts[shard].docs_out}")
                self._conform_files(paths)
                self._conform_files(storage.list_files(storage.join(self.output, REMOVED, stage.name)))
                summary["output"] = self._measure(paths)
                summary["rows"] = dict(zip(shards, rows))
            self.lock.check()
            storage.write_json(summary, summary_path)  # last: its presence marks the phase finished
        self.progress.global_done(stage.name, summary["counts"])
        output = summary.get("output")
        columns = file_schema(self._documents_url(phase, shards[0])) if stage.passes_documents and shards else None
        return _PhaseOutcome(shards=shards, global_counts=StageCounts.from_json(summary["counts"]),
                             sections=summary["sections"],
                             output=Profile.from_json(output["profile"]) if output else None,
                             output_bytes=output["bytes"] if output else 0, rows_out=summary.get("rows"),
                             columns=columns, resumed=len(shards) if resumed else 0)

    def _conform_files(self, urls: list[str]) -> None:
        """One schema for the Parquet files ``urls`` (a global stage's outputs), read from their footers."""
        urls = [u for u in urls if u.endswith(".parquet")]
        batches = [urls[i:i + FILES_PER_TASK] for i in range(0, len(urls), FILES_PER_TASK)]
        schemas = [pa.ipc.read_schema(pa.py_buffer(b)) for batch in
                   self.executor.map(_schemas_of, batches, Resources(num_cpus=0.5)) for b in batch]
        if len({s.remove_metadata() for s in schemas}) <= 1:
            return
        unified = one_schema(schemas)
        jobs = [(url, unified.serialize().to_pybytes()) for url, s in zip(urls, schemas) if differs(s, unified)]
        self.executor.map(rewrite_with_schema, jobs, Resources(num_cpus=1.0))

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


def _rows_of(urls: list[str]) -> list[int]:
    return [file_rows(url) for url in urls]


def _schemas_of(urls: list[str]) -> list[bytes]:
    return [file_schema(url).serialize().to_pybytes() for url in urls]


def measure_documents(path: str) -> dict[str, Any]:
    """Text bytes and profile of one documents file, read batch by batch and only the profiled columns."""
    with storage.open_input(path) as f:
        parquet = pq.ParquetFile(f)
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
