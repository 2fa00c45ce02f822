"""The report of a run, opened in headless Chromium: every section is there, the page fetches nothing,
and the hostile sample shows as text without running."""

from pathlib import Path
from typing import Any

import pytest

from fineweb_pipe.report import write_report

SECTION_IDS = ["funnel", "removals", "kept", "languages", "lengths", "dedup", "pii", "tokens", "run"]


@pytest.mark.slow
def test_report_in_headless_chromium(browser: Any, run_dir: Path, hostile_text: str, tmp_path: Path) -> None:
    page_url = write_report(run_dir).resolve().as_uri()
    browser.navigate(page_url)

    present = browser.evaluate(
        f"{SECTION_IDS!r}.filter(id => document.getElementById(id)?.querySelector('h2'))")
    assert present == SECTION_IDS
    assert browser.evaluate("document.querySelectorAll('section svg.chart').length") >= 10

    requests = [e["params"]["request"]["url"] for e in browser.events_named("Network.requestWillBeSent")]
    assert requests == [page_url]  # the page itself, nothing else

    excerpts = browser.evaluate(
        "[...document.querySelectorAll('#removals .excerpt')].map(e => e.textContent)")
    assert hostile_text in excerpts
    assert browser.evaluate("document.querySelectorAll('script, img, iframe, object, embed').length") == 0
    assert browser.events_named("Page.javascriptDialogOpening") == []

    screenshot = tmp_path / "report.png"
    browser.screenshot(screenshot, full_page=True)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert browser.events_named("Page.javascriptDialogOpening") == []
