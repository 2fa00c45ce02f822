"""presidio's AnalyzerEngine, built offline with only the recognizers a run asks for.

By default there is no NLP model at all (presidio's no-op engine): every configured entity is found by
patterns. Person and location names need a spaCy NER model the user has installed; presidio would
download a missing model at run time, so we refuse instead and say how to install it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

# Unless told a device, presidio probes CUDA when it is imported (with torch installed, as our training
# extra does), which on a GPU node opens a CUDA context in every pipeline worker for pattern recognizers
# that need no device. A user who runs a GPU NER model sets PRESIDIO_DEVICE themselves.
os.environ.setdefault("PRESIDIO_DEVICE", "cpu")

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpEngine, NlpEngineProvider, NoOpNlpEngine

from fineweb_pipe.stages.pii import entities as ent
from fineweb_pipe.stages.pii.entities import Detection, UserPattern
from fineweb_pipe.stages.pii.recognizers import build_recognizers

LANGUAGE = "en"


def _nlp_engine(ner_model: str | None) -> NlpEngine:
    if ner_model is None:
        engine: NlpEngine = NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "none"}])
    else:
        import spacy  # only needed with a model

        if not (spacy.util.is_package(ner_model) or Path(ner_model).exists()):
            raise ValueError(
                f"spaCy model {ner_model!r} is not installed; install it before the run "
                f"(e.g. `python -m spacy download {ner_model}`) or pass a path to a saved pipeline; "
                "this stage never downloads models"
            )
        config = {"nlp_engine_name": "spacy", "models": [{"lang_code": LANGUAGE, "model_name": ner_model}]}
        engine = NlpEngineProvider(nlp_configuration=config).create_engine()
    engine.load()
    return engine


class PiiAnalyzer:
    """Finds the configured entity types in a text; build once per worker (it compiles patterns)."""

    def __init__(self, entity_types: Sequence[str], phone_regions: Sequence[str], phone_leniency: int,
                 user_patterns: Sequence[UserPattern] = (), ner_model: str | None = None,
                 min_score: float = 0.3) -> None:
        wanted_ner = [t for t in entity_types if t in ent.NER_ENTITIES]
        if wanted_ner and ner_model is None:
            raise ValueError(f"entity types {wanted_ner} need a spaCy NER model: pass ner_model "
                             "(e.g. 'en_core_web_lg', installed beforehand) or leave them out")
        nlp_engine = _nlp_engine(ner_model)
        registry = RecognizerRegistry(supported_languages=[LANGUAGE])
        for recognizer in build_recognizers(entity_types, phone_regions, phone_leniency, user_patterns):
            registry.add_recognizer(recognizer)
        if wanted_ner:
            registry.add_nlp_recognizer(nlp_engine=nlp_engine)
        self._engine = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[LANGUAGE])
        self._min_score = min_score

    def analyze(self, text: str, entity_types: Sequence[str], offset: int = 0) -> list[Detection]:
        """Detections of ``entity_types`` in ``text``, shifted by ``offset`` (where ``text`` is a window of
        a document); they may overlap (see ``replace.resolve_overlaps``)."""
        results = self._engine.analyze(text=text, language=LANGUAGE, entities=list(entity_types),
                                       score_threshold=self._min_score)
        return [Detection(r.start + offset, r.end + offset, r.entity_type, r.score) for r in results]
