"""Byte-level BPE: train one with HF ``tokenizers``, load ``tokenizer.json`` or a tiktoken file, encode fast.

Encoding is the hot loop, so :class:`Encoder` runs tiktoken whenever the tokenizer is a byte-level BPE
that tiktoken can run exactly (same pre-tokenization regex, merges ranked in id order): its ids are then
HF's ids at about 3-4x the speed. Anything else (normalizers, dropout, other models) goes through HF
``encode_batch``. Text that spells a special token is always encoded as ordinary text, so a document can
never inject a delimiter.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal

import tiktoken
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from fineweb_pipe import storage
from fineweb_pipe.storage import local_staging

#: Pre-tokenization regexes. GPT-4's (cl100k) splits digits in groups of up to three and never joins
#: punctuation to letters; written without possessive quantifiers so HF (Oniguruma) and tiktoken
#: (fancy-regex) split identically.
PATTERNS = {
    "gpt2": r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    "gpt4": r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
}
ENDOFTEXT = "<|endoftext|>"
TokenizerKind = Literal["hf", "tiktoken"]


def pattern_regex(pattern: str) -> str:
    """A named pattern (``gpt2``, ``gpt4``) or a regex given as is."""
    return PATTERNS.get(pattern, pattern)


def _byte_decoder() -> dict[str, int]:
    """Byte-level BPE's printable stand-in character -> the byte it stands for."""
    return {ch: i for i, ch in enumerate(_bytes_to_unicode())}


def _bytes_to_unicode() -> list[str]:
    # GPT-2's table: printable bytes map to themselves, the others to code points from 256 up.
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def train_bpe(texts: Iterable[str], path: str, vocab_size: int = 32768,
              special_tokens: Sequence[str] = (ENDOFTEXT,), pattern: str = "gpt4", min_frequency: int = 2) -> None:
    """Train a byte-level BPE on ``texts`` and save it as ``tokenizer.json`` at ``path``.

    Special tokens take the first ids (``<|endoftext|>`` is 0), then the 256 bytes, then the merges.
    Training stops early, below ``vocab_size``, when no pair of tokens occurs ``min_frequency`` times
    in ``texts`` any more (see :func:`vocab_shortfall`). The file is written atomically.
    """
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern_regex(pattern)), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    with local_staging(path) as tmp:  # a failed write (a full disk) leaves no truncated file under ``path``
        tokenizer.save(tmp)


def vocab_shortfall(requested: int, trained: int, sample: dict[str, Any]) -> str | None:
    """Why a trained vocabulary is smaller than asked (None when it is not): BPE stops merging once no
    pair occurs twice in the training sample, so a small sample caps the vocabulary. ``sample`` is the
    :func:`fertility` report of the training texts."""
    if trained >= requested:
        return None
    return (f"Tokenize(vocab_size={requested}) trained a vocabulary of only {trained:,} tokens: BPE ran out of "
            f"merges, as no pair of tokens within a word occurs twice any more in its training sample of "
            f"{sample.get('documents', 0):,} documents ({sample.get('bytes', 0):,} bytes). Train on more (and more "
            f"varied) text, or set vocab_size={trained} to match")


def detect_kind(path: str) -> TokenizerKind:
    """``hf`` for a tokenizer.json, ``tiktoken`` for a ranks file (lines of base64 token and rank)."""
    with open(path, "rb") as f:
        start = f.read(64).lstrip()
    return "hf" if start.startswith(b"{") else "tiktoken"


def read_tiktoken_ranks(path: str) -> dict[bytes, int]:
    """A tiktoken BPE file: one ``base64(token) rank`` per line."""
    ranks: dict[bytes, int] = {}
    with open(path, "rb") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
            except ValueError as e:
                raise ValueError(f"{path}:{line_no}: not a tiktoken BPE line ('base64 rank'): {line[:80]!r}") from e
    return ranks


def tiktoken_from_hf(tokenizer_json: dict[str, Any]) -> tuple[dict[bytes, int], dict[str, int], str] | str:
    """(mergeable ranks, special tokens, regex) for tiktoken when it reproduces this HF tokenizer
    exactly; else the reason it cannot."""
    model = tokenizer_json.get("model") or {}
    if model.get("type") != "BPE":
        return f"model is {model.get('type')}, not BPE"
    if model.get("dropout") or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix") \
            or model.get("byte_fallback"):
        return "BPE with dropout, subword prefix/suffix or byte fallback"
    if tokenizer_json.get("normalizer") is not None:
        return "has a normalizer"
    regex = _byte_level_regex(tokenizer_json.get("pre_tokenizer"))
    if regex is None:
        return "pre-tokenizer is not a regex split followed by byte-level mapping"
    byte_of = _byte_decoder()
    vocab: dict[str, int] = model["vocab"]
    specials = {t["content"]: t["id"] for t in tokenizer_json.get("added_tokens", []) if t.get("special")}
    ranks = {bytes(byte_of[c] for c in token): i for token, i in vocab.items() if token not in specials}
    if len(ranks) != len(vocab) - len(specials) or any(bytes([b]) not in ranks for b in range(256)):
        return "vocabulary lacks some single bytes or maps two ids to one byte string"
    # tiktoken merges the pair whose result has the lowest id; HF the pair with the lowest merge rank.
    # They agree when merged tokens take ids in merge order, each above the ids of its two parts.
    last = -1
    for merge in model.get("merges", []):
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        merged = vocab.get(left + right)
        if merged is None or merged <= last or merged <= vocab[left] or merged <= vocab[right]:
            return f"merge {left!r} + {right!r} is not ranked in id order"
        last = merged
    return ranks, specials, regex


