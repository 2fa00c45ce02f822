"""Fixtures of the classifier tests: labelled sample documents and small models (classifier_support)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from classifier_support import article, spam, write_jsonl

from fineweb_pipe.stages.classifiers.training import TrainSettings, read_labelled, train_classifier


@pytest.fixture(scope="session")
def labelled_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("labelled")
    rng = random.Random(7)
    return (write_jsonl(folder / "positive.jsonl", [article(rng) for _ in range(120)]),
            write_jsonl(folder / "negative.jsonl", [spam(rng) for _ in range(120)]))


@pytest.fixture(scope="session")
def fasttext_model(labelled_files: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fastText classifier (labels hq, cc) trained on the sample texts, with its card beside it."""
    out = tmp_path_factory.mktemp("fasttext_model")
    positive, negative = labelled_files
    data = read_labelled([str(positive)], str(out), label=True)
    read_labelled([str(negative)], str(out), label=False, into=data)
    train_classifier(data, out, TrainSettings(dim=16, bucket=20_000))
    return out / "model.bin"
