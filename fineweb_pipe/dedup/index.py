"""A saved signature index, so a later crawl is deduplicated against this one without recomputing it.

Layout: ``<dir>/manifest.json`` (the MinHash parameters and the list of files) and
``<dir>/sources/<shard>.parquet`` with the ``id`` and ``sig`` (``num_perm`` little-endian uint64 as one
fixed-size binary) of every surviving document. Band keys are re-derived from signatures, which costs a
few microseconds per document against milliseconds to shingle and hash its text.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe.dedup.signatures import U64, MinHashParams
from fineweb_pipe.writers.atomic import write_json, write_parquet

MANIFEST = "manifest.json"
FORMAT = 1


def signature_column(signatures: np.ndarray) -> pa.Array:
    """Signatures as one fixed-size binary per row (the on-disk form everywhere in this package)."""
    width = signatures.shape[1] * 8
    data = np.ascontiguousarray(signatures, dtype="<u8").tobytes()
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(signatures), [None, pa.py_buffer(data)])


def read_signatures(path: str, num_perm: int) -> np.ndarray:
    """The ``sig`` column of ``path`` as an ``(n, num_perm)`` uint64 array."""
    column = pq.read_table(path, columns=["sig"])["sig"].combine_chunks()
    if column.type != pa.binary(num_perm * 8):
        raise ValueError(f"{path}: signatures are {column.type}, expected {num_perm} uint64 "
                         "(was it written with other MinHash parameters?)")
    data = np.frombuffer(column.buffers()[1], dtype="<u8", count=(column.offset + len(column)) * num_perm)
    return data[column.offset * num_perm:].reshape(len(column), num_perm).astype(U64, copy=False)


def source_path(index_dir: str, shard: str) -> str:
    return os.path.join(index_dir, "sources", f"{shard}.parquet")


def write_source(index_dir: str, shard: str, ids: pa.Array, signatures: np.ndarray) -> None:
    write_parquet(pa.table({"id": ids, "sig": signature_column(signatures)}), source_path(index_dir, shard))


def write_manifest(index_dir: str, params: MinHashParams, shards: list[str]) -> None:
    write_json({"format": FORMAT, "params": asdict(params), "shards": shards}, os.path.join(index_dir, MANIFEST))


def load_index(index_dir: str, params: MinHashParams) -> list[str]:
    """Paths of an index's source files, after checking it was built with ``params``."""
    path = os.path.join(index_dir, MANIFEST)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no {MANIFEST} in reference index {index_dir!r}: point reference_index at "
                                "the save_index folder of an earlier finished run")
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    if manifest["params"] != asdict(params):
        raise ValueError(f"reference index {index_dir!r} was built with {manifest['params']}, this stage uses "
                         f"{asdict(params)}: run with the index's parameters or rebuild the index")
    return [source_path(index_dir, shard) for shard in manifest["shards"]]
