"""The Ray executor: the only module that imports Ray.

Streaming phases run on a pool of Ray actors, one per worker, each asking Ray for what the phase's
stages declare (CPUs, GPUs, memory; a request no node can meet is an error, never shrunk): each sets
the stages up once, then is handed whole shards, largest first, one at a time as it frees up. It does a
shard whole (``shard.process_shard``): reads it, runs the stages, writes the shard's files to the output
location itself and streams only small progress and completion records back to the driver, so
documents never pass through the driver or the object store. Global stages' parallel rounds run as Ray
tasks, with progress as they finish; the first task that fails cancels the rest of its round.

This is Ray core rather than Ray Data: the phase is a work queue of shards, to which Ray Data adds its
own actors (stats, autoscaling coordinator, actor location tracker) and a driver-side scheduling loop
(their cost on the FineWeb recipe: ``benchmarks/README.md``).

With no address (and no ``RAY_ADDRESS``) it starts an embedded local Ray with its own temporary
folder and shuts it down afterwards; with an address, or inside ``ray job submit``, it joins that
cluster and leaves it running.
"""

from __future__ import annotations

import gc
import logging
import os
import tempfile
from collections import deque
from contextlib import contextmanager
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import ray

from fineweb_pipe.engine.base import Executor, OnDone
from fineweb_pipe.engine.shard import ShardDone, ShardEvent, ShardFailed, ShardTask, process_shard
from fineweb_pipe.engine.context import run_task
from fineweb_pipe.errors import ConfigurationError, PipelineError
from fineweb_pipe.stage import Resources, Stage

# Retries are for lost workers (preempted nodes); a stage that raises on its input fails the same way
# every time, so application errors are not retried.
ACTOR_MAX_RESTARTS = 4
TASK_MAX_RETRIES = 4
# What work in flight on a node that dies fails with. Ray retries some of it; what it gives up on
# the runner runs again, shard by shard. Errors raised by a stage are not among these: a bug fails
# the job once, with its message.
LOST_WORKER_ERRORS = (ray.exceptions.ActorUnavailableError, ray.exceptions.ActorDiedError,
                      ray.exceptions.NodeDiedError, ray.exceptions.WorkerCrashedError,
                      ray.exceptions.ObjectLostError, ray.exceptions.OwnerDiedError)


_AUTH_SETUP_LOGGER = "ray._private.authentication.authentication_token_setup"


class _ShardWorker:
    """An actor of the stage pool: sets the stages up once, then runs whole shards."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        self._stages = stages
        for stage in stages:
            stage.ensure_setup()
        # What setup loaded (models, lists, modules) lives as long as this actor: out of the garbage
        # collector's view, full collections need not walk it again and again (~50 ms each once
        # presidio has imported spaCy). Not done in-process, where the process is the user's.
        gc.freeze()

    def run(self, task: ShardTask) -> Iterator[ShardEvent]:
        """The shard's progress and completion records (``shard.process_shard``), as they happen."""
        yield from process_shard(task, self._stages)


@contextmanager
def _errors_as_raised() -> Iterator[None]:
    """Our own errors (a configuration error, an integrity check) as the worker raised them, not
    wrapped in Ray's task error: the command line reports them in one line."""
    try:
        yield
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, PipelineError):
            raise exc.cause from None
        raise


def _largest_first(tasks: Sequence[ShardTask]) -> list[int]:
    """Shard indices by input size, largest first, so that a big shard does not start last and
    leave the other workers idle at the end."""
    sizes = [task.size for task in tasks]
    return sorted(range(len(sizes)), key=lambda i: -sizes[i])


