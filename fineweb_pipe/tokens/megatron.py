"""Megatron-LM's indexed dataset: ``.bin`` raw tokens and ``.idx`` (MMIDIDX) with one sequence per document.

``.idx`` layout (little-endian): ``MMIDIDX\\x00\\x00``, ``<Q`` version 1, ``<B`` dtype code (8 = uint16,
4 = int32), ``<Q`` sequence count, ``<Q`` document count (documents + 1), int32 sequence lengths, int64
byte offsets of the sequences in ``.bin``, int64 document indices 0..n.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from fineweb_pipe.tokens.shards import UINT16_VOCAB_LIMIT, ShardError, write_hashed
from fineweb_pipe.storage import local_staging

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES: dict[np.dtype, int] = {np.dtype("<u2"): 8, np.dtype("<i4"): 4}
DTYPE_BY_CODE: dict[int, np.dtype] = {code: dtype for dtype, code in DTYPE_CODES.items()}


def megatron_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits, else int32 (Megatron has no uint32 code)."""
    return np.dtype("<u2") if vocab_size <= UINT16_VOCAB_LIMIT else np.dtype("<i4")


def idx_path(bin_path: str) -> str:
    return bin_path.removesuffix(".bin") + ".idx"


def write_idx(path: str, lengths: np.ndarray, dtype: np.dtype) -> None:
    """Write the ``.idx`` for documents of ``lengths`` tokens stored back to back in ``dtype``."""
    dtype = np.dtype(dtype)
    lengths = np.asarray(lengths, dtype="<i4")
    pointers = np.zeros(len(lengths), dtype="<i8")
    np.cumsum(lengths[:-1].astype("<i8") * dtype.itemsize, out=pointers[1:])
    with local_staging(path) as tmp, open(tmp, "wb") as f:
        f.write(MAGIC + struct.pack("<Q", VERSION) + struct.pack("<B", DTYPE_CODES[dtype]))
        f.write(struct.pack("<Q", len(lengths)) + struct.pack("<Q", len(lengths) + 1))
        for array in (lengths, pointers, np.arange(len(lengths) + 1, dtype="<i8")):
            f.write(array.tobytes())


@dataclass(frozen=True)
class MegatronIndex:
    dtype: np.dtype
    lengths: np.ndarray  # int32 tokens per sequence
    pointers: np.ndarray  # int64 byte offset of each sequence in .bin
    document_indices: np.ndarray  # int64, 0..n


def read_idx(path: str) -> MegatronIndex:
    """Parse a ``.idx`` file; errors name the file and the offset of what is wrong."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:9] != MAGIC:
        raise ShardError(f"{path}: bytes 0-8 are {data[:9]!r}, not Megatron's {MAGIC!r}")
    version, = struct.unpack_from("<Q", data, 9)
    code, = struct.unpack_from("<B", data, 17)
    if version != VERSION or code not in DTYPE_BY_CODE:
        raise ShardError(f"{path}: version {version} (offset 9) / dtype code {code} (offset 17) unsupported")
    sequences, docs = struct.unpack_from("<QQ", data, 18)
    at = 34
    lengths = np.frombuffer(data, "<i4", sequences, at)
    pointers = np.frombuffer(data, "<i8", sequences, at + 4 * sequences)
    document_indices = np.frombuffer(data, "<i8", docs, at + 12 * sequences)
    return MegatronIndex(DTYPE_BY_CODE[code], lengths, pointers, document_indices)


def write_bin(path: str, tokens: np.ndarray) -> str:
    """The raw tokens (no header), atomically; returns their sha256."""
    return write_hashed(path, [tokens])
