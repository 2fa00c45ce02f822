"""The assemble round on hand-made encoded files: a bucket's shards hold exactly its documents in key order,
and a task holds the bucket's tokens about once."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from fineweb_pipe import exchange
from fineweb_pipe.tokens import assemble, megatron
from fineweb_pipe.tokens.assemble import AssembleJob, assemble_bucket
from fineweb_pipe.tokens.encode import ENCODED_SCHEMA
from fineweb_pipe.tokens.ranges import KEY_SPACE, Bucket, fine_partition
from fineweb_pipe.tokens.shards import open_tokens, read_index

PARTITIONS = 8


def _encoded_files(folder: Path, rng: np.random.Generator, files: int, docs_per_file: int, dtype: str, vocab: int,
                   longest: int = 40) -> list[tuple[int, int, int, np.ndarray]]:
    """``files`` encode files of random documents; returns every document as (key, source, row, tokens).
    Some keys repeat across files, so that ties are broken by input and row."""
    documents = []
    shared_keys = rng.integers(0, KEY_SPACE, size=docs_per_file // 10, dtype=np.uint64)
    for source in range(files):
        keys = rng.integers(0, KEY_SPACE, size=docs_per_file, dtype=np.uint64)
        keys[: len(shared_keys)] = shared_keys
        lengths = rng.integers(1, longest, size=docs_per_file)
        tokens = rng.integers(0, vocab, size=int(lengths.sum())).astype(dtype)
        offsets = np.zeros(docs_per_file + 1, np.int64)
        np.cumsum(lengths * tokens.dtype.itemsize, out=offsets[1:])
        column = pa.LargeBinaryArray.from_buffers(pa.large_binary(), docs_per_file,
                                                  [None, pa.py_buffer(offsets), pa.py_buffer(tokens)])
        table = pa.table([pa.array(keys), pa.array(np.full(docs_per_file, source, np.int32)),
                          pa.array(np.arange(docs_per_file, dtype=np.int64)), column], schema=ENCODED_SCHEMA)
        exchange.write_partitioned(table, fine_partition(keys, PARTITIONS), PARTITIONS, str(folder / f"{source}.x"))
        ends = np.cumsum(lengths)
        documents += [(int(k), source, row, tokens[e - n: e]) for row, (k, n, e) in enumerate(zip(keys, lengths, ends))]
    return documents


def _job(folder: Path, bucket: Bucket, format: str, encoded_dtype: str, dtype: str, vocab: int) -> AssembleJob:
    return AssembleJob(0, bucket, tuple(sorted(str(path) for path in folder.glob("*.x"))), PARTITIONS,
                       tuple(str(folder / f"shard_{split}_{i}.bin") for split, i in bucket.shards),
                       str(folder / "counts.npy"), format, encoded_dtype, dtype, vocab)  # type: ignore[arg-type]


@pytest.mark.parametrize("format, encoded_dtype, dtype, vocab", [("llmc", "<u2", "<u2", 5000),
                                                                 ("megatron", "<u4", "<i4", 70_000)])
def test_a_buckets_shards_hold_its_documents_in_key_order(tmp_path, monkeypatch, format, encoded_dtype, dtype, vocab):
    # Small batches and copy steps, so that partitions come in several batches and are copied in many steps.
    monkeypatch.setattr(exchange, "MAX_BATCH_ROWS", 50)
    monkeypatch.setattr(assemble, "PLACE_CHUNK_TOKENS", 64)
    documents = _encoded_files(tmp_path, np.random.default_rng(3), 3, 700, encoded_dtype, vocab)
    # Edges inside fine partitions: the first and last partitions read hold documents outside the bucket.
    lo, hi = KEY_SPACE * 3 // 20, KEY_SPACE * 13 // 20
    bucket = Bucket(lo, hi, (("train", 0), ("train", 1), ("train", 2)))
    result = assemble_bucket(_job(tmp_path, bucket, format, encoded_dtype, dtype, vocab))

    expected = sorted((d for d in documents if lo <= d[0] < hi), key=lambda d: d[:3])
    assert len({d[0] for d in expected}) < len(expected)  # ties happened
    lengths = np.array([len(d[3]) for d in expected])
    starts = np.cumsum(lengths) - lengths
    shard_of = starts * 3 // lengths.sum()  # shard j: the documents starting in the j-th third of the tokens
    for j, info in enumerate(result["shards"]):
        docs = [d[3] for d, s in zip(expected, shard_of) if s == j]
        path = str(tmp_path / info["file"])
        tokens = open_tokens(path) if format == "llmc" else np.fromfile(path, dtype)
        assert tokens.dtype == np.dtype(dtype)
        assert np.array_equal(tokens, np.concatenate(docs).astype(dtype))
        assert np.array_equal(read_index(str(tmp_path / info["index"])), np.cumsum([0] + [len(d) for d in docs[:-1]]))
        assert (info["tokens"], info["documents"]) == (len(tokens), len(docs))
        if format == "megatron":
            assert np.array_equal(megatron.read_idx(megatron.idx_path(path)).lengths, [len(d) for d in docs])
    all_tokens = np.concatenate([d[3] for d in expected])
    assert np.array_equal(np.load(tmp_path / "counts.npy"), np.bincount(all_tokens, minlength=vocab))


def test_an_empty_bucket_writes_empty_shards(tmp_path):
    _encoded_files(tmp_path, np.random.default_rng(0), 3, 20, "<u2", 100)
    bucket = Bucket(5, 6, (("val", 0),))  # a key range no random key falls in
    [info] = assemble_bucket(_job(tmp_path, bucket, "llmc", "<u2", "<u2", 100))["shards"]
    assert (info["tokens"], info["documents"]) == (0, 0)
    assert len(open_tokens(str(tmp_path / info["file"]))) == 0
    assert not np.load(tmp_path / "counts.npy").any()


# Run in a fresh interpreter: assembles the warm-up job (loading what any task loads), resets VmHWM to the
# current RSS, assembles the job and prints its peak RSS above the RSS before it, in MB.
MEASURE = """
import pickle, sys
from fineweb_pipe.tokens.assemble import assemble_bucket

