"""Atomic writes: a file appears under its final name complete or not at all.

A rerun takes any file under its final name as finished, so every writer goes through here: write to a
temporary name in the same folder, flush, then rename (atomic on POSIX file systems; object stores
publish an object only when its upload completes, so there the temporary step is skipped).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_COMPRESSION = "zstd"


def is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``, on error removed."""
    if not is_local(path):
        yield path
        return
    path = path.removeprefix("file://")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_parquet(table: pa.Table, path: str) -> None:
    """Write ``table`` as one zstd Parquet file, atomically."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression=PARQUET_COMPRESSION)


def write_arrow(table: pa.Table, path: str) -> None:
    """Write ``table`` as an uncompressed Arrow IPC file, atomically: cheap to write and to map back,
    for intermediate files that are read once."""
    with atomic_path(path) as tmp, pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_arrow(path: str) -> pa.Table:
    """Read an Arrow IPC file written by :func:`write_arrow`, memory-mapped."""
    # Not closed here: the table's buffers point into the mapping, which lives as long as they do.
    return pa.ipc.open_file(pa.memory_map(path, "r")).read_all()


def write_json(data: Any, path: str) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
