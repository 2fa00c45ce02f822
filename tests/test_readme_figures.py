"""The README's headline figures are the ones in benchmarks/README.md's tables: when a benchmark is rerun
and its table updated, this fails until the README quotes the new figures (and names no figure the
tables do not hold)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: A figure as the README writes one: a ratio (1.43x), a share (16 %), a decimal (0.9995, 4,279.3), a size
#: or a time (588 MB, 180.6 s).
FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?x|\d+ %|\d[\d,]*\.\d+|\d[\d,]* (?:MB|s)\b")


def section(text: str, heading: str) -> str:
    """The lines under ``heading`` up to the next heading."""
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    end = re.compile(r"^#{1,3} ", re.MULTILINE).search(text, start)
    return text[start:end.start() if end else len(text)]


def table(text: str) -> list[list[str]]:
    """A section's Markdown table rows, header first, cells without bold marks."""
    rows = [line.strip().strip("|").split("|") for line in text.splitlines() if line.startswith("|")]
    return [[cell.replace("**", "").strip() for cell in row] for row in rows if not set(row[0]) <= set("-: ")]


def first(pattern: str, cell: str) -> str:
    match = re.match(pattern, cell)
    assert match, f"{cell!r} does not start with a figure"
    return match.group(0)


def benchmark_figures() -> list[str]:
    """The figures the README's headline takes from benchmarks/README.md, as the README writes them."""
    bench = (REPO / "benchmarks" / "README.md").read_text(encoding="utf-8")

    recipe = table(section(bench, "### 1. FineWeb recipe"))
    header, rows = recipe[0], recipe[1:]
    ratio_col = header.index("ours / datatrove per core")
    ratios = {(row[0], row[1]): first(r"[\d.]+x", row[ratio_col]) for row in rows if row[ratio_col]}
    same_records = [r for (inp, _), r in ratios.items() if "records both read" in inp]
    one_core = [r for (_, side), r in ratios.items() if "in-process" in side]
    own_reads = sorted(r for (inp, side), r in ratios.items()
                       if "records both read" not in inp and "in-process" not in side)
    assert len(same_records) == len(one_core) == 1 and len(own_reads) == 2, ratios

    dedup = table(section(bench, "### 2. MinHash dedup, 1,000,000 documents"))
    header, rows = dedup[0], dedup[1:]
    col = {name: header.index(name) for name in ("side", "wall s", "peak memory, PSS (RSS)",
                                                 "recall (J >= 0.85)", "precision")}

    def row(side_starts: str) -> list[str]:
        found = [r for r in rows if r[col["side"]].startswith(side_starts)]
        assert len(found) == 1, (side_starts, rows)
        return found[0]

    ours_ray, ours_one, theirs = row("ours as shipped, 16 x 8, verified (Ray)"), \
        row("ours as shipped, 16 x 8, verified (in-process)"), row("datatrove")
    peak = col["peak memory, PSS (RSS)"]
    dropped = re.search(r"datatrove's reader drops [\d,]+ of the [\d,]+ HTML responses\*\* \((\d+ %)\)", bench)
    assert dropped, "benchmarks/README.md no longer says what share datatrove's reader drops"
    return [
        same_records[0], f"{own_reads[0]}-{own_reads[1]}", one_core[0], dropped.group(1),
        f"{ours_ray[col['wall s']]} s", f"{theirs[col['wall s']]} s",
        f"{ours_ray[col['recall (J >= 0.85)']]} vs {theirs[col['recall (J >= 0.85)']]}",
        f"{ours_ray[col['precision']]} vs {theirs[col['precision']]}",
        first(r"[\d,]+ MB", ours_one[peak]), first(r"[\d,]+ MB", theirs[peak]),
    ]


def readme_headline() -> str:
    """The README's paragraph of figures against datatrove, on one line."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    paragraph = next(p for p in readme.split("\n\n") if p.startswith("Against datatrove"))
    return " ".join(paragraph.split())


def test_readme_quotes_the_benchmark_tables_figures() -> None:
    headline = readme_headline()
    missing = [figure for figure in benchmark_figures() if figure not in headline]
    assert not missing, f"README.md's headline lacks these figures of benchmarks/README.md: {missing}"


def test_readme_quotes_no_other_figure() -> None:
    allowed = " ".join(benchmark_figures())
    stray = [figure for figure in FIGURE.findall(readme_headline()) if figure not in allowed]
    assert not stray, f"README.md's headline has figures benchmarks/README.md's tables do not: {stray}"
