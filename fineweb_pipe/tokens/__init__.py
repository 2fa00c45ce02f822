"""Tokenization into token shards: the pipeline's last stage (see docs/token-shards.md)."""

from fineweb_pipe.tokens.megatron import MegatronIndex, read_idx
from fineweb_pipe.tokens.shards import (
    Delimiter, Header, Manifest, OutOfVocabulary, ShardError, ShardInfo, TokenizerRef, documents, open_tokens,
    out_of_vocabulary, read_header, read_index, token_dtype, validate,
)
from fineweb_pipe.tokens.stage import Tokenize
from fineweb_pipe.tokens.tokenizer import Encoder, TokenizerSpec, fertility, train_bpe

__all__ = [
    "Delimiter", "Encoder", "Header", "Manifest", "MegatronIndex", "OutOfVocabulary", "ShardError", "ShardInfo",
    "TokenizerRef", "TokenizerSpec", "Tokenize", "documents", "fertility", "open_tokens", "out_of_vocabulary",
    "read_header", "read_idx", "read_index", "token_dtype", "train_bpe", "validate",
]
