"""Documents per language before language filtering, for the report's Languages section.

``stats.json`` profiles the documents as first seen with text, before any filter, when no step has given
them a language yet. The steps that identify languages are those whose removed documents are partitioned
by language (``removed_partition`` in ``run.json``); with ``keep_removed`` they set those documents aside
under ``removed/<step>/``, with their ``language`` column. The documents language identification saw, per language, are
therefore the ones these steps set aside plus those the last of them passed, which are all of one
language when that step keeps one. Where that cannot be known, :func:`languages_before` says why.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import storage

MANIFEST_FILE = "run.json"
REMOVED_FOLDER = "removed"
LANGUAGE_PARTITION = "language"


@dataclass(frozen=True)
class LanguageStep:
    """A step of the run that identified languages."""

    name: str
    keeps: tuple[str, ...] | None  # the languages it lets through; None: every language
    removed: Mapping[str, int] | None  # documents it set aside, per language; None: it did not keep them


def language_steps(run_dir: str | PathLike[str]) -> list[LanguageStep] | None:
    """The language-identifying steps of the run in ``run_dir``, in pipeline order; None without a readable
    ``run.json`` (a ``stats.json`` copied on its own), so that which steps identify languages is unknown."""
    run_dir = os.fspath(run_dir)
    try:
        manifest = json.loads(storage.read_bytes(storage.join(run_dir, MANIFEST_FILE)))
        phases = manifest["pipeline"]["phases"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    steps = []
    for step in (step for phase in phases for step in phase.get("steps") or []):
        if step.get("removed_partition") != LANGUAGE_PARTITION:
            continue
        keeps = step.get("languages")
        removed = _set_aside(storage.join(run_dir, REMOVED_FOLDER, str(step["name"]))) if step.get("keep_removed") \
            else None
        steps.append(LanguageStep(str(step["name"]), None if keeps is None else tuple(keeps), removed))
    return steps


def _set_aside(folder: str) -> dict[str, int] | None:
    """Documents per language under ``removed/<step>/`` (only the ``language`` column is read); None when a
    file cannot be read."""
    counts: Counter = Counter()
    try:
        for path in [f for f in storage.list_files(folder) if f.endswith(".parquet")]:
            with storage.open_input(path) as f:
                languages = pq.read_table(f, columns=[LANGUAGE_PARTITION]).column(LANGUAGE_PARTITION)
            counts.update(language or "unknown" for language in languages.to_pylist())
    except (OSError, KeyError, pa.ArrowException):
        return None
    return {language: n for language, n in counts.most_common() if n}


def languages_before(stats: Mapping[str, Any], steps: Sequence[LanguageStep] | None
                     ) -> tuple[dict[str, int] | None, str]:
    """Documents per language when languages were identified, or None and the reason they are unknown.

    Without language-identifying steps, the languages the documents came with (the ``before`` profile);
    the same where the steps are unknown (``steps`` None) if the documents came with languages."""
    if not steps:
        before = ((stats.get("profiles") or {}).get("before") or {}).get("languages") or {}
        if steps is None and not before:
            return None, (f"they are read from the run folder's {MANIFEST_FILE} and {REMOVED_FOLDER}/, and there "
                          f"is no {MANIFEST_FILE} beside this stats.json")
        return dict(before), ""
    stages = {str(s.get("name")): s for s in stats.get("stages") or []}
    counts: Counter = Counter()
    for step in steps:
        stage = stages.get(step.name)
        if stage is None:
            return None, f"stats.json has no step {step.name}"
        if step.removed is None:
            return None, (f"{step.name} did not keep the documents it removed (keep_removed=False), so their "
                          "languages are unknown")
        removed = stage.get("docs_in", 0) - stage.get("docs_out", 0)
        if sum(step.removed.values()) != removed:
            return None, (f"{REMOVED_FOLDER}/{step.name}/ holds {sum(step.removed.values()):,} documents, but "
                          f"stats.json counts {removed:,} removed by {step.name}")
        counts.update(step.removed)
    last = steps[-1]
    passed = stages[last.name].get("docs_out", 0)
    if passed:
        if last.keeps is None or len(last.keeps) != 1:
            return None, f"the documents {last.name} let through may be of several languages"
        counts[last.keeps[0]] += passed
    return dict(counts.most_common()), ""
