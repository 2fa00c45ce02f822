"""Documents and models for the classifier tests, built by the tests themselves: documents from the sample crawl's prose
generator (positives: articles; negatives: the spam and filler of its low-quality pages), a fastText model
trained on them, and a tiny two-layer BERT with its own WordPiece vocabulary."""

from __future__ import annotations

import json
import random
from pathlib import Path

from fineweb_pipe.sample.prose import TOPICS, english_article
from fineweb_pipe.stages.classifiers.random_bert import save_random_bert

SPAM = ["Click here for deal number {n} and win a free prize today", "Buy cheap shoes online, best prices {n}",
        "Casino bonus {n} free spins no deposit win big now", "shoes boots sandals sneakers {n} trainers heels",
        "Lorem ipsum dolor sit amet {n} consectetur adipiscing elit"]


def article(rng: random.Random) -> str:
    return "\n".join(english_article(rng, rng.choice(list(TOPICS)), rng.randint(2, 5)))


def spam(rng: random.Random) -> str:
    return "\n".join(rng.choice(SPAM).format(n=rng.randint(1, 999)) for _ in range(rng.randint(5, 30)))


def write_jsonl(path: Path, texts: list[str], **fields: object) -> Path:
    path.write_text("".join(json.dumps({"text": t, **fields}) + "\n" for t in texts))
    return path


def tiny_bert(folder: Path, texts: list[str], num_labels: int = 1, seed: int = 0) -> Path:
    """A two-layer BERT with a WordPiece vocabulary trained on ``texts``, saved in the Hugging Face format
    (random weights: a regression head when ``num_labels`` is 1, else a classifier)."""
    return save_random_bert(folder, texts, vocab_size=500, max_length=128, num_labels=num_labels, seed=seed,
                            hidden_size=32, layers=2, heads=2, intermediate_size=64)
