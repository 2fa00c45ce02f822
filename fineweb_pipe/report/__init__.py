"""The dataset QA report: ``report.html`` drawn from a run's ``stats.json`` (and, for the languages before
filtering, its ``run.json`` and ``removed/`` folder), self-contained and safe to open on untrusted web
text. See ``docs/report.md`` for how to read it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fineweb_pipe.report.compare import compare_section
from fineweb_pipe.report.languages import language_steps
from fineweb_pipe.report.render import render_page
from fineweb_pipe import storage
from fineweb_pipe.storage import local_staging

STATS_FILE = "stats.json"
REPORT_FILE = "report.html"
STATS_FORMAT = 1
HTML_SUFFIXES = (".html", ".htm")

__all__ = ["REPORT_FILE", "STATS_FILE", "load_stats", "report_path", "write_report"]


def load_stats(run_dir: str | Path) -> dict[str, Any]:
    """A run's ``stats.json`` (a local folder or an object-store URL), with errors that name the file and say
    what to do."""
    path = storage.join(str(run_dir), STATS_FILE)
    try:
        raw = storage.read_bytes(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise FileNotFoundError(f"{path}: no such file; pass the output folder of a finished "
                                "`fineweb-pipe run` (it writes stats.json at the end)") from None
    try:
        stats = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); rerun the pipeline to rewrite it") from err
    if not isinstance(stats, dict) or stats.get("format") != STATS_FORMAT:
        found = stats.get("format") if isinstance(stats, dict) else type(stats).__name__
        raise ValueError(f"{path}: stats format {found!r}, this report reads format {STATS_FORMAT}; "
                         "use the fineweb-pipe version that wrote it")
    return stats


def _names(run_dir: Path, other: Path) -> tuple[str, str]:
    """Short names for two runs: their folder names, or their paths where the names are the same."""
    if run_dir.resolve().name != other.resolve().name:
        return run_dir.resolve().name, other.resolve().name
    return str(run_dir), str(other)


def report_path(run_dir: Path, out: str | Path | None = None) -> Path:
    """Where the report goes: ``out`` (a file, or a folder to put ``report.html`` in), else the run folder.

    An existing file is only replaced if it is an HTML file, so that a slip such as ``--out stats.json``
    cannot destroy data."""
    if out is None:
        return run_dir / REPORT_FILE
    target = Path(out)
    if target.is_dir() or str(out).endswith(("/", os.sep)):
        return target / REPORT_FILE
    if target.exists() and target.suffix.lower() not in HTML_SUFFIXES:
        raise ValueError(f"{target} exists and is not an HTML file: give a new file, an .html file or a folder")
    return target


def write_report(run_dir: str | Path, compare_to: str | Path | None = None,
                 out: str | Path | None = None) -> Path | str:
    """Write the report of the run in ``run_dir`` (its ``stats.json``, and for the languages before
    filtering its ``run.json`` and ``removed/``) to ``out`` (default: ``run_dir/report.html``; a folder:
    ``report.html`` in it), with ``compare_to``'s funnel beside this run's if given; return its path."""
    stats = load_stats(run_dir)
    location = str(run_dir)
    if not storage.is_local(location):  # a run on an object store: the report goes next to its stats.json
        if out is None:
            out = storage.join(location, REPORT_FILE)
        target: Path | str = str(out)
        title = storage.basename(location)
    else:
        run_dir = Path(run_dir)
        target = report_path(run_dir, out)
        title = run_dir.resolve().name
    comparison = None
    if compare_to is not None:
        name, other_name = _names(Path(run_dir), Path(compare_to))
        comparison = compare_section(stats, load_stats(compare_to), name, other_name)
    page = render_page(stats, title, comparison, language_steps(location))
    try:
        # Web text may hold lone surrogates (undecodable bytes kept by Python): replace, never fail.
        with local_staging(str(target)) as tmp, open(tmp, "w", encoding="utf-8", errors="replace") as out_file:
            out_file.write(page)
    except OSError as err:
        raise OSError(f"{target}: cannot write the report ({err.strerror or err}); write it elsewhere "
                      "(`fineweb-pipe report --out`)") from err
    return target
