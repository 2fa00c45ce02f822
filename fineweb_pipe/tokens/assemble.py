"""The assemble round: one bucket per task, made from its key range of every encoded file.

A task reads the fine partitions its bucket overlaps from each encode task's file (a contiguous run of
row groups per file), keeps the documents whose key is in the bucket, orders them by key (ties by input
and row), cuts them into the bucket's shards by token count and writes each with its index, and the
bucket's token counts for the run's summary. Its memory is about twice the bucket's tokens, whatever the
size of the corpus.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fineweb_pipe import exchange, storage
from fineweb_pipe.tokens import megatron
from fineweb_pipe.tokens.encode import ENCODED_SCHEMA
from fineweb_pipe.tokens.ranges import Bucket, fine_partitions_overlapping
from fineweb_pipe.tokens.shards import Format, ShardInfo, Split, index_file_name, write_index, write_shard


@dataclass(frozen=True)
class AssembleJob:
    index: int  # of the bucket
    bucket: Bucket
    encoded: tuple[str, ...]  # the encode tasks' files, in input order
    partitions: int  # fine partitions in each of them
    out_urls: tuple[str, ...]  # one per shard of the bucket
    counts_url: str  # token id counts of the bucket (.npy), for the run's summary
    format: Format
    encoded_dtype: str  # of the tokens in the encoded files
    dtype: str  # of the shards
    vocab_size: int

    @property
    def key(self) -> str:
        return f"{self.index:06d}"


def assemble_bucket(job: AssembleJob) -> dict[str, Any]:
    """Gather the documents of ``job.bucket`` in key order and write them as its shards, each with its
    index; returns the shards' :class:`ShardInfo` fields."""
    table = _bucket_documents(job)
    order = np.lexsort((table.column("row").to_numpy(), table.column("source").to_numpy(),
                        table.column("key").to_numpy()))
    docs = table.column("tokens").take(pa.array(order, pa.int64())).combine_chunks()
    tokens, lengths = _tokens(docs, np.dtype(job.encoded_dtype))
    tokens = tokens.astype(np.dtype(job.dtype).newbyteorder("<"), copy=False)
    starts = np.cumsum(lengths) - lengths
    # Shard j takes the documents starting in the j-th equal part of the bucket's tokens.
    shard_of = starts * len(job.out_urls) // max(len(tokens), 1)
    bounds = np.searchsorted(shard_of, np.arange(len(job.out_urls) + 1))
    shards = [_write_shard(job, url, split, tokens, starts, lengths, int(a), int(b))
              for url, (split, _), a, b in zip(job.out_urls, job.bucket.shards, bounds[:-1], bounds[1:])]
    buffer = io.BytesIO()
    np.save(buffer, _token_counts(tokens, job.vocab_size))
    storage.write_bytes(job.counts_url, buffer.getvalue())
    return {"shards": shards}


def _write_shard(job: AssembleJob, url: str, split: Split, tokens: np.ndarray, starts: np.ndarray,
                 lengths: np.ndarray, first: int, stop: int) -> dict[str, Any]:
    """Write documents ``first`` to ``stop`` of the bucket as the shard ``url``."""
    at = int(starts[first]) if first < len(starts) else len(tokens)
    shard = tokens[at: at + int(lengths[first:stop].sum())]
    if job.format == "llmc":
        sha = write_shard(url, shard)
    else:
        sha = megatron.write_bin(url, shard)
        megatron.write_idx(megatron.idx_path(url), lengths[first:stop], shard.dtype)
    write_index(index_file_name(url), starts[first:stop] - at)
    name = storage.basename(url)
    return asdict(ShardInfo(file=name, split=split, tokens=len(shard), documents=stop - first,
                            index=index_file_name(name), sha256=sha))


def _bucket_documents(job: AssembleJob) -> pa.Table:
    lo, hi = job.bucket.lo, job.bucket.hi
    kept = []
    # The overlapping fine partitions lie together in each encoded file: one read per file.
    for part in exchange.iter_partitions(job.encoded, fine_partitions_overlapping(lo, hi, job.partitions)):
        key = part.column("key")
        inside = pc.and_(pc.greater_equal(key, pa.scalar(lo, pa.uint64())),
                         pc.less_equal(key, pa.scalar(hi - 1, pa.uint64())))
        kept.append(part.filter(inside))
    return pa.concat_tables(kept) if kept else ENCODED_SCHEMA.empty_table()


def _token_counts(tokens: np.ndarray, vocab_size: int, chunk: int = 1 << 22) -> np.ndarray:
    # By chunks: bincount makes an int64 copy of what it counts.
    counts = np.zeros(vocab_size, np.int64)
    for at in range(0, len(tokens), chunk):
        counts += np.bincount(tokens[at:at + chunk], minlength=vocab_size)
    return counts


def _tokens(docs: pa.Array, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The documents' tokens back to back (a view of ``docs``' data) and each one's length in tokens."""
    if not len(docs):
        return np.zeros(0, dtype), np.zeros(0, np.int64)
    offsets = np.frombuffer(docs.buffers()[1], "<i8")[docs.offset: docs.offset + len(docs) + 1]
    data = np.frombuffer(docs.buffers()[2], dtype)
    return data[offsets[0] // dtype.itemsize: offsets[-1] // dtype.itemsize], np.diff(offsets) // dtype.itemsize
