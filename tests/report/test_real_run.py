"""The report of real runs, read from the stats.json and run folder they wrote: the demo's run of the FineWeb
recipe, and runs whose language filter removes every document. Hand-written stats hold only what their
author thought a run writes; these hold what it does write."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fineweb_pipe.cli import main
from fineweb_pipe.report import REPORT_FILE, load_stats, write_report
from fineweb_pipe.report.blocks import Clusters, Figures, Note, Table
from fineweb_pipe.report.languages import language_steps
from fineweb_pipe.report.sections import build_sections, dedup_section, languages_section

pytestmark = pytest.mark.slow
LanguageRun = Callable[[tuple[str, ...], bool], Path]


class _Texts(HTMLParser):
    """The text of every element with a given class, in page order."""

    def __init__(self, cls: str) -> None:
        super().__init__()
        self.cls, self.depth, self.texts = cls, 0, []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += 1
        elif self.cls in (dict(attrs).get("class") or "").split():
            self.depth = 1
            self.texts.append("")

    def handle_endtag(self, tag: str) -> None:
        self.depth = max(0, self.depth - 1)

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.texts[-1] += data


def _texts(page: str, cls: str) -> list[str]:
    parser = _Texts(cls)
    parser.feed(page)
    return parser.texts


def test_every_section_of_the_demo_report_has_data(demo_run: Path) -> None:
    sections = build_sections(load_stats(demo_run), language_steps(demo_run))
    assert {s.id: s.missing for s in sections if s.missing} == {}
    for section in sections:
        for block in section.blocks:
            if isinstance(block, Figures):  # a key the report reads and the run does not write shows as —
                assert "—" not in dict(block.items).values(), (section.id, block.items)


def test_dedup_clusters_show_their_member_documents(demo_run: Path) -> None:
    dedup = load_stats(demo_run)["sections"]["dedup"]
    assert dedup["examples"], "the demo crawl has near-duplicates"
    blocks = dedup_section(load_stats(demo_run)).blocks
    figures = dict(next(b for b in blocks if isinstance(b, Figures)).items)
    assert figures["documents removed"] == f"{dedup['removed']:,}"
    clusters = next(b for b in blocks if isinstance(b, Clusters)).clusters
    assert [c.size for c in clusters] == [e["size"] for e in dedup["examples"]]
    for cluster, example in zip(clusters, dedup["examples"]):
        assert cluster.size >= 2 and len(cluster.documents) == len(example["members"]) >= 2
        assert [d.url for d in cluster.documents] == [m["url"] for m in example["members"]]
        assert [d.tag for d in cluster.documents] == ["kept"] + ["removed"] * (len(cluster.documents) - 1)
        assert all(d.text for d in cluster.documents)
    # The page the run wrote itself, as a user opens it.
    page = (demo_run / REPORT_FILE).read_text(encoding="utf-8")
    sizes = _texts(page, "cluster-size")
    assert sizes == [c.summary for c in clusters] and not any(s.startswith("0 ") for s in sizes)
    assert len(_texts(page.split('id="dedup"')[1], "doc")) == sum(len(c.documents) for c in clusters)


def test_languages_before_filtering_count_what_language_id_removed(demo_run: Path) -> None:
    stats = load_stats(demo_run)
    stages = {s["name"]: s for s in stats["stages"]}
    section = languages_section(stats, language_steps(demo_run))
    table = next(b for b in section.blocks if isinstance(b, Table))
    assert table.headers == ["language", "documents before", "removed by language_prescreen",
                             "removed by language_filter", "documents after", "share before", "share after"]
    rows = {row[0]: [int(cell.replace(",", "")) for cell in row[1:5]] for row in table.rows}
    # The sample crawl's other languages are there before filtering, and gone after it.
    assert {"de", "fr", "es", "ja"} <= set(rows) and all(rows[c][3] == 0 for c in ("de", "fr", "es", "ja"))
    for code, (before, by_prescreen, by_filter, _) in rows.items():
        assert before == by_prescreen + by_filter + (stages["language_filter"]["docs_out"] if code == "en" else 0)
    assert sum(r[1] for r in rows.values()) == sum(stages["language_prescreen"]["dropped"].values())
    assert sum(r[2] for r in rows.values()) == sum(stages["language_filter"]["dropped"].values())
    assert rows["en"][3] == stats["profiles"]["after"]["languages"]["en"] == stages["tokenize"]["docs_out"]


def test_languages_before_filtering_that_cannot_be_known_are_not_made_up(demo_run: Path, tmp_path: Path) -> None:
    stats = load_stats(demo_run)
    alone = tmp_path / "alone"  # stats.json copied on its own: which steps identify languages is unknown
    alone.mkdir()
    (alone / "stats.json").write_bytes((demo_run / "stats.json").read_bytes())
    emptied = tmp_path / "emptied"  # the user deleted removed/ to save space
    shutil.copytree(alone, emptied)
    (emptied / "run.json").write_bytes((demo_run / "run.json").read_bytes())
    prescreened = sum(next(s for s in stats["stages"] if s["name"] == "language_prescreen")["dropped"].values())
    for folder, reason in ((alone, "there is no run.json beside this stats.json"),
                           (emptied, f"removed/language_prescreen/ holds 0 documents, but stats.json counts "
                                     f"{prescreened} removed by language_prescreen")):
        section = languages_section(stats, language_steps(folder))
        assert next(b for b in section.blocks if isinstance(b, Table)).headers == [
            "language", "documents after", "share after"]
        notes = [b.text for b in section.blocks if isinstance(b, Note)]
        assert notes[0].startswith("No documents per language before filtering:") and reason in notes[0]


def test_a_run_whose_language_filter_removed_everything(language_run: LanguageRun) -> None:
    kept_aside = language_run(("kl",), True)
    stats = load_stats(kept_aside)
    assert stats["stages"][-1]["docs_out"] == 0 and stats["profiles"]["after"]["languages"] == {}
    section = languages_section(stats, language_steps(kept_aside))
    assert not section.missing
    table = next(b for b in section.blocks if isinstance(b, Table))
    before = {row[0]: int(row[1]) for row in table.rows}
    assert sum(before.values()) == stats["stages"][-1]["docs_in"] and {"en", "de"} <= set(before)
    assert {row[3] for row in table.rows} == {"0"}  # after
    assert "No document was kept" in " ".join(b.text for b in section.blocks if isinstance(b, Note))

    not_kept = language_run(("kl",), False)
    missing = languages_section(load_stats(not_kept), language_steps(not_kept)).missing
    assert "no language identification ran" not in missing
    assert "language_filter did not keep the documents it removed (keep_removed=False)" in missing


def test_compare_with_a_run_that_lacks_steps(demo_run: Path, language_run: LanguageRun, tmp_path: Path) -> None:
    other = language_run(("en",), True)  # only trafilatura_extractor and language_filter
    page = write_report(demo_run, compare_to=other, out=tmp_path / "compare.html").read_text(encoding="utf-8")
    compare = page.split('id="compare"')[1].split("</section>")[0]
    assert "−100.0%" not in compare
    absent = len(load_stats(demo_run)["stages"]) - 2  # the demo's steps the other run does not have
    assert len(re.findall(r'class="absent"', compare)) == absent
    rows = [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", compare)]
    gopher = next(r for r in rows if r and r[0] == "gopher_repetition_filter")
    assert gopher[2:4] == ["—", "—"]  # the other run's documents and the difference: absent, not 0 and -N


def _report(*argv: str) -> int:
    return main(["report", *argv])


def test_out_writes_elsewhere_and_leaves_the_run_folder_alone(demo_run: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    written = demo_run / REPORT_FILE
    before = (written.read_bytes(), written.stat().st_mtime_ns, sorted(p.name for p in demo_run.iterdir()))

    assert _report(str(demo_run), "--out", str(tmp_path / "reports" / "demo.html")) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "reports" / "demo.html")
    assert _report(str(demo_run), "--out", str(tmp_path)) == 0  # a folder: report.html in it
    assert capsys.readouterr().out.strip() == str(tmp_path / REPORT_FILE)
    for page in (tmp_path / "reports" / "demo.html", tmp_path / REPORT_FILE):
        assert 'id="dedup"' in page.read_text(encoding="utf-8")

    stats_copy = tmp_path / "stats.json"
    stats_copy.write_bytes((demo_run / "stats.json").read_bytes())
    assert _report(str(demo_run), "--out", str(stats_copy)) == 2  # not HTML: refused, not overwritten
    assert "is not an HTML file" in capsys.readouterr().err
    assert json.loads(stats_copy.read_text())["format"] == 1
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    assert _report(str(demo_run), "--out", str(a_file / "report.html")) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "cannot write the report" in error and "Traceback" not in error

    assert (written.read_bytes(), written.stat().st_mtime_ns, sorted(p.name for p in demo_run.iterdir())) == before



def test_the_report_of_a_resumed_run_keeps_this_run_apart_from_earlier_ones(demo_run: Path, tmp_path: Path) -> None:
    rerun = Path(shutil.copytree(demo_run, tmp_path / "output"))
    crawl = demo_run.parent / "input"
    assert main(["run", str(Path(__file__).parents[2] / "pipelines" / "fineweb.py"), "--input", str(crawl),
                 "--output", str(rerun), "--engine", "local", "--quiet"]) == 0
    run = next(s for s in build_sections(load_stats(rerun), language_steps(rerun)) if s.id == "run")
    figures = dict(next(b for b in run.blocks if isinstance(b, Figures)).items)
    assert figures["documents / s"] == "—" and "wall time, this run" in figures
    assert any(isinstance(b, Note) and "This run resumed" in b.text for b in run.blocks)


def test_the_token_section_says_the_vocabulary_is_short_of_the_one_asked_for(demo_run: Path) -> None:
    tokens = next(s for s in build_sections(load_stats(demo_run), language_steps(demo_run)) if s.id == "tokens")
    assert any(isinstance(b, Note) and "vocab_size=8192" in b.text and "1,641" in b.text for b in tokens.blocks)
