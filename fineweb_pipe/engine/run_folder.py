"""The output folder as the engine owns it: what it may write and delete, and whether a rerun resumes.

The engine writes only the names in :data:`ENGINE_NAMES` (and what global stages declare in
``run_outputs``) and deletes nothing else: a folder that holds other things and no ``run.json`` is not
an output and is refused. :meth:`RunFolder.prepare` compares this run with the one recorded in
``run.json`` and says what happens (docs/reliability.md):

- same pipeline, same inputs: resume;
- another pipeline, or inputs missing or changed: refused, naming what changed; ``restart=True``
  clears what the engine wrote and starts over;
- inputs added (``add_inputs=True``): the finished shards of the first phase are kept; every phase from
  the first global one on (which needs all inputs) is redone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fineweb_pipe import storage
from fineweb_pipe.engine.inputs import InputFile
from fineweb_pipe.engine.manifest import MANIFEST_NAME, RunManifest, input_changes, pipeline_changes
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.pipeline import Phase, Pipeline
from fineweb_pipe.storage import TEMPORARY_SUFFIX, read_json, write_json

DOCUMENTS, REMOVED, WORK, STATS, REPORT = "documents", "removed", "_work", "stats.json", "report.html"
ENGINE_NAMES = (DOCUMENTS, REMOVED, WORK, STATS, REPORT, MANIFEST_NAME)
LOCK_FILES = re.compile(r"^run\.lock(\.takeover-[0-9a-f]+)?$")
_TEMPORARY = re.compile(re.escape(TEMPORARY_SUFFIX) + r"[0-9a-f]{12}$")
LISTED_NAMES = 5


@dataclass
class RunFolder:
    path: str
    pipeline: Pipeline

    def owned_names(self) -> list[str]:
        """Top-level names this pipeline's runs write."""
        declared = [n for p in self.pipeline.phases if p.global_stage for n in p.global_stage.run_outputs]
        return [*ENGINE_NAMES, *declared]

    def check_writable(self) -> None:
        """Refuse a path that is a file, or a non-empty folder that is not a fineweb-pipe output."""
        if storage.is_local(self.path) and storage.exists(self.path) and not storage.is_dir(self.path):
            raise ConfigurationError(f"output {self.path} is a file; give a folder (new or a fineweb-pipe output)")
        if storage.exists(storage.join(self.path, MANIFEST_NAME)):
            return
        foreign = self._foreign_entries()
        if foreign:
            raise ConfigurationError(
                f"output {self.path} is not empty and is not a fineweb-pipe output (no {MANIFEST_NAME}): it holds "
                f"{', '.join(foreign[:LISTED_NAMES])}{' ...' if len(foreign) > LISTED_NAMES else ''}; "
                "give an empty or new folder")

    def _foreign_entries(self) -> list[str]:
        owned = set(self.owned_names())
        return [n for n in storage.list_names(self.path) if n not in owned and not LOCK_FILES.match(n)]

    def prepare(self, manifest: RunManifest, restart: bool, add_inputs: bool) -> list[str]:
        """Reconcile this run with the folder (under its lock); records ``run.json``. Returns notes for the
        user on what was kept or redone."""
        path = storage.join(self.path, MANIFEST_NAME)
        notes: list[str] = []
        if restart:
            if self._clear(self.owned_names()):
                notes.append(f"--restart: cleared what earlier runs wrote to {self.path}")
        elif storage.exists(path):
            notes += self._reconcile(RunManifest.from_json(read_json(path)), manifest, add_inputs)
        elif set(storage.list_names(self.path)) & set(self.owned_names()):
            raise ConfigurationError(
                f"output {self.path} holds results of a fineweb-pipe version without {MANIFEST_NAME}; "
                "they cannot be checked against this run: use --restart to clear them, or another --output")
        self._clear([STATS, REPORT])  # they describe a finished run; this one writes them when it finishes
        self._remove_temporaries()
        write_json(manifest.to_json(), path)
        return notes

    def _reconcile(self, old: RunManifest, new: RunManifest, add_inputs: bool) -> list[str]:
        changes = pipeline_changes(old.pipeline, new.pipeline)
        if changes:
            raise ConfigurationError(
                f"output {self.path} was made by another pipeline; {'; '.join(changes)}. Give this pipeline a new "
                "--output, or rerun with --restart to clear this one and start over")
        diff = input_changes(old.inputs, new.inputs)
        if diff.missing or diff.changed:
            what = [f"{len(diff.missing)} missing ({_keys(diff.missing)})"] if diff.missing else []
            if diff.changed:
                what.append(f"{len(diff.changed)} changed since the run began ({_keys([b for _, b in diff.changed])})")
            raise ConfigurationError(
                f"the inputs differ from those of the run in {self.path}: {', '.join(what)}. Rerun with the same "
                "inputs to resume, or use --restart (or another --output) to process these inputs")
        notes = [f"{len(diff.moved)} inputs are read from a new place ({_keys([b for _, b in diff.moved])})"] \
            if diff.moved else []
        if diff.added:
            redone = self._phases_needing_all_inputs()
            if not add_inputs:
                raise ConfigurationError(
                    f"{len(diff.added)} inputs are new to the run in {self.path} ({_keys(diff.added)}). Rerun with "
                    "--add-inputs to process them" + (f" (this redoes {', '.join(p.name for p in redone)}, which "
                                                       "need every input)" if redone else "") +
                    ", or give them another --output")
            self.invalidate(redone)
            notes.append(f"--add-inputs: {len(diff.added)} new inputs" +
                         (f"; redoing {', '.join(p.name for p in redone)}" if redone else ""))
        return notes

    def _phases_needing_all_inputs(self) -> list[Phase]:
        """The first global phase and every phase after it."""
        phases = self.pipeline.phases
        first = next((p.index for p in phases if p.global_stage is not None), len(phases))
        return list(phases[first:])

    def invalidate(self, phases: list[Phase]) -> None:
        """Delete what ``phases`` wrote, so that they run again from scratch."""
        names: list[str] = []
        for phase in phases:
            names.append(f"{WORK}/{phase.name}")
            steps = [phase.global_stage] if phase.global_stage else list(phase.stages)
            names += [f"{REMOVED}/{s.name}" for s in steps]
            if phase.global_stage:
                names += list(phase.global_stage.run_outputs)
        if any(p.index == self.pipeline.documents_phase for p in phases):
            names.append(DOCUMENTS)
        self._clear(names)

    def _clear(self, names: list[str]) -> bool:
        cleared = False
        for name in names:
            cleared |= storage.remove(storage.join(self.path, name))
        return cleared

    def _remove_temporaries(self) -> None:
        """Delete temporary files a killed run left, only where the engine writes and only by its naming.
        (Object stores have none: an unfinished upload is never published.)"""
        if not storage.is_local(self.path):
            return
        owned = self.owned_names()
        for name in storage.list_names(self.path):
            top = storage.join(self.path, name)
            if name in owned and storage.is_dir(top):
                paths = storage.list_files(top)
            elif name.split(TEMPORARY_SUFFIX)[0] in [*owned, "run.lock"]:
                paths = [top]
            else:
                continue
            for path in paths:
                if _TEMPORARY.search(path):
                    storage.remove(path)


def _keys(files: list[InputFile]) -> str:
    listed = ", ".join(f.key for f in files[:LISTED_NAMES])
    return listed + (f" and {len(files) - LISTED_NAMES} more" if len(files) > LISTED_NAMES else "")
