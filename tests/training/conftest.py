"""Token shard sets for the training tests, written with the tokens module's own writer."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fineweb_pipe.tokens import Delimiter, Manifest, ShardInfo, TokenizerRef
from fineweb_pipe.tokens.shards import index_file_name, shard_file_name, token_dtype, write_index, write_shard

DELIMITER_ID = 0

ShardSetFactory = Callable[..., Path]


def random_documents(rng: np.random.Generator, count: int, vocab_size: int, max_len: int = 300) -> list[np.ndarray]:
    """Documents of random tokens, each preceded by the delimiter (llm.c's ``bos`` convention)."""
    return [
        np.concatenate([[DELIMITER_ID], rng.integers(1, vocab_size, size=int(rng.integers(5, max_len)))])
        for _ in range(count)
    ]


def write_shard_set(folder: Path, shards: dict[str, list[list[np.ndarray]]], vocab_size: int) -> Path:
    """Write ``{split: [documents of shard 0, of shard 1, ...]}`` as llm.c shards with a manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    dtype = token_dtype(vocab_size)
    infos = []
    for split in ("val", "train"):
        for index, docs in enumerate(shards.get(split, [])):
            name = shard_file_name("test", split, index)
            tokens = np.concatenate(docs).astype(dtype)
            starts = np.cumsum([0] + [len(d) for d in docs[:-1]])
            sha = write_shard(os.path.join(folder, name), tokens)
            write_index(os.path.join(folder, index_file_name(name)), starts)
            infos.append(ShardInfo(name, split, len(tokens), len(docs), index_file_name(name), sha))
    (folder / "tokenizer.json").write_text("{}")
    Manifest(
        format="llmc", dtype=dtype.name, vocab_size=vocab_size,
        tokenizer=TokenizerRef("tokenizer.json", "0" * 64, "hf"),
        delimiter=Delimiter("<|endoftext|>", DELIMITER_ID, "bos"),
        seed=0, shards=infos, shard_tokens=max(i.tokens for i in infos),
    ).save(str(folder))
    return folder


@pytest.fixture
def shard_set(tmp_path: Path) -> ShardSetFactory:
    """A factory: ``shard_set(train_shards=3, docs_per_shard=40, vocab_size=500)`` -> folder."""

    def make(train_shards: int = 3, docs_per_shard: int = 40, vocab_size: int = 500, seed: int = 0) -> Path:
        rng = np.random.default_rng(seed)
        shards = {
            "val": [random_documents(rng, docs_per_shard, vocab_size)],
            "train": [random_documents(rng, docs_per_shard, vocab_size) for _ in range(train_shards)],
        }
        return write_shard_set(tmp_path / f"shards_{train_shards}_{docs_per_shard}_{seed}", shards, vocab_size)

    return make


@pytest.fixture
def split_set(tmp_path: Path) -> ShardSetFactory:
    """A factory for odd shard sets: ``split_set(train=2, val=0, ids_below=None)`` -> folder, with that many
    shards per split; ``ids_below`` > ``vocab_size`` draws token ids up to it, past the manifest's vocabulary."""
    made = 0

    def make(train: int = 2, val: int = 1, docs_per_shard: int = 40, vocab_size: int = 500,
             ids_below: int | None = None) -> Path:
        nonlocal made
        made += 1
        rng = np.random.default_rng(made)
        shards = {"val": [random_documents(rng, docs_per_shard, ids_below or vocab_size) for _ in range(val)],
                  "train": [random_documents(rng, docs_per_shard, ids_below or vocab_size) for _ in range(train)]}
        return write_shard_set(tmp_path / f"split_set_{made}", shards, vocab_size)

    return make
