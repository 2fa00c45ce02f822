"""The tokenizer's training sample: the documents of smallest shuffle key, found without one task
reading the corpus.

Each input shard offers its documents whose key falls under a threshold that about twice ``train_docs``
documents pass in all (known from the inputs' row counts); one task keeps the ``train_docs`` of smallest
key among them (ties by input and row) and trains a byte-level BPE on them. So the sample depends on the
input and seed only, and the training task reads about twice its sample, whatever the corpus's size.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import schema, storage
from fineweb_pipe.stage import ShardRef
from fineweb_pipe.tokens.ranges import KEY_SPACE, document_keys
from fineweb_pipe.tokens.tokenizer import TokenizerSpec, fertility, train_bpe
from fineweb_pipe.writers.atomic import write_parquet

OVERSAMPLE = 2.0  # documents offered per document kept: the sample rarely falls short of train_docs


def sample_threshold(train_docs: int, total_docs: int) -> int:
    """The key under which a document is offered for the sample."""
    share = min(1.0, OVERSAMPLE * train_docs / max(total_docs, 1))
    return KEY_SPACE if share >= 1.0 else int(share * KEY_SPACE)


@dataclass(frozen=True)
class SampleJob:
    source: ShardRef
    index: int  # position among the sorted inputs
    out_url: str
    seed: int
    docs: int
    threshold: int

    @property
    def key(self) -> str:
        return f"{self.index:06d}"


@dataclass(frozen=True)
class TrainJob:
    sample_urls: tuple[str, ...]
    tokenizer_url: str
    docs: int
    vocab_size: int
    special_tokens: tuple[str, ...]
    pattern: str
    key: str = "train"


def sample_shard(job: SampleJob) -> dict[str, Any]:
    """Write this shard's documents of key under the threshold (at most ``docs``, smallest key first)
    with their text."""
    with storage.open_input(job.source.path) as f:
        ids = pq.read_table(f, columns=[schema.ID]).column(schema.ID).to_pylist()
    keys = document_keys(ids, job.seed, job.source.shard, 0)
    rows = np.arange(len(keys)) if job.threshold >= KEY_SPACE else np.flatnonzero(keys < np.uint64(job.threshold))
    rows = rows[np.lexsort((rows, keys[rows]))][: job.docs]
    with storage.open_input(job.source.path) as f:
        texts = pq.read_table(f, columns=[schema.TEXT]).column(schema.TEXT).take(pa.array(rows, pa.int64()))
    write_parquet(pa.table({"key": pa.array(keys[rows]), "row": pa.array(rows, pa.int64()), schema.TEXT: texts}),
                  job.out_url)
    return {"documents": len(rows)}


def train_on_sample(job: TrainJob) -> dict[str, Any]:
    """Train on the smallest-key documents of the per-shard samples; report fertility on them."""
    tables = []
    for url in job.sample_urls:
        with storage.open_input(url) as f:
            tables.append(pq.read_table(f))
    keys = np.concatenate([t.column("key").to_numpy() for t in tables] or [np.zeros(0, "<u8")])
    shard = np.concatenate([np.full(t.num_rows, i) for i, t in enumerate(tables)] or [np.zeros(0, np.int64)])
    row = np.concatenate([t.column("row").to_numpy() for t in tables] or [np.zeros(0, np.int64)])
    chosen = np.lexsort((row, shard, keys))[: job.docs]
    position = np.concatenate([np.arange(t.num_rows) for t in tables] or [np.zeros(0, np.int64)])
    texts = [tables[shard[i]].column(schema.TEXT)[position[i]].as_py() or "" for i in chosen.tolist()]
    with tempfile.TemporaryDirectory(prefix="fwp-bpe-") as folder:
        local = os.path.join(folder, "tokenizer.json")  # tokenizers writes and reads local files only
        start = time.perf_counter()
        train_bpe(texts, local, job.vocab_size, job.special_tokens, job.pattern)
        train_s = time.perf_counter() - start
        encoder = TokenizerSpec(local).load()
        with open(local, "rb") as f:
            storage.write_bytes(job.tokenizer_url, f.read())
    return {"train_s": round(train_s, 3), "sample": fertility(encoder, texts), "vocab_size": encoder.vocab_size}
