import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fineweb_pipe.report import write_report
from fineweb_pipe.report.blocks import Figures, Table
from fineweb_pipe.report.compare import compare_section


def _stricter(stats: dict[str, Any]) -> dict[str, Any]:
    """The same run with a stricter gopher_quality threshold and an extra filter at the end."""
    stage = next(s for s in stats["stages"] if s["name"] == "gopher_quality")
    stage["dropped"]["too_few_words"] += 300
    stage["docs_out"] -= 300
    for later in stats["stages"][stats["stages"].index(stage) + 1:]:
        later["docs_in"] -= 300
        later["docs_out"] -= 300
    stats["stages"].append({"name": "toxicity", "kind": "filter", "docs_in": 2711, "docs_out": 2650,
                            "dropped": {"toxic": 61}, "bytes_out": 1, "cpu_s": 1.0, "counters": {}})
    return stats


def test_funnels_side_by_side_matched_by_step(stats: dict[str, Any]) -> None:
    section = compare_section(stats, _stricter(copy.deepcopy(stats)), "base", "strict")
    funnel, reasons = [b for b in section.blocks if isinstance(b, Table)]
    rows = {row[0]: row for row in funnel.rows}
    assert rows["gopher_quality"][1:4] == ["3,901", "3,601", "-300"]
    assert rows["gopher_quality"][4:] == ["17.0%", "23.4%"]
    assert rows["toxicity"][1:3] == ["—", "2,650"]  # only the second run has it
    assert list(rows)[-1] == "toxicity"
    reason_rows = {(r[0], r[1]): r[2:] for r in reasons.rows}
    assert reason_rows[("gopher_quality", "too_few_words")] == ["512", "812", "+300"]
    assert reason_rows[("toxicity", "toxic")] == ["0", "61", "+61"]
    figures = dict(next(b for b in section.blocks if isinstance(b, Figures)).items)
    assert figures["difference"] == "-361"


def test_report_with_compare_puts_it_after_the_funnel(stats: dict[str, Any],
                                                      make_run: Callable[[str, dict], Path]) -> None:
    base = make_run("base", stats)
    strict = make_run("strict", _stricter(copy.deepcopy(stats)))
    page = write_report(base, compare_to=strict).read_text(encoding="utf-8")
    assert page.index('id="funnel"') < page.index('id="compare"') < page.index('id="removals"')
    assert "Compared with strict" in page


def test_runs_with_the_same_folder_name_are_told_apart_by_path(stats: dict[str, Any],
                                                               make_run: Callable[[str, dict], Path]) -> None:
    a = make_run("a/out", stats)
    b = make_run("b/out", stats)
    page = write_report(a, compare_to=b).read_text(encoding="utf-8")
    assert f"Compared with {b}" in page
