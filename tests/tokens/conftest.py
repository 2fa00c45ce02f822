"""Small token shard sets with a real (tiny) tokenizer, built in the test: no shared data needed."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from fineweb_pipe.tokens.shards import (
    Delimiter, Manifest, ShardInfo, TokenizerRef, file_sha256, index_file_name, shard_file_name, token_dtype,
    write_index, write_shard,
)
from fineweb_pipe.tokens.tokenizer import ENDOFTEXT, Encoder, TokenizerSpec, train_bpe

WORDS = ("river stone light garden window market paper table summer winter cloud music letter bridge "
         "orange silver forest station morning evening").split()


def synthetic_texts(count: int, words: int = 60, seed: int = 0) -> list[str]:
    """Sentences of common words: enough repeated pairs for a few hundred BPE merges, no more."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=words)) + "." for _ in range(count)]


@pytest.fixture(scope="session")
def small_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Encoder:
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.json"
    train_bpe(synthetic_texts(40), str(path), vocab_size=400)
    return TokenizerSpec(str(path)).load()


def write_token_set(folder: Path, encoder: Encoder, shards: Sequence[tuple[str, Sequence[str]]],
                    extra_ids: dict[int, int] | None = None) -> Path:
    """A shard set of ``(split, texts)`` shards in that order (each text a document, the delimiter first),
    tokenized with ``encoder`` whose file is copied beside them. ``extra_ids`` ``{shard: id}`` puts ``id``
    (e.g. one outside the vocabulary) in place of the second token of that shard."""
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = folder / "tokenizer.json"
    tokenizer.write_bytes(Path(encoder.spec.path).read_bytes())
    delimiter = encoder.token_id(ENDOFTEXT)
    dtype = token_dtype(encoder.vocab_size)
    counters = {"train": 0, "val": 0}
    infos = []
    for n, (split, texts) in enumerate(shards):
        docs = [np.array([delimiter, *ids], dtype=np.int64) for ids in encoder.encode_batch(list(texts))]
        tokens = (np.concatenate(docs) if docs else np.zeros(0, np.int64)).astype(dtype)
        if extra_ids and n in extra_ids:
            tokens[1] = extra_ids[n]
        name = shard_file_name("test", split, counters[split])  # type: ignore[arg-type]
        counters[split] += 1
        sha = write_shard(os.path.join(folder, name), tokens)
        starts = np.cumsum([0] + [len(d) for d in docs[:-1]])[: len(docs)]
        write_index(os.path.join(folder, index_file_name(name)), starts)
        infos.append(ShardInfo(name, split, len(tokens), len(docs), index_file_name(name), sha))  # type: ignore
    Manifest(format="llmc", dtype=dtype.name, vocab_size=encoder.vocab_size,
             tokenizer=TokenizerRef("tokenizer.json", file_sha256(str(tokenizer)), "hf"),
             delimiter=Delimiter(ENDOFTEXT, delimiter, "bos"), seed=0, shards=infos,
             shard_tokens=max([i.tokens for i in infos] + [1])).save(str(folder))
    return folder


TokenSetFactory = Callable[..., Path]


@pytest.fixture
def token_set(tmp_path: Path, small_tokenizer: Encoder) -> TokenSetFactory:
    """``token_set([("val", texts), ("train", texts), ...], extra_ids={shard: id})`` -> the set's folder."""
    made = 0

    def make(shards: Sequence[tuple[str, Sequence[str]]], extra_ids: dict[int, int] | None = None) -> Path:
        nonlocal made
        made += 1
        return write_token_set(tmp_path / f"set-{made}", small_tokenizer, shards, extra_ids)

    return make


@pytest.fixture
def texts() -> Callable[..., list[str]]:
    """``texts(count, seed=0)``: synthetic documents (see :func:`synthetic_texts`)."""
    return synthetic_texts
