"""Key ranges: buckets cover the key space once, shards are named in order, and their expected sizes are
close to shard_tokens at a dump's scale."""

from __future__ import annotations

import numpy as np

from fineweb_pipe.tokens.ranges import KEY_SPACE, fine_partition, fine_partitions_overlapping, plan_buckets


def test_a_range_reads_every_fine_partition_holding_its_keys():
    keys = np.random.default_rng(0).integers(0, 2**64 - 1, size=20_000, dtype=np.uint64, endpoint=True)
    keys[:2] = (0, 2**64 - 1)
    partitions = fine_partition(keys, 7)
    assert partitions.min() == 0 and partitions.max() == 6
    for lo, hi in ((0, KEY_SPACE), (KEY_SPACE // 3, KEY_SPACE // 3 + 1000), (12345, KEY_SPACE // 2)):
        inside = (keys >= np.uint64(lo)) & (keys <= np.uint64(hi - 1))
        assert set(partitions[inside].tolist()) <= set(fine_partitions_overlapping(lo, hi, 7))


def test_buckets_cover_the_key_space_and_name_shards_in_order():
    for val in (0.1, 0.0, "first_shard"):
        buckets = plan_buckets(10_000_000, 10_000_000 * 3_000, 1_000_000, val, 4_000_000)
        assert buckets[0].lo == 0 and buckets[-1].hi == KEY_SPACE
        assert all(a.hi == b.lo for a, b in zip(buckets, buckets[1:]))
        names = [shard for bucket in buckets for shard in bucket.shards]
        for split in ("val", "train"):
            assert [i for s, i in names if s == split] == list(range(sum(s == split for s, _ in names)))
        assert (names[0] == ("val", 0)) == (val != 0.0)


def test_shards_are_expected_near_shard_tokens_at_a_dumps_scale():
    tokens, shard_tokens = 150_000_000_000, 100_000_000  # a dump; documents of ~1,000 tokens, spread 5,000
    buckets = plan_buckets(tokens, tokens * 5_000.0, shard_tokens, 0.01, 64 << 20)
    expected = {b.shards[0]: (b.hi - b.lo) / KEY_SPACE * tokens / len(b.shards) for b in buckets}
    assert 0.9 * shard_tokens < min(expected.values()) and max(expected.values()) < shard_tokens
    assert min(size for (split, _), size in expected.items() if split == "train") > 0.96 * shard_tokens
    assert all(len(b.shards) == 1 for b in buckets)  # a task holds one shard's tokens
