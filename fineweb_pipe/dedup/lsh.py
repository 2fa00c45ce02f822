"""LSH banding: signatures to ``(band, band_hash)`` bucket keys, and buckets to candidate edges.

Two documents are candidates when all ``rows_per_band`` min-hashes of some band agree; a band's rows
are folded into one 64-bit hash. A bucket of ``k`` documents yields ``k - 1`` star edges to its
smallest node id instead of ``k (k - 1) / 2`` pairs: the same connected components, linear size.
"""

from __future__ import annotations

import numpy as np

from fineweb_pipe.dedup.signatures import EMPTY, U64, fmix64

_ROW_BASE = U64(0xD6E8FEB86659FD93)


def band_hashes(signatures: np.ndarray, num_bands: int, rows_per_band: int) -> np.ndarray:
    """``(n, num_bands)`` uint64: each band's rows folded into one hash."""
    bands = signatures.reshape(len(signatures), num_bands, rows_per_band)
    h = np.zeros((len(signatures), num_bands), dtype=U64)
    for row in range(rows_per_band):
        h = fmix64(h * _ROW_BASE + bands[:, :, row])
    return h


def has_shingles(signatures: np.ndarray) -> np.ndarray:
    """Rows that came from a document with at least one shingle (empty ones never join a bucket)."""
    return ~(signatures == U64(EMPTY)).all(axis=1)


def bucket_rows(signatures: np.ndarray, nodes: np.ndarray, num_bands: int, rows_per_band: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(band, band_hash, node)`` columns for the documents with shingles, one row per band."""
    keep = has_shingles(signatures)
    hashes = band_hashes(signatures[keep], num_bands, rows_per_band)
    band = np.broadcast_to(np.arange(num_bands, dtype=np.uint8), hashes.shape)
    node = np.broadcast_to(nodes[keep][:, None], hashes.shape)
    return band.ravel(), hashes.ravel(), node.ravel()


def star_edges(band: np.ndarray, band_hash: np.ndarray, node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges ``(member, center)`` from every bucket member to the bucket's smallest node, deduplicated
    (a pair that shares several bands is one edge)."""
    if len(node) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    order = np.lexsort((node, band_hash, band))
    band, band_hash, node = band[order], band_hash[order], node[order]
    first = np.ones(len(node), dtype=bool)
    first[1:] = (band[1:] != band[:-1]) | (band_hash[1:] != band_hash[:-1])
    center = node[np.maximum.accumulate(np.where(first, np.arange(len(node)), 0))]
    member = ~first & (node != center)
    pairs = np.unique(np.stack([node[member], center[member]], axis=1), axis=0)
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
