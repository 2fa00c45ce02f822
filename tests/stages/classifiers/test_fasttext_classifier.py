"""The fastText classifier stage: score columns, threshold and top-fraction filtering, empty batches."""

from __future__ import annotations

import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from classifier_support import article, spam, write_jsonl

from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.stages.classifiers import FastTextClassifier


def batch(texts: list[str | None]) -> pa.Table:
    return pa.table({"id": [str(i) for i in range(len(texts))], "text": pa.array(texts, pa.large_string())})


def test_scores_per_label_and_threshold_drops_by_bucket(fasttext_model: Path) -> None:
    rng = random.Random(99)  # unseen documents
    texts = [article(rng) for _ in range(5)] + [spam(rng) for _ in range(5)]
    result = FastTextClassifier(fasttext_model, threshold=0.5)(batch(texts))
    assert result.kept.column("id").to_pylist() == ["0", "1", "2", "3", "4"]
    scores = np.array(result.kept.column("quality_hq").to_pylist()) + result.kept.column("quality_cc").to_pylist()
    assert np.allclose(scores, 1.0, atol=1e-4)
    assert result.dropped is not None and result.dropped.num_rows == 5
    for reason, value, hq in zip(result.dropped.column("drop_reason").to_pylist(),
                                 result.dropped.column("drop_value").to_pylist(),
                                 result.dropped.column("quality_hq").to_pylist()):
        low = float(reason.removeprefix("score_").split("-")[0])
        assert low <= hq < low + 0.1 and float(value) == pytest.approx(hq, rel=1e-3)
    assert sum(result.counters.values()) == 10
    assert sum(n for name, n in result.counters.items() if float(name.rsplit(":", 1)[1]) >= 0.5) == 5


def test_annotates_only_without_threshold_and_takes_empty_batches(fasttext_model: Path) -> None:
    stage = FastTextClassifier(fasttext_model, prefix="dclm", labels=["hq"])
    result = stage(batch(["", None, "Buy cheap shoes"]))
    assert result.kept.num_rows == 3 and result.dropped is None
    assert "dclm_hq" in result.kept.column_names and "dclm_cc" not in result.kept.column_names
    empty = stage(batch([]))
    assert empty.kept.num_rows == 0 and empty.kept.column("dclm_hq").type == pa.float64()


def test_top_fraction_from_a_sample(fasttext_model: Path, tmp_path: Path) -> None:
    rng = random.Random(5)
    texts = [article(rng) if i % 4 == 0 else spam(rng) for i in range(200)]
    sample = write_jsonl(tmp_path / "sample.jsonl", texts)
    stage = FastTextClassifier(fasttext_model, top_fraction=0.25, sample=[str(sample)])
    kept = stage(batch(texts)).kept
    assert kept.num_rows == pytest.approx(50, abs=2)  # ties at the threshold may add a few
    with pytest.raises(ValueError, match="sample"):
        FastTextClassifier(fasttext_model, top_fraction=0.1)


def test_preprocessing_follows_the_model_card(fasttext_model: Path, tmp_path: Path) -> None:
    """A model without a card (DCLM's) gets the text's case kept; train-classifier's card says lower-case."""
    text = "BUY CHEAP SHOES ONLINE TODAY BEST PRICES"
    carded = FastTextClassifier(fasttext_model)
    bare_path = tmp_path / "bare.bin"
    shutil.copy(fasttext_model, bare_path)
    assert carded.scores([text])["hq"] == pytest.approx(FastTextClassifier(bare_path, lowercase=True).scores([text])["hq"])
    assert carded.scores([text.lower()])["hq"] == pytest.approx(FastTextClassifier(bare_path).scores([text.lower()])["hq"])


def test_pickles_without_its_model_and_names_a_missing_one(fasttext_model: Path, tmp_path: Path) -> None:
    stage = FastTextClassifier(fasttext_model, threshold=0.5)
    stage(batch(["a"]))
    copy = pickle.loads(pickle.dumps(stage))
    assert "_model" not in copy.__dict__ and copy(batch(["a"])).kept.num_rows == stage(batch(["a"])).kept.num_rows
    with pytest.raises(ConfigurationError, match=str(tmp_path / "none.bin")):
        FastTextClassifier(tmp_path / "none.bin")(batch(["a"]))
