"""The transformer scorer on a tiny BERT the test builds: the model's own scores, batched and sorted."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

pytest.importorskip("transformers")
import torch  # noqa: E402
from classifier_support import article, spam, tiny_bert  # noqa: E402

from fineweb_pipe.errors import ConfigurationError  # noqa: E402
from fineweb_pipe.stages.classifiers import TransformerScorer  # noqa: E402


@pytest.fixture(scope="module")
def texts() -> list[str]:
    rng = random.Random(3)
    return [article(rng) if i % 2 else spam(rng) for i in range(24)] + ["", "short"]


@pytest.fixture(scope="module")
def bert(texts: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("bert"), texts)


def own_forward(folder: Path, texts: list[str], max_length: int) -> np.ndarray:
    """Each text alone through the model, unpadded."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.inference_mode():
        return np.array([model(**tokenizer(t, truncation=True, max_length=max_length, return_tensors="pt")).logits[0, 0]
                         for t in texts], dtype=np.float64)


def test_scores_are_the_models_own_forward_pass(bert: Path, texts: list[str]) -> None:
    table = pa.table({"id": [str(i) for i in range(len(texts))], "text": pa.array(texts, pa.large_string())})
    result = TransformerScorer(bert, batch_size=5, max_length=64)(table)
    scores = np.array(result.kept.column("score").to_pylist())
    np.testing.assert_allclose(scores, own_forward(bert, texts, 64), atol=1e-5)
    assert result.kept.column("score_int").to_pylist() == np.clip(np.round(scores), 0, 5).astype(int).tolist()
    assert result.kept.column("id").to_pylist() == table.column("id").to_pylist()
    assert sum(result.counters.values()) == len(texts)
    # deterministic, whatever the batch size
    again = TransformerScorer(bert, batch_size=7, max_length=64)(table)
    np.testing.assert_allclose(again.kept.column("score").to_pylist(), scores, atol=1e-5)


def test_threshold_drops_by_bucket_and_empty_batches(bert: Path, texts: list[str]) -> None:
    table = pa.table({"text": pa.array(texts, pa.large_string())})
    scores = TransformerScorer(bert, max_length=64)(table).kept.column("score").to_pylist()
    threshold = float(np.median(scores))
    result = TransformerScorer(bert, threshold=threshold, max_length=64, score_range=(-1.0, 1.0), bins=4)(table)
    assert result.kept.num_rows == sum(s >= threshold for s in scores)
    assert result.dropped is not None
    assert set(result.dropped.column("drop_reason").to_pylist()) <= {"score_-1--0.5", "score_-0.5-0", "score_0-0.5",
                                                                     "score_0.5-1"}
    empty = TransformerScorer(bert)(table.slice(0, 0))
    assert empty.kept.num_rows == 0 and {"score", "score_int"} <= set(empty.kept.column_names)


def test_classifier_head_scores_the_expected_class(texts: list[str], tmp_path: Path) -> None:
    folder = tiny_bert(tmp_path / "cls", texts, num_labels=3)
    scores = TransformerScorer(folder).scores(texts[:4])
    assert ((scores >= 0) & (scores <= 2)).all()


def test_missing_folder_is_one_error_naming_it_when_the_pipeline_is_built(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=str(tmp_path / "no-model")):
        TransformerScorer(tmp_path / "no-model")


def test_declares_a_gpu_only_when_asked(bert: Path) -> None:
    assert TransformerScorer(bert).resources.num_gpus == 0
    assert TransformerScorer(bert, device="cuda").resources.num_gpus == 1


@pytest.mark.slow
@pytest.mark.ray
def test_same_output_in_process_and_on_ray(bert: Path, texts: list[str], tmp_path: Path) -> None:
    from classifier_support import write_jsonl
    from engine_support import output_digest

    from fineweb_pipe.engine.base import make_executor
    from fineweb_pipe.engine.runner import Runner
    from fineweb_pipe.pipeline import Pipeline

    (tmp_path / "in").mkdir()
    write_jsonl(tmp_path / "in" / "docs.jsonl", texts)
    pipeline = Pipeline([TransformerScorer(bert, threshold=0.0, max_length=64)], name="scorer-test")
    digests = []
    for engine in ("local", "ray"):
        with make_executor(engine, 1, None) as executor:
            Runner(pipeline, [str(tmp_path / "in")], str(tmp_path / engine), executor, show_progress=False).run()
        digests.append(output_digest(str(tmp_path / engine)))
    assert digests[0] == digests[1]
