"""What an executor must do: run shards of a streaming phase through stages, and map a function in parallel."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fineweb_pipe.engine.shard import ShardEvent, ShardTask
from fineweb_pipe.stage import Resources, Stage

#: Called after each finished item of a ``map`` with (items done, items in all).
OnDone = Callable[[int, int], None]


class Executor(ABC):
    """Runs the work of a pipeline's phases; the runner does the bookkeeping around it."""

    name: str
    workers: int

    @abstractmethod
    def stream(self, tasks: Sequence[ShardTask], stages: Sequence[Stage]) -> Iterator[ShardEvent]:
        """Run ``stages`` over every shard (``shard.process_shard``), yield what it reports."""

    @abstractmethod
    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], resources: Resources,
            on_done: OnDone | None = None) -> list[Any]:
        """``[fn(item) for item in items]``, in parallel where the executor can; the first item that
        raises stops the others and its error is raised."""

    def is_transient(self, error: BaseException) -> bool:
        """Whether ``error`` came from the infrastructure (a lost node) rather than from the work,
        so that running the unfinished shards again can succeed."""
        return False

    def close(self) -> None:
        """Release what the executor started."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_executor(engine: str, workers: int | None = None, address: str | None = None) -> Executor:
    """``local`` (in-process, one worker) or ``ray`` (embedded, or the cluster at ``address``)."""
    if engine == "local":
        from fineweb_pipe.engine.local import LocalExecutor

        return LocalExecutor()
    if engine == "ray":
        from fineweb_pipe.engine.ray_executor import RayExecutor  # imports Ray: only when it is used

        return RayExecutor(address=address, workers=workers)
    raise ValueError(f"unknown engine {engine!r}: use 'ray' or 'local'")
