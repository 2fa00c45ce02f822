"""JAX-ready batches over a token shard folder: the same batches as the PyTorch dataset, as numpy.

A thin layer over :class:`BatchSource` yielding int32 arrays (JAX's default integer width), to be put on
devices with :func:`to_device`. For the same :class:`BatchConfig` the values equal those of
``TokenDataset``'s batches, and ``state_dict()`` has the same form, so a run can resume in either.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from fineweb_pipe.training.batches import Batch, BatchConfig, BatchSource
from fineweb_pipe.training.windows import WindowState


class JaxBatches:
    """Iterator of batches (dicts of numpy arrays) with a resumable position."""

    def __init__(self, config: BatchConfig, epochs: int | None = None) -> None:
        self.source = BatchSource(config, dtype=np.int32)
        self.epochs = epochs
        self._state = WindowState()
        self._stream: Iterator[tuple[WindowState, Batch]] | None = None

    def __iter__(self) -> JaxBatches:
        return self

    def __next__(self) -> Batch:
        if self._stream is None:
            self._stream = self.source.batches(self._state, epochs=self.epochs)
        self._state, batch = next(self._stream)
        return batch

    def state_dict(self) -> dict[str, int]:
        return self._state.to_dict()

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._state = WindowState.from_dict(state)
        self._stream = None


def to_device(batch: Batch, sharding: Any = None) -> dict[str, Any]:
    """Put a batch on JAX devices, split by ``sharding`` (e.g. a ``NamedSharding`` over the batch axis)."""
    import jax  # lazy: the iterator itself needs only numpy

    return jax.device_put(batch, sharding)
