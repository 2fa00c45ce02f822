from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fineweb_pipe.stages.extraction import HtmlExtractor, ResiliparseExtractor, TrafilaturaExtractor
from fineweb_pipe.stages.extraction.extractor import ExtractFn
from fineweb_pipe.stages.extraction.resiliparse_extractor import extract_with_resiliparse
from fineweb_pipe.stages.extraction.trafilatura_extractor import page_title

ARTICLE = """
<p>The city council voted on Tuesday to extend the tram line to the northern districts, a project that has
been debated for more than a decade. Supporters said the extension would cut commuting times in half for
tens of thousands of residents who currently rely on crowded buses.</p>
<p>Opponents questioned the cost, estimated at 240 million euros, and asked whether the money would be better
spent on repairing existing roads. The mayor replied that the regional government had already promised to
cover a third of the budget, and that construction could begin as early as next spring.</p>
<p>Work on the first section, between the central station and the university hospital, is expected to take
two years. Residents will be able to comment on the planned route at public meetings in March.</p>
"""

PAGE = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Council approves tram extension &amp; new stops | City News</title>
<script>var tracking = {{"id": 42}};</script><style>body {{ font-family: serif; }}</style></head>
<body>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/politics">Politics</a></li>
<li><a href="/sport">Sport</a></li><li><a href="/weather">Weather</a></li></ul></nav></header>
<div class="cookie-banner">We use cookies to improve your experience. Accept all cookies</div>
<main><article><h1>Council approves tram extension</h1>{ARTICLE}</article></main>
<aside class="sidebar"><h3>Most read</h3><ul><li><a href="/a">Ten recipes for summer</a></li>
<li><a href="/b">Local team wins cup final</a></li></ul></aside>
<footer><p>Copyright 2024 City News Ltd. All rights reserved.</p><a href="/privacy">Privacy policy</a></footer>
</body></html>"""


def _batch(pages: list[str | None]) -> pa.Table:
    return pa.table({
        "id": [f"doc{i}" for i in range(len(pages))],
        "url": [f"https://news.example.com/{i}" for i in range(len(pages))],
        "html": pa.array(pages, pa.large_string()),
    })


@pytest.mark.parametrize("stage", [TrafilaturaExtractor(), ResiliparseExtractor()], ids=["trafilatura", "resiliparse"])
def test_extracts_main_text_without_boilerplate(stage: HtmlExtractor) -> None:
    result = stage.process(_batch([PAGE, "<html><head><script>init();</script></head><body> </body></html>", None]))
    stage.close()
    assert result.kept.column_names == ["id", "url", "text", "title"]
    assert result.kept.schema.field("text").type == pa.large_string()
    assert result.kept.num_rows == 1
    text = result.kept.column("text")[0].as_py()
    assert "tram line to the northern districts" in text
    assert "construction could begin as early as next spring" in text
    for boilerplate in ("Ten recipes for summer", "All rights reserved", "var tracking"):
        assert boilerplate not in text
    assert result.kept.column("title")[0].as_py() == "Council approves tram extension & new stops | City News"
    assert result.dropped.column("drop_reason").to_pylist() == ["extraction_empty", "extraction_empty"]
    assert "html" not in result.dropped.column_names
    assert result.counters == {}


def test_page_title() -> None:
    assert page_title("<html><head><TITLE lang=en>\n A &lt;b&gt; title\n</TITLE></head></html>") == "A <b> title"
    assert page_title("<html><body>no title</body></html>") is None


def _misbehaving_extract(html: str) -> tuple[str, str | None]:
    """Hangs, dies or raises on marker pages; extracts the others with resiliparse."""
    if "HANG-HERE" in html:
        time.sleep(60)
    while "SPIN-HERE" in html:
        pass
    if "DIE-HERE" in html:
        os._exit(3)
    if "RAISE-HERE" in html:
        raise ValueError("bad page")
    return extract_with_resiliparse(html, main_content=True, alt_texts=False, links=False, list_bullets=True)


class _MisbehavingExtractor(HtmlExtractor):
    def extract_fn(self) -> ExtractFn:
        return _misbehaving_extract


def test_hanging_or_crashing_page_is_killed_counted_and_skipped() -> None:
    stage = _MisbehavingExtractor(timeout_s=0.5)
    stage.setup()
    pages = [PAGE, PAGE.replace("<main>", "<main>HANG-HERE"), PAGE, PAGE.replace("<main>", "<main>DIE-HERE"),
             PAGE, PAGE.replace("<main>", "<main>RAISE-HERE"), PAGE, PAGE.replace("<main>", "<main>SPIN-HERE"), PAGE]
    started = time.monotonic()
    result = stage.process(_batch(pages))
    assert time.monotonic() - started < 30  # the hang was cut short, not waited out
    stage.close()
    assert result.kept.column("id").to_pylist() == ["doc0", "doc2", "doc4", "doc6", "doc8"]
    assert result.dropped.column("id").to_pylist() == ["doc1", "doc3", "doc5", "doc7"]
    reasons = result.dropped.column("drop_reason").to_pylist()
    assert reasons == ["extraction_timeout", "extraction_crash", "extraction_crash", "extraction_timeout"]
    values = result.dropped.column("drop_value").to_pylist()
    assert "exit code 3" in values[1] and values[2] == "ValueError: bad page"
    assert result.counters == {"extraction_timeouts": 2, "extraction_crashes": 2, "extractor_restarts": 3}


def test_in_process_mode_reports_exceptions_as_crashes() -> None:
    stage = _MisbehavingExtractor(timeout_s=None)
    result = stage.process(_batch([PAGE.replace("<main>", "<main>RAISE-HERE"), PAGE]))
    assert result.dropped.column("drop_reason").to_pylist() == ["extraction_crash"]
    assert result.kept.num_rows == 1


def test_child_stops_with_the_stage() -> None:
    stage = ResiliparseExtractor()
    stage.setup()
    process = stage._extract._child[0]
    assert process.poll() is None
    stage.close()
    assert process.poll() is not None
    with pytest.raises(ValueError, match="timeout_s"):
        ResiliparseExtractor(timeout_s=0)


def test_child_does_not_rerun_the_main_script(tmp_path: Path) -> None:
    # multiprocessing's spawn re-runs the parent's main script in the child: an unguarded pipeline
    # script would run again there (and a Ray worker's main, Ray's own script, costs a second import).
    marker = tmp_path / "ran"
    script = tmp_path / "pipeline_script.py"
    script.write_text(
        "import pyarrow as pa\n"
        "from fineweb_pipe.stages.extraction import TrafilaturaExtractor\n"
        f"open({str(marker)!r}, 'a').write('main ran\\n')\n"
        "stage = TrafilaturaExtractor(timeout_s=5.0)\n"
        "stage.setup()\n"
        f"out = stage(pa.table({{'id': ['a'], 'url': ['https://news.example/a'], 'html': [{PAGE!r}]}}))\n"
        "print(out.kept.num_rows)\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["1"]
    assert marker.read_text() == "main ran\n"


def test_stage_pickles_without_its_child() -> None:
    import pickle

    stage = TrafilaturaExtractor(timeout_s=2.0)
    stage.setup()
    clone = pickle.loads(pickle.dumps(stage))
    stage.close()
    assert "_extract" not in vars(clone) and clone.timeout_s == 2.0 and clone.favor_precision


def test_real_warc_pages(shared_data: Path) -> None:
    from fineweb_pipe.readers.warc import WarcReader
    from fineweb_pipe.stats import ReaderCounts

    batch = next(WarcReader(batch_docs=20).iter_batches(str(shared_data / "warc/bench-scrapinghub_aeb.warc.gz"),
                                                        ReaderCounts()))
    stage = TrafilaturaExtractor()
    result = stage.process(batch)
    stage.close()
    assert result.kept.num_rows >= 18
    lengths = [len(t) for t in result.kept.column("text").to_pylist()]
    assert sorted(lengths)[len(lengths) // 2] > 1000  # news articles: the median extract is a real article
    assert all(result.kept.column("title").to_pylist())


PARENT = """
import os, sys, time
from fineweb_pipe.stages.extraction.extractor import HtmlExtractor
sys.path.insert(0, {test_dir!r})
from test_extractors import _MisbehavingExtractor, _batch
stage = _MisbehavingExtractor(timeout_s=120)
stage.setup()
print(stage._extract._child[0].pid, flush=True)
if {busy}:
    stage.process(_batch(["<main>HANG-HERE</main>"]))  # the child sleeps in the page
