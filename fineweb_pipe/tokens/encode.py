"""The encode round: one input shard in, its documents' tokens out, written once, grouped by key range.

Each task writes one exchange file (:mod:`fineweb_pipe.exchange`) whose partitions are the fine key
ranges of :mod:`fineweb_pipe.tokens.ranges`: a row per document with its key, input, row and tokens
(the delimiter included, little-endian bytes). It returns counts only; the driver never sees a document.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from itertools import chain
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fineweb_pipe import exchange, schema, storage
from fineweb_pipe.stage import ShardRef
from fineweb_pipe.tokens.ranges import document_keys, fine_partition
from fineweb_pipe.tokens.shards import Position, token_dtype
from fineweb_pipe.tokens.tokenizer import TokenizerSpec, cached_encoder

READ_BATCH_ROWS = 1024
CHECK_DOCS = 16  # documents per input shard whose tiktoken ids are checked against HF's
ENCODED_SCHEMA = pa.schema([("key", pa.uint64()), ("source", pa.int32()), ("row", pa.int64()),
                            ("tokens", pa.large_binary())])


@dataclass(frozen=True)
class EncodeJob:
    source: ShardRef
    index: int  # position among the sorted inputs: breaks ties between equal keys
    out_url: str
    partitions: int
    spec: TokenizerSpec
    tokenizer_sha256: str
    delimiter: str
    position: Position
    seed: int

    @property
    def key(self) -> str:
        return f"{self.index:06d}"


@dataclass(frozen=True)
class Encoded:
    """What an encode task reports (its marker's content)."""

    docs: int
    tokens: int
    squared_lengths: float  # sum of the documents' lengths squared: sizes the shard ranges
    bytes: int
    cpu_s: float
    engine: str
    mismatch: str  # why tiktoken was dropped for HF on this shard, "" when it was not


def text_bytes(ref: ShardRef) -> dict[str, int]:
    """The rows and uncompressed bytes of the text column of an input, from its Parquet footer: what
    sizes the exchange before any document is encoded."""
    with storage.open_input(ref.path) as f:
        meta = pq.ParquetFile(f).metadata
    nbytes = sum(meta.row_group(g).column(c).total_uncompressed_size
                 for g in range(meta.num_row_groups) for c in range(meta.num_columns)
                 if meta.row_group(g).column(c).path_in_schema == schema.TEXT)
    return {"rows": meta.num_rows, "text_bytes": nbytes}


def encode_shard(job: EncodeJob) -> dict[str, Any]:
    """Encode one input shard: per document its tokens (one delimiter each) with its key, written in
    the fine key ranges of ``job.partitions``."""
    cpu_start = time.process_time()
    encoder = cached_encoder(job.spec, job.tokenizer_sha256)
    delimiter_id = encoder.token_id(job.delimiter)
    dtype = token_dtype(encoder.vocab_size)
    parts: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    nbytes = rows = 0
    mismatch = ""
    with storage.open_input(job.source.path) as f:
        for batch in pq.ParquetFile(f).iter_batches(READ_BATCH_ROWS, columns=[schema.ID, schema.TEXT]):
            texts = [t or "" for t in batch.column(schema.TEXT).to_pylist()]
            encoded = encoder.encode_batch(texts)
            if rows == 0 and encoder.hf is not None and encoder.engine == "tiktoken":
                reference = encoder.encode_batch_hf(texts[:CHECK_DOCS])
                if encoded[:CHECK_DOCS] != reference:
                    mismatch = f"tiktoken ids differ from HF's on {job.source.path}; encoding it with HF"
                    encoder = cached_encoder(replace(job.spec, fast=False), job.tokenizer_sha256)
                    encoded = encoder.encode_batch(texts)
            batch_lengths = np.fromiter((len(ids) + 1 for ids in encoded), dtype=np.int64, count=len(encoded))
            parts.append(_delimited(encoded, batch_lengths, delimiter_id, job.position, dtype))
            lengths.append(batch_lengths)
            keys.append(document_keys(batch.column(schema.ID).to_pylist(), job.seed, job.source.shard, rows))
            nbytes += pc.sum(pc.binary_length(batch.column(schema.TEXT))).as_py() or 0
            rows += len(texts)
    tokens = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
    doc_lengths = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)
    doc_keys = np.concatenate(keys) if keys else np.zeros(0, "<u8")
    table = pa.table([pa.array(doc_keys), pa.array(np.full(rows, job.index, np.int32)),
                      pa.array(np.arange(rows, dtype=np.int64)), _token_bytes(tokens, doc_lengths)],
                     schema=ENCODED_SCHEMA)
    exchange.write_partitioned(table, fine_partition(doc_keys, job.partitions), job.partitions, job.out_url)
    result = Encoded(docs=rows, tokens=len(tokens), squared_lengths=float(np.square(doc_lengths, dtype=np.float64).sum()),
                     bytes=nbytes, cpu_s=time.process_time() - cpu_start, engine=encoder.engine, mismatch=mismatch)
    return asdict(result)


def _delimited(encoded: list[list[int]], lengths: np.ndarray, delimiter_id: int, position: Position,
               dtype: np.dtype) -> np.ndarray:
    """The documents' ids back to back, one delimiter before (bos) or after (eos) each."""
    out = np.empty(int(lengths.sum()), dtype=dtype)
    ends = np.cumsum(lengths)
    at = ends - lengths if position == "bos" else ends - 1
    is_text = np.ones(len(out), dtype=bool)
    is_text[at] = False
    out[at] = delimiter_id
    out[is_text] = np.fromiter(chain.from_iterable(encoded), dtype=dtype, count=len(out) - len(encoded))
    return out


def _token_bytes(tokens: np.ndarray, lengths: np.ndarray) -> pa.Array:
    """One binary value per document, its tokens' bytes, over ``tokens`` without a copy."""
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths * tokens.dtype.itemsize, out=offsets[1:])
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(lengths),
                                            [None, pa.py_buffer(offsets), pa.py_buffer(tokens)])
