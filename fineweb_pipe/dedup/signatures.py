"""MinHash signatures, vectorized over a batch, in datasketch's ``affine64`` scheme.

Per batch: normalize all texts into one string (:mod:`.normalize`), view its UTF-8 bytes as a numpy
array, hash every word with a polynomial hash computed from prefix sums (no Python loop per word),
combine ``ngram`` consecutive word hashes into a 64-bit shingle hash, then apply ``num_perm`` affine
permutations ``a * fmix64(h) + b (mod 2**64)`` and take the minimum per document with
``np.minimum.reduceat``.

The permutations are datasketch's own (``MinHash(num_perm, seed, scheme="affine64")``), and
:func:`shingle_hash` is the shingle hash as a plain function, so a signature computed here equals
``MinHash(num_perm, seed, hashfunc=shingle_hash, scheme="affine64")`` updated with :func:`shingles`
of the same text: it loads as a ``LeanMinHash`` (:func:`to_lean_minhash`) and can be put into or
queried against a datasketch ``MinHashLSH``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from fineweb_pipe.dedup.normalize import NormalizeConfig, normalize, normalize_batch

U64 = np.uint64
MASK64 = (1 << 64) - 1
#: Signature value of a document without shingles (datasketch's "empty" sentinel).
EMPTY = MASK64
_BYTE_BASE = 0x100000001B3  # FNV-64 prime: odd, so invertible modulo 2**64
_BYTE_BASE_INV = pow(_BYTE_BASE, -1, 1 << 64)
_WORD_BASE = 0x9E3779B97F4A7C15  # golden-ratio constant, odd
_SPACE, _NUL = 0x20, 0x00
#: Shingle-permutation products held at once (x 8 bytes): bounds a batch's scratch memory. 1M (8 MB)
#: is also faster than 4M here (cache), measured with 250-document batches of 480 words.
_SCRATCH_ELEMENTS = 1_000_000
SHINGLE_MODES = ("auto", "words")


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer (the pre-mix datasketch applies), element-wise, wrapping."""
    h = h ^ (h >> U64(33))
    h = h * U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> U64(33))
    h = h * U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> U64(33))


