from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from fineweb_pipe.engine.local import LocalExecutor
from fineweb_pipe.engine.runner import Runner
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.sample import write_sample_warc
from fineweb_pipe.stage import Stage
from fineweb_pipe.stages.extraction import LanguagePrescreen, TrafilaturaExtractor
from fineweb_pipe.stages.extraction.isolated import CallFailed, CallTimedOut
from fineweb_pipe.stages.extraction.prescreen import _spread_sample
from fineweb_pipe.stages.language import LanguageFilter
from fineweb_pipe.stages.quality import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                          GopherRepetitionFilter)

ENGLISH = """<html lang="en"><head><title>Council</title></head><body><nav><a href="/">Home</a></nav><article>
<p>The city council voted on Tuesday to extend the tram line to the northern districts, a project that has been
debated for more than a decade. Supporters said the extension would cut commuting times in half for tens of
thousands of residents who currently rely on crowded buses.</p>
<p>Opponents questioned the cost, estimated at 240 million euros, and asked whether the money would be better
spent on repairing existing roads.</p></article></body></html>"""
GERMAN = """<html lang="de"><head><title>Stadtrat</title></head><body><article>
<p>Der Stadtrat hat am Dienstag beschlossen, die Straßenbahnlinie bis in die nördlichen Stadtteile zu verlängern.
Das Projekt wird seit mehr als zehn Jahren diskutiert, und die Befürworter sagen, dass sich die Fahrzeiten für
zehntausende Pendler halbieren würden.</p>
<p>Die Gegner bezweifeln die Kosten von geschätzten 240 Millionen Euro und fragen, ob das Geld nicht besser in die
Reparatur der bestehenden Straßen fließen sollte.</p></article></body></html>"""
BLANK = "<html><head><script>init();</script></head><body> </body></html>"


def _batch(pages: list[str | None]) -> pa.Table:
    return pa.table({
        "id": [f"doc{i}" for i in range(len(pages))],
        "url": [f"https://news.example.com/{i}" for i in range(len(pages))],
        "html": pa.array(pages, pa.large_string()),
    })


def _read(crawl: Path) -> pa.Table:
    from fineweb_pipe.readers.warc import WarcReader
    from fineweb_pipe.stats import ReaderCounts

    return pa.concat_tables(WarcReader().iter_batches(str(crawl), ReaderCounts()))


@pytest.fixture(scope="module")
def screen() -> Iterator[LanguagePrescreen]:
    stage = LanguagePrescreen(languages=("en",), keep_removed=True)
    stage.setup()
    yield stage
    stage.close()


@pytest.fixture(scope="module")
def sample_crawl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(write_sample_warc(str(tmp_path_factory.mktemp("crawl") / "crawl.warc.gz"), pages=120, seed=3))


def test_drops_confident_other_languages_with_language_and_score(screen: LanguagePrescreen) -> None:
    batch = _batch([ENGLISH, GERMAN, BLANK, None, ENGLISH])
    result = screen.process(batch)
    # The kept rows reach the extractor exactly as they came: same columns, same values.
    assert result.kept.equals(batch.take([0, 2, 3, 4]))
    dropped = result.dropped.to_pydict()
    assert dropped["id"] == ["doc1"] and dropped["drop_reason"] == ["language_prescreen"]
    assert dropped["language"] == ["de"] and dropped["language_score"][0] > 0.9
    assert dropped["drop_value"] == [f"de {dropped['language_score'][0]:.4g}"]
    assert "Straßenbahnlinie" in dropped["text"][0] and dropped["html"] == [GERMAN]  # re-extractable later
    assert result.counters == {"prescreen_blank": 2}  # the blank page and the missing one: no evidence
    assert screen.keep_removed and screen.removed_partition == "language"


def test_drops_only_what_its_threshold_says(screen: LanguagePrescreen, sample_crawl: Path) -> None:
    batch = _read(sample_crawl)  # the generated multilingual sample crawl
    screening = screen.screen(batch.column("html").cast(pa.large_binary()).to_pylist())
    assert {"de", "fr", "es", "ja"} <= set(screening.languages) and "en" in screening.languages
    for threshold in (0.0, 0.5, 0.9, 0.99, 1.01):
        stage = LanguagePrescreen(min_score=threshold)
        stage._lid, stage._extract = screen._lid, screen._extract  # the same model and child
        result = stage.process(batch)
        expected = {doc_id for doc_id, text, language, score in zip(batch.column("id").to_pylist(), screening.texts,
                                                                    screening.languages, screening.scores)
                    if text and text.strip() and language != "en" and score >= threshold}
        dropped = set(result.dropped.column("id").to_pylist()) if result.dropped is not None else set()
        assert dropped == expected, threshold
        assert result.kept.num_rows + len(dropped) == batch.num_rows
    assert expected == set()  # over 1.0 nothing is ever confident enough


def test_several_kept_languages(screen: LanguagePrescreen) -> None:
    stage = LanguagePrescreen(languages=("de", "fr"))
    stage._lid, stage._extract = screen._lid, screen._extract
    result = stage.process(_batch([ENGLISH, GERMAN]))
    assert result.kept.column("id").to_pylist() == ["doc1"]
    assert result.dropped.column("language").to_pylist() == ["en"]


class _Failing:
    """Stands in for the child: times out or fails on marked pages."""

    restarts = 0

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def __call__(self, html: bytes) -> tuple[str, str | None]:
        if b"TIME-OUT" in html:
            raise CallTimedOut("over the limit")
        if b"FAIL" in html:
            raise CallFailed("crashed")
        return self.inner(html)  # type: ignore[operator]


