import copy
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fineweb_pipe.report import write_report
from fineweb_pipe.report.blocks import Chart, Figures, Table
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
    assert rows["toxicity"][1:] == ["—", "2,650", "—", "—", "2.3%"]  # only the second run has it
    assert list(rows)[-1] == "toxicity"
    reason_rows = {(r[0], r[1]): r[2:] for r in reasons.rows}
    assert reason_rows[("gopher_quality", "too_few_words")] == ["512", "812", "+300"]
    assert reason_rows[("toxicity", "toxic")] == ["—", "61", "—"]
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


def _without(stats: dict[str, Any], *names: str) -> dict[str, Any]:
    """The same run without some steps, as a pipeline without them would have run it."""
    stats["stages"] = [s for s in stats["stages"] if s["name"] not in names]
    return stats


def test_steps_a_run_lacks_are_absent_not_zero(stats: dict[str, Any]) -> None:
    lean = _without(copy.deepcopy(stats), "language_filter", "gopher_repetition")
    section = compare_section(stats, lean, "full", "lean")
    funnel = next(b for b in section.blocks if isinstance(b, Table))
    rows = {row[0]: row for row in funnel.rows}
    assert rows["language_filter"][1:] == ["5,120", "—", "—", "53.2%", "—"]
    assert rows["gopher_repetition"][2:4] == ["—", "—"]
    reasons = [b for b in section.blocks if isinstance(b, Table)][1]
    assert {(r[0], r[1]): r[2:] for r in reasons.rows}[("language_filter", "not_english")] == ["5,811", "—", "—"]
    svg = next(b for b in section.blocks if isinstance(b, Chart)).svg
    texts = list(ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text"))
    assert "−100.0%" not in ["".join(t.itertext()) for t in texts]
    assert ["".join(t.itertext()).endswith("absent") for t in texts if t.get("class") == "absent"] == [True, True]
    # lean goes from trafilatura_extract (10,931 left) straight to gopher_quality (3,901 left): the cut drawn
    # below the absent rows is between the steps lean has
    lean_cuts = ["".join(t.itertext()) for t in texts if t.get("class") == "removed" and float(t.get("x")) > 500]
    assert "−64.3%" in lean_cuts


def test_a_step_only_the_second_run_has_goes_after_its_predecessor(stats: dict[str, Any]) -> None:
    extra = copy.deepcopy(stats)
    extra["stages"].insert(0, {"name": "length_filter", "kind": "filter", "docs_in": 12000, "docs_out": 11900,
                               "dropped": {"too_short": 100}, "bytes_out": 1, "cpu_s": 1.0, "counters": {}})
    funnel = next(b for b in compare_section(stats, extra, "a", "b").blocks if isinstance(b, Table))
    assert [row[0] for row in funnel.rows][:4] == ["input (reader)", "length_filter", "url_filter", "trafilatura_extract"]
    assert funnel.rows[1][1:4] == ["—", "11,900", "—"]
