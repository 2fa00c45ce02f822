"""Which windows of tokens a rank reads, in what order: a framework-neutral, resumable sampler.

A window is ``seq_len + 1`` consecutive tokens of one shard (inputs and their next-token targets). Each
epoch cuts every shard into windows at stride ``seq_len`` (so every token is a target exactly once),
starting at a per-shard random phase, and shuffles all windows of all shards with one permutation drawn
from ``(seed, epoch)``. Rank ``r`` of ``world_size`` takes every ``world_size``-th window of that order,
so ranks never share a window; its windows are grouped into batches, and a data-loading worker ``w`` of
``num_workers`` takes every ``num_workers``-th batch of the stream (counted from where it resumed, as a
PyTorch DataLoader collects from its workers in turn), so the batch stream a rank sees is the same for
any worker count. With ``shuffle=False`` the phase is 0 and the order is the shards' order (sequential
packing, used for evaluation). Everything here is plain numpy: the PyTorch dataset and the JAX iterator
are thin layers over it and therefore yield the same batches.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowState:
    """Where a rank's stream stands: the next batch to read is batch ``batch`` of epoch ``epoch``."""

    epoch: int = 0
    batch: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "batch": self.batch}

    @classmethod
    def from_dict(cls, state: dict[str, int]) -> WindowState:
        return cls(epoch=int(state["epoch"]), batch=int(state["batch"]))


@dataclass(frozen=True)
class _EpochLayout:
    """The windows of one epoch: per-shard phase and window counts, and the shuffled global order."""

    phase: np.ndarray  # int64 per shard: offset of the shard's first window
    first_window: np.ndarray  # int64 per shard: global index of its first window (cumulative counts)
    order: np.ndarray | None  # permutation of global window indices; None means identity


class WindowSampler:
    """Deterministic batches of window positions ``(shard, offset)`` for one rank.

    ``shard_tokens`` are the token counts of the split's shards, in manifest order. The sampler holds no
    data, only this arithmetic; :meth:`batches` resumes from a :class:`WindowState` in O(1).
    """

    def __init__(
        self,
        shard_tokens: Sequence[int],
        seq_len: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ) -> None:
        if seq_len < 1 or batch_size < 1:
            raise ValueError(f"seq_len ({seq_len}) and batch_size ({batch_size}) must be at least 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside world size {world_size}")
        self.shard_tokens = np.asarray(shard_tokens, dtype=np.int64)
        self.seq_len = seq_len
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self._layout_epoch: int | None = None
        self._layout: _EpochLayout | None = None

    def __getstate__(self) -> dict[str, object]:
        # The cached permutation can be large (8 bytes a window); a process that receives this rebuilds it.
        return {**self.__dict__, "_layout_epoch": None, "_layout": None}

    def _epoch_layout(self, epoch: int) -> _EpochLayout:
        # One epoch's layout is cached: a stream reads epochs in order, and the permutation is the cost.
        if self._layout_epoch == epoch and self._layout is not None:
            return self._layout
        rng = np.random.default_rng([self.seed, epoch])
        if self.shuffle:
            phase = rng.integers(0, self.seq_len, size=len(self.shard_tokens), dtype=np.int64)
        else:
            phase = np.zeros(len(self.shard_tokens), dtype=np.int64)
        counts = np.maximum(0, (self.shard_tokens - phase - 1) // self.seq_len)
        first_window = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        total = int(first_window[-1])
        order = rng.permutation(total).astype(np.int64) if self.shuffle else None
        self._layout_epoch, self._layout = epoch, _EpochLayout(phase, first_window, order)
        return self._layout

    def batches_per_epoch(self, epoch: int = 0) -> int:
        """Whole batches this rank reads in ``epoch`` (equal on all ranks; the remainder is dropped)."""
        total = int(self._epoch_layout(epoch).first_window[-1])
        return total // self.world_size // self.batch_size

    def batch(self, epoch: int, index: int) -> np.ndarray:
        """Positions of batch ``index`` of ``epoch``: int64 array (batch_size, 2) of (shard, offset)."""
        layout = self._epoch_layout(epoch)
        slots = (index * self.batch_size + np.arange(self.batch_size, dtype=np.int64)) * self.world_size
        windows = layout.order[slots + self.rank] if layout.order is not None else slots + self.rank
        shard = np.searchsorted(layout.first_window, windows, side="right") - 1
        offset = layout.phase[shard] + (windows - layout.first_window[shard]) * self.seq_len
        return np.stack([shard, offset], axis=1)

    def batches(
        self,
        state: WindowState = WindowState(),
        worker: int = 0,
        num_workers: int = 1,
        epochs: int | None = None,
    ) -> Iterator[tuple[WindowState, np.ndarray]]:
        """Batches from ``state`` on, each with the state *after* it; worker ``w`` yields the stream's
        batches ``w, w + num_workers, ...``. Runs through epoch ``epochs - 1`` (forever when None)."""
        epoch, index = state.epoch, state.batch
        streamed = 0
        while epochs is None or epoch < epochs:
            per_epoch = self.batches_per_epoch(epoch)
            if per_epoch == 0:
                raise ValueError(
                    f"{int(self.shard_tokens.sum())} tokens in {len(self.shard_tokens)} shard(s) make no "
                    f"whole batch of {self.batch_size} x {self.seq_len + 1} tokens per rank for "
                    f"{self.world_size} rank(s); lower batch_size or seq_len, or tokenize more data"
                )
            for current in range(index, per_epoch):
                # Split by position in the stream, not batch number: a DataLoader asks worker 0 first after
                # a resume and then each worker in turn, across epoch ends too.
                if streamed % num_workers == worker:
                    yield WindowState(epoch, current + 1), self.batch(epoch, current)
                streamed += 1
            epoch, index = epoch + 1, 0
