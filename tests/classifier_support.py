"""Documents and models for the classifier tests, built by the tests themselves: documents from the sample crawl's prose
generator (positives: articles; negatives: the spam and filler of its low-quality pages), a fastText model
trained on them, and a tiny two-layer BERT with its own WordPiece vocabulary."""

from __future__ import annotations

import json
import random
from pathlib import Path

from fineweb_pipe.sample.prose import TOPICS, english_article

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
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=500, special_tokens=specials))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]", model_max_length=128)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128,
                        num_labels=num_labels)
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