def _byte_level_regex(pre: dict[str, Any] | None) -> str | None:
    if pre is None:
        return None
    if pre.get("type") == "ByteLevel":
        return PATTERNS["gpt2"] if pre.get("use_regex", True) and not pre.get("add_prefix_space") else None
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else []
    if len(steps) == 2 and steps[0].get("type") == "Split" and steps[0].get("behavior") == "Isolated" \
            and not steps[0].get("invert") and "Regex" in steps[0].get("pattern", {}) \
            and steps[1].get("type") == "ByteLevel" and not steps[1].get("use_regex", True) \
            and not steps[1].get("add_prefix_space"):
        return steps[0]["pattern"]["Regex"]
    return None


@dataclass(frozen=True)
class TokenizerSpec:
    """Where a tokenizer is and how to read it: plain parameters, so it pickles to workers cheaply.

    ``pattern`` and ``special_tokens`` apply to tiktoken files only (a tokenizer.json carries its own);
    a tiktoken file's special tokens take the ids after its highest rank.
    """

    path: str
    pattern: str = "gpt4"
    special_tokens: tuple[str, ...] = (ENDOFTEXT,)
    fast: bool = True  # use tiktoken when it reproduces an HF tokenizer exactly

    @property
    def kind(self) -> TokenizerKind:
        return detect_kind(self.path)

    def load(self) -> Encoder:
        return Encoder(self)


class Encoder:
    """A loaded tokenizer: batch encoding (ordinary text only), decoding, ids of special tokens."""

    def __init__(self, spec: TokenizerSpec) -> None:
        self.spec = spec
        self.hf: Tokenizer | None = None
        self.tiktoken: tiktoken.Encoding | None = None
        self.fallback_reason = ""
        self.file_specials: dict[str, int] = {}  # a tiktoken file's special tokens (tokenizer.json has its own)
        if spec.kind == "tiktoken":
            ranks = read_tiktoken_ranks(spec.path)
            first = max(ranks.values()) + 1
            self.file_specials = {token: first + i for i, token in enumerate(spec.special_tokens)}
            self.tiktoken = _encoding(spec.path, ranks, self.file_specials, pattern_regex(spec.pattern))
            return
        self.hf = Tokenizer.from_file(spec.path)
        self.hf.encode_special_tokens = True  # "<|endoftext|>" inside a page is text, not the delimiter
        with open(spec.path, encoding="utf-8") as f:
            converted = tiktoken_from_hf(json.load(f))
        if isinstance(converted, str):
            self.fallback_reason = converted
        elif spec.fast:
            self.tiktoken = _encoding(spec.path, *converted)

    @property
    def engine(self) -> Literal["tiktoken", "hf"]:
        return "tiktoken" if self.tiktoken is not None else "hf"

    @property
    def vocab_size(self) -> int:
        if self.hf is not None:
            return self.hf.get_vocab_size(with_added_tokens=True)
        assert self.tiktoken is not None
        return self.tiktoken.n_vocab

    def token_id(self, token: str) -> int:
        found = self.hf.token_to_id(token) if self.hf is not None else self.file_specials.get(token)
        if found is None:
            raise KeyError(f"{self.spec.path}: no token {token!r}; name one of its special tokens "
                           f"(--delimiter) or add it when training (--special-tokens)")
        return found

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        if self.tiktoken is not None:
            # In this thread: the engine gives each task its cores; tiktoken's batch pool would oversubscribe.
            return [self.tiktoken.encode_ordinary(text) for text in texts]
        assert self.hf is not None
        return [e.ids for e in self.hf.encode_batch(list(texts), add_special_tokens=False)]

    def encode_batch_hf(self, texts: Sequence[str]) -> list[list[int]]:
        """HF's ids, the reference the tiktoken path must reproduce (HF tokenizers only)."""
        if self.hf is None:
            raise ValueError(f"{self.spec.path} is a tiktoken file; it has no HF encoding")
        return [e.ids for e in self.hf.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        if self.hf is not None:
            return self.hf.decode(list(ids), skip_special_tokens=False)
        assert self.tiktoken is not None
        return self.tiktoken.decode(list(ids))


@lru_cache(maxsize=4)
def cached_encoder(spec: TokenizerSpec, sha256: str) -> Encoder:
    """``spec`` loaded once per worker process, its file (a local path or an object-store URL) fetched
    to a temporary folder when remote: tokenizers and tiktoken read local files only. ``sha256`` of the
    file keys the cache, so a file written anew at the same place is loaded anew."""
    if storage.is_local(spec.path):
        return spec.load()
    with tempfile.TemporaryDirectory(prefix="fwp-tokenizer-") as folder:
        local = os.path.join(folder, storage.basename(spec.path))
        with open(local, "wb") as f:
            f.write(storage.read_bytes(spec.path))
        return replace(spec, path=local).load()  # read whole: the folder may go


def _encoding(path: str, ranks: dict[bytes, int], specials: dict[str, int], regex: str) -> tiktoken.Encoding:
    return tiktoken.Encoding(name=os.path.basename(path), pat_str=regex, mergeable_ranks=ranks,
                             special_tokens=specials)


def fertility(encoder: Encoder, texts: Sequence[str]) -> dict[str, float]:
    """Tokens per whitespace-separated word and UTF-8 bytes per token, over ``texts``."""
    tokens = sum(len(ids) for ids in encoder.encode_batch(texts))
    words = sum(len(t.split()) for t in texts)
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    return {
        "documents": len(texts), "words": words, "bytes": nbytes, "tokens": tokens,
        "tokens_per_word": round(tokens / max(words, 1), 4),
        "bytes_per_token": round(nbytes / max(tokens, 1), 4),
    }
