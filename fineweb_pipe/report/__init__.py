"""The dataset QA report: ``report.html`` drawn from a run's ``stats.json``, self-contained and safe to
open on untrusted web text. See ``docs/report.md`` for how to read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fineweb_pipe.report.compare import compare_section
from fineweb_pipe.report.render import render_page
from fineweb_pipe.writers.atomic import atomic_path

STATS_FILE = "stats.json"
REPORT_FILE = "report.html"
STATS_FORMAT = 1

__all__ = ["REPORT_FILE", "STATS_FILE", "load_stats", "write_report"]


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


def write_report(run_dir: str | Path, compare_to: str | Path | None = None) -> Path:
    """Write ``run_dir/report.html`` from ``run_dir/stats.json`` (with ``compare_to``'s funnel beside
    this run's, if given) and return its path."""
    run_dir = Path(run_dir)
    stats = load_stats(run_dir)
    comparison = None
    if compare_to is not None:
        name, other_name = _names(run_dir, Path(compare_to))
        comparison = compare_section(stats, load_stats(Path(compare_to)), name, other_name)
    page = render_page(stats, run_dir.resolve().name, comparison)
    target = run_dir / REPORT_FILE
    # Web text may hold lone surrogates (undecodable bytes kept by Python): replace, never fail.
    with atomic_path(str(target)) as tmp, open(tmp, "w", encoding="utf-8", errors="replace") as out:
        out.write(page)
    return target
