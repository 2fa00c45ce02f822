"""How a document's text becomes one line for fastText, in training and in scoring alike."""

from __future__ import annotations

#: fastText's label prefix; the classifiers made here label documents ``hq`` (positive) and ``cc``
#: (negative) as DCLM's published ``dclm-baseline`` model does.
LABEL_PREFIX = "__label__"
POSITIVE_LABEL = "hq"
NEGATIVE_LABEL = "cc"


def fasttext_line(text: str | None, lowercase: bool) -> str:
    """The text on one line, whitespace runs made single spaces (fastText reads one document per line),
    lower-cased where the model was trained so (DCLM's recipe; its own scoring code does not lower-case)."""
    line = " ".join((text or "").split())
    return line.lower() if lowercase else line
