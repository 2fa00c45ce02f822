"""The in-process executor: the same stages and shard code as on Ray, one shard after another.

For tests, debugging (a breakpoint in a stage just works) and one-core runs on small machines (no
Ray daemons); its output is identical to Ray's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fineweb_pipe.engine.base import Executor, OnDone
from fineweb_pipe.engine.context import run_task
from fineweb_pipe.engine.shard import ShardEvent, ShardTask, process_shard
from fineweb_pipe.stage import Resources, Stage


class LocalExecutor(Executor):
    name = "local"
    workers = 1

    def stream(self, tasks: Sequence[ShardTask], stages: Sequence[Stage]) -> Iterator[ShardEvent]:
        if not tasks:
            return  # nothing left to do: no model loading either
        for stage in stages:
            stage.ensure_setup()
        for task in tasks:
            yield from process_shard(task, stages)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], resources: Resources,
            on_done: OnDone | None = None) -> list[Any]:
        results = []
        for item in items:
            results.append(run_task(fn, item))
            if on_done is not None:
                on_done(len(results), len(items))
        return results
