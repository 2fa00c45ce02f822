"""Reading held-out texts and choosing documents by key."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fineweb_pipe.ablate.corpus import DocumentIndex, eval_name, eval_texts
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.sample import write_sample_warc


def test_a_text_file_is_cut_at_the_byte_budget_on_a_whole_character(tmp_path: Path) -> None:
    path = tmp_path / "held.txt"
    path.write_text("ab€cd", encoding="utf-8")  # € is 3 bytes: bytes 2-4
    assert eval_texts(str(path), 100) == ["ab€cd"]
    assert eval_texts(str(path), 4) == ["ab"]
    assert eval_texts(str(path), 5) == ["ab€"]


def test_jsonl_documents_are_read_until_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "held.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in ("one", "two", "three")))
    assert eval_texts(str(path), 8) == ["one", "two", "th"]
    assert eval_name(str(path)) == "held"


def test_a_warc_is_refused_with_what_to_do(tmp_path: Path) -> None:
    warc = write_sample_warc(str(tmp_path / "held.warc.gz"), pages=3, seed=0)
    with pytest.raises(ConfigurationError, match="extract_only.py"):
        eval_texts(warc, 1000)


def test_smallest_keys_fill_the_budget_and_respect_the_candidates() -> None:
    index = DocumentIndex(keys=np.array([5, 1, 4, 2, 3], dtype=np.uint64), sizes=np.array([10, 10, 10, 10, 10]))
    assert index.smallest_keys(15).tolist() == [False, True, False, True, False]  # the second crosses 15
    among = np.array([True, False, True, True, True])
    assert index.smallest_keys(10, among).tolist() == [False, False, False, True, False]
