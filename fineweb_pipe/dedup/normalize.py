"""Text normalization before shingling, applied to a whole batch at once.

Near-duplicates often differ only in case, punctuation, spacing, numbers (dates, counters) or accents;
folding those away makes such pairs share shingles. The batch is normalized as one string joined by
NUL, because per-document calls cost more than the work itself: ASCII is folded by one
``bytes.translate`` over the UTF-8 bytes (multi-byte sequences hold no ASCII bytes, so this is safe),
and only runs of non-ASCII characters go through Python, one cached lookup per character.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

#: Separates documents in a normalized batch; never appears inside a normalized document.
DOC_SEPARATOR = b"\x00"

_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


@dataclass(frozen=True)
class NormalizeConfig:
    """Which differences to fold away (whitespace is always folded: words are split on it).

    The defaults follow datatrove's FineWeb MinHash settings."""

    lowercase: bool = True
    strip_punctuation: bool = True  # removed, so "e-mail" and "email" match
    fold_digits: bool = True  # every digit becomes 0, so changed dates and counters still match
    strip_accents: bool = True  # NFKD, then combining marks removed

    def ascii_table(self) -> bytes:
        """The ``bytes.translate`` table for ASCII: controls and whitespace to space, then the options."""
        table = bytearray(range(256))
        for byte in list(range(0x01, 0x20)) + [0x7F]:
            table[byte] = 0x20
        if self.lowercase:
            for byte in range(ord("A"), ord("Z") + 1):
                table[byte] = byte + 32
        if self.fold_digits:
            for byte in range(ord("0"), ord("9") + 1):
                table[byte] = ord("0")
        return bytes(table)

    def ascii_deletions(self) -> bytes:
        return string.punctuation.encode() if self.strip_punctuation else b""

    def fold_non_ascii_run(self, match: re.Match) -> str:
        return match.group().translate(_fold_table(self))


class _FoldTable(dict):
    """``str.translate`` table for non-ASCII characters, filled on first sight of each character."""

    def __init__(self, config: NormalizeConfig) -> None:
        super().__init__()
        self.config = config

    def __missing__(self, codepoint: int) -> str:
        self[codepoint] = folded = _fold_char(chr(codepoint), self.config)
        return folded


@lru_cache(maxsize=16)
def _fold_table(config: NormalizeConfig) -> _FoldTable:
    return _FoldTable(config)


def _fold_char(char: str, config: NormalizeConfig) -> str:
    """What one non-ASCII character becomes (may be several characters, ASCII included)."""
    if char.isspace():
        return " "
    if config.lowercase:
        char = char.lower()
    if config.strip_accents:
        char = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    folded = []
    for c in char:
        if c.isdecimal() and not c.isascii():
            folded.append("0" if config.fold_digits else c)
        elif not (c.isalnum() or c.isascii()) and config.strip_punctuation:
            continue  # punctuation and symbols; ASCII ones are left to the byte table
        else:
            folded.append(c)
    return "".join(folded)


def normalize_batch(texts: Sequence[str | None], config: NormalizeConfig = NormalizeConfig()) -> bytes:
    """Normalize ``texts`` and return their UTF-8 bytes joined by :data:`DOC_SEPARATOR` (``None`` counts
    as empty). Words are separated by one or more spaces."""
    joined = "\x00".join(t.replace("\x00", " ") if t and "\x00" in t else (t or "") for t in texts)
    if not joined.isascii():
        joined = _NON_ASCII_RUN.sub(config.fold_non_ascii_run, joined)
    data = joined.encode("utf-8", "surrogatepass")
    return data.translate(config.ascii_table(), config.ascii_deletions())


def normalize(text: str, config: NormalizeConfig = NormalizeConfig()) -> str:
    """One document, normalized, words joined by single spaces (for inspection and shingling)."""
    return " ".join(normalize_batch([text], config).decode("utf-8", "surrogatepass").split())
