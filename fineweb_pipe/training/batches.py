"""Batches of token windows read from a shard folder: the numpy core under the PyTorch and JAX loaders.

:class:`BatchSource` joins a :class:`~fineweb_pipe.training.windows.WindowSampler` (which windows) to the
split's memory-mapped shards (their tokens), through ``fineweb_pipe.tokens`` (the manifest says the
format). A batch is a dict of numpy arrays:

- ``inputs``  (batch, seq_len): tokens ``[offset, offset + seq_len)`` of each window;
- ``targets`` (batch, seq_len): the same shifted by one, the next-token labels;
- ``document_starts`` (batch, seq_len) bool, when asked for: True where an input token is the first of a
  document (from the shard's ``.idx.npy``), so ``cumsum`` gives per-document segment ids for masking.

Shards are opened lazily in the process that reads them and never pickled: a DataLoader worker maps
the files itself instead of receiving a copy of their contents.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from fineweb_pipe.tokens import Manifest, ShardError, ShardInfo, out_of_vocabulary, read_index
from fineweb_pipe.tokens.shards import Split
from fineweb_pipe.training.windows import WindowSampler, WindowState

Batch = dict[str, np.ndarray]


@dataclass(frozen=True)
class BatchConfig:
    """What a loader reads: the split of a shard folder, the window and batch shape, the order, the rank."""

    folder: str
    split: Split = "train"
    seq_len: int = 256
    batch_size: int = 8
    seed: int = 0
    rank: int = 0
    world_size: int = 1
    shuffle: bool = True
    document_starts: bool = False


def missing_split(folder: str, manifest: Manifest, split: Split) -> str:
    """Why ``split`` cannot be read from a shard set that has no shards of it, and what to do."""
    where = f"{os.path.join(folder, 'manifest.json')} lists no '{split}' shards"
    if split == "val":
        return (f"{where}, so there is nothing to evaluate on: train without evaluation (--no-eval), or tokenize "
                "with a validation split (--val 0.01)")
    other = manifest.totals.get("val", {}).get("documents", 0)
    return (f"{where}, so there is nothing to train on (its {other:,} documents are all in 'val'): tokenize more "
            "documents or a smaller --val fraction (with --val first_shard, a smaller --shard-tokens so that "
            "more than one shard is written)")


class BatchSource:
    """Deterministic batches of one rank, resumable from a :class:`WindowState`."""

    def __init__(self, config: BatchConfig, dtype: np.dtype | type = np.int64) -> None:
        self.config = config
        self.dtype = np.dtype(dtype)
        self.manifest = Manifest.load(config.folder)
        self.shards: list[ShardInfo] = self.manifest.split(config.split)
        if not self.shards:
            raise ShardError(missing_split(config.folder, self.manifest, config.split))
        self.sampler = WindowSampler(
            [shard.tokens for shard in self.shards], config.seq_len, config.batch_size, config.seed,
            config.rank, config.world_size, config.shuffle,
        )
        self._tokens: list[np.ndarray] | None = None
        self._starts: list[np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Memory maps pickle as full copies of the data: drop them, the receiving process maps its own.
        return {**self.__dict__, "_tokens": None, "_starts": None}

    @property
    def vocab_size(self) -> int:
        return self.manifest.vocab_size

    def batches_per_epoch(self, epoch: int = 0) -> int:
        return self.sampler.batches_per_epoch(epoch)

    def _open(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        if self._tokens is None or self._starts is None:
            self._tokens = [self.manifest.open_tokens(self.config.folder, s) for s in self.shards]
            self._starts = [read_index(os.path.join(self.config.folder, s.index)) for s in self.shards]
        return self._tokens, self._starts

    def read_windows(self, positions: np.ndarray) -> np.ndarray:
        """The windows at ``positions`` ((batch, 2) of shard, offset): (batch, seq_len + 1) tokens.

        Raises :class:`ShardError` for a token id outside the manifest's vocabulary, which no model built
        for it can embed (torch would fail with an IndexError, JAX would train on NaN)."""
        tokens, _ = self._open()
        span = self.config.seq_len + 1
        windows = np.empty((len(positions), span), dtype=self.dtype)
        for row, (shard, offset) in enumerate(positions):
            windows[row] = tokens[shard][offset : offset + span]
        if windows.size and (windows.min() < 0 or windows.max() >= self.vocab_size):
            row = int(np.flatnonzero(((windows < 0) | (windows >= self.vocab_size)).any(axis=1))[0])
            shard, offset = (int(v) for v in positions[row])
            found = out_of_vocabulary(tokens[shard][offset : offset + span], self.vocab_size)
            assert found is not None
            found = replace(found, first=offset + found.first)  # counted from the shard's start
            raise ShardError(found.describe(os.path.join(self.config.folder, self.shards[shard].file), self.vocab_size))
        return windows

    def read(self, positions: np.ndarray) -> Batch:
        """The batch at ``positions``; ``inputs`` and ``targets`` are views of one windows array."""
        windows = self.read_windows(positions)
        batch = {"inputs": windows[:, :-1], "targets": windows[:, 1:]}
        if self.config.document_starts:
            batch["document_starts"] = self.document_starts(positions)
        return batch

    def document_starts(self, positions: np.ndarray) -> np.ndarray:
        """(batch, seq_len) bool: True where an input token is the first of a document."""
        _, starts = self._open()
        mask = np.zeros((len(positions), self.config.seq_len), dtype=bool)
        for row, (shard, offset) in enumerate(positions):
            index = starts[shard]
            lo, hi = np.searchsorted(index, [offset, offset + self.config.seq_len])
            mask[row, np.asarray(index[lo:hi]) - offset] = True
        return mask

    def position_batches(
        self, state: WindowState = WindowState(), worker: int = 0, num_workers: int = 1, epochs: int | None = None
    ) -> Iterator[tuple[WindowState, np.ndarray]]:
        """Window positions from ``state`` on, each with the state after it (``WindowSampler.batches``)."""
        return self.sampler.batches(state, worker, num_workers, epochs)

    def batches(
        self, state: WindowState = WindowState(), worker: int = 0, num_workers: int = 1, epochs: int | None = None
    ) -> Iterator[tuple[WindowState, Batch]]:
        """Batches from ``state`` on, each with the state after it (see ``WindowSampler.batches``)."""
        for after, positions in self.position_batches(state, worker, num_workers, epochs):
            yield after, self.read(positions)
