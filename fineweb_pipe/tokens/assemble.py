"""The assemble round: one bucket per task, made from its key range of every encoded file.

A task reads the fine partitions its bucket overlaps from each encode task's file (a contiguous run of
partitions per file) twice. The first read keeps, of each document whose key is in the bucket, its key,
input, row and length: ordered by key (ties by input and row), they give each document its place in the
bucket's tokens. The second read copies each document's tokens to its place in one array of the
bucket's size, from which the shards (cut by token count) are written with their indexes, and the
bucket's token counts for the run's summary. So a task holds the bucket's tokens once, plus about 60
bytes per document and the compressed partitions of one encoded file at a time, whatever the size of the
corpus; the second read costs a read and decompression of the bucket's partitions, a fraction of a
second per bucket, where holding them took 4-6x the bucket's tokens.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from fineweb_pipe import exchange, storage
from fineweb_pipe.tokens import megatron
from fineweb_pipe.tokens.ranges import Bucket, fine_partitions_overlapping
from fineweb_pipe.tokens.shards import Format, ShardInfo, Split, index_file_name, write_index, write_shard

# Tokens copied per step of the second read: its index arrays (int64) stay a few MB whatever the batch.
PLACE_CHUNK_TOKENS = 1 << 17


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
    keys, sources, rows, lengths = _bucket_documents(job)
    order = np.lexsort((rows, sources, keys))
    lengths = lengths[order]
    starts = np.cumsum(lengths) - lengths
    tokens = np.empty(int(lengths.sum()), np.dtype(job.dtype).newbyteorder("<"))
    places = np.empty_like(starts)  # of each document in reading order
    places[order] = starts
    _place_tokens(job, places, tokens)
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


def _bucket_batches(job: AssembleJob) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Each exchange batch of the fine partitions the bucket overlaps, with the mask of its documents
    whose key is in the bucket; the same batches in the same order at every call."""
    lo, last = np.uint64(job.bucket.lo), np.uint64(job.bucket.hi - 1)
    # The overlapping fine partitions lie together in each encoded file: one read per file.
    for part in exchange.iter_partitions(job.encoded, fine_partitions_overlapping(job.bucket.lo, job.bucket.hi,
                                                                                 job.partitions)):
        if part.num_rows:
            keys = _values(part, "key", "<u8")
            yield part, (keys >= lo) & (keys <= last)


def _bucket_documents(job: AssembleJob) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Key, input, row and length in tokens of each document in the bucket, in reading order."""
    itemsize = np.dtype(job.encoded_dtype).itemsize
    columns: tuple[list[np.ndarray], ...] = ([], [], [], [])
    for part, inside in _bucket_batches(job):
        offsets, _ = _token_buffers(part, job.encoded_dtype)
        for column, values in zip(columns, (_values(part, "key", "<u8"), _values(part, "source", "<i4"),
                                            _values(part, "row", "<i8"), np.diff(offsets) // itemsize)):
            column.append(values[inside])
    keys, sources, rows, lengths = (np.concatenate(c) if c else np.zeros(0, dtype)
                                    for c, dtype in zip(columns, ("<u8", "<i4", "<i8", "<i8")))
    return keys, sources, rows, lengths


def _place_tokens(job: AssembleJob, places: np.ndarray, out: np.ndarray) -> None:
    """Copy the tokens of the bucket's documents (in reading order) to ``out[places[i]:]``."""
    itemsize = np.dtype(job.encoded_dtype).itemsize
    done = 0
    for part, inside in _bucket_batches(job):
        offsets, data = _token_buffers(part, job.encoded_dtype)
        firsts = offsets[:-1][inside] // itemsize
        lengths = np.diff(offsets)[inside] // itemsize
        _copy_runs(data, firsts, lengths, out, places[done: done + len(lengths)])
        done += len(lengths)


def _copy_runs(data: np.ndarray, firsts: np.ndarray, lengths: np.ndarray, out: np.ndarray,
               places: np.ndarray) -> None:
    """``out[places[i]:][:lengths[i]] = data[firsts[i]:][:lengths[i]]`` for every i, a few documents at a
    time so that the index arrays stay about ``PLACE_CHUNK_TOKENS`` long."""
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    cuts = np.searchsorted(ends, np.arange(PLACE_CHUNK_TOKENS, total, PLACE_CHUNK_TOKENS), side="right")
    bounds = np.unique(np.concatenate(([0], cuts, [len(lengths)])))
    for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        n = lengths[a:b]
        within = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)  # each token's place in its document
        out[np.repeat(places[a:b], n) + within] = data[np.repeat(firsts[a:b], n) + within]


def _token_counts(tokens: np.ndarray, vocab_size: int, chunk: int = 1 << 20) -> np.ndarray:
    # By chunks: bincount makes an int64 copy of what it counts.
    counts = np.zeros(vocab_size, np.int64)
    for at in range(0, len(tokens), chunk):
        counts += np.bincount(tokens[at:at + chunk], minlength=vocab_size)
    return counts


def _values(part: pa.Table, name: str, dtype: str) -> np.ndarray:
    """A numeric column of a batch (no nulls in the exchange), a view of its buffer: Arrow's ``to_numpy``
    would import pandas, ~50 MB of a task's memory."""
    column = part.column(name).chunk(0)
    return np.frombuffer(column.buffers()[1], dtype)[column.offset: column.offset + len(column)]


def _token_buffers(part: pa.Table, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """The byte offsets of a batch's documents in its token data (one more than documents) and that data
    as tokens of ``dtype``: views of the batch's buffers."""
    docs = part.column("tokens").chunk(0)
    offsets = np.frombuffer(docs.buffers()[1], "<i8")[docs.offset: docs.offset + len(docs) + 1]
    return offsets, np.frombuffer(docs.buffers()[2], np.dtype(dtype))