def test_a_failed_fast_pass_is_no_evidence(screen: LanguagePrescreen) -> None:
    stage = LanguagePrescreen()
    stage._lid, stage._extract = screen._lid, _Failing(screen._extract)
    result = stage.process(_batch([GERMAN.replace("<p>", "<p>TIME-OUT", 1), GERMAN.replace("<p>", "<p>FAIL", 1), GERMAN]))
    assert result.kept.column("id").to_pylist() == ["doc0", "doc1"]
    assert result.dropped.column("id").to_pylist() == ["doc2"]
    assert result.counters == {"prescreen_failures": 2}


def test_empty_batches_disabled_stage_and_pickling(screen: LanguagePrescreen) -> None:
    empty = _batch([])
    result = screen.process(empty)
    assert result.kept.schema == empty.schema and result.kept.num_rows == 0 and result.dropped is None
    without_html = pa.table({"id": pa.array([], pa.string())})  # the engine's sentinel, its columns only
    assert screen.process(without_html).kept.equals(without_html)
    text = pa.table({"id": ["a"], "text": ["Ein deutscher Text, längst extrahiert."]})  # (WET, JSONL, Parquet)
    assert screen.process(text).kept.equals(text) and screen.process(text).dropped is None
    with pytest.raises(KeyError, match="in front of an extraction stage"):
        screen.process(pa.table({"id": ["a"], "title": ["x"]}))
    off = LanguagePrescreen(enabled=False)
    off.setup()
    assert "_extract" not in vars(off) and off.process(_batch([GERMAN])).dropped is None
    clone = pickle.loads(pickle.dumps(screen))
    assert "_extract" not in vars(clone) and "_model" not in vars(clone._lid) and clone.languages == {"en"}
    with pytest.raises(ValueError, match="languages"):
        LanguagePrescreen(languages=())


def test_the_lid_reads_windows_spread_over_a_long_text() -> None:
    text = "a" * 3000 + "b" * 3000 + "c" * 3000
    sample = _spread_sample(text, 2000)
    assert len(sample) <= 2003 and sample.startswith("a") and sample.endswith("c") and "b" in sample
    assert _spread_sample("short", 2000) == "short" and _spread_sample(text, None) == text
    assert _spread_sample(None, 2000) is None


def _recipe(prescreen: LanguagePrescreen | None) -> Pipeline:
    steps: list[Stage] = [TrafilaturaExtractor(), LanguageFilter(keep_removed=True), GopherQualityFilter()]
    if prescreen is not None:
        steps.insert(0, prescreen)
    return Pipeline(steps=steps)


def _run(pipeline: Pipeline, crawl: Path, out: Path) -> dict:
    return Runner(pipeline, [str(crawl)], str(out), LocalExecutor(), show_progress=False).run()


def test_turned_off_the_output_is_byte_identical(sample_crawl: Path, tmp_path: Path) -> None:
    _run(_recipe(None), sample_crawl, tmp_path / "exact")
    _run(_recipe(LanguagePrescreen(enabled=False)), sample_crawl, tmp_path / "off")
    exact = sorted((tmp_path / "exact").rglob("*.parquet"))
    off = sorted((tmp_path / "off").rglob("*.parquet"))
    assert [p.relative_to(tmp_path / "exact") for p in exact] == [p.relative_to(tmp_path / "off") for p in off]
    assert exact and all(a.read_bytes() == b.read_bytes() for a, b in zip(exact, off))


def test_in_the_recipe_screened_pages_land_per_language(sample_crawl: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    _run(_recipe(None), sample_crawl, tmp_path / "exact")
    stats = _run(_recipe(LanguagePrescreen(keep_removed=True)), sample_crawl, tmp_path / "cascade")
    exact_docs = pq.read_table(next((tmp_path / "exact" / "documents").glob("*.parquet")))
    cascade_docs = pq.read_table(next((tmp_path / "cascade" / "documents").glob("*.parquet")))
    assert cascade_docs.equals(exact_docs)  # the sample's foreign pages are all clear-cut
    steps = {s["name"]: s for s in stats["stages"]}
    screened = steps["language_prescreen"]["dropped"]["language_prescreen"]
    assert screened > 0 and steps["trafilatura_extractor"]["docs_in"] == steps["language_prescreen"]["docs_out"]
    removed = pq.read_table(tmp_path / "cascade" / "removed" / "language_prescreen")
    assert {"de", "fr", "es", "ja"} <= set(removed.column("language").to_pylist())
    assert removed.num_rows == screened
    for language, value in zip(removed.column("language").to_pylist(), removed.column("drop_value").to_pylist()):
        assert value.startswith(f"{language} ")
    assert {"html", "text", "language_score"} <= set(removed.column_names)
    summary = json.loads((tmp_path / "cascade" / "stats.json").read_text())
    assert summary["stages"][0]["name"] == "language_prescreen"


def test_real_pages_screened_are_pages_the_recipe_drops(shared_data: Path, screen: LanguagePrescreen) -> None:
    from fineweb_pipe.readers.warc import WarcReader
    from fineweb_pipe.stats import ReaderCounts

    batch = next(WarcReader(batch_docs=300).iter_batches(str(shared_data / "warc/bench-trafilatura_eval.warc.gz"),
                                                         ReaderCounts()))
    result = screen.process(batch)
    assert result.dropped.num_rows > 0.6 * batch.num_rows  # most of this set is German
    # The exact recipe's stages after the pre-screen keep none of the pages it screened out.
    pages = result.dropped.drop_columns(["text", "language", "language_score", "drop_reason", "drop_value"])
    stages: list[Stage] = [TrafilaturaExtractor(), LanguageFilter(languages=("en",), min_score=0.65),
                           GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(filter_no_terminal_punct=False),
                           FineWebQualityFilter()]
    for stage in stages:
        pages = stage.process(pages).kept
    stages[0].close()
    assert pages.num_rows == 0, pages.column("url").to_pylist()
