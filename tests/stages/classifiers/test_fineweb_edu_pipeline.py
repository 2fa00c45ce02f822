"""pipelines/fineweb_edu.py: FineWeb's steps with the edu classifier before PII, on the model folder given."""

from __future__ import annotations

from pathlib import Path

import pytest

from fineweb_pipe.cli import load_pipeline
from fineweb_pipe.stages.classifiers import TransformerScorer

REPO = Path(__file__).resolve().parents[3]


def test_fineweb_then_the_edu_classifier(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FINEWEB_EDU_MODEL", str(tmp_path / "edu"))
    edu = load_pipeline(str(REPO / "pipelines" / "fineweb_edu.py"))
    fineweb = load_pipeline(str(REPO / "pipelines" / "fineweb.py"))
    names = [s.name for s in edu.steps]
    assert names == [*[s.name for s in fineweb.steps][:-2], "edu_classifier", "pii_scrubber", "tokenize"]
    scorer = edu.steps[names.index("edu_classifier")]
    assert isinstance(scorer, TransformerScorer)
    assert (scorer.model_path, scorer.threshold, scorer.device) == (str(tmp_path / "edu"), 2.5, "cpu")
