"""Tokenization into token shards: the pipeline's last stage (see docs/token-shards.md)."""

from fineweb_pipe.tokens.shards import (
    Delimiter, Header, Manifest, ShardError, ShardInfo, TokenizerRef, documents, open_tokens, read_header,
    read_index, token_dtype, validate,
)

__all__ = [
    "Delimiter", "Header", "Manifest", "ShardError", "ShardInfo", "TokenizerRef", "documents", "open_tokens",
    "read_header", "read_index", "token_dtype", "validate",
]
