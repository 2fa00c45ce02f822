"""pipelines/fineweb_edu.py: FineWeb's steps with the edu classifier before PII, on the model folder given."""

from __future__ import annotations

from pathlib import Path

import pytest

from fineweb_pipe.cli import load_pipeline
from fineweb_pipe.stages.classifiers import TransformerScorer

REPO = Path(__file__).resolve().parents[3]


def test_fineweb_then_the_edu_classifier(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "edu").mkdir()
    (tmp_path / "edu" / "config.json").write_text("{}")  # (the folder is checked when the pipeline is built)
    monkeypatch.setenv("FINEWEB_EDU_MODEL", str(tmp_path / "edu"))
    edu = load_pipeline(str(REPO / "pipelines" / "fineweb_edu.py"))
    fineweb = load_pipeline(str(REPO / "pipelines" / "fineweb.py"))
    names = [s.name for s in edu.steps]
    assert names == [*[s.name for s in fineweb.steps][:-2], "edu_classifier", "pii_scrubber", "tokenize"]
    scorer = edu.steps[names.index("edu_classifier")]
    assert isinstance(scorer, TransformerScorer)
    assert (scorer.model_path, scorer.threshold, scorer.device) == (str(tmp_path / "edu"), 2.5, "cpu")


def test_without_the_model_the_run_stops_before_any_work(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Not after the FineWeb steps have run over the whole input, when the classifier's phase starts."""
    from fineweb_pipe.cli import main

    monkeypatch.setenv("FINEWEB_EDU_MODEL", str(tmp_path / "not-downloaded"))
    (tmp_path / "in.jsonl").write_text('{"text": "a document"}\n')
    code = main(["run", str(REPO / "pipelines" / "fineweb_edu.py"), "--input", str(tmp_path / "in.jsonl"),
                 "--output", str(tmp_path / "out"), "--engine", "local", "--quiet"])
    assert code == 2 and not (tmp_path / "out").exists()
    assert f"no Hugging Face model folder at {tmp_path / 'not-downloaded'}" in capsys.readouterr().err
