"""What runs in an extraction child process: a page's HTML to its main text and title.

Kept apart from the stages (Arrow, the stage machinery) so that a child imports its extractor and the
standard library alone: the stage modules import pyarrow and NumPy, ~0.17 CPU-s and ~40 MB per child
started for nothing (one per worker and extraction stage, and one more after each page that timed out).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: An extraction function: HTML in, (main text, title or None) out. It runs in a child process, so it
#: must pickle: a module-level function or a ``functools.partial`` of one.
ExtractFn = Callable[[str], tuple[str, str | None]]

_TITLE = re.compile(r"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
MAX_TITLE_CHARS = 1000


@dataclass(frozen=True)
class NewShard:
    """Sent in place of a page: the extraction function's ``reset`` runs (a new shard begins)."""


@dataclass(frozen=True)
class FromUtf8:
    """The extraction function called with a page's UTF-8 bytes, decoded where it runs: bytes cross to
    the child process as one copy, where a ``str`` is encoded, pickled and decoded again."""

    fn: ExtractFn
    reset: Callable[[], None] | None = None

    def __call__(self, html: bytes | NewShard) -> tuple[str, str | None]:
        if isinstance(html, NewShard):
            if self.reset is not None:
                self.reset()
            return "", None
        return self.fn(html.decode("utf-8"))


def page_title(html: str) -> str | None:
    """The ``<title>`` of the page, unescaped and on one line: a regex costs microseconds, where asking
    trafilatura for metadata costs a second pass over the tree."""
    match = _TITLE.search(html)
    if not match:
        return None
    title = " ".join(html_lib.unescape(match.group(1)).split())
    return title[:MAX_TITLE_CHARS] or None


def html_element_lookup() -> Any:
    """The element classes ``lxml.html`` gives, chosen in C: its own ``HtmlElementClassLookup`` calls a
    Python method for every element Python touches (trafilatura touches ~3,000 a page: ~2.5 % of its
    time). Same classes: ``HtmlElement``, its comment, PI and entity classes, and lxml's form classes by
    lower-case tag name (the HTML parser lower-cases every tag)."""
    from lxml import etree
    from lxml import html as lxml_html

    lookup = etree.ElementNamespaceClassLookup(etree.ElementDefaultClassLookup(
        element=lxml_html.HtmlElement, comment=lxml_html.HtmlComment, pi=lxml_html.HtmlProcessingInstruction,
        entity=lxml_html.HtmlEntity))
    by_tag = lookup.get_namespace(None)
    for tag, element_class in lxml_html.HtmlElementClassLookup._default_element_classes.items():
        by_tag[tag] = element_class
    return lookup


_parsers_ready = False


def _prepare_parsers() -> None:
    """trafilatura's HTML parser and lxml.html's default one (its fragments) choose classes in C."""
    global _parsers_ready
    if _parsers_ready:
        return
    from lxml import html as lxml_html
    from trafilatura.utils import HTML_PARSER

    lookup = html_element_lookup()
    HTML_PARSER.set_element_class_lookup(lookup)
    lxml_html.html_parser.set_element_class_lookup(lookup)
    _parsers_ready = True


def extract_with_trafilatura(html: str, *, favor_precision: bool, include_comments: bool, include_tables: bool,
                             deduplicate: bool, fast: bool) -> tuple[str, str | None]:
    import trafilatura  # imported in the child process; the worker itself never needs it

    _prepare_parsers()
    text = trafilatura.extract(html, output_format="txt", favor_precision=favor_precision,
                               include_comments=include_comments, include_tables=include_tables,
                               deduplicate=deduplicate, fast=fast)
    return text or "", page_title(html)


def forget_repeated_paragraphs() -> None:
    """Empty trafilatura's cache of paragraphs seen (what ``deduplicate`` drops repeats by)."""
    from trafilatura.deduplication import LRU_TEST

    LRU_TEST.clear()


def extract_with_resiliparse(html: str, *, main_content: bool, alt_texts: bool, links: bool,
                             list_bullets: bool) -> tuple[str, str | None]:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)  # parsed once for both the text and the title
    text = extract_plain_text(tree, preserve_formatting=True, main_content=main_content, alt_texts=alt_texts,
                              links=links, list_bullets=list_bullets, form_fields=False, noscript=False,
                              comments=False)
    title = " ".join(tree.title.split()) if tree.title else None
    return text, title or None
