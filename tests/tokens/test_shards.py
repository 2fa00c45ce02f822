"""The llm.c shard format, its document index and the manifest, written and read back."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fineweb_pipe.tokens.shards import (
    HEADER_BYTES, MAGIC_UINT16, MAGIC_UINT32, Delimiter, Manifest, ShardError, ShardInfo, TokenizerRef,
    documents, file_sha256, index_file_name, open_tokens, read_header, read_index, shard_file_name,
    token_dtype, validate, write_index, write_shard,
)

EOT = 50256


def _shard_set(folder: str, docs: list[list[int]], vocab_size: int) -> Manifest:
    """One llm.c shard holding ``docs``, each preceded by the delimiter, with index and manifest."""
    dtype = token_dtype(vocab_size)
    tokens = np.concatenate([np.array([EOT] + d, dtype=dtype) for d in docs])
    starts = np.cumsum([0] + [len(d) + 1 for d in docs[:-1]])
    name = shard_file_name("fineweb", "val", 0)
    sha = write_shard(os.path.join(folder, name), tokens)
    write_index(os.path.join(folder, index_file_name(name)), starts)
    with open(os.path.join(folder, "tokenizer.json"), "w") as f:
        f.write("{}")
    manifest = Manifest(
        format="llmc", dtype=dtype.name, vocab_size=vocab_size,
        tokenizer=TokenizerRef("tokenizer.json", file_sha256(os.path.join(folder, "tokenizer.json")), "hf"),
        delimiter=Delimiter("<|endoftext|>", EOT, "bos"), seed=7,
        shards=[ShardInfo(name, "val", len(tokens), len(docs), index_file_name(name), sha)], shard_tokens=1000,
    )
    manifest.save(folder)
    return manifest


def test_uint16_shard_header_size_and_documents_roundtrip(tmp_path):
    docs = [[1, 2, 3], [65535], [10, 11, 12, 13, 14]]
    _shard_set(str(tmp_path), docs, vocab_size=65536)  # the largest uint16 vocabulary: 65535 is its last id
    path = str(tmp_path / "fineweb_val_000000.bin")
    header = read_header(path)
    assert (header.magic, header.version, header.tokens) == (MAGIC_UINT16, 1, 12)
    assert os.path.getsize(path) == HEADER_BYTES + 2 * 12
    tokens = open_tokens(path)
    assert tokens.dtype == np.uint16
    got = [d.tolist() for d in documents(tokens, read_index(path + ".idx.npy"))]
    assert got == [[EOT] + d for d in docs]
    manifest = Manifest.load(str(tmp_path))
    assert manifest.totals["val"] == {"tokens": 12, "documents": 3}
    assert manifest.totals["train"] == {"tokens": 0, "documents": 0}
    assert validate(str(tmp_path), check_hashes=True) == []


def test_uint32_variant_for_large_vocabularies(tmp_path):
    docs = [[100_000, 200_000], [7]]
    _shard_set(str(tmp_path), docs, vocab_size=200_019)
    header = read_header(str(tmp_path / "fineweb_val_000000.bin"))
    assert (header.magic, header.version, header.tokens) == (MAGIC_UINT32, 7, 5)
    assert os.path.getsize(tmp_path / "fineweb_val_000000.bin") == HEADER_BYTES + 4 * 5
    assert open_tokens(str(tmp_path / "fineweb_val_000000.bin")).tolist() == [EOT, 100_000, 200_000, EOT, 7]
    assert validate(str(tmp_path)) == []


def test_truncated_shard_is_reported_with_its_name(tmp_path):
    _shard_set(str(tmp_path), [[1, 2], [3]], vocab_size=50304)
    path = tmp_path / "fineweb_val_000000.bin"
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.truncate(HEADER_BYTES + 3)
    with pytest.raises(ShardError, match="fineweb_val_000000.bin.*truncated"):
        read_header(str(path))
    assert any("truncated" in p for p in validate(str(tmp_path)))


def test_validate_finds_bad_index_and_missing_delimiter(tmp_path):
    _shard_set(str(tmp_path), [[1, 2], [3, 4]], vocab_size=50304)
    write_index(str(tmp_path / "fineweb_val_000000.bin.idx.npy"), np.array([0, 2]))  # 2 is not a delimiter
    problems = validate(str(tmp_path))
    assert len(problems) == 1 and "lack the delimiter" in problems[0]
    write_index(str(tmp_path / "fineweb_val_000000.bin.idx.npy"), np.array([0, 9]))
    assert any("rise strictly" in p for p in validate(str(tmp_path)))


def test_missing_manifest_says_the_set_is_incomplete(tmp_path):
    with pytest.raises(ShardError, match="incomplete"):
        Manifest.load(str(tmp_path))
