"""Gopher quality filter (Rae et al. 2021), with datatrove's definitions and defaults.

Rules, checked in this order (the first failure names the drop; value = the measured quantity):

| reason                          | drop when                                                         |
|---------------------------------|-------------------------------------------------------------------|
| ``gopher_short_doc``            | words (tokens that are not only symbols) < ``min_doc_words``      |
| ``gopher_long_doc``             | words > ``max_doc_words``                                         |
| ``gopher_below_avg_threshold``  | mean word length < ``min_avg_word_length``                        |
| ``gopher_above_avg_threshold``  | mean word length > ``max_avg_word_length``                        |
| ``gopher_too_many_hashes``      | ``#`` count / tokens > ``max_symbol_word_ratio``                  |
| ``gopher_too_many_ellipsis``    | (``...`` + ``…``) count / tokens > ``max_symbol_word_ratio``      |
| ``gopher_too_many_bullets``     | lines starting (after spaces) with ``•`` or ``-`` / lines > ``max_bullet_lines_ratio`` |
| ``gopher_too_many_end_ellipsis``| lines ending with ``...`` or ``…`` / lines > ``max_ellipsis_lines_ratio`` |
| ``gopher_below_alpha_threshold``| tokens with a letter / tokens < ``min_alpha_words_ratio``         |
| ``gopher_few_stop_words``       | tokens equal to a stop word (case-sensitive) < ``min_stop_words`` |

As in datatrove, "tokens" include symbol tokens (punctuation), so the symbol and alpha ratios count
them; datatrove calls the last reason ``gopher_enough_stop_words`` and the alpha threshold
``max_non_alpha_words_ratio`` although it is a minimum share of alphabetic words.
The defaults are tuned for English: CJK text fails the mean word length rule (see ``text.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

from fineweb_pipe.stage import Drop
from fineweb_pipe.stages.quality import text as split
from fineweb_pipe.stages.quality.base import TextFilter

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


class GopherQualityFilter(TextFilter):
    """Drops documents whose length, word shape, symbols or stop words look unlike prose. ``None`` disables a rule."""

    def __init__(
        self,
        min_doc_words: int | None = 50,
        max_doc_words: int | None = 100_000,
        min_avg_word_length: float | None = 3,
        max_avg_word_length: float | None = 10,
        max_symbol_word_ratio: float | None = 0.1,
        max_bullet_lines_ratio: float | None = 0.9,
        max_ellipsis_lines_ratio: float | None = 0.3,
        min_alpha_words_ratio: float | None = 0.8,
        min_stop_words: int | None = 2,
        stop_words: Iterable[str] = STOP_WORDS,
    ) -> None:
        self.min_doc_words = min_doc_words
        self.max_doc_words = max_doc_words
        self.min_avg_word_length = min_avg_word_length
        self.max_avg_word_length = max_avg_word_length
        self.max_symbol_word_ratio = max_symbol_word_ratio
        self.max_bullet_lines_ratio = max_bullet_lines_ratio
        self.max_ellipsis_lines_ratio = max_ellipsis_lines_ratio
        self.min_alpha_words_ratio = min_alpha_words_ratio
        self.min_stop_words = min_stop_words
        self.stop_words = frozenset(stop_words)

    def decide_text(self, text: str) -> Drop | None:
        tokens = split.words(text)
        words = [token for token in tokens if not split.is_symbol(token)]
        if not words:
            return Drop("gopher_short_doc", 0)
        if self.min_doc_words is not None and len(words) < self.min_doc_words:
            return Drop("gopher_short_doc", len(words))
        if self.max_doc_words is not None and len(words) > self.max_doc_words:
            return Drop("gopher_long_doc", len(words))

        mean_length = sum(map(len, words)) / len(words)
        if self.min_avg_word_length is not None and mean_length < self.min_avg_word_length:
            return Drop("gopher_below_avg_threshold", mean_length)
        if self.max_avg_word_length is not None and mean_length > self.max_avg_word_length:
            return Drop("gopher_above_avg_threshold", mean_length)

        if self.max_symbol_word_ratio is not None:
            hashes = text.count("#") / len(tokens)
            if hashes > self.max_symbol_word_ratio:
                return Drop("gopher_too_many_hashes", hashes)
            ellipses = (text.count("...") + text.count("…")) / len(tokens)
            if ellipses > self.max_symbol_word_ratio:
                return Drop("gopher_too_many_ellipsis", ellipses)

        lines = split.lines(text)
        if self.max_bullet_lines_ratio is not None:
            bullets = sum(line.lstrip().startswith(("•", "-")) for line in lines) / len(lines)
            if bullets > self.max_bullet_lines_ratio:
                return Drop("gopher_too_many_bullets", bullets)
        if self.max_ellipsis_lines_ratio is not None:
            trailing = sum(line.rstrip().endswith(("...", "…")) for line in lines) / len(lines)
            if trailing > self.max_ellipsis_lines_ratio:
                return Drop("gopher_too_many_end_ellipsis", trailing)

        if self.min_alpha_words_ratio is not None:
            alpha = sum(map(split.has_letter, tokens)) / len(tokens)
            if alpha < self.min_alpha_words_ratio:
                return Drop("gopher_below_alpha_threshold", alpha)

        if self.min_stop_words is not None:
            stop_words = sum(token in self.stop_words for token in tokens)
            if stop_words < self.min_stop_words:
                return Drop("gopher_few_stop_words", stop_words)
        return None
