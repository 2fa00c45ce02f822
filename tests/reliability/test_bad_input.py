"""A run over the generated bad-input crawl completes, counts every bad item, and keeps every good page."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fineweb_pipe.engine.local import LocalExecutor
from fineweb_pipe.engine.runner import Runner
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.sample.bad_crawl import BadCrawl, write_bad_crawl
from fineweb_pipe.stages.extraction import TrafilaturaExtractor

pytestmark = pytest.mark.slow


def extraction_pipeline() -> Pipeline:
    # deduplicate=False: trafilatura's paragraph cache depends on which pages a child saw before, and
    # the bad run restarts its child after the hanging page; without it extraction is a pure function.
    return Pipeline([TrafilaturaExtractor(favor_precision=True, deduplicate=False, timeout_s=1.0)], name="bad-input")


def run(inputs: str, output: Path) -> dict:
    with LocalExecutor() as executor:
        return Runner(extraction_pipeline(), [inputs], str(output), executor, show_progress=False).run()


def documents(output: Path) -> pa.Table:
    paths = [p for p in sorted((output / "documents").glob("*.parquet")) if pq.read_metadata(p).num_rows]
    tables = [pq.read_table(p, columns=["id", "url", "text", "title"]) for p in paths]
    return pa.concat_tables(tables).sort_by("id")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[BadCrawl, dict, Path, Path]:
    folder = tmp_path_factory.mktemp("bad-crawl")
    crawl = write_bad_crawl(str(folder / "in"))
    stats = run(crawl.bad, folder / "bad-out")
    run(crawl.clean, folder / "clean-out")
    return crawl, stats, folder / "bad-out", folder / "clean-out"


def test_every_bad_item_is_counted_by_type(runs: tuple[BadCrawl, dict, Path, Path]) -> None:
    crawl, stats, out, _ = runs
    assert stats["reader"]["errors"] == dict(crawl.reader_errors)
    assert json.loads((out / "stats.json").read_text())["reader"]["errors"] == dict(crawl.reader_errors)
    listed = stats["errors"]
    assert len(listed) == sum(crawl.reader_errors.values())
    for error in listed:  # the log names the file and where in it, and says what was done
        assert error["file"].startswith(crawl.bad) and isinstance(error["offset"], int) and error["message"]
    extraction = next(s for s in stats["stages"] if s["name"] == "trafilatura_extractor")
    for reason, n in crawl.extraction_drops.items():
        assert extraction["dropped"].get(reason, 0) >= n, (reason, extraction["dropped"])
    assert extraction["counters"]["extraction_timeouts"] == crawl.extraction_drops["extraction_timeout"]


def test_good_pages_come_out_as_from_a_clean_crawl(runs: tuple[BadCrawl, dict, Path, Path]) -> None:
    crawl, stats, bad_out, clean_out = runs
    clean = documents(clean_out)
    bad = documents(bad_out)
    good = pa.array(crawl.good_ids)
    from_bad = bad.filter(pa.compute.is_in(bad.column("id"), value_set=good))
    assert from_bad.num_rows == clean.num_rows > 0.8 * len(crawl.good_ids)
    assert from_bad.equals(clean)  # same ids, urls, texts and titles


def test_repaired_pages_are_kept_as_valid_text(runs: tuple[BadCrawl, dict, Path, Path]) -> None:
    crawl, _, bad_out, _ = runs
    table = documents(bad_out)
    texts = dict(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))
    for record_id, case in crawl.damaged_ids.items():
        text = texts.get(record_id)
        assert text, f"{case}: the repaired page was not kept"
        assert "\x00" not in text and not any("\ud800" <= c <= "\udfff" for c in text), case
    by_case = {case: texts[i] for i, case in crawl.damaged_ids.items()}
    assert "日本語" in by_case["utf8_page_sent_as_shift_jis"]
    assert "grüßen die Möwen" in by_case["utf8_page_sent_as_latin1"]
    assert "crème brûlée" in by_case["invalid_utf8"]
