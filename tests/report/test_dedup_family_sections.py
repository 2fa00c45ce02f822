"""The span dedup and decontamination sections of real runs: a small pipeline (SpanDedup, then Decontaminate
flagging and Decontaminate removing) over web prose into which the test pasted a hostile boilerplate
paragraph and examples of two benchmark files it wrote, run in-process; the report.html the run wrote
must show what its stats.json holds, and what the test put in."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from sample_texts import sample_texts

from fineweb_pipe.report import REPORT_FILE, load_stats
from fineweb_pipe.report.sections import SPAN_CHARS, build_sections

pytestmark = pytest.mark.slow

# Pasted after the last paragraph of five documents: removed from all of them but the first.
BOILERPLATE = ("<script>alert('span')</script> Sign up for our newsletter today. We never share your email "
               "address. Unsubscribe at any time.")
BOILERPLATE_DOCS = (2, 9, 15, 22, 30)
# A long disclaimer in two documents: its table cell is cut.
DISCLAIMER = ("The information on this page is provided for general interest only and does not constitute professional "
              "advice of any kind whatsoever. Readers should consult a qualified adviser before acting on anything "
              "they read here, since circumstances differ from one person to the next. The publisher accepts no "
              "liability for any loss arising from the use of this material, however caused.")
DISCLAIMER_DOCS = (4, 12)
ARITH = ["A farmer has 17 cows and buys 5 more each week; how many cows will the farmer own after nine weeks?",
         "Which gas do plants take in from the air during photosynthesis to build sugars in their green leaves?"]
UNMATCHED = "How many moons were known to orbit the planet Jupiter at the start of the year 2020 and who counted them?"
# Which document holds which ARITH example (appended or prepended, so no span window covers it alone).
CONTAMINATED = {"d5": 0, "d25": 0, "d33": 1}

PIPELINE = """
from fineweb_pipe.dedup import Decontaminate, SpanDedup
from fineweb_pipe.pipeline import Pipeline

benchmarks = {benchmarks!r}
pipeline = Pipeline(name="span-and-decontamination", steps=[
    SpanDedup(min_words=20),
    Decontaminate(benchmarks, action="flag").named("contamination_flags"),
    Decontaminate(benchmarks)])
"""
PLAIN_PIPELINE = """
from fineweb_pipe.dedup import ExactDedup
from fineweb_pipe.pipeline import Pipeline

