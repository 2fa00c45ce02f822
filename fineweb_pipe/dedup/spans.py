"""A document as units (sentences or paragraphs) and its spans: windows of ``window`` consecutive units,
each named by a 64-bit hash of its normalized text.

Both the counting round and the write round of :class:`~fineweb_pipe.dedup.span_stage.SpanDedup` split
a text here, so a span hash counted in one round is found again in the other. A text is kept as its
units and the separators after them, so that removing units and joining the rest changes nothing else.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fineweb_pipe.dedup.normalize import NormalizeConfig, normalize_batch

UNITS = ("sentences", "paragraphs")
# Paragraphs are lines (Dolma's paragraph dedup); a sentence ends at ., ! or ? (and their CJK forms)
# before whitespace, or at a line break. Whitespace-only lines belong to the separator.
_SEPARATORS = {
    "paragraphs": re.compile(r"(\s*\n\s*)"),
    "sentences": re.compile(r"((?<=[.!?\u3002\uff01\uff1f])\s+|\s*\n\s*)"),
}


@dataclass(frozen=True)
class SpanConfig:
    """How texts become spans: ``unit`` ("sentences" or "paragraphs") and ``window`` units per span (C4
    and datatrove: 3 sentences; Dolma: 1 paragraph). A document with fewer units than ``window`` has no
    spans."""

    unit: str = "sentences"
    window: int = 3
    normalize: NormalizeConfig = NormalizeConfig()

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unit={self.unit!r}: use one of {UNITS}")
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")


@dataclass(frozen=True)
class SplitText:
    """A text's units, the separator after each (the last one's is what ends the text), and one hash
    per span: ``hashes[i]`` covers ``units[i : i + window]``."""

    units: list[str]
    separators: list[str]
    hashes: np.ndarray  # uint64

    def without(self, removed: np.ndarray) -> str:
        """The text with the units where ``removed`` is true taken out, with their separators."""
        kept = [u + s for u, s, gone in zip(self.units, self.separators, removed.tolist()) if not gone]
        return "".join(kept).strip()


def split_units(text: str, unit: str) -> tuple[list[str], list[str]]:
    """Units and the separator after each; empty pieces (a leading separator) are dropped."""
    parts = _SEPARATORS[unit].split(text)
    units, separators = parts[0::2], parts[1::2] + [""]
    pairs = [(u, s) for u, s in zip(units, separators) if u]
    return [u for u, _ in pairs], [s for _, s in pairs]


def span_hash(span: bytes) -> int:
    """64-bit hash of one span's normalized bytes: the same in every process (not Python's ``hash``)."""
    return int.from_bytes(hashlib.blake2b(span, digest_size=8).digest(), "little")


def split_texts(texts: Sequence[str | None], config: SpanConfig) -> list[SplitText]:
    """Every text split into units with its span hashes; the units of a batch are normalized at once."""
    split = [split_units(t or "", config.unit) for t in texts]
    flat = [u for units, _ in split for u in units]
    normalized = normalize_batch(flat, config.normalize).split(b"\x00") if flat else []
    words = [b" ".join(n.split()) for n in normalized]
    out, first = [], 0
    w = config.window
    for units, separators in split:
        mine = words[first:first + len(units)]
        first += len(units)
        hashes = np.fromiter((span_hash(b"\n".join(mine[i:i + w])) for i in range(len(mine) - w + 1)),
                             dtype=np.uint64, count=max(len(mine) - w + 1, 0))
        out.append(SplitText(units, separators, hashes))
    return out


def covered_units(span_starts: np.ndarray, units: int, window: int) -> np.ndarray:
    """Which of ``units`` units lie in a span starting at one of ``span_starts``."""
    cover = np.zeros(units + 1, np.int64)
    np.add.at(cover, span_starts, 1)
    np.add.at(cover, span_starts + window, -1)
    return np.cumsum(cover[:units]) > 0
