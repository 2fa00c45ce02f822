"""Training a fastText quality classifier (``fineweb-pipe train-classifier``): DCLM's recipe.

Positive and negative documents come from any text input (JSONL, Parquet, a run's output folder), either
as two sets or as one set with a label column. Texts are put on one line, lower-cased (DCLM), and fastText
learns words and word bigrams. A stratified held-out share is set aside before training and scored after
it; the model, ``model_card.json`` and ``model_card.md`` (data, counts, settings, held-out figures) go to
the output folder. With one thread and a seed, the same inputs give the same model, byte for byte.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fineweb_pipe import schema
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.stages.classifiers.documents import text_batches, text_files
from fineweb_pipe.stages.classifiers.fasttext_classifier import label_probabilities
from fineweb_pipe.stages.classifiers.metrics import precision_recall, roc_auc
from fineweb_pipe.stages.classifiers.text import LABEL_PREFIX, NEGATIVE_LABEL, POSITIVE_LABEL, fasttext_line

MODEL_FILE = "model.bin"
CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"
_TRUE = {"1", "true", "yes", POSITIVE_LABEL}
_FALSE = {"0", "false", "no", NEGATIVE_LABEL}


@dataclass(frozen=True)
class TrainSettings:
    """fastText's settings and the held-out split. DCLM: bigrams, lower-cased text."""

    lowercase: bool = True
    word_ngrams: int = 2
    dim: int = 64
    epoch: int = 5
    lr: float = 0.1
    min_count: int = 1
    bucket: int = 200_000  # hashed bigram rows: the model holds bucket x dim floats
    holdout: float = 0.1
    seed: int = 0
    threads: int = 1  # fastText is deterministic with one thread only


@dataclass
class LabelledTexts:
    """Documents with a label each, and where they came from."""

    texts: list[str] = field(default_factory=list)
    labels: list[bool] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def add(self, text: str, label: bool) -> None:
        self.texts.append(text)
        self.labels.append(label)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def _label_of(value: Any, column: str) -> bool | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"label column {column!r} holds {value!r}: give 1/0, true/false or "
                             f"{POSITIVE_LABEL}/{NEGATIVE_LABEL}")


def _column_values(batch: Any, column: str) -> list[Any]:
    """``column`` of a batch, or that field of each row's ``metadata`` JSON (where JSONL keeps other fields)."""
    if column in batch.column_names:
        return list(batch.column(column).to_pylist())
    if schema.METADATA in batch.column_names:
        return [json.loads(m).get(column) if m else None for m in batch.column(schema.METADATA).to_pylist()]
    raise ConfigurationError(f"no label column {column!r} (columns: {batch.column_names})")


def read_labelled(specs: Sequence[str], out: str, label: bool | None = None, label_column: str | None = None,
                  into: LabelledTexts | None = None) -> LabelledTexts:
    """Documents of ``specs``, all labelled ``label`` or each by ``label_column``; blank texts are skipped."""
    data = into or LabelledTexts()
    for path in text_files(specs, exclude=out):
        data.sources.append(path)
        for batch in text_batches(path):
            texts = schema.text_column(batch).to_pylist()
            labels = ([label] * len(texts) if label_column is None else
                      [_label_of(v, label_column) for v in _column_values(batch, label_column)])
            for text, doc_label in zip(texts, labels):
                if doc_label is None:
                    data.skip("no_label")
                elif not (text or "").strip():
                    data.skip("blank_text")
                else:
                    data.add(text, doc_label)
    return data


