"""The page is self-contained and safe: web text is escaped, and nothing on it can run or fetch."""

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from fineweb_pipe.report import REPORT_FILE, write_report
from fineweb_pipe.report.render import CONTENT_SECURITY_POLICY

# Every element the report may contain: no script, iframe, object, embed, img, link to a stylesheet...
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "link", "style", "body", "header", "h1", "h2", "h3", "p", "span", "nav",
    "a", "main", "section", "div", "figure", "figcaption", "details", "summary", "table", "caption", "thead",
    "tbody", "tr", "th", "td", "article", "footer", "code",
    "svg", "rect", "line", "text",
}


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _elements(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(page)
    return parser.tags


@pytest.fixture
def page(run_dir: Path) -> str:
    return write_report(run_dir).read_text(encoding="utf-8")


def test_report_is_written_next_to_stats(run_dir: Path) -> None:
    assert write_report(run_dir) == run_dir / REPORT_FILE
    assert (run_dir / REPORT_FILE).stat().st_size > 10_000


def test_hostile_text_is_escaped_everywhere(page: str, hostile_text: str) -> None:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    assert hostile_text not in page
    assert "<script" not in page.lower()
    tags = _elements(page)
    assert {tag for tag, _ in tags} <= ALLOWED_TAGS  # only the report's own markup, none from samples
    handlers = [(tag, name) for tag, attrs in tags for name in attrs if name.startswith("on")]
    assert handlers == []


def test_page_requests_nothing_and_allows_no_script(page: str) -> None:
    tags = _elements(page)
    csp = [a.get("content") for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [CONTENT_SECURITY_POLICY]
    assert page.index("Content-Security-Policy") < page.index("<style>")  # in force before any content
    for tag, attrs in tags:
        for name in ("src", "href", "srcset", "poster", "data", "action"):
            value = attrs.get(name)
            assert value is None or value.startswith(("#", "data:")), (tag, name, value)
    assert "url(" not in page.split("</style>")[0]  # the CSS loads no font or image


def test_lone_surrogates_from_undecodable_bytes_do_not_fail(stats: dict[str, Any], run_dir: Path) -> None:
    stats["samples"]["kept"][0]["text"] = "bad byte: \udcff"
    (run_dir / "stats.json").write_text(json.dumps(stats), encoding="utf-8")  # JSON escapes it as \udcff
    assert "bad byte: ?" in write_report(run_dir).read_text(encoding="utf-8")


def test_missing_or_foreign_stats_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"stats\.json.*fineweb-pipe run"):
        write_report(tmp_path)
    (tmp_path / "stats.json").write_text('{"format": 2}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"stats\.json: stats format 2"):
        write_report(tmp_path)
    (tmp_path / "stats.json").write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match=r"stats\.json: not valid JSON"):
        write_report(tmp_path)
