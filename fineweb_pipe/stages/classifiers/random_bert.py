"""A BERT with random weights and a WordPiece vocabulary trained on the caller's texts, saved in the Hugging
Face format: a model :class:`TransformerScorer` loads without downloading anything, for tests, speed
measurements, and trying a pipeline before a trained scorer is at hand."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def save_random_bert(folder: Path, texts: Iterable[str], *, vocab_size: int, max_length: int, num_labels: int = 1,
                     seed: int = 0, hidden_size: int = 768, layers: int = 12, heads: int = 12,
                     intermediate_size: int = 3072) -> Path:
    """Write the model and tokenizer to ``folder`` (the sizes' defaults are BERT-base's). ``num_labels`` 1
    gives a regression head, as FineWeb-Edu's."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForSequenceClassification, PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS))
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=max_length)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=hidden_size, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=intermediate_size,
                        max_position_embeddings=max(512, max_length))
    config.num_labels = num_labels
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
