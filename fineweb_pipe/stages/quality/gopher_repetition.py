"""Gopher repetition filter (Rae et al. 2021, table A1), with datatrove's definitions and defaults.

Rules, checked in this order (the first failure names the drop; value = the measured fraction):

| reason                 | measure (drop when above the threshold)                                    |
|------------------------|----------------------------------------------------------------------------|
| ``dup_para_frac``      | paragraphs (split on 2+ newlines) equal to an earlier one / paragraphs      |
| ``dup_para_char_frac`` | characters of those repeated paragraphs / characters of the text           |
| ``dup_line_frac``      | lines (split on newline runs) equal to an earlier one / lines               |
| ``dup_line_char_frac`` | characters of those repeated lines / characters of the text                |
| ``top_{n}gram_frac``   | (length of the most frequent word n-gram joined by spaces) x its count / characters, n = 2, 3, 4 |
| ``dup_{n}gram_char_frac`` | characters of the words in n-grams repeating an earlier one (scanning left to right, jumping past each repeat) / characters, n = 5..10 |

Words come from :func:`text.words` rather than spaCy (see that module for the differences). n-grams
are compared by 64-bit hashes; datatrove compares the n-grams' words concatenated without a separator
(so ``ab c`` equals ``a bc`` there and not here), which matters for no real text.
"""

from __future__ import annotations

from fineweb_pipe.stage import Drop
from fineweb_pipe.stages.quality import text as split
from fineweb_pipe.stages.quality.base import EMPTY_TEXT, TextFilter

TOP_NGRAM_FRACS: tuple[tuple[int, float], ...] = ((2, 0.20), (3, 0.18), (4, 0.16))
DUP_NGRAM_CHAR_FRACS: tuple[tuple[int, float], ...] = (
    (5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10),
)  # fmt: skip


class GopherRepetitionFilter(TextFilter):
    """Drops documents with repeated paragraphs, lines or n-grams. ``None`` disables a rule."""

    def __init__(
        self,
        dup_line_frac: float | None = 0.3,
        dup_para_frac: float | None = 0.3,
        dup_line_char_frac: float | None = 0.2,
        dup_para_char_frac: float | None = 0.2,
        top_ngram_fracs: tuple[tuple[int, float], ...] = TOP_NGRAM_FRACS,
        dup_ngram_char_fracs: tuple[tuple[int, float], ...] = DUP_NGRAM_CHAR_FRACS,
    ) -> None:
        self.dup_line_frac = dup_line_frac
        self.dup_para_frac = dup_para_frac
        self.dup_line_char_frac = dup_line_char_frac
        self.dup_para_char_frac = dup_para_char_frac
        self.top_ngram_fracs = tuple(top_ngram_fracs)
        self.dup_ngram_char_fracs = tuple(dup_ngram_char_fracs)

    def decide_text(self, text: str) -> Drop | None:
        if not text.strip():
            return Drop(EMPTY_TEXT)
        chars = len(text)
        for parts, frac_reason, frac_max, char_reason, char_max in (
            (split.paragraphs(text), "dup_para_frac", self.dup_para_frac,
             "dup_para_char_frac", self.dup_para_char_frac),
            (split.nonempty_line_runs(text), "dup_line_frac", self.dup_line_frac,
             "dup_line_char_frac", self.dup_line_char_frac),
        ):  # fmt: skip
            repeats, repeated_chars = split.duplicates(parts)
            if (drop := _above(frac_reason, repeats / len(parts), frac_max)) is not None:
                return drop
            if (drop := _above(char_reason, repeated_chars / chars, char_max)) is not None:
                return drop

        ngrams = split.NGrams(split.words(text))
        for n, frac_max in self.top_ngram_fracs:
            if (drop := _above(f"top_{n}gram_frac", ngrams.top_ngram_chars(n) / chars, frac_max)) is not None:
                return drop
        for n, frac_max in self.dup_ngram_char_fracs:
            if ngrams.repeated_ngram_chars_bound(n) / chars <= frac_max:
                continue  # the exact count (a Python loop) cannot exceed the bound
            repeated = ngrams.duplicated_ngram_chars(n)
            if (drop := _above(f"dup_{n}gram_char_frac", repeated / chars, frac_max)) is not None:
                return drop
        return None


def _above(reason: str, value: float, threshold: float | None) -> Drop | None:
    return Drop(reason, value) if threshold is not None and value > threshold else None
