"""The in-process executor: the same stages and chunk code as on Ray, one chunk after another.

For tests, debugging (a breakpoint in a stage just works) and one-core runs on small machines (no
Ray daemons); its output is identical to Ray's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fineweb_pipe.engine.base import Executor
from fineweb_pipe.engine.chunks import PhaseDirs, ShardEvent, ShardInput, process_shard
from fineweb_pipe.engine.context import sequential_map
from fineweb_pipe.stage import Resources, Stage


class LocalExecutor(Executor):
    name = "local"
    workers = 1

    def stream(self, shards: Sequence[ShardInput], stages: Sequence[Stage], dirs: PhaseDirs) -> Iterator[ShardEvent]:
        if not shards:
            return  # nothing left to do: no model loading either
        for stage in stages:
            stage.ensure_setup()
        for shard in shards:
            yield from process_shard(shard, stages, dirs)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], resources: Resources) -> list[Any]:
        return sequential_map(fn, items, resources)