time.sleep(60)
"""


@pytest.mark.slow
@pytest.mark.parametrize("busy", [False, True], ids=["idle", "busy"])
def test_child_dies_when_the_parent_is_killed(busy: bool) -> None:
    import signal
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    script = PARENT.format(test_dir=str(Path(__file__).parent), busy=busy)
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=repo, stdout=subprocess.PIPE, text=True)
    child_pid = int(parent.stdout.readline())
    time.sleep(0.5)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(child_pid):
        time.sleep(0.1)
    assert not _alive(child_pid)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


def _pages_warc(path: Path, pages: list[tuple[str, str]]) -> str:
    from fineweb_pipe.sample.crawl import _http, _record

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        for url, html in pages:
            f.write(_record("response", url, _http("200 OK", "text/html; charset=utf-8", html.encode()),
                            "application/http; msgtype=response"))
    return str(path)


def test_a_shard_s_text_does_not_depend_on_the_shards_its_worker_read_before(tmp_path: Path) -> None:
    """trafilatura's deduplicate drops a document whose text it has extracted more than twice before in its
    process (mirrors, re-crawls): its cache is emptied for every shard, so a shard read after others gives
    the same documents as read alone."""
    from fineweb_pipe.engine.local import LocalExecutor
    from fineweb_pipe.engine.runner import Runner
    from fineweb_pipe.pipeline import Pipeline

    page = ("<html><head><title>Birds</title></head><body><article><h1>Migration</h1><p>This article about the "
            "migration of birds across the northern sea is long enough for trafilatura to remember it.</p><p>It "
            "is served under several addresses of the same site, as mirrors and re-crawls are.</p></article>"
            "</body></html>")
    _pages_warc(tmp_path / "in" / "a.warc.gz", [(f"https://birds.example/{n}", page) for n in range(3)])
    _pages_warc(tmp_path / "in" / "b.warc.gz", [("https://mirror.example/birds", page)])

    def documents_of_b(inputs: list[str], output: str) -> list[str]:
        with LocalExecutor() as executor:
            Runner(Pipeline([TrafilaturaExtractor()], name="extract"), inputs, output, executor,
                   show_progress=False).run()
        table = pq.read_table(next(p for p in (Path(output) / "documents").glob("b-*.parquet")))
        return table.column("text").to_pylist()

    after_a = documents_of_b([str(tmp_path / "in")], str(tmp_path / "both"))
    alone = documents_of_b([str(tmp_path / "in" / "b.warc.gz")], str(tmp_path / "alone"))
    assert len(alone) == 1 and after_a == alone


def test_html_element_lookup_gives_lxml_html_s_classes() -> None:
    """The extraction child swaps lxml.html's Python-level class lookup for one in C: same classes."""
    from lxml import html as lxml_html

    from fineweb_pipe.stages.extraction.trafilatura_extractor import html_element_lookup

    page = (PAGE.replace("</main>", "<!-- a comment --><?pi x?><form action='/s'><label for='q'>Search</label>"
                         "<input name='q'><select name='s'><option>a</option></select><textarea>t</textarea>"
                         "<FORM><INPUT></FORM><button>Go</button></form></main>"))
    ours = lxml_html.HTMLParser(remove_comments=False, remove_pis=False)
    ours.set_element_class_lookup(html_element_lookup())
    theirs = lxml_html.HTMLParser(remove_comments=False, remove_pis=False)
    mine, reference = lxml_html.fromstring(page, parser=ours), lxml_html.fromstring(page, parser=theirs)
    classes = [type(e) for e in mine.iter()]
    assert classes == [type(e) for e in reference.iter()]
    assert {lxml_html.FormElement, lxml_html.InputElement, lxml_html.SelectElement, lxml_html.TextareaElement,
            lxml_html.LabelElement, lxml_html.HtmlComment, lxml_html.HtmlElement} <= set(classes)
