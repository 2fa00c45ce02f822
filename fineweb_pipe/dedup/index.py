"""A saved signature index, so a later crawl is deduplicated against this one without recomputing it.

Layout: ``<dir>/manifest.json`` (the MinHash parameters and the list of files) and
``<dir>/sources/<shard>.parquet`` with the ``id`` and ``sig`` (``num_perm`` little-endian uint64 as one
fixed-size binary) of every surviving document. Band keys are re-derived from signatures, which costs a
few microseconds per document against milliseconds to shingle and hash its text.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import storage
from fineweb_pipe.dedup.signatures import U64, MinHashParams
from fineweb_pipe.writers.atomic import write_json, write_parquet

MANIFEST = "manifest.json"
FORMAT = 1


def signature_column(signatures: np.ndarray) -> pa.Array:
    """Signatures as one fixed-size binary per row (the on-disk form everywhere in this package)."""
    width = signatures.shape[1] * 8
    data = np.ascontiguousarray(signatures, dtype="<u8").tobytes()
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(signatures), [None, pa.py_buffer(data)])


def signature_array(column: pa.Array | pa.ChunkedArray, num_perm: int, where: str) -> np.ndarray:
    """A ``sig`` column as an ``(n, num_perm)`` uint64 array (``where`` names its file in errors)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], pa.binary(num_perm * 8))
    if column.type != pa.binary(num_perm * 8):
        raise ValueError(f"{where}: signatures are {column.type}, expected {num_perm} uint64 "
                         "(was it written with other MinHash parameters?)")
    if len(column) == 0:
        return np.zeros((0, num_perm), U64)
    data = np.frombuffer(column.buffers()[1], dtype="<u8", count=(column.offset + len(column)) * num_perm)
    return data[column.offset * num_perm:].reshape(len(column), num_perm).astype(U64, copy=False)


def read_table(url: str, columns: list[str] | None = None) -> pa.Table:
    """A whole Parquet file from a local path or an object-store URL."""
    with storage.open_input(url) as f:
        return pq.read_table(f, columns=columns)


def read_signatures(url: str, num_perm: int) -> np.ndarray:
    """The ``sig`` column of ``url`` as an ``(n, num_perm)`` uint64 array."""
    return signature_array(read_table(url, ["sig"])["sig"], num_perm, url)


def source_path(index_dir: str, shard: str) -> str:
    return storage.join(index_dir, "sources", f"{shard}.parquet")


def write_source(index_dir: str, shard: str, ids: pa.Array, signatures: np.ndarray) -> None:
    write_parquet(pa.table({"id": ids, "sig": signature_column(signatures)}), source_path(index_dir, shard))


def write_manifest(index_dir: str, params: MinHashParams, shards: list[str]) -> None:
    write_json({"format": FORMAT, "params": asdict(params), "shards": shards}, storage.join(index_dir, MANIFEST))


def load_index(index_dir: str, params: MinHashParams) -> list[str]:
    """Paths of an index's source files, after checking it was built with ``params``."""
    path = storage.join(index_dir, MANIFEST)
    if not storage.exists(path):
        raise FileNotFoundError(f"no {MANIFEST} in reference index {index_dir!r}: point reference_index at "
                                "the save_index folder of an earlier finished run")
    manifest = storage.read_json(path)
    if manifest["params"] != asdict(params):
        raise ValueError(f"reference index {index_dir!r} was built with {manifest['params']}, this stage uses "
                         f"{asdict(params)}: run with the index's parameters or rebuild the index")
    return [source_path(index_dir, shard) for shard in manifest["shards"]]
