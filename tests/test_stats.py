from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fineweb_pipe.stats import word_counts

TEXTS = [
    "The Perseids peak in mid-August;  up to 100 meteors an hour.\nBest seen after midnight.",
    "",
    None,
    "   leading and trailing spaces   ",
    "one",
    "tabs\tand\r\nwindows\x0blines\x0c",
    "Über die Milchstraße: 1.000 Sterne, café, naïve — 星空 観測 2024",
]


def _split_counts(texts: pa.Array) -> list[int]:
    return [len(t.split()) if t else 0 for t in texts.to_pylist()]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_word_counts_match_python_split(kind: pa.DataType) -> None:
    texts = pa.array(TEXTS, kind)
    assert word_counts(texts).tolist() == _split_counts(texts) == [15, 0, 0, 4, 1, 4, 11]
    # A slice, and a chunked array whose chunks start mid-buffer, count the same.
    assert word_counts(texts.slice(3, 3)).tolist() == [4, 1, 4]
    chunked = pa.chunked_array([texts.slice(0, 2), texts.slice(2)])
    assert word_counts(chunked).tolist() == word_counts(texts).tolist()
    assert word_counts(pa.array([], kind)).tolist() == []


def test_a_document_that_starts_right_after_a_word_is_counted_from_its_first_byte() -> None:
    assert word_counts(pa.array(["alpha", "beta gamma", "delta"])).tolist() == [1, 2, 1]


def test_word_counts_on_real_pages(shared_data: Path) -> None:
    with open(shared_data / "text" / "clean_web_texts.dev.jsonl", encoding="utf-8") as f:
        texts = pa.array([json.loads(line)["text"] for line in f], pa.large_string())
    ours, split = word_counts(texts), np.array(_split_counts(texts))
    # Only Unicode spaces (no-break, ideographic) differ: they separate words for Python, not here.
    assert (ours <= split).all() and ours.sum() >= 0.99 * split.sum()
