"""Fast text splitting for the quality filters: words, lines, paragraphs, sentences and n-grams.

Everything here is one compiled regular expression or a ``str`` method, so a 5 KB document costs tens
of microseconds. datatrove instead runs a spaCy tokenizer per document (``spacy.blank(lang)`` plus a
``sentencizer`` for English, other tokenizers for other languages, NLTK in older versions), which is
where its filters spend most of their time.

How our splitting differs from datatrove's (spaCy ``blank("en")``), and what that does to agreement:

Words (:func:`words`). A token is a URL, an abbreviation with dots (``U.S.``, ``e.g.``), a number with
inner separators (``1,000.5``, ``12:30``), a run of word characters with inner ``.`` or ``@``
(``example.com``, ``me@x.org``), an apostrophe suffix (``'s``, ``'t``), a dot run (``...``), a single
CJK character, or any other single non-space character. Like spaCy we split off punctuation
(``end.`` -> ``end`` ``.``; ``well-known`` -> ``well`` ``-`` ``known``; ``!!!`` -> three tokens), so
the symbol-token share that the Gopher alpha-word rule sees is close. Known differences:

- contractions: spaCy ``do`` ``n't``, we ``don`` ``'t``: same count and same total length, so
  word counts and mean word length agree; only the n-gram strings differ.
- spaCy keeps tokenizer exceptions whole (``Mr.``, ``J.``, ``--``, ``:)``); we split them, adding a
  symbol token. It splits URLs at ``/`` in places; we keep a URL as one token.
- CJK (Han, Hiragana, Katakana): spaCy-en makes a whole unspaced run one token; datatrove uses jieba
  or SudachiPy for zh/ja. We make each CJK character a token (as BERT's basic tokenizer does), so
  repetition rules work on character n-grams and long unspaced text never becomes one giant "word".
  The Gopher quality defaults are English-tuned: CJK text (mean word length 1) fails its mean word
  length rule. Run these filters after English language ID, as FineWeb does.
- A "symbol" token (not counted as a word by the Gopher word-count rules) is one made only of Unicode
  punctuation (category P*), ASCII symbols or control characters. datatrove uses a fixed character
  list; both count ``€`` or an emoji alone as a word, but e.g. ``►`` alone is a symbol there and a
  word here, and a Unicode punctuation mark missing from its list is a word there.

Measured on ``clean_web_texts.dev.jsonl`` against ``spacy.blank("en")`` (whitespace tokens dropped,
as datatrove does), on its 178 texts without CJK: tokens +0.25 % in total (156,969 vs 156,585),
non-symbol words +0.19 %; per document the token count differs by a median of 0.00 %, 5th/95th
percentiles -0.23 % / +2.06 %, at most 5.1 %; sentences per document: median 0 %, 5th/95th
percentiles -1.3 % / +1.9 %. On its 3 texts with CJK characters we find up to 22x spaCy-en's tokens (one per
character). The Gopher alpha-word ratios of the 22 documents it fails agree with spaCy's to within
0.03. Tokenizing costs about a quarter of spaCy's time (2,155 vs 473 docs/s on that file).

Sentences (:func:`count_sentences`) follow spaCy's ``sentencizer``: a sentence ends at ``.``, ``!``
or ``?`` (or a CJK full stop) and the next one begins at the next word, after any quotes or brackets.
An ellipsis does not end a sentence (as in spaCy, whose ``...`` token is not a terminator), nor does a
dot after a single letter (``J.``, ``U.S.``) or after ``Mr``/``Mrs``/``Ms``/``Dr``/``St``/``vs``.
Other spaCy exceptions (``etc.``, ``Inc.`` mid-sentence) count as a sentence end here. CJK full stops
end sentences here; spaCy-en does not split unspaced CJK at all.

Lines and paragraphs are split exactly as datatrove splits them in each filter (``str.splitlines``,
``"\\n"``, ``\\n+``, ``\\n{2,}``), since those choices change the fractions the rules measure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"


def _combining_marks() -> str:
    """A character-class body of the combining marks (Unicode M*) of the Basic Multilingual Plane.

    ``re``'s ``\\w`` leaves them out, which would split Arabic and Indic vowel signs off their letters.
    Built once at import (about 20 ms); the supplementary planes' marks (historic scripts) are left
    out because ``re`` matches a class with astral ranges markedly slower.
    """
    ranges: list[tuple[int, int]] = []
    for code in range(0x300, 0x10000):
        if unicodedata.category(chr(code))[0] == "M":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    return "".join(f"{chr(low)}-{chr(high)}" for low, high in ranges)


_MARKS = _combining_marks()
_LETTER = rf"[^\W\d_{_CJK}]"  # a letter that is not CJK
# A word: word characters (with digits and "_") except CJK, which are tokens on their own, and the
# combining marks inside it (written unrolled so text without marks pays one failed check per word).
_WORD = rf"[^\W{_CJK}]+(?:[{_MARKS}]+[^\W{_CJK}]*)*"

# Abbreviations that spaCy's English tokenizer keeps whole with their dot (a few frequent ones).
_ABBREVIATIONS = (
    "Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Rep|Sen|Gov|Gen|Rev|Inc|Ltd|Corp|Co|vs|etc|"
    "Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_ABBREVIATION = rf"\b(?:{_ABBREVIATIONS})\.|(?<!\w)(?:{_LETTER}\.)+(?!\w)"  # Mr. Nov. / U.S. e.g. J.

_TOKEN_RE = re.compile(
    "|".join(
        [
            r"(?:https?://|www\.)[^\s<>\"'()\[\]{}]+[^\s<>\"'()\[\]{}.,;:!?]",  # URL (no trailing punct)
            _ABBREVIATION,
            r"\d+(?:[.,:]\d+)+",  # 1,000.5 12:30 3.14
            rf"{_WORD}(?:[.@]{_WORD})*",  # words, example.com, me@x.org
            rf"(?<=\w)['’]{_WORD}",  # 's 't 're (contraction suffix)
            rf"@{_WORD}",  # @handle
            r"\.{2,}|-{2,}",  # ellipsis, dash made of hyphens
            rf"[{_CJK}]",  # one CJK character
            r"\S",  # any other character is a token of its own
        ]
    )
)

_ASCII_SYMBOLS = frozenset("$+<=>^`|~#%&*@\\/_")


@lru_cache(maxsize=4096)
def _is_symbol_char(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] == "P" or category == "Cc" or char in _ASCII_SYMBOLS


#: Texts tokenized lately and their tokens: the Gopher filters and FineWeb's each tokenize a document,
#: mostly the same text (0.6 ms for a 5 KB page), one stage after the other on the same batch. Bounded by
#: the characters of the texts held (a batch of pages after the language filter is ~0.3M).
_RECENT_WORDS: dict[str, list[str]] = {}
_RECENT_WORDS_MAX_CHARS = 4_000_000
_recent_chars = 0


def words(text: str) -> list[str]:
    """Word and symbol tokens of ``text`` (see the module docstring for how they compare to spaCy's).

    The list may be shared with the other callers that tokenized the same text lately: do not change it."""
    global _recent_chars
    tokens = _RECENT_WORDS.get(text)
    if tokens is not None:
        return tokens
    tokens = _TOKEN_RE.findall(text)
    if len(text) <= _RECENT_WORDS_MAX_CHARS:
        while _RECENT_WORDS and _recent_chars + len(text) > _RECENT_WORDS_MAX_CHARS:
            oldest = next(iter(_RECENT_WORDS))  # the first one held: dicts keep insertion order
            del _RECENT_WORDS[oldest]
            _recent_chars -= len(oldest)
        _RECENT_WORDS[text] = tokens
        _recent_chars += len(text)
    return tokens


def is_symbol(token: str) -> bool:
    """True for a token made only of punctuation or symbols.

    By construction a token is either all symbols or starts or ends with a non-symbol (``'s``, ``U.S.``),
    so its two ends tell."""
    return _is_symbol_char(token[0]) and _is_symbol_char(token[-1])


_HAS_LETTER_RE = re.compile(r"[^\W\d_]")


def has_letter(token: str) -> bool:
    return _HAS_LETTER_RE.search(token) is not None


def lines(text: str) -> list[str]:
    """Lines as ``str.splitlines`` gives them (also splits on ``\\r``, ``\\x0b``, ``\\u2028``, ...)."""
    return text.splitlines()


_LINE_RUNS_RE = re.compile(r"\n+")
_PARAGRAPH_RE = re.compile(r"\n{2,}")


def nonempty_line_runs(text: str) -> list[str]:
    """``text`` split on runs of ``\\n`` (a leading or trailing newline still yields one empty item)."""
    return _LINE_RUNS_RE.split(text)


def paragraphs(text: str) -> list[str]:
    """Paragraphs: the stripped text split on two or more ``\\n``."""
    return _PARAGRAPH_RE.split(text.strip())


_SENTENCE_RE = re.compile(
    rf"(?P<abbreviation>{_ABBREVIATION})"  # consumed so that its dot ends no sentence
    r"|(?P<end>(?:(?<!\.)\.(?!\.)|[!?‼⁇⁈⁉][.!?‼⁇⁈⁉]*)"  # a terminator that is not part of an ellipsis
    r"[^\w\s]*\s\W*(?=\w)"  # closing quotes/brackets, a space, anything but a word, then a word
    r"|[。！？｡]\W*(?=\w))"  # CJK full stops need no space
)


def count_sentences(text: str) -> int:
    """Number of sentences in ``text`` (0 for blank text); see the module docstring."""
    if not text or text.isspace():
        return 0
    return 1 + sum(1 for match in _SENTENCE_RE.finditer(text) if match.lastgroup == "end")


def duplicates(items: Sequence[str]) -> tuple[int, int]:
    """(number of items seen before, their total characters): each repeat after the first counts."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars


class NGrams:
    """Word n-grams of one document as 64-bit hashes, with their character lengths.

    A word's value is Python's (SipHash) string hash; an n-gram's hash folds its words' values with an
    odd multiplier, so two different n-grams collide with probability about 2^-64 (exact up to that).
    """

    _MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, tokens: Sequence[str]) -> None:
        self._values = np.fromiter(map(hash, tokens), np.int64, len(tokens)).view(np.uint64)
        lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
        self._length_sums = np.concatenate(([0], np.cumsum(lengths)))
        self._hashes: dict[int, np.ndarray] = {1: self._values}

    def __len__(self) -> int:
        return len(self._values)

    def hashes(self, n: int) -> np.ndarray:
        """Hash of the n-gram starting at each position (``len - n + 1`` of them)."""
        if n not in self._hashes:
            shorter = self.hashes(n - 1)
            with np.errstate(over="ignore"):
                self._hashes[n] = shorter[:-1] * self._MULTIPLIER + self._values[n - 1 :]
        return self._hashes[n]

    def chars(self, n: int) -> np.ndarray:
        """Characters of the words of the n-gram at each position (no separators)."""
        return self._length_sums[n:] - self._length_sums[:-n]

    def top_ngram_chars(self, n: int) -> int:
        """Characters covered by the most frequent n-gram joined with spaces, times its count.

        Ties go to the n-gram that occurs first, as ``Counter.most_common`` gives them.
        """
        hashes = self.hashes(n)
        if len(hashes) == 0:
            return 0
        _, first, counts = np.unique(hashes, return_index=True, return_counts=True)
        top = counts.max()
        position = first[counts == top].min()
        return int((self.chars(n)[position] + n - 1) * top)

    def repeated_ngram_chars_bound(self, n: int) -> int:
        """An upper bound of :meth:`duplicated_ngram_chars`, vectorized: the characters of every n-gram
        that occurred before, ignoring the jumps."""
        hashes = self.hashes(n)
        if len(hashes) == 0:
            return 0
        _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        repeats = first[inverse] < np.arange(len(hashes))
        return int(self.chars(n)[repeats].sum())

    def duplicated_ngram_chars(self, n: int) -> int:
        """Characters (words only) in n-grams that repeat an earlier one, scanning left to right and
        jumping past each repeat so that overlapping repeats are not counted twice."""
        hashes = self.hashes(n)
        if len(np.unique(hashes)) == len(hashes):
            return 0
        chars = self.chars(n).tolist()  # Python ints: indexing a NumPy array per step costs ~4x more
        seen: set[int] = set()
        remember = seen.add
        repeated = position = 0
        hash_list = hashes.tolist()
        end = len(hash_list)
        while position < end:
            value = hash_list[position]
            if value in seen:
                repeated += chars[position]
                position += n
            else:
                remember(value)
                position += 1
        return repeated
