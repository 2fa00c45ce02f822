"""The report of a run, opened in headless Chromium: every section is there, the page fetches nothing,
the hostile sample shows as text without running, and the demo's real dedup clusters show their members."""

import os
import struct
from pathlib import Path
from typing import Any

import pytest

from fineweb_pipe.report import REPORT_FILE, load_stats, write_report

#: Set to a path (docs/report-screenshot.png) to keep the screenshot of the demo's dedup section there.
SCREENSHOT_ENV = "REPORT_SCREENSHOT"

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


@pytest.mark.slow
def test_demo_report_shows_dedup_clusters_with_their_members(browser: Any, demo_run: Path, tmp_path: Path) -> None:
    """The report the demo run wrote itself; its dedup section's screenshot is docs/report-screenshot.png
    (``REPORT_SCREENSHOT=docs/report-screenshot.png`` refreshes it)."""
    examples = load_stats(demo_run)["sections"]["dedup"]["examples"]
    assert examples
    browser.navigate((demo_run / REPORT_FILE).resolve().as_uri())
    region = browser.evaluate("""(() => { const r = document.getElementById('dedup').getBoundingClientRect();
        return {x: Math.floor(r.x + scrollX - 16), y: Math.floor(r.y + scrollY - 16),
                width: Math.ceil(r.width + 32), height: Math.ceil(r.height + 32)}; })()""")
    clusters = browser.evaluate("""[...document.querySelectorAll('#dedup .cluster')].map(c => {
        const r = c.getBoundingClientRect();
        return {size: c.querySelector('.cluster-size').textContent, top: r.y + scrollY, bottom: r.bottom + scrollY,
                urls: [...c.querySelectorAll('.doc .url')].map(e => e.textContent),
                tags: [...c.querySelectorAll('.doc .tag')].map(e => e.textContent),
                excerpts: [...c.querySelectorAll('.doc .excerpt')].map(e => [e.textContent, e.getBoundingClientRect().height])};
    })""")
    assert [c["size"] for c in clusters] == [f"{e['size']} documents" for e in examples]
    for cluster, example in zip(clusters, examples):
        assert cluster["urls"] == [m["url"] for m in example["members"]] and len(cluster["urls"]) >= 2
        assert cluster["tags"] == ["kept" if m["kept"] else "removed" for m in example["members"]]
        for (text, height), member in zip(cluster["excerpts"], example["members"]):
            assert text == member["text"] and height > 40  # several lines of each member's text on screen
        assert region["y"] <= cluster["top"] and cluster["bottom"] <= region["y"] + region["height"]

    screenshot = tmp_path / "dedup.png"
    browser.screenshot(screenshot, clip=region)
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (region["width"], region["height"])  # the whole section
    if os.environ.get(SCREENSHOT_ENV):
        Path(os.environ[SCREENSHOT_ENV]).write_bytes(png)
