"""Loss and bits per byte of a model on a held-out text.

The text's documents are encoded with the ablation's tokenizer, each preceded by ``<|endoftext|>``, into
one stream, which is read in windows of ``seq_len + 1`` tokens at stride ``seq_len``: every token after
the first is a target exactly once, and the last window may be shorter. A target that is the delimiter
(a document's end) is not scored, so the scored tokens are exactly the text's tokens and

    bits per byte = sum of -ln p(token) over the text's tokens / (ln 2 x the text's UTF-8 bytes),

which does not depend on the tokenizer (a tokenizer that spends more tokens on the same text must make
each cheaper); ``loss`` is the same sum per scored token, in nats, comparable between variants because
they share the tokenizer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from fineweb_pipe.tokens.tokenizer import Encoder
from fineweb_pipe.training.model import GPT
from fineweb_pipe.training.train import autocast_for

WINDOWS_PER_BATCH = 16


@dataclass(frozen=True)
class TokenStream:
    """A held-out text as one token stream: documents back to back, the delimiter before each."""

    tokens: np.ndarray  # int64
    text_bytes: int
    delimiter: int

    @classmethod
    def encode(cls, encoder: Encoder, texts: Sequence[str], delimiter: int) -> TokenStream:
        parts = [np.array([delimiter, *ids], dtype=np.int64) for ids in encoder.encode_batch(texts)]
        tokens = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return cls(tokens, sum(len(t.encode("utf-8")) for t in texts), delimiter)

    @property
    def scored_tokens(self) -> int:
        return int((self.tokens[1:] != self.delimiter).sum())


@dataclass(frozen=True)
class Score:
    loss: float  # mean -ln p per scored token (nats)
    bpb: float  # bits per UTF-8 byte of the text

    def to_json(self) -> dict[str, float]:
        return {"loss": self.loss, "bpb": self.bpb}


def window_starts(length: int, seq_len: int) -> list[int]:
    """Where each window of ``seq_len + 1`` tokens starts (stride ``seq_len``) in a stream of ``length``."""
    return list(range(0, max(length - 1, 0), seq_len))


@torch.no_grad()
def negative_log_likelihood(model: GPT, stream: TokenStream, seq_len: int, device: torch.device) -> float:
    """Sum of -ln p over the stream's text tokens (delimiter targets left out), in float64."""
    model.eval()
    starts = window_starts(len(stream.tokens), seq_len)
    whole = [s for s in starts if s + seq_len + 1 <= len(stream.tokens)]
    total = 0.0
    for at in range(0, len(whole), WINDOWS_PER_BATCH):
        windows = np.stack([stream.tokens[s:s + seq_len + 1] for s in whole[at:at + WINDOWS_PER_BATCH]])
        total += _window_nll(model, windows, stream.delimiter, device)
    for start in starts[len(whole):]:  # the shorter last window
        total += _window_nll(model, stream.tokens[start:][None, :], stream.delimiter, device)
    return total


def _window_nll(model: GPT, windows: np.ndarray, delimiter: int, device: torch.device) -> float:
    batch = torch.from_numpy(np.ascontiguousarray(windows)).to(device)
    inputs, targets = batch[:, :-1], batch[:, 1:]
    with autocast_for(device):
        logits, _ = model(inputs)
    nll = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none")
    scored = (targets.reshape(-1) != delimiter).double()
    return float((nll.double() * scored).sum())


def score(model: GPT, stream: TokenStream, seq_len: int, device: torch.device) -> Score:
    nll = negative_log_likelihood(model, stream, seq_len, device)
    return Score(loss=nll / max(stream.scored_tokens, 1), bpb=nll / (math.log(2) * max(stream.text_bytes, 1)))