def split_holdout(labels: Sequence[bool], share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices for training (shuffled) and for the held-out set: ``share`` of each class, rounded up."""
    rng = np.random.default_rng(seed)
    y = np.asarray(labels, dtype=bool)
    held = []
    for cls in (True, False):
        members = rng.permutation(np.flatnonzero(y == cls))
        held.append(members[:math.ceil(share * len(members))])
    held_out = np.sort(np.concatenate(held))
    train = rng.permutation(np.setdiff1d(np.arange(len(y)), held_out))
    return train, held_out


def train_classifier(data: LabelledTexts, out: str | os.PathLike, settings: TrainSettings) -> dict[str, Any]:
    """Train on ``data`` less the held-out share, score that share, write model and card to ``out``; the card."""
    import fasttext

    counts = {"positive": sum(data.labels), "negative": len(data.labels) - sum(data.labels)}
    if min(counts.values()) < 2:
        raise ConfigurationError(f"need at least 2 positive and 2 negative documents, got {counts}")
    train, held_out = split_holdout(data.labels, settings.holdout, settings.seed)
    lines = [fasttext_line(t, settings.lowercase) for t in data.texts]
    names = {True: POSITIVE_LABEL, False: NEGATIVE_LABEL}
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_file = out_dir / MODEL_FILE
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("".join(f"{LABEL_PREFIX}{names[data.labels[i]]} {lines[i]}\n" for i in train),
                              encoding="utf-8")
        # In a child process: a second training in one process ends in "Encountered NaN" (fasttext-numpy2-wheel 0.9.2).
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(_fit, str(train_file), str(model_file), settings).result()
    model = fasttext.load_model(str(model_file))
    held_lines = [lines[i] for i in held_out]
    scores = label_probabilities(model, held_lines, (POSITIVE_LABEL,))[POSITIVE_LABEL]
    truth = np.asarray(data.labels, dtype=bool)[held_out]
    precision, recall = precision_recall(scores, truth)
    card = {
        "model": MODEL_FILE,
        "labels": {"positive": POSITIVE_LABEL, "negative": NEGATIVE_LABEL},
        "preprocessing": {"one_line": True, "lowercase": settings.lowercase, "word_ngrams": settings.word_ngrams},
        "data": {"sources": data.sources, "documents": counts, "skipped": data.skipped},
        "split": {"train": len(train), "held_out": len(held_out), "held_out_positive": int(truth.sum())},
        "settings": asdict(settings),
        "held_out": {"auc": roc_auc(scores, truth), "precision": precision, "recall": recall, "threshold": 0.5},
    }
    (out_dir / CARD_JSON).write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    (out_dir / CARD_MARKDOWN).write_text(card_markdown(card), encoding="utf-8")
    return card


def _fit(train_file: str, model_file: str, settings: TrainSettings) -> None:
    import fasttext

    model = fasttext.train_supervised(
        train_file, wordNgrams=settings.word_ngrams, dim=settings.dim, epoch=settings.epoch, lr=settings.lr,
        minCount=settings.min_count, bucket=settings.bucket, thread=settings.threads, seed=settings.seed, verbose=0)
    model.save_model(model_file)


def card_markdown(card: dict[str, Any]) -> str:
    """The model card for people: what it was trained on, how, and how well it did on held-out documents."""
    held, split, docs = card["held_out"], card["split"], card["data"]["documents"]
    settings = ", ".join(f"{k}={v}" for k, v in card["settings"].items())
    sources = "\n".join(f"- `{s}`" for s in card["data"]["sources"])
    return (f"# fastText quality classifier\n\n"
            f"Labels: `{card['labels']['positive']}` (positive), `{card['labels']['negative']}` (negative). "
            f"Text put on one line{', lower-cased' if card['preprocessing']['lowercase'] else ''}; "
            f"word n-grams up to {card['preprocessing']['word_ngrams']}.\n\n"
            f"## Data\n\n{docs['positive']:,} positive and {docs['negative']:,} negative documents "
            f"(skipped: {card['data']['skipped'] or 'none'}), from:\n\n{sources}\n\n"
            f"## Training\n\n{split['train']:,} documents for training, {split['held_out']:,} held out "
            f"({split['held_out_positive']:,} positive). Settings: {settings}.\n\n"
            f"## Held-out figures\n\n| AUC | precision | recall | at |\n|---|---|---|---|\n"
            f"| {held['auc']:.4f} | {held['precision']:.4f} | {held['recall']:.4f} | {held['threshold']} |\n")