def status_mb(field):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field + ":")) / 1024

with open(sys.argv[1], "rb") as f:
    job, warm_up = pickle.load(f)
assemble_bucket(warm_up)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
start = status_mb("VmRSS")
assemble_bucket(job)
print(status_mb("VmHWM") - start)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc to measure peak RSS")
def test_an_assemble_task_holds_its_bucket_about_once(tmp_path):
    # As from 8 inputs; documents of ~200 tokens, as web pages cut to 300-900 bytes make with a small BPE.
    documents = _encoded_files(tmp_path, np.random.default_rng(1), 8, 20_000, "<u2", 50_000, longest=400)
    bucket_mb = sum(len(d[3]) for d in documents) * 2 / 2**20  # all documents: ~61 MB
    job = _job(tmp_path, Bucket(0, KEY_SPACE, (("train", 0), ("train", 1))), "llmc", "<u2", "<u2", 50_000)
    warm_up = _job(tmp_path, Bucket(0, 2**50, (("val", 0),)), "llmc", "<u2", "<u2", 50_000)
    jobs = tmp_path / "jobs.pkl"
    jobs.write_bytes(pickle.dumps((job, warm_up)))
    peak_mb = float(subprocess.run([sys.executable, "-c", MEASURE, str(jobs)], capture_output=True, text=True,
                                   check=True, timeout=300).stdout)
    # The bucket's tokens once, plus two files' compressed ranges, one batch and ~60 bytes per document
    # (before streaming, the Parquet read, key filter, take and combine_chunks made ~6x).
    assert peak_mb < 2 * bucket_mb, f"peak {peak_mb:.0f} MB over the start for {bucket_mb:.0f} MB of tokens"
