from __future__ import annotations

import itertools

import numpy as np
import pytest

from fineweb_pipe.training.windows import WindowSampler, WindowState

SHARDS = [1000, 37, 2500, 0, 801]
SEQ = 16


def epoch_windows(sampler: WindowSampler, epoch: int) -> list[tuple[int, int]]:
    return [
        (int(s), int(o))
        for _, batch in sampler.batches(WindowState(epoch, 0), epochs=epoch + 1)
        for s, o in batch
    ]


def test_same_seed_same_order_other_seed_or_epoch_differs() -> None:
    a, b = WindowSampler(SHARDS, SEQ, 4, seed=3), WindowSampler(SHARDS, SEQ, 4, seed=3)
    assert epoch_windows(a, 0) == epoch_windows(b, 0)
    assert epoch_windows(a, 0) != epoch_windows(WindowSampler(SHARDS, SEQ, 4, seed=4), 0)
    assert epoch_windows(a, 0) != epoch_windows(a, 1)


def test_windows_fit_their_shard_and_are_distinct() -> None:
    sampler = WindowSampler(SHARDS, SEQ, 4, seed=1)
    windows = epoch_windows(sampler, 0)
    assert len(windows) == len(set(windows)) == sampler.batches_per_epoch() * 4
    for shard, offset in windows:
        assert 0 <= offset and offset + SEQ + 1 <= SHARDS[shard]
    # Stride seq_len from a per-shard phase: every window of a shard shares its offset modulo seq_len.
    for shard in {s for s, _ in windows}:
        assert len({o % SEQ for s, o in windows if s == shard}) == 1


@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_ranks_never_share_a_window_and_read_equal_counts(world_size: int) -> None:
    for epoch in range(2):
        per_rank = [
            epoch_windows(WindowSampler(SHARDS, SEQ, 3, seed=5, rank=r, world_size=world_size), epoch)
            for r in range(world_size)
        ]
        assert len({len(w) for w in per_rank}) == 1
        everything = [w for rank in per_rank for w in rank]
        assert len(everything) == len(set(everything))
        total = WindowSampler(SHARDS, SEQ, 1, seed=5)._epoch_layout(epoch).first_window[-1]
        assert len(everything) > total - world_size * 3  # only the remainder short of a batch is dropped


def round_robin(streams: list) -> list:
    """What a DataLoader does with its workers' outputs: one from each in turn until all are done."""
    merged = []
    for group in itertools.zip_longest(*streams):
        merged += [item for item in group if item is not None]
    return merged


@pytest.mark.parametrize("num_workers", [2, 3])
@pytest.mark.parametrize("start", [WindowState(0, 0), WindowState(0, 7), WindowState(1, 3)])
def test_workers_split_the_stream_and_merge_back_in_order(num_workers: int, start: WindowState) -> None:
    sampler = WindowSampler(SHARDS, SEQ, 5, seed=2)
    assert sampler.batches_per_epoch() % num_workers != 0  # epoch ends fall mid-round, the hard case
    single = [(s, b.tolist()) for s, b in sampler.batches(start, epochs=3)]
    streams = [[(s, b.tolist()) for s, b in sampler.batches(start, w, num_workers, epochs=3)]
               for w in range(num_workers)]
    assert round_robin(streams) == single


def test_resume_from_any_state_continues_the_stream() -> None:
    sampler = WindowSampler(SHARDS, SEQ, 4, seed=9)
    full = list(itertools.islice(sampler.batches(), 80))
    for cut in (1, 13, sampler.batches_per_epoch(), 61):
        resumed = itertools.islice(WindowSampler(SHARDS, SEQ, 4, seed=9).batches(full[cut - 1][0]), 80 - cut)
        assert all(a[0] == b[0] and np.array_equal(a[1], b[1]) for a, b in zip(resumed, full[cut:], strict=True))
    assert full[sampler.batches_per_epoch() - 1][0] == WindowState(0, sampler.batches_per_epoch())


def test_sequential_packing_reads_shards_in_order() -> None:
    sampler = WindowSampler([40, 50], 8, 2, shuffle=False)
    # 40 tokens hold 4 windows of 9 at stride 8 (the last ends at 33); 50 tokens hold 6 (the last ends at 49).
    assert epoch_windows(sampler, 0) == [(0, o) for o in range(0, 32, 8)] + [(1, o) for o in range(0, 48, 8)]
    assert epoch_windows(sampler, 3) == epoch_windows(sampler, 0)


def test_too_little_data_names_the_fix() -> None:
    with pytest.raises(ValueError, match="lower batch_size or seq_len"):
        next(WindowSampler([100], 64, 4).batches())
