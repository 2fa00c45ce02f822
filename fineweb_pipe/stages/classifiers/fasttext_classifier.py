"""Scoring documents with a fastText classifier (DCLM's ``dclm-baseline`` model, or one made by
``fineweb-pipe train-classifier``), and keeping those above a threshold or in the top fraction."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.stage import Resources, Stage, StageResult, set_column, split_by_decisions
from fineweb_pipe.stages.classifiers.documents import text_batches, text_files
from fineweb_pipe.stages.classifiers.scores import score_histogram, threshold_decisions
from fineweb_pipe.stages.classifiers.text import LABEL_PREFIX, POSITIVE_LABEL, fasttext_line

CARD_JSON = "model_card.json"  # written by train-classifier beside the model


def label_probabilities(model: Any, lines: Sequence[str], labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Each label's probability for each line (fastText's softmax over all its labels)."""
    out = {label: np.zeros(len(lines), dtype=np.float64) for label in labels}
    if not lines:
        return out
    predicted, probs = model.predict(list(lines), k=-1, threshold=0.0)
    for i, (names, values) in enumerate(zip(predicted, probs)):
        for name, value in zip(names, values):
            column = out.get(name.removeprefix(LABEL_PREFIX))
            if column is not None:
                column[i] = min(float(value), 1.0)  # fastText's softmax can exceed 1 by rounding
    return out


def trained_lowercase(model_path: str) -> bool:
    """Whether the model's texts were lower-cased in training: its card says so (``train-classifier``);
    without a card, False, as DCLM's own scoring of its published model does."""
    card = Path(model_path).with_name(CARD_JSON)
    return bool(json.loads(card.read_text())["preprocessing"]["lowercase"]) if card.is_file() else False


class FastTextClassifier(Stage):
    """Adds ``<prefix>_<label>`` (a probability) for each of ``labels`` (default: all the model's) and keeps
    documents whose ``keep_label`` probability is ``>= threshold``, or, with ``top_fraction``, those in the
    top fraction of the documents of ``sample`` (files or a run's output: the threshold is that quantile
    of their scores, computed once per worker, the same on every worker, as DCLM keeps its top 10 %).
    Neither: annotate only. A dropped document's reason is its score's tenth (``score_0.1-0.2``).

    Text is put on one line, and lower-cased where the model's card (``model_card.json`` beside it) says
    it was trained so; ``lowercase`` overrides that.
    """

    resources = Resources(num_cpus=1.0, memory_mb=1000)
    worker_state = ("_model", "_labels", "_lowercase", "_threshold")
    _model: Any  # fasttext.FastText._FastText (untyped; does not pickle)
    _labels: tuple[str, ...]
    _lowercase: bool
    _threshold: float | None

    def __init__(self, model_path: str | os.PathLike, prefix: str = "quality", labels: Sequence[str] | None = None,
                 keep_label: str = POSITIVE_LABEL, threshold: float | None = None, top_fraction: float | None = None,
                 sample: Sequence[str] = (), sample_docs: int = 100_000, lowercase: bool | None = None) -> None:
        if threshold is not None and top_fraction is not None:
            raise ValueError("give threshold or top_fraction, not both")
        if top_fraction is not None and not (0 < top_fraction <= 1 and sample):
            raise ValueError("top_fraction needs a fraction in (0, 1] and sample= documents to compute its threshold on")
        self.model_path = str(model_path)
        self.prefix = prefix
        self.labels = tuple(labels) if labels is not None else None
        self.keep_label = keep_label
        self.threshold = threshold
        self.top_fraction = top_fraction
        self.sample = tuple(sample)
        self.sample_docs = sample_docs
        self.lowercase = lowercase

    def setup(self) -> None:
        import fasttext

        if not Path(self.model_path).is_file():
            raise ConfigurationError(f"fastText model {self.model_path} not found")
        self._model = fasttext.load_model(self.model_path)
        self._labels = self.labels or tuple(name.removeprefix(LABEL_PREFIX) for name in self._model.get_labels())
        if self.keep_label not in self._labels:
            raise ConfigurationError(f"{self.model_path}: keep_label {self.keep_label!r} is not among {self._labels}")
        self._lowercase = trained_lowercase(self.model_path) if self.lowercase is None else self.lowercase
        self._threshold = self.threshold if self.top_fraction is None else self.sample_threshold(self.top_fraction)

    def sample_threshold(self, top_fraction: float) -> float:
        """The score that the top ``top_fraction`` of the first ``sample_docs`` sample documents reach."""
        texts: list[str] = []
        for path in text_files(self.sample):
            for batch in text_batches(path):
                texts.extend(t or "" for t in schema.text_column(batch).to_pylist()[: self.sample_docs - len(texts)])
            if len(texts) >= self.sample_docs:
                break
        if not texts:
            raise ConfigurationError(f"no sample document in {list(self.sample)} to compute the top fraction on")
        scores = self.scores(texts)[self.keep_label]
        return float(np.quantile(scores, 1 - top_fraction, method="lower"))

    def scores(self, texts: Sequence[str | None]) -> dict[str, np.ndarray]:
        """Each label's probability for each text."""
        return label_probabilities(self._model, [fasttext_line(t, self._lowercase) for t in texts], self._labels)

    def column(self, label: str) -> str:
        return f"{self.prefix}_{label}"

    def process(self, batch: pa.Table) -> StageResult:
        scores = self.scores(schema.text_column(batch).to_pylist())
        for label, values in scores.items():
            batch = set_column(batch, self.column(label), pa.array(values, pa.float64()))
        kept = scores[self.keep_label]
        for counter, n in score_histogram(self.column(self.keep_label), kept, 0.0, 1.0, 10).items():
            self.count(counter, n)
        result = split_by_decisions(batch, threshold_decisions(kept, self._threshold, 0.0, 1.0, 10))
        result.counters = self.take_counts()
        return result
