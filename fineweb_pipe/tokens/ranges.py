"""Shuffle keys and the key ranges that make the shards: how Tokenize shuffles without sorting on one node.

Every document gets a 64-bit key, a hash of its id seeded with the shuffle seed, so keys are spread
uniformly. The shard set is the documents in key order: the key space is cut into consecutive ranges
(buckets), and each bucket into a fixed number of shards, so that one task gathers, orders and writes a
bucket's shards, and which bucket a document belongs to needs no look at any other document.

Encode tasks write their documents in ``partitions`` equal key ranges (fine partitions, sized before any
document is encoded); once the token totals are known, each bucket is read from the fine partitions it
overlaps and cut out exactly by key.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xxhash

from fineweb_pipe.tokens.shards import Split

KEY_SPACE = 2**64
# Shards per bucket are chosen so that they pass shard_tokens only when the bucket holds this many standard
# deviations more tokens than expected (about 3 buckets in 100,000).
SIZE_MARGIN_SIGMAS = 4.0
# Fine partitions per expected shard: a shard's range then reads at most ~2/this more than it keeps.
FINE_PARTITIONS_PER_SHARD = 4
# Bytes of text per token assumed when sizing fine partitions before encoding: fewer than real BPE
# vocabularies give on web text (3.5-4.5), so the guess errs toward more partitions.
BYTES_PER_TOKEN_GUESS = 3.0


def document_keys(ids: Sequence[str | None], seed: int, shard: str, first_row: int) -> np.ndarray:
    """The shuffle key of each document: xxh3-64 of its id (of shard and row when it has none)."""
    return np.fromiter(
        (xxhash.xxh3_64_intdigest((i if i is not None else f"{shard}:{first_row + n}").encode(), seed=seed)
         for n, i in enumerate(ids)), dtype="<u8", count=len(ids))


def _interior_edges(partitions: int) -> np.ndarray:
    # Partition j holds keys in [ceil(j * 2^64 / partitions), the next edge).
    return np.array([-(-j * KEY_SPACE // partitions) for j in range(1, partitions)], dtype="<u8")


def fine_partition(keys: np.ndarray, partitions: int) -> np.ndarray:
    """The fine partition of each key: ``partitions`` equal ranges of the key space."""
    return np.searchsorted(_interior_edges(partitions), keys, side="right")


def fine_partitions_overlapping(lo: int, hi: int, partitions: int) -> range:
    """The fine partitions holding some key of ``[lo, hi)``."""
    if hi <= lo:
        return range(0)
    edges = _interior_edges(partitions)
    first = int(np.searchsorted(edges, np.uint64(lo), side="right"))
    last = int(np.searchsorted(edges, np.uint64(hi - 1), side="right"))
    return range(first, last + 1)


def fine_partition_count(text_bytes: int, shard_tokens: int) -> int:
    """Fine partitions for a corpus of ``text_bytes`` of text, chosen before encoding."""
    expected_shards = math.ceil(text_bytes / BYTES_PER_TOKEN_GUESS / shard_tokens)
    return max(1, FINE_PARTITIONS_PER_SHARD * expected_shards)


def _within(expected: float, share: float, spread: float) -> float:
    """How far above ``expected`` a key range of ``share`` of the key space holds tokens, 4 sigma out, as a
    fraction: its documents are a random set, so its token count varies by ``(1 - share) * sum(L^2)``
    (L: a document's length) around ``share * sum(L)``; ``spread`` is ``sum(L^2) / sum(L)``."""
    return SIZE_MARGIN_SIGMAS * math.sqrt((1 - share) * spread / expected) if expected > 0 else 0.0


def _largest_range_tokens(limit: float, spread: float) -> float:
    """The largest expectation ``t`` with ``t * (1 + 4 sigma) <= limit`` (solved for sqrt(t))."""
    root = (-SIZE_MARGIN_SIGMAS * math.sqrt(spread) + math.sqrt(SIZE_MARGIN_SIGMAS**2 * spread + 4 * limit)) / 2
    return max(root * root, 1.0)


@dataclass(frozen=True)
class Bucket:
    """The documents with keys in ``[lo, hi)``, in key order, cut into the shards ``shards`` (split and
    index of each, in order) of about equal token counts."""

    lo: int
    hi: int
    shards: tuple[tuple[Split, int], ...]


def _buckets_needed(expected: float, share: float, spread: float, limit: float) -> int:
    """The fewest equal buckets splitting a key range of ``share`` of the key space (``expected`` tokens)
    such that each holds more than ``limit`` tokens only 4 sigma out."""
    def fits(buckets: int) -> bool:
        each = expected / buckets
        return each * (1 + _within(each, share / buckets, spread)) <= limit

    buckets = max(1, math.ceil(expected / _largest_range_tokens(limit, spread)))  # enough: it ignores the share
    while buckets > 1 and fits(buckets - 1):  # a bucket that is much of the key space varies less
        buckets -= 1
    return buckets


def plan_buckets(tokens: int, squared_lengths: float, shard_tokens: int, val: float | str,
                 bucket_tokens: int) -> list[Bucket]:
    """Cut the key space into buckets (one assemble task each, expected to hold at most about
    ``max(bucket_tokens, shard_tokens)`` tokens) and each bucket into shards, from the encode tasks'
    totals: ``tokens`` and the sum of the documents' squared lengths.

    A bucket's shards are cut by token count once it is read, so their sizes vary only with the bucket's
    total, which is known in advance up to the randomness of which documents hash into it: buckets and
    shards per bucket are chosen, fewest shards first (then fewest per bucket), so that shards pass
    ``shard_tokens`` only when their bucket holds 4 standard deviations more than expected. ``val``: the
    key-space fraction of the validation split (the documents of smallest key), or ``"first_shard"``
    (the first shard of the set)."""
    spread = squared_lengths / tokens if tokens else 0.0
    threshold = 0 if val == "first_shard" else int(float(val) * KEY_SPACE)
    buckets = []
    splits: tuple[tuple[Split, int, int], ...] = (("val", 0, threshold), ("train", threshold, KEY_SPACE))
    for split, lo, hi in splits:
        if hi <= lo:
            continue
        share = (hi - lo) / KEY_SPACE
        expected = tokens * share
        most_per_bucket = min(max(1, bucket_tokens // shard_tokens), 2 + math.ceil(2 * expected / shard_tokens))
        count, per_bucket = min(
            ((_buckets_needed(expected, share, spread, g * shard_tokens), g) for g in range(1, most_per_bucket + 1)),
            key=lambda plan: (plan[0] * plan[1], plan[1]))
        names = [(split, i) for i in range(count * per_bucket)]
        if val == "first_shard":
            first: list[tuple[Split, int]] = [("val", 0)]
            names = first + [("train", i) for i in range(len(names) - 1)]
        edges = [lo + (hi - lo) * i // count for i in range(count + 1)]
        buckets += [Bucket(edges[b], edges[b + 1], tuple(names[b * per_bucket:(b + 1) * per_bucket]))
                    for b in range(count)]
    return buckets
