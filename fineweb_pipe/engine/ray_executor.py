"""The Ray executor: the only module that imports Ray.

Streaming phases run on Ray Data: a dataset of shard numbers flows into a pool of actors, each of
which sets the stages up once, reads the shards it is given chunk by chunk (``chunks.iter_chunks``)
and runs ``chunks.process_table`` on each as it is read, yielding only small accounting rows to the
driver. Documents never cross the object store (reading in separate tasks cost ~10 % more CPU on the
FineWeb recipe, measured with benchmarks/compare_datatrove.py). Ray Data's streaming
executor applies backpressure, so memory stays bounded by the blocks in flight, not by the input size.
Global stages' parallel rounds run as Ray tasks.

With no address (and no ``RAY_ADDRESS``) it starts an embedded local Ray with its own temporary
folder and shuts it down afterwards; with an address, or inside ``ray job submit``, it joins that
cluster and leaves it running.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import ray
import ray.data

from fineweb_pipe.engine.base import Executor
from fineweb_pipe.engine.chunks import ChunkResult, PhaseDirs, ShardInput, iter_chunks, process_table
from fineweb_pipe.stage import Resources, Stage

# Retries are for lost workers (preempted nodes); a stage that raises on its input fails the same way
# every time, so application errors are not retried (Ray Data surfaces them with the stage's message).
ACTOR_MAX_RESTARTS = 4
TASK_MAX_RETRIES = 4
# What work in flight on a node that dies fails with. Ray retries some of it; what it gives up on
# (a streaming task on an actor that became unavailable) the runner runs again, shard by shard.
# Errors raised by a stage are not among these: a bug fails the job once, with its message.
LOST_WORKER_ERRORS = (ray.exceptions.ActorUnavailableError, ray.exceptions.ActorDiedError,
                      ray.exceptions.NodeDiedError, ray.exceptions.WorkerCrashedError,
                      ray.exceptions.ObjectLostError, ray.exceptions.OwnerDiedError)


class _ShardWorker:
    """An actor of the stage pool: sets the stages up once, then reads whole shards and runs the
    stages over each chunk as it is read, yielding only the small accounting rows."""

    def __init__(self, shards: Sequence[ShardInput], stages: Sequence[Stage], dirs: PhaseDirs) -> None:
        self._shards = shards
        self._stages = stages
        self._dirs = dirs
        for stage in stages:
            stage.setup()

    def __call__(self, batch: dict[str, Any]) -> Iterator[Any]:
        for index in batch["shard"]:
            for chunk in iter_chunks(self._shards[int(index)]):
                yield process_table(chunk, self._stages, self._dirs)


def _apply(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, temp_dir: str | None = None) -> None:
        address = address or os.environ.get("RAY_ADDRESS")
        self._owns_cluster = not address and not ray.is_initialized()
        if self._owns_cluster:
            temp_dir = temp_dir or os.environ.get("RAY_TMPDIR") or os.path.join(tempfile.gettempdir(), f"fwp-ray-{os.getuid()}")
            ray.init(
                num_cpus=workers or os.cpu_count(),
                _temp_dir=temp_dir,
                include_dashboard=False,  # nothing listens beyond localhost unless asked for
                logging_level=logging.WARNING,
                log_to_driver=True,
                # An embedded Ray runs the pipeline and nothing else: no idle workers started ahead of
                # need (each costs a Python start with Ray imported), no metrics export.
                _system_config={"enable_worker_prestart": False, "prestart_worker_first_driver": False,
                                "enable_metrics_collection": False},
            )
        elif not ray.is_initialized():
            ray.init(address=address, logging_level=logging.WARNING)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = workers or cpus
        self._cluster_cpus = cpus
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the runner shows per-stage progress itself
        context.print_on_execution_start = False
        context.actor_task_retry_on_errors = list(LOST_WORKER_ERRORS)

    def stream(self, shards: Sequence[ShardInput], stages: Sequence[Stage], dirs: PhaseDirs) -> Iterator[ChunkResult]:
        if not shards:
            return
        wanted = max((stage.resources.num_cpus for stage in stages), default=1.0)
        # Leave a little CPU for Ray Data's own tasks: actors that claim every core starve them.
        cpus = min(wanted, 0.95 * self._cluster_cpus / self.workers)
        gpus = max((stage.resources.num_gpus for stage in stages), default=0.0)
        memory = max((stage.resources.memory_mb for stage in stages), default=0) << 20
        pool = ray.data.ActorPoolStrategy(size=min(self.workers, len(shards)))
        # Each actor reads the shards it is given itself: documents never cross the object store,
        # only accounting rows do (reading is light next to the stages).
        shard_list = ray.data.from_items([{"shard": i} for i in range(len(shards))], override_num_blocks=len(shards))
        dataset = shard_list.map_batches(
            _ShardWorker,
            fn_constructor_args=(list(shards), list(stages), dirs),
            batch_format="numpy",
            batch_size=1,
            compute=pool,
            num_cpus=cpus,
            num_gpus=gpus or None,
            memory=memory or None,
            max_restarts=ACTOR_MAX_RESTARTS,
            max_task_retries=TASK_MAX_RETRIES,
        )
        for batch in dataset.iter_batches(batch_format="pyarrow", batch_size=None):
            for row in batch.to_pylist():
                yield ChunkResult.from_row(row)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], resources: Resources) -> list[Any]:
        remote = ray.remote(_apply).options(num_cpus=resources.num_cpus, num_gpus=resources.num_gpus or None,
                                            max_retries=TASK_MAX_RETRIES, retry_exceptions=False)
        fn_ref = ray.put(fn)
        return ray.get([remote.remote(fn_ref, item) for item in items])

    def is_transient(self, error: BaseException) -> bool:
        seen: BaseException | None = error
        while seen is not None:
            if isinstance(seen, LOST_WORKER_ERRORS):
                return True
            seen = seen.__cause__ or seen.__context__
        return False

    def close(self) -> None:
        if self._owns_cluster and ray.is_initialized():
            ray.shutdown()
