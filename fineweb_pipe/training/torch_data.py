"""PyTorch dataset over a token shard folder: a thin layer over :class:`BatchSource`.

The dataset yields whole batches (use ``DataLoader(dataset, batch_size=None)``, or :meth:`loader`), so
the batch stream is the same for any number of workers and identical to the JAX iterator's for the
same config. Resuming: :meth:`state_dict` is the position after the last batch the caller received.
Iterated in-process that is tracked directly; with DataLoader workers each batch carries its position
under ``"state"`` and :meth:`loader` records it as batches reach the caller (prefetched batches that
were never handed out do not count).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from fineweb_pipe.training.batches import BatchConfig, BatchSource
from fineweb_pipe.training.windows import WindowState

STATE_KEY = "state"
TorchBatch = dict[str, torch.Tensor]


class TokenDataset(IterableDataset):
    """Batches of ``inputs``/``targets`` (int64, (batch, seq_len)) and optionally ``document_starts``."""

    def __init__(self, config: BatchConfig, epochs: int | None = None) -> None:
        self.source = BatchSource(config, dtype=np.int64)
        self.epochs = epochs
        self._state = WindowState()

    def __iter__(self) -> Iterator[TorchBatch]:
        worker = get_worker_info()
        worker_id, num_workers = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        for after, arrays in self.source.batches(self._state, worker_id, num_workers, self.epochs):
            batch = {name: torch.from_numpy(array) for name, array in arrays.items()}
            batch[STATE_KEY] = torch.tensor([after.epoch, after.batch], dtype=torch.int64)
            if worker is None:
                self._state = after
            yield batch

    def loader(self, num_workers: int = 0, pin_memory: bool = False,
               multiprocessing_context: str | None = None) -> Iterator[TorchBatch]:
        """Iterate through a DataLoader with ``num_workers`` workers, keeping :meth:`state_dict` exact.
        ``multiprocessing_context="forkserver"`` avoids forking a process that runs threads (e.g. JAX)."""
        context = multiprocessing_context if num_workers else None
        data = DataLoader(self, batch_size=None, num_workers=num_workers, pin_memory=pin_memory,
                          multiprocessing_context=context)
        for batch in data:
            epoch, index = (int(v) for v in batch.pop(STATE_KEY))
            self._state = WindowState(epoch, index)
            yield batch

    def state_dict(self) -> dict[str, int]:
        return self._state.to_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._state = WindowState.from_dict(state)
