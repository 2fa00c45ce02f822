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
from fineweb_pipe.storage import local_staging

STATS_FILE = "stats.json"
REPORT_FILE = "report.html"
STATS_FORMAT = 1
HTML_SUFFIXES = (".html", ".htm")

__all__ = ["REPORT_FILE", "STATS_FILE", "load_stats", "report_path", "write_report"]


def load_stats(run_dir: Path) -> dict[str, Any]:
    """A run's ``stats.json``, with errors that name the file and say what to do."""
    path = run_dir / STATS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file; pass the output folder of a finished "
                                "`fineweb-pipe run` (it writes stats.json at the end)")
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
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


def write_report(run_dir: str | Path, compare_to: str | Path | None = None, out: str | Path | None = None) -> Path:
    """Write the report of the run in ``run_dir`` (its ``stats.json``, and for the languages before
    filtering its ``run.json`` and ``removed/``) to ``out`` (default: ``run_dir/report.html``; a folder:
    ``report.html`` in it), with ``compare_to``'s funnel beside this run's if given; return its path."""
    run_dir = Path(run_dir)
    stats = load_stats(run_dir)
    target = report_path(run_dir, out)
    comparison = None
    if compare_to is not None:
        name, other_name = _names(run_dir, Path(compare_to))
        comparison = compare_section(stats, load_stats(Path(compare_to)), name, other_name)
    page = render_page(stats, run_dir.resolve().name, comparison, language_steps(run_dir))
    try:
        # Web text may hold lone surrogates (undecodable bytes kept by Python): replace, never fail.
        with local_staging(str(target)) as tmp, open(tmp, "w", encoding="utf-8", errors="replace") as out_file:
            out_file.write(page)
    except OSError as err:
        raise OSError(f"{target}: cannot write the report ({err.strerror or err}); write it elsewhere "
                      "(`fineweb-pipe report --out`)") from err
    return target
