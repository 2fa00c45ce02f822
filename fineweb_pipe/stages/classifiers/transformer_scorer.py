"""Scoring documents with a Hugging Face sequence-classification or regression model from a local folder
(e.g. the FineWeb-Edu classifier, downloaded beforehand): nothing is downloaded at run time."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.stage import Resources, Stage, StageResult, set_column, split_by_decisions
from fineweb_pipe.stages.classifiers.scores import score_histogram, threshold_decisions


class TransformerScorer(Stage):
    """Adds ``<prefix>`` (the model's score) and ``<prefix>_int`` (rounded into ``score_range``, FineWeb-Edu's
    ``int_score``) and keeps documents whose score is ``>= threshold`` (None: annotate only).

    A regression model's score is its output; a classifier's is the expected class index under its softmax.
    Texts are sorted by length and scored in batches of ``batch_size``, truncated to ``max_length`` tokens (or the tokenizer's ``model_max_length``).
    ``device="cuda"`` declares one GPU (the engine gives the stage's phase GPU actors) and runs in bf16;
    ``"cpu"`` runs in float32. A dropped document's reason is its score's bucket (``score_2-2.5``).
    """

    worker_state = ("_model", "_tokenizer")
    _model: Any  # transformers.PreTrainedModel
    _tokenizer: Any  # transformers.PreTrainedTokenizerBase

    def __init__(self, model_path: str | os.PathLike, prefix: str = "score", threshold: float | None = None,
                 batch_size: int = 32, max_length: int = 512, device: str = "cpu",
                 score_range: tuple[float, float] = (0.0, 5.0), bins: int = 10) -> None:
        if device not in ("cpu", "cuda"):
            raise ValueError(f"device {device!r}: give cpu or cuda")
        # Checked when the pipeline is built, not when the stage's phase starts: after the phases before
        # it have run over the whole input.
        _check_model_folder(str(model_path))
        self.model_path = str(model_path)
        self.prefix = prefix
        self.threshold = threshold
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = device
        self.score_range = score_range
        self.bins = bins

    @property
    def resources(self) -> Resources:  # type: ignore[override]  # per instance: a GPU only when asked
        return Resources(num_cpus=1.0, memory_mb=2000, num_gpus=1.0 if self.device == "cuda" else 0.0)

    def setup(self) -> None:
        _check_model_folder(self.model_path)  # (on the worker's node too)
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self.model_path, local_files_only=True)
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        model = AutoModelForSequenceClassification.from_pretrained(self.model_path, local_files_only=True, dtype=dtype)
        self._model = model.to(self.device).eval()

    def scores(self, texts: list[str]) -> np.ndarray:
        """The model's score for each text, in the order given (batched longest first)."""
        import torch

        out = np.zeros(len(texts), dtype=np.float64)
        max_length = min(self.max_length, self._tokenizer.model_max_length)  # the model's positions, at most
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            encoded = self._tokenizer([texts[i] for i in rows], truncation=True, max_length=max_length,
                                      padding=True, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                logits = self._model(**encoded).logits.float()
            if logits.shape[1] == 1:
                batch_scores = logits[:, 0]
            else:
                batch_scores = torch.softmax(logits, dim=1) @ torch.arange(logits.shape[1], dtype=torch.float32,
                                                                           device=logits.device)
            out[rows] = batch_scores.cpu().numpy()
        return out

    def process(self, batch: pa.Table) -> StageResult:
        texts = [t or "" for t in schema.text_column(batch).to_pylist()]
        scores = self.scores(texts) if texts else np.zeros(0)
        low, high = self.score_range
        batch = set_column(batch, self.prefix, pa.array(scores, pa.float64()))
        batch = set_column(batch, f"{self.prefix}_int", pa.array(np.clip(np.round(scores), low, high).astype(np.int64)))
        for counter, n in score_histogram(self.prefix, scores, low, high, self.bins).items():
            self.count(counter, n)
        result = split_by_decisions(batch, threshold_decisions(scores, self.threshold, low, high, self.bins))
        result.counters = self.take_counts()
        return result


def _check_model_folder(model_path: str) -> None:
    if not (Path(model_path) / "config.json").is_file():
        raise ConfigurationError(f"no Hugging Face model folder at {model_path} (config.json missing): "
                                 "download the model there first; nothing is downloaded at run time")
