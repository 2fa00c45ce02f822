"""Text normalization before shingling, applied to a whole batch at once.

Near-duplicates often differ only in case, punctuation, spacing, numbers (dates, counters) or accents;
folding those away makes such pairs share shingles. The batch is normalized as one string joined by
NUL, because per-document calls cost more than the work itself: ASCII is folded by one
``bytes.translate`` over the UTF-8 bytes (multi-byte sequences hold no ASCII bytes, so this is safe),
and only runs of non-ASCII characters go through Python, one cached lookup per character.

Scripts written without spaces between words (Chinese, Japanese kana, Thai, Lao, Khmer, Myanmar,
Tibetan) have no words to split on: with ``split_unspaced``, in a text where characters of those scripts
outnumber its whitespace-separated words, each such character becomes a word of its own, so that
shingles of ``n`` words are character n-grams there. A mixed text of that kind gets both: in
"これはPythonの例", ``Python`` is one word between single-character ones. A text with fewer such
characters than words (English with a Chinese name in it) is left as it is, and so is ASCII text.
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
    (0xFF66, 0xFF9F),  # halfwidth Katakana
    (0x20000, 0x3FFFF),  # CJK ideographs, extensions B and later
)
_UNSPACED_CHAR = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in UNSPACED_RANGES) + "]")


def split_unspaced_text(text: str) -> str:
    """``text`` with a space on either side of each character of a script written without spaces, where
    such characters outnumber the text's whitespace-separated words; else ``text`` unchanged."""
    found = len(_UNSPACED_CHAR.findall(text))
    if found == 0 or found <= len(text.split()):
        return text
    return _UNSPACED_CHAR.sub(r" \g<0> ", text)


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


def normalize_batch(texts: Sequence[str | None], config: NormalizeConfig = NormalizeConfig(),
                    split_unspaced: bool = False) -> bytes:
    """Normalize ``texts`` and return their UTF-8 bytes joined by :data:`DOC_SEPARATOR` (``None`` counts
    as empty). Words are separated by one or more spaces; with ``split_unspaced`` each character of a
    script written without spaces is a word in texts made mostly of them (:func:`split_unspaced_text`)."""
    if split_unspaced:
        texts = [split_unspaced_text(t) if t and not t.isascii() else t for t in texts]
    joined = "\x00".join(t.replace("\x00", " ") if t and "\x00" in t else (t or "") for t in texts)
    if not joined.isascii():
        joined = _NON_ASCII_RUN.sub(config.fold_non_ascii_run, joined)
    data = joined.encode("utf-8", "surrogatepass")
    return data.translate(config.ascii_table(), config.ascii_deletions())


def normalize(text: str, config: NormalizeConfig = NormalizeConfig(), split_unspaced: bool = False) -> str:
    """One document, normalized, words joined by single spaces (for inspection and shingling)."""
    return " ".join(normalize_batch([text], config, split_unspaced).decode("utf-8", "surrogatepass").split())
