"""Text normalization before shingling, applied to a whole batch at once.

Near-duplicates often differ only in case, punctuation, spacing, numbers (dates, counters) or accents;
folding those away makes such pairs share shingles. The batch is normalized as one string joined by
NUL, because per-document calls cost more than the work itself: ASCII is folded by one
``bytes.translate`` over the UTF-8 bytes (multi-byte sequences hold no ASCII bytes, so this is safe),
and only runs of non-ASCII characters go through Python, one cached lookup per character.

Scripts written without spaces between words (Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar,
Tibetan) have no words to split on: with ``split_unspaced``, each of their characters becomes a word of
its own (the fold puts a space on either side), so that shingles of ``n`` words are character n-grams
there, and word n-grams in space-separated scripts. A mixed text gets both: in "これはPythonの例",
``Python`` is one word between single-character ones. ASCII text is never touched by it.
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
#: Code point ranges of scripts written without spaces between words (Korean Hangul uses spaces).
UNSPACED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK ideographs, extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK ideographs, extensions B and later
)


def is_unspaced(char: str) -> bool:
    """Whether ``char`` belongs to a script written without spaces between words."""
    point = ord(char)
    return any(lo <= point <= hi for lo, hi in UNSPACED_RANGES)


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



class _FoldTable(dict):
    """``str.translate`` table for non-ASCII characters, filled on first sight of each character."""

    def __init__(self, config: NormalizeConfig, split_unspaced: bool) -> None:
        super().__init__()
        self.config = config
        self.split_unspaced = split_unspaced

    def __missing__(self, codepoint: int) -> str:
        folded = _fold_char(chr(codepoint), self.config)
        if self.split_unspaced:
            folded = "".join(f" {c} " if is_unspaced(c) else c for c in folded)
        self[codepoint] = folded
        return folded

    def fold_run(self, match: re.Match) -> str:
        return match.group().translate(self)


@lru_cache(maxsize=16)
def _fold_table(config: NormalizeConfig, split_unspaced: bool) -> _FoldTable:
    return _FoldTable(config, split_unspaced)


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


def normalize_batch(texts: Sequence[str | None], config: NormalizeConfig = NormalizeConfig(),
                    split_unspaced: bool = False) -> bytes:
    """Normalize ``texts`` and return their UTF-8 bytes joined by :data:`DOC_SEPARATOR` (``None`` counts
    as empty). Words are separated by one or more spaces; with ``split_unspaced`` each character of a
    script written without spaces is a word."""
    joined = "\x00".join(t.replace("\x00", " ") if t and "\x00" in t else (t or "") for t in texts)
    if not joined.isascii():
        joined = _NON_ASCII_RUN.sub(_fold_table(config, split_unspaced).fold_run, joined)
    data = joined.encode("utf-8", "surrogatepass")
    return data.translate(config.ascii_table(), config.ascii_deletions())


def normalize(text: str, config: NormalizeConfig = NormalizeConfig(), split_unspaced: bool = False) -> str:
    """One document, normalized, words joined by single spaces (for inspection and shingling)."""
    return " ".join(normalize_batch([text], config, split_unspaced).decode("utf-8", "surrogatepass").split())
