"""FineWeb's own quality filter (Penedo et al. 2024), with datatrove's definitions and defaults.

Lines are the text split on ``\\n`` (not stripped). Rules, in this order (value = the measured ratio):

| reason                      | drop when                                                            |
|-----------------------------|----------------------------------------------------------------------|
| ``fineweb_line_punct_ratio``| lines ending in ``line_end_punctuation`` (``. ' " ! ?``) / lines <= ``line_punct_thr`` (a ratio of 0 passes if ``line_punct_exclude_zero``) |
| ``fineweb_short_line_ratio``| lines of at most ``short_line_length`` characters / lines >= ``short_line_thr`` |
| ``fineweb_char_dup_ratio``  | characters of non-blank lines equal to an earlier one / characters other than ``\\n`` >= ``char_duplicates_ratio`` |
| ``fineweb_list_ratio``      | ``\\n`` count / tokens (:func:`text.words`, symbols included) > ``new_line_ratio`` |

The defaults are datatrove's and English-tuned: text whose sentences end in CJK full stops (``。``)
fails the first rule, as it does there, and full CJK sentences are often under 30 characters; for
such text pass ``line_end_punctuation`` with ``。！？`` and a smaller ``short_line_length``.
"""

from __future__ import annotations

from fineweb_pipe.stage import Drop
from fineweb_pipe.stages.quality import text as split
from fineweb_pipe.stages.quality.base import EMPTY_TEXT, TextFilter

LINE_END_PUNCTUATION = (".", "'", '"', "!", "?")


class FineWebQualityFilter(TextFilter):
    """Drops list-like, fragmentary or line-duplicated documents. ``None`` disables a rule."""

    default_name = "fineweb_quality_filter"

    def __init__(
        self,
        line_punct_thr: float | None = 0.12,
        line_punct_exclude_zero: bool = False,
        short_line_thr: float | None = 0.67,
        short_line_length: int = 30,
        char_duplicates_ratio: float | None = 0.01,
        new_line_ratio: float | None = 0.3,
        line_end_punctuation: tuple[str, ...] = LINE_END_PUNCTUATION,
    ) -> None:
        self.line_punct_thr = line_punct_thr
        self.line_punct_exclude_zero = line_punct_exclude_zero
        self.short_line_thr = short_line_thr
        self.short_line_length = short_line_length
        self.char_duplicates_ratio = char_duplicates_ratio
        self.new_line_ratio = new_line_ratio
        self.line_end_punctuation = tuple(line_end_punctuation)

    def decide_text(self, text: str) -> Drop | None:
        if not text.strip():
            return Drop(EMPTY_TEXT)
        lines = text.split("\n")
        if self.line_punct_thr is not None:
            ratio = sum(line.endswith(self.line_end_punctuation) for line in lines) / len(lines)
            if ratio <= self.line_punct_thr and not (ratio == 0 and self.line_punct_exclude_zero):
                return Drop("fineweb_line_punct_ratio", ratio)
        if self.short_line_thr is not None:
            ratio = sum(len(line) <= self.short_line_length for line in lines) / len(lines)
            if ratio >= self.short_line_thr:
                return Drop("fineweb_short_line_ratio", ratio)
        if self.char_duplicates_ratio is not None:
            _, repeated_chars = split.duplicates([line for line in lines if line.strip()])
            ratio = repeated_chars / (len(text) - len(lines) + 1)  # characters other than "\n"
            if ratio >= self.char_duplicates_ratio:
                return Drop("fineweb_char_dup_ratio", ratio)
        if self.new_line_ratio is not None:
            ratio = (len(lines) - 1) / len(split.words(text))
            if ratio > self.new_line_ratio:
                return Drop("fineweb_list_ratio", ratio)
        return None
