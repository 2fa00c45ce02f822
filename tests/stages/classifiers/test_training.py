"""``fineweb-pipe train-classifier``: held-out figures, the model card, determinism, input forms."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from classifier_support import write_jsonl

from fineweb_pipe.cli import main
from fineweb_pipe.stages.classifiers.metrics import precision_recall, roc_auc
from fineweb_pipe.stages.classifiers.training import split_holdout


def test_trains_prints_held_out_figures_and_writes_card(labelled_files: tuple[Path, Path], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    positive, negative = labelled_files
    assert main(["train-classifier", "--positive", str(positive), "--negative", str(negative),
                 "--out", str(tmp_path / "m"), "--dim", "16", "--bucket", "20000"]) == 0
    printed = capsys.readouterr().out
    assert "precision 1.0000  recall 1.0000  AUC 1.0000" in printed
    card = json.loads((tmp_path / "m" / "model_card.json").read_text())
    assert card["data"]["documents"] == {"positive": 120, "negative": 120}
    assert card["split"] == {"train": 216, "held_out": 24, "held_out_positive": 12}
    assert card["preprocessing"] == {"one_line": True, "lowercase": True, "word_ngrams": 2}
    assert card["held_out"]["auc"] == 1.0
    assert "| 1.0000 | 1.0000 | 1.0000 | 0.5 |" in (tmp_path / "m" / "model_card.md").read_text()


def test_same_seed_same_model(labelled_files: tuple[Path, Path], tmp_path: Path) -> None:
    positive, negative = labelled_files
    models = []
    for name, seed in (("a", "1"), ("b", "1"), ("c", "2")):
        assert main(["train-classifier", "--positive", str(positive), "--negative", str(negative), "--seed", seed,
                     "--out", str(tmp_path / name), "--dim", "16", "--bucket", "20000"]) == 0
        models.append((tmp_path / name / "model.bin").read_bytes())
    assert models[0] == models[1]
    assert models[0] != models[2]


def test_label_column_and_run_output_folder(labelled_files: tuple[Path, Path], tmp_path: Path) -> None:
    """One set labelled by a column; a run's output folder is read for its documents, not removed/."""
    positive, negative = labelled_files
    run = tmp_path / "run"
    (run / "documents").mkdir(parents=True)
    (run / "removed" / "x").mkdir(parents=True)
    texts = [json.loads(line)["text"] for f in (positive, negative) for line in f.read_text().splitlines()]
    labels = [1] * 120 + [0] * 120
    pq.write_table(pa.table({"id": [str(i) for i in range(240)], "text": texts, "label": labels}),
                   run / "documents" / "part.parquet")
    pq.write_table(pa.table({"id": ["x"], "text": ["removed"], "label": [None]}), run / "removed" / "x" / "r.parquet")
    assert main(["train-classifier", "--input", str(run), "--label-column", "label", "--out", str(tmp_path / "m"),
                 "--dim", "16", "--bucket", "20000"]) == 0
    card = json.loads((tmp_path / "m" / "model_card.json").read_text())
    assert card["data"]["documents"] == {"positive": 120, "negative": 120}
    assert card["data"]["sources"] == [str(run / "documents" / "part.parquet")]
    # JSONL keeps other fields in metadata: the label is read from there
    labelled = tmp_path / "l.jsonl"
    labelled.write_text("".join(json.dumps({"text": t, "quality": q}) + "\n"
                                for t, q in zip(texts[:3] + texts[-3:], ["hq"] * 3 + ["cc"] * 3)))
    assert main(["train-classifier", "--input", str(labelled), "--label-column", "quality", "--out",
                 str(tmp_path / "m2"), "--holdout", "0.4", "--dim", "16", "--bucket", "20000"]) == 0


@pytest.mark.parametrize("argv", [["--positive", "p.jsonl"], ["--input", "x.jsonl"],
                                  ["--positive", "p.jsonl", "--negative", "n.jsonl", "--holdout", "1"]])
def test_wrong_arguments_are_one_line(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-classifier", *argv, "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_missing_input_and_bad_label_are_one_line(labelled_files: tuple[Path, Path], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    positive, _ = labelled_files
    assert main(["train-classifier", "--positive", str(positive), "--negative", str(tmp_path / "none.jsonl"),
                 "--out", str(tmp_path / "m")]) == 2
    assert "none.jsonl" in capsys.readouterr().err
    bad = write_jsonl(tmp_path / "bad.jsonl", ["a text"], label="maybe")
    assert main(["train-classifier", "--input", str(bad), "--label-column", "label", "--out", str(tmp_path / "m")]) == 2
    assert "'maybe'" in capsys.readouterr().err


def test_split_is_stratified_and_seeded() -> None:
    labels = [True] * 30 + [False] * 70
    train, held = split_holdout(labels, 0.1, seed=3)
    assert sorted([*train, *held]) == list(range(100))
    assert sum(labels[i] for i in held) == 3 and len(held) == 10
    assert split_holdout(labels, 0.1, seed=3)[1].tolist() == held.tolist()


def test_metrics() -> None:
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == 0.75
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5
    assert precision_recall([0.9, 0.6, 0.2, 0.7], [True, False, True, True]) == (2 / 3, 2 / 3)