def _fmix64_int(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK64
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK64
    return h ^ (h >> 33)


def _word_hash_int(word: bytes) -> int:
    h, power = 0, 1
    for byte in word:
        h = (h + (byte + 1) * power) & MASK64
        power = (power * _BYTE_BASE) & MASK64
    return _fmix64_int(h)


def shingle_hash(shingle: bytes) -> int:
    """64-bit hash of one shingle (words joined by single spaces), as datasketch's ``hashfunc``."""
    h = 0
    for word in shingle.split(b" "):
        h = (h * _WORD_BASE + _word_hash_int(word)) & MASK64
    return _fmix64_int(h)


@dataclass(frozen=True)
class MinHashParams:
    """Shape of the signatures and of the LSH bands: word 5-grams, 16 bands x 8 rows by default.

    ``shingles``: "auto" (the default) makes each character of a script written without spaces (Chinese,
    Japanese, Thai...) a word of its own in a text where such characters outnumber its whitespace-separated
    words, so that shingles there are character ``ngram``-grams (:mod:`.normalize`); any other text
    shingles as under "words", which splits on whitespace only (a Chinese paragraph is then one word).

    FineWeb used 14 x 8 (``num_bands=14``) with no verification. ``MinHashDedup`` verifies candidate
    pairs, so two more bands buy recall without costing precision: at 1M documents, recall of pairs
    with Jaccard >= 0.85 rises from 0.9987 to 0.9995 at the same precision and time
    (``benchmarks/README.md``).
    """

    num_bands: int = 16
    rows_per_band: int = 8
    ngram: int = 5
    seed: int = 1
    normalize: NormalizeConfig = field(default_factory=NormalizeConfig)
    shingles: str = "auto"

    def __post_init__(self) -> None:
        if self.num_bands < 1 or self.rows_per_band < 1 or self.ngram < 1:
            raise ValueError(f"num_bands, rows_per_band and ngram must be >= 1, got {self}")
        if self.shingles not in SHINGLE_MODES:
            raise ValueError(f"shingles={self.shingles!r}: use one of {SHINGLE_MODES}")

    @property
    def split_unspaced(self) -> bool:
        return self.shingles == "auto"

    @property
    def num_perm(self) -> int:
        return self.num_bands * self.rows_per_band

    @classmethod
    def for_threshold(cls, threshold: float, num_perm: int = 112, false_positive_weight: float = 0.5,
                      **kwargs: object) -> MinHashParams:
        """Bands and rows that best separate pairs above and below Jaccard ``threshold`` (datasketch's
        search over ``num_perm`` permutations, weighing false positives against false negatives)."""
        from datasketch.lsh import _optimal_param

        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        bands, rows = _optimal_param(threshold, num_perm, false_positive_weight, 1.0 - false_positive_weight)
        return cls(num_bands=bands, rows_per_band=rows, **kwargs)  # type: ignore[arg-type]


def shingles(text: str, params: MinHashParams = MinHashParams()) -> list[bytes]:
    """The shingles of one document as bytes (a document shorter than ``ngram`` words is one shingle)."""
    words = normalize(text, params.normalize, params.split_unspaced).split()
    if not words:
        return []
    n = min(params.ngram, len(words))
    return [" ".join(words[i : i + n]).encode("utf-8", "surrogatepass") for i in range(len(words) - n + 1)]


def _word_hashes(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of the words in a normalized batch's bytes, and the document index of each word."""
    is_sep = (data == _SPACE) | (data == _NUL)
    edges = np.diff(np.concatenate(([True], is_sep, [True])).astype(np.int8))
    starts = np.flatnonzero(edges == -1)
    ends = np.flatnonzero(edges == 1)  # exclusive
    doc_of_word = np.searchsorted(np.flatnonzero(data == _NUL), starts)
    powers = np.empty(len(data) + 1, dtype=U64)
    powers[0] = 1
    powers[1:] = _BYTE_BASE
    np.cumprod(powers, out=powers)  # wraps modulo 2**64, which is the intended arithmetic
    inverse = np.empty(len(data) + 1, dtype=U64)
    inverse[0] = 1
    inverse[1:] = U64(_BYTE_BASE_INV)
    np.cumprod(inverse, out=inverse)
    prefix = np.zeros(len(data) + 1, dtype=U64)
    np.cumsum((data.astype(U64) + U64(1)) * powers[:-1], out=prefix[1:])
    # sum over the word of (byte + 1) * BASE**(position - start)
    words = (prefix[ends] - prefix[starts]) * inverse[starts]
    return fmix64(words), doc_of_word


def _shingle_hashes(words: np.ndarray, doc_of_word: np.ndarray, num_docs: int, ngram: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Shingle hashes (Horner over ``ngram`` word hashes, then fmix64) and each one's document index."""
    counts = np.bincount(doc_of_word, minlength=num_docs)
    full = np.zeros(max(len(words) - ngram + 1, 0), dtype=U64)
    for k in range(ngram):
        full = full * U64(_WORD_BASE) + words[k : k + len(full)]
    full_doc = doc_of_word[: len(full)]
    inside = full_doc == doc_of_word[ngram - 1 : ngram - 1 + len(full)]
    hashes, docs = [full[inside]], [full_doc[inside]]
    word_start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    for doc in np.flatnonzero((counts > 0) & (counts < ngram)):  # short documents: one shingle
        h = 0
        for w in words[word_start[doc] : word_start[doc] + counts[doc]].tolist():
            h = (h * _WORD_BASE + w) & MASK64
        hashes.append(np.array([h], dtype=U64))
        docs.append(np.array([doc], dtype=np.int64))
    doc_idx = np.concatenate(docs)
    order = np.argsort(doc_idx, kind="stable")
    return fmix64(np.concatenate(hashes)[order]), doc_idx[order]


def shingle_sets(texts: Sequence[str | None], params: MinHashParams = MinHashParams()) -> list[np.ndarray]:
    """Each text's distinct shingle hashes (sorted uint64): exact Jaccard similarity up to 64-bit
    collisions, for evaluation and ground truth."""
    normalized = normalize_batch(texts, params.normalize, params.split_unspaced)
    words, doc_of_word = _word_hashes(np.frombuffer(normalized, dtype=np.uint8))
    hashes, doc_of_shingle = _shingle_hashes(words, doc_of_word, len(texts), params.ngram)
    bounds = np.searchsorted(doc_of_shingle, np.arange(len(texts) + 1))
    return [np.unique(hashes[bounds[i] : bounds[i + 1]]) for i in range(len(texts))]


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard similarity of two sets from :func:`shingle_sets` (0 when both are empty)."""
    union = len(np.union1d(a, b))
    return len(np.intersect1d(a, b, assume_unique=True)) / union if union else 0.0


class MinHasher:
    """Computes signatures for batches of texts. Plain parameters; permutations built on first use."""

    def __init__(self, params: MinHashParams = MinHashParams()) -> None:
        self.params = params

    def __getstate__(self) -> dict[str, object]:
        return {"params": self.params}

    @cached_property
    def permutations(self) -> tuple[np.ndarray, np.ndarray]:
        from datasketch import MinHash

        a, b = MinHash(num_perm=self.params.num_perm, seed=self.params.seed, scheme="affine64").permutations
        return np.asarray(a, dtype=U64), np.asarray(b, dtype=U64)

    def signatures(self, texts: Sequence[str | None]) -> np.ndarray:
        """``(len(texts), num_perm)`` uint64 min-hashes; rows of :data:`EMPTY` for texts without words."""
        num_docs = len(texts)
        out = np.full((num_docs, self.params.num_perm), EMPTY, dtype=U64)
        normalized = normalize_batch(texts, self.params.normalize, self.params.split_unspaced)
        words, doc_of_word = _word_hashes(np.frombuffer(normalized, dtype=np.uint8))
        if len(words) == 0:
            return out
        hashes, doc_of_shingle = _shingle_hashes(words, doc_of_word, num_docs, self.params.ngram)
        # datasketch pre-mixes whatever its hashfunc returns, so the same happens here.
        mixed = fmix64(hashes)
        has_shingles = np.unique(doc_of_shingle)
        starts = np.searchsorted(doc_of_shingle, has_shingles)
        a, b = self.permutations
        step = max(1, _SCRATCH_ELEMENTS // len(mixed))
        for lo in range(0, len(a), step):
            products = np.multiply(a[lo : lo + step, None], mixed[None, :])
            products += b[lo : lo + step, None]
            out[has_shingles, lo : lo + step] = np.minimum.reduceat(products, starts, axis=1).T
        return out


def to_lean_minhash(signature: np.ndarray, seed: int = MinHashParams.seed):  # -> datasketch.LeanMinHash
    """A datasketch ``LeanMinHash`` holding ``signature`` (one row of :meth:`MinHasher.signatures`)."""
    from datasketch import LeanMinHash

    return LeanMinHash(seed=seed, hashvalues=np.asarray(signature, dtype=U64), scheme="affine64")