pipeline = Pipeline(name="exact-only", steps=[ExactDedup()])
"""


def _run(folder: Path, pipeline: str) -> Path:
    from fineweb_pipe.cli import main  # imports the engines (Ray): only for the tests of real runs

    (folder / "pipeline.py").write_text(pipeline, encoding="utf-8")
    assert main(["run", str(folder / "pipeline.py"), "--input", str(folder / "input"), "--output",
                 str(folder / "output"), "--engine", "local", "--quiet"]) == 0
    return folder / "output"


def _write_input(folder: Path) -> None:
    texts = [t for t in sample_texts(80, seed=3) if len(t.split()) > 80][:40]
    for i in BOILERPLATE_DOCS:
        texts[i] = f"{texts[i]}\n\n{BOILERPLATE}"
    for i in DISCLAIMER_DOCS:
        texts[i] = f"{texts[i]}\n\n{DISCLAIMER}"
    for doc, example in CONTAMINATED.items():
        i = int(doc[1:])
        texts[i] = f"{texts[i]} {ARITH[example]}" if i % 2 else f"{ARITH[example]} {texts[i]}"
    (folder / "input").mkdir(parents=True)
    (folder / "input" / "docs.jsonl").write_text("".join(
        json.dumps({"id": f"d{i}", "url": f"https://example.com/{i}", "text": t}) + "\n" for i, t in enumerate(texts)),
        encoding="utf-8")


@pytest.fixture(scope="module")
def span_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("span-and-decontamination")
    _write_input(folder)
    benchmarks = {"arith": folder / "arith.jsonl", "unmatched": folder / "unmatched.jsonl"}
    for name, questions in (("arith", ARITH), ("unmatched", [UNMATCHED])):
        benchmarks[name].write_text("".join(json.dumps({"question": q, "answer": "42"}) + "\n" for q in questions),
                                    encoding="utf-8")
    return _run(folder, PIPELINE.format(benchmarks={name: str(path) for name, path in benchmarks.items()}))


def _section(page: str, section_id: str) -> str:
    return page.split(f'<section id="{section_id}">', 1)[1].split("</section>", 1)[0]


def _text(cell: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", cell))


def _figures(section: str) -> dict[str, str]:
    """The headline tiles as the reader sees them: label -> value."""
    pairs = re.findall(r'<div class="figure-value">(.*?)</div><div class="figure-label">(.*?)</div>', section)
    return {_text(label): _text(value) for value, label in pairs}


def _tables(section: str) -> list[list[list[str]]]:
    """Each table's body rows, as the text of their cells."""
    return [[[_text(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
             for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>", 1)[1], re.S)]
            for table in re.findall(r"<table>(.*?)</table>", section, re.S)]


def _stats_section(run: Path, name: str) -> dict[str, Any]:
    section: dict[str, Any] = load_stats(run)["sections"][name]
    return section


def test_span_dedup_section_shows_what_the_run_removed(span_run: Path) -> None:
    span = _stats_section(span_run, "span_dedup")
    page = (span_run / REPORT_FILE).read_text(encoding="utf-8")
    assert '<h2>Span deduplication (span_dedup)</h2>' in page
    section = _section(page, "span_dedup")
    figures = _figures(section)
    # The boilerplate went from four of the five documents, the disclaimer from one of two; the generated
    # prose may repeat itself too.
    assert span["spans_removed"] >= len(BOILERPLATE_DOCS) - 1 + len(DISCLAIMER_DOCS) - 1
    assert figures["spans removed"] == f"{span['spans_removed']:,}"
    assert figures["documents changed"] == f"{span['documents_changed']:,} ({100 * span['documents_changed'] / 40:.1f}%)"
    assert figures["documents dropped"] == "0 (0.0%)" and figures["documents in"] == "40"
    assert figures["characters removed"].startswith(f"{span['characters_removed']:,} (")
    assert "A span is 3 consecutive sentences; one found in 2 documents or more" in _text(section)
    spans = _tables(section)[0]
    assert spans[0] == [BOILERPLATE, str(len(BOILERPLATE_DOCS))]  # the most repeated, whole
    assert [row[1] for row in spans] == [f"{m['documents']:,}" for m in span["most_repeated"]]
    long_cells = [text for text, _ in spans if text.startswith(DISCLAIMER[:40])]
    assert len(long_cells) == 1 and len(long_cells[0]) == SPAN_CHARS < len(DISCLAIMER)
    assert DISCLAIMER.startswith(long_cells[0].removesuffix("…"))
    # The hostile span is text on the page, never markup.
    assert str(escape(BOILERPLATE)) in section and "<script>" not in page


def test_decontamination_sections_list_the_benchmarks_hit_and_the_overlaps(span_run: Path) -> None:
    page = (span_run / REPORT_FILE).read_text(encoding="utf-8")
    for name, title, verb in (("contamination_flags", "Benchmark contamination (contamination_flags)", "flagged"),
                              ("decontaminate", "Benchmark contamination (decontaminate)", "removed")):
        assert f"<h2>{title}</h2>" in page
        data = _stats_section(span_run, name)
        section = _section(page, name)
        assert _figures(section)[f"documents {verb}"] == f"{len(CONTAMINATED)} ({100 * len(CONTAMINATED) / 40:.1f}%)"
        assert _figures(section)["benchmarks hit"] == "1 of 2"
        benchmarks, overlaps = _tables(section)
        # benchmark, examples, shorter than 13 words, documents hit, share of documents, examples hit, share
        assert benchmarks == [["arith", "2", "0", "3", "7.5%", "2", "100.0%"],
                              ["unmatched", "1", "0", "0", "0.0%", "0", "0.0%"]]
        assert [[b, row["documents_hit"]] for b, row in data["benchmarks"].items()] == [
            [row[0], int(row[3])] for row in benchmarks]
        assert sorted((document, example) for example, document, _ in overlaps) == sorted(
            (doc, f"arith:{example}") for doc, example in CONTAMINATED.items())
        for example, _, ngram in overlaps:
            assert len(ngram.split()) == 13 and ngram in ARITH[int(example.split(":")[1])].lower().replace(";", "")
    removed = _text(_section(page, "decontaminate"))
    assert "it is removed, and drop_value in removed/decontaminate/ names the first example" in removed


def test_a_run_without_these_stages_has_no_such_sections(span_run: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    (plain / "input").mkdir(parents=True)
    (plain / "input" / "docs.jsonl").write_bytes((span_run.parent / "input" / "docs.jsonl").read_bytes())
    run = _run(plain, PLAIN_PIPELINE)
    titles = [s.title for s in build_sections(load_stats(run))]
    assert "Exact duplicates (exact_dedup)" in titles  # a dedup stage's own section, and only that
    assert not [t for t in titles if t.startswith(("Span deduplication", "Benchmark contamination"))]
    page = (run / REPORT_FILE).read_text(encoding="utf-8")
    assert "Span deduplication" not in page and "Benchmark contamination" not in page