def _phase_resources(stages: Sequence[Stage]) -> Resources:
    """What one actor running ``stages`` one after another needs: the most CPUs and GPUs any of them
    asks for, and the memory of all of them (each keeps its state loaded)."""
    return Resources(num_cpus=max((s.resources.num_cpus for s in stages), default=1.0),
                     memory_mb=sum(s.resources.memory_mb for s in stages),
                     num_gpus=max((s.resources.num_gpus for s in stages), default=0.0))


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, temp_dir: str | None = None) -> None:
        # Ray starts on first use, so that a run that stops on a user error never waits for it.
        self._address = address or os.environ.get("RAY_ADDRESS")
        if self._address and self._address.startswith("ray://"):
            raise ConfigurationError(
                f"--address {self._address}: Ray Client (ray://) cannot stream results from actors, which the "
                "engine needs; submit the pipeline as a job (ray job submit --address http://HEAD:8265 ...) or run "
                "it on a node of the cluster with --address HEAD:6379")
        self._requested_workers = workers
        self._temp_dir = temp_dir
        self._owns_cluster = False
        self._cluster_cpus = 0

    @property
    def workers(self) -> int:  # type: ignore[override]
        return self._requested_workers or self._cluster_cpus or (os.cpu_count() or 1)

    def _start(self) -> None:
        if self._cluster_cpus:
            return
        self._owns_cluster = not self._address and not ray.is_initialized()
        if self._owns_cluster:
            # Ray turns token authentication on for a new local cluster and warns about it on every
            # run; the cluster stays private (auth on), only that warning is not shown.
            logging.getLogger(_AUTH_SETUP_LOGGER).setLevel(logging.ERROR)
            temp_dir = self._temp_dir or os.environ.get("RAY_TMPDIR") or os.path.join(tempfile.gettempdir(), f"fwp-ray-{os.getuid()}")
            ray.init(
                num_cpus=self._requested_workers or os.cpu_count(),
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
            try:
                ray.init(address=self._address, logging_level=logging.WARNING)
            except (ConnectionError, ray.exceptions.AuthenticationError) as exc:
                raise ConfigurationError(
                    f"cannot join the Ray cluster at {self._address}: {str(exc).splitlines()[0]} (a client of a "
                    "`ray start` cluster needs RAY_AUTH_MODE=token and the cluster's token in ~/.ray/auth_token)"
                ) from exc
        self._cluster_cpus = int(ray.cluster_resources().get("CPU", 1))

    def stream(self, tasks: Sequence[ShardTask], stages: Sequence[Stage]) -> Iterator[ShardEvent]:
        if not tasks:
            return
        self._start()
        resources = _phase_resources(stages)
        self._check_feasible(resources, ", ".join(s.name for s in stages))
        worker = ray.remote(_ShardWorker).options(
            num_cpus=resources.num_cpus, num_gpus=resources.num_gpus or None,
            memory=(resources.memory_mb << 20) or None,
            max_restarts=ACTOR_MAX_RESTARTS, max_task_retries=TASK_MAX_RETRIES)
        # Arguments by value, not object refs: a restarted actor needs its constructor's arguments again,
        # and stages pickle small (plain parameters; state is built in setup()).
        # Any: Ray's stubs type an actor class's remote() as the class or a handle.
        actors: list[Any] = [worker.remote(list(stages)) for _ in range(min(self.workers, len(tasks)))]
        todo = deque(_largest_first(tasks))
        # Shards go to actors once they are up (an actor the cluster cannot place yet holds none back),
        # and to each as it finishes its previous one.
        starting = {actor.__ray_ready__.remote(): actor for actor in actors}
        running: dict[Any, Any] = {}  # a shard's stream of accounting records -> its actor
        try:
            while running or (starting and todo):
                waiting = [*starting, *running]
                # Everything ready now, in one scan (a wait costs time in the number of refs: 2.4 ms over
                # 6,400 at 100 nodes, not to be paid once per event); else block until something is.
                ready_now, _ = ray.wait(waiting, num_returns=len(waiting), timeout=0)
                if not ready_now:
                    ready_now, _ = ray.wait(waiting, num_returns=1)
                for ready in ready_now:
                    if isinstance(ready, ray.ObjectRefGenerator):
                        result = next(ready, None)
                        if result is not None:
                            with _errors_as_raised():
                                event = ray.get(result)
                            yield event
                            if not isinstance(event, (ShardDone, ShardFailed)):
                                continue
                        # The shard's last event (or its stream's end, which the runner then finds without a
                        # record): its actor takes the next shard at once, not one more wait later.
                        actor = running.pop(ready)
                    else:
                        actor = starting.pop(ready)
                        with _errors_as_raised():
                            ray.get(ready)  # raises what the actor's setup raised
                    if todo:
                        running[actor.run.options(num_returns="streaming").remote(tasks[todo.popleft()])] = actor
        finally:  # free the pool's CPUs for the next phase, also when the runner stops early
            for actor in actors:
                ray.kill(actor)

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], resources: Resources,
            on_done: OnDone | None = None) -> list[Any]:
        if not items:
            return []
        self._start()
        self._check_feasible(resources, getattr(fn, "__name__", type(fn).__name__))
        remote: Any = ray.remote(run_task).options(num_cpus=resources.num_cpus, num_gpus=resources.num_gpus or None,
                                                   memory=(resources.memory_mb << 20) or None,
                                                   max_retries=TASK_MAX_RETRIES, retry_exceptions=False)
        fn_ref = ray.put(fn)
        refs = [remote.remote(fn_ref, item) for item in items]
        position = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                with _errors_as_raised():
                    results[position[ready[0]]] = ray.get(ready[0])
                if on_done is not None:
                    on_done(len(refs) - len(pending), len(refs))
        finally:  # a task failed (or the driver is stopping): the rest of the round is not wanted
            for ref in pending:
                ray.cancel(ref, force=True)
        return results

    def _check_feasible(self, resources: Resources, what: str) -> None:
        """Refuse a request that no node of the cluster can meet (it would wait forever)."""
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        memory = resources.memory_mb << 20
        if any(n.get("CPU", 0) >= resources.num_cpus and n.get("GPU", 0) >= resources.num_gpus
               and n.get("memory", 0) >= memory for n in nodes):
            return
        most: dict[str, float] = max(nodes, key=lambda n: (n.get("GPU", 0), n.get("CPU", 0)), default={})
        raise ConfigurationError(
            f"{what} asks for {resources.num_cpus:g} CPUs, {resources.num_gpus:g} GPUs and {resources.memory_mb} MB "
            f"per worker, and no node of the cluster has that (the largest: {most.get('CPU', 0):g} CPUs, "
            f"{most.get('GPU', 0):g} GPUs, {most.get('memory', 0) / 2**20:.0f} MB): add such a node, or lower the "
            "stage's resources")

    def is_transient(self, error: BaseException) -> bool:
        seen: BaseException | None = error
        while seen is not None:
            if isinstance(seen, ray.exceptions.RayActorError) and seen.actor_init_failed:
                return False  # a stage's setup raised: it would raise again
            if isinstance(seen, LOST_WORKER_ERRORS):
                return True
            seen = seen.__cause__ or seen.__context__
        return False

    def close(self) -> None:
        if self._owns_cluster and ray.is_initialized():
            ray.shutdown()
