"""PyTorch dataset over a token shard folder: a thin layer over :class:`BatchSource`.

The dataset yields whole batches (use ``DataLoader(dataset, batch_size=None)``, or :meth:`loader`), so
the batch stream is the same for any number of workers and identical to the JAX iterator's for the
same config. Resuming: :meth:`state_dict` is the position after the last batch the caller received.
Iterated in-process that is tracked directly; with DataLoader workers each batch carries its position
under ``"state"`` and :meth:`loader` records it as batches reach the caller (prefetched batches that
were never handed out do not count).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from fineweb_pipe.training.batches import BatchConfig, BatchSource
from fineweb_pipe.training.windows import WindowState

STATE_KEY = "state"
TorchBatch = dict[str, Any]  # tensors, and the position tuple under STATE_KEY until loader() takes it


class TokenDataset(IterableDataset):
    """Batches of ``inputs``/``targets`` (int64, (batch, seq_len)) and optionally ``document_starts``."""

    def __init__(self, config: BatchConfig, epochs: int | None = None) -> None:
        self.source = BatchSource(config, dtype=np.int64)
        self.epochs = epochs
        self._state = WindowState()

    def __iter__(self) -> Iterator[TorchBatch]:
        worker = get_worker_info()
        worker_id, num_workers = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        for after, positions in self.source.position_batches(self._state, worker_id, num_workers, self.epochs):
            # inputs and targets view one tensor, so a worker ships one shared-memory block per batch.
            windows = torch.from_numpy(self.source.read_windows(positions))
            batch: TorchBatch = {"inputs": windows[:, :-1], "targets": windows[:, 1:]}
            if self.source.config.document_starts:
                batch["document_starts"] = torch.from_numpy(self.source.document_starts(positions))
            batch[STATE_KEY] = (after.epoch, after.batch)  # plain ints: no tensor to share
            if worker is None:
                self._state = after
            yield batch

    def loader(self, num_workers: int = 0, pin_memory: bool = False,
               multiprocessing_context: str | None = None) -> Generator[TorchBatch, None, None]:
        """Iterate through a DataLoader with ``num_workers`` workers, keeping :meth:`state_dict` exact.
        ``multiprocessing_context="forkserver"`` avoids forking a process that runs threads (e.g. JAX)."""
        context = multiprocessing_context if num_workers else None
        data = DataLoader(self, batch_size=None, num_workers=num_workers, pin_memory=pin_memory,
                          multiprocessing_context=context)
        for batch in data:
            epoch, index = batch.pop(STATE_KEY)
            self._state = WindowState(epoch, index)
            yield batch

    def state_dict(self) -> dict[str, int]:
        return self._state.to_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._state = WindowState.from_dict(state)
