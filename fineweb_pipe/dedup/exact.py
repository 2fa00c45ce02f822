"""``ExactDedup``: one document per text, after a chosen normalisation (:mod:`.keyed` does the rounds).

Normalisations (``normalize=``):
- ``"none"``: the text as it is (its UTF-8 bytes);
- ``"whitespace_case"``: lower case, runs of whitespace as one space, none at either end;
- ``"minhash"``: MinHash's normaliser (:mod:`.normalize`: case, punctuation, digits, accents), words
  joined by one space, so that texts that differ only where MinHash would not look are one group.

A text that is empty after normalisation has no key, and its document is kept.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.dedup.keyed import KeyedDedup
from fineweb_pipe.dedup.normalize import NormalizeConfig, normalize_batch

EXACT_DUPLICATE = "exact_duplicate"
NORMALIZATIONS = ("none", "whitespace_case", "minhash")


def normalized_texts(texts: list[str | None], normalization: str) -> list[bytes | None]:
    """Each text's key under ``normalization`` (``None`` for a text empty after it)."""
    if normalization == "none":
        keys = [t.encode("utf-8", "surrogatepass") if t else None for t in texts]
    elif normalization == "whitespace_case":
        keys = [" ".join(t.lower().split()).encode("utf-8", "surrogatepass") if t else None for t in texts]
    elif normalization == "minhash":
        joined = normalize_batch(texts, NormalizeConfig())
        keys = [b" ".join(doc.split()) for doc in joined.split(b"\x00")]
    else:
        raise ValueError(f"normalize={normalization!r}: use one of {NORMALIZATIONS}")
    return [k or None for k in keys]


class ExactDedup(KeyedDedup):
    """Remove documents whose normalised text equals an earlier-kept one's (``drop_reason``
    ``exact_duplicate``, ``duplicate_of`` the kept id). ``keep``: "first", "longest" or "latest";
    ``text_column``: the text to compare (and to measure under "longest")."""

    default_name = "exact_dedup"
    reason = EXACT_DUPLICATE
    method = "exact"

    def __init__(self, normalize: str = "none", keep: str = "first", text_column: str = schema.TEXT,
                 docs_per_partition: int = 1_000_000, batch_size: int = 10_000) -> None:
        if normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize={normalize!r}: use one of {NORMALIZATIONS}")
        super().__init__(keep, text_column, docs_per_partition, batch_size)
        self.normalize = normalize
        self.text_column = text_column

    @property
    def key_columns(self) -> tuple[str, ...]:
        return (self.text_column,)

    def key_bytes(self, batch: pa.Table) -> list[bytes | None]:
        return normalized_texts(batch[self.text_column].to_pylist(), self.normalize)

    def describe(self) -> dict[str, Any]:
        return {"column": self.text_column, "normalize": self.normalize}
