"""C4 quality filter (Raffel et al. 2020) as datatrove runs it, with FineWeb's settings as defaults.

It both cleans and filters: each line (``str.splitlines``, stripped) is dropped when, in this order,

| counter                         | line dropped when                                          |
|---------------------------------|------------------------------------------------------------|
| ``c4_lines_too_long_word``      | a whitespace-separated word is longer than ``max_word_length`` |
| ``c4_lines_no_terminal_punct``  | (only if ``filter_no_terminal_punct``) it does not end in ``. ? ! " '`` or ends in ``...`` |
| ``c4_lines_too_few_words``      | it has fewer than ``min_words_per_line`` words             |
| ``c4_lines_javascript``         | it mentions "javascript" (any case)                        |
| ``c4_lines_policy``             | it holds a cookie/terms/privacy phrase (any case)          |

Wikipedia-style citations (``[1]``, ``[edit]``, ``[citation needed]``) are removed from lines first.
The document is dropped (reason, value) when a line surviving the first rules holds "lorem ipsum"
(``c4_lorem_ipsum``) or a ``{`` (``c4_curly_bracket``), or when the kept lines hold fewer than
``min_sentences`` sentences (``c4_too_few_sentences``, value = sentences). A kept document's text is
its kept lines joined by ``\\n``. Counters also hold ``c4_lines_total`` and ``c4_lines_kept``; as in
datatrove they count the lines examined in every document, including those later dropped.
Sentences are counted per kept line by :func:`text.count_sentences` (datatrove: spaCy sentencizer).
"""

from __future__ import annotations

import re
from collections import Counter

import pyarrow as pa

from fineweb_pipe.schema import TEXT
from fineweb_pipe.stage import Drop, Stage, StageResult, set_column, split_by_decisions
from fineweb_pipe.stages.quality import text as split
from fineweb_pipe.stages.quality.base import batch_texts

CITATION_RE = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
TERMINAL_PUNCTUATION = (".", "?", "!", '"', "'")
POLICY_PHRASES = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


class C4QualityFilter(Stage):
    """Removes boilerplate lines (C4 rules) and drops documents left too short or looking like code/filler."""

    def __init__(
        self,
        filter_no_terminal_punct: bool = False,
        min_sentences: int | None = 5,
        min_words_per_line: int | None = 3,
        max_word_length: int | None = 1000,
        remove_citations: bool = True,
        filter_lorem_ipsum: bool = True,
        filter_javascript: bool = True,
        filter_curly_bracket: bool = True,
        filter_policy: bool = True,
    ) -> None:
        self.filter_no_terminal_punct = filter_no_terminal_punct
        self.min_sentences = min_sentences
        self.min_words_per_line = min_words_per_line
        self.max_word_length = max_word_length
        self.remove_citations = remove_citations
        self.filter_lorem_ipsum = filter_lorem_ipsum
        self.filter_javascript = filter_javascript
        self.filter_curly_bracket = filter_curly_bracket
        self.filter_policy = filter_policy

    def process(self, batch: pa.Table) -> StageResult:
        counters: Counter[str] = Counter()
        decisions: list[Drop | None] = []
        cleaned: list[str] = []
        for text in batch_texts(batch):
            decision, kept_text = self.clean(text, counters)
            decisions.append(decision)
            cleaned.append(kept_text)
        column_type = batch.schema.field(TEXT).type
        result = split_by_decisions(set_column(batch, TEXT, pa.array(cleaned, column_type)), decisions)
        result.counters = dict(counters)
        return result

    def clean(self, text: str, counters: Counter[str]) -> tuple[Drop | None, str]:
        """(decision, cleaned text) for one document; adds to ``counters`` the lines seen per rule."""
        kept_lines: list[str] = []
        sentences = 0
        for line in split.lines(text):
            counters["c4_lines_total"] += 1
            line = line.strip()
            line_words = line.split()
            # (a word longer than the limit needs a line longer than it)
            if (self.max_word_length is not None and len(line) > self.max_word_length
                    and any(len(word) > self.max_word_length for word in line_words)):
                counters["c4_lines_too_long_word"] += 1
                continue
            if self.remove_citations:
                line = CITATION_RE.sub("", line)
            if self.filter_no_terminal_punct and (not line.endswith(TERMINAL_PUNCTUATION) or line.endswith("...")):
                counters["c4_lines_no_terminal_punct"] += 1
                continue
            if self.min_words_per_line is not None and len(line_words) < self.min_words_per_line:
                counters["c4_lines_too_few_words"] += 1
                continue
            lowered = line.lower()
            if self.filter_lorem_ipsum and "lorem ipsum" in lowered:
                return Drop("c4_lorem_ipsum"), text
            if self.filter_javascript and "javascript" in lowered:
                counters["c4_lines_javascript"] += 1
                continue
            if self.filter_curly_bracket and "{" in line:
                return Drop("c4_curly_bracket"), text
            if self.filter_policy and any(phrase in lowered for phrase in POLICY_PHRASES):
                counters["c4_lines_policy"] += 1
                continue
            if self.min_sentences is not None and sentences < self.min_sentences:
                # counted only up to the minimum: the count matters only as the value of a drop below it
                sentences += split.count_sentences(line)
            kept_lines.append(line)
            counters["c4_lines_kept"] += 1
        if self.min_sentences is not None and sentences < self.min_sentences:
            return Drop("c4_too_few_sentences", sentences), text
        return None, "\n".join(kept_lines).strip()
