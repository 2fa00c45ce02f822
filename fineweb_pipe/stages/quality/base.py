"""What the quality filters share: one decision per document text, with null text treated as empty."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import pyarrow as pa

from fineweb_pipe.schema import text_column
from fineweb_pipe.stage import Drop, Filter

#: Reason given by FineWebQualityFilter and GopherRepetitionFilter for a document whose text is null or
#: only whitespace, where their rules' ratios are undefined (datatrove raises ZeroDivisionError on some of
#: them). The other two need no such case: GopherQualityFilter drops it as ``gopher_short_doc`` (0 words),
#: C4QualityFilter as ``c4_too_few_sentences`` (0), or keeps it when ``min_sentences`` is None.
EMPTY_TEXT = "empty_text"


def batch_texts(batch: pa.Table) -> list[str]:
    """The batch's texts as Python strings, null as ``""``."""
    return [text or "" for text in text_column(batch).to_pylist()]


class TextFilter(Filter):
    """A filter that decides each document from its text alone."""

    def decide(self, batch: pa.Table) -> Sequence[Drop | None]:
        return [self.decide_text(text) for text in batch_texts(batch)]

    @abstractmethod
    def decide_text(self, text: str) -> Drop | None:
        """``None`` keeps the document, a :class:`Drop` names the first rule it fails."""
