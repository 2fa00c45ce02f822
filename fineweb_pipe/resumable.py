"""Resumable rounds of a global stage: a task whose result is recorded is not run again.

A global stage runs as rounds of parallel tasks (``GlobalContext.map``). Wrapping a round's function in
:class:`Resumable` records each task's small JSON result as a marker once its outputs are written, so a
rerun after a crash (or a lost node) skips the finished tasks and gets the same results back. Markers
go through :mod:`fineweb_pipe.storage`: the work folder may be on an object store.

:class:`Rounds` is how a corpus-wide stage runs its named rounds: each under ``<work_dir>/_done/<round>``,
with the stage's resources, their results kept for the stage's figures (tasks, rows and CPU per round)
and for each shard's share of the CPU of the rounds over the whole corpus.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fineweb_pipe import storage
from fineweb_pipe.stage import GlobalContext, Resources

DONE_FOLDER = "_done"  # in a stage's work folder: ``_done/<round>/<task.key>.json``


class Keyed(Protocol):
    @property
    def key(self) -> str:
        """A name unique within the round (it names the task's marker)."""


@dataclass(frozen=True)
class Resumable:
    """Runs ``fn(task)`` unless ``done_dir/<task.key>.json`` exists; then returns what it recorded."""

    fn: Callable[[Any], dict[str, Any]]
    done_dir: str

    def __call__(self, task: Keyed) -> dict[str, Any]:
        marker = storage.join(self.done_dir, f"{task.key}.json")
        if storage.exists(marker):
            recorded: dict[str, Any] = storage.read_json(marker)
            return recorded
        result = self.fn(task)
        storage.write_json(result, marker)  # last: the task's outputs are all written
        return result


class Rounds:
    """The resumable rounds of one run of a corpus-wide stage, and what their tasks returned.

    ``rounds(name, fn, tasks)`` runs ``fn`` over ``tasks`` with the stage's ``resources``, each task's
    result recorded at ``<ctx.work_dir>/_done/<name>/<task.key>.json`` (a rerun returns it without
    running the task), and keeps the results under ``name``. Every task returns ``cpu_s``; tasks that
    read and write exchange files also return ``rows_in`` and ``files`` (see :meth:`figures`).
    """

    def __init__(self, ctx: GlobalContext, resources: Resources) -> None:
        self._ctx = ctx
        self._resources = resources
        self._done_dir = storage.join(ctx.work_dir, DONE_FOLDER)
        self.results: dict[str, list[dict[str, Any]]] = {}  # by round, in the order they ran

    def __call__(self, name: str, fn: Callable[[Any], dict[str, Any]], tasks: Sequence[Any]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = self._ctx.map(Resumable(fn, storage.join(self._done_dir, name)), tasks,
                                                      self._resources)
        self.results[name] = results
        return results

    def cpu(self, *names: str) -> float:
        """CPU seconds of the tasks of the rounds ``names`` (0 for a round that did not run)."""
        return sum(r["cpu_s"] for name in names for r in self.results.get(name, []))

    def cpu_figures(self, groups: dict[str, tuple[str, ...]] | None = None) -> dict[str, float]:
        """CPU seconds (to the ms) of each group of rounds, ``{figure: rounds}``; by default, of each round."""
        groups = groups if groups is not None else {name: (name,) for name in self.results}
        return {figure: round(self.cpu(*names), 3) for figure, names in groups.items()}

    def figures(self) -> dict[str, dict[str, Any]]:
        """:func:`round_figures` of each round."""
        return {name: round_figures(results) for name, results in self.results.items()}

    def cpu_shares(self, docs: Sequence[int], own: Iterable[str]) -> list[float]:
        """Each shard's share (by its ``docs``) of the CPU of every round but ``own``, the rounds whose
        CPU the stage counts shard by shard: so that the shards' CPU adds up to all the stage's work."""
        own = set(own)
        return shares_by_documents(self.cpu(*(name for name in self.results if name not in own)), docs)


def round_figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Tasks, files written and rows read per task in one round: how evenly the work was spread."""
    rows_in = [r["rows_in"] for r in results]
    return {"tasks": len(results), "files": sum(r["files"] for r in results),
            "rows_in_max": max(rows_in, default=0), "rows_in_mean": round(sum(rows_in) / max(len(rows_in), 1), 1)}


def shares_by_documents(cpu_s: float, docs: Sequence[int]) -> list[float]:
    """``cpu_s`` split between shards in proportion to their documents ``docs``."""
    total = sum(docs)
    return [cpu_s * n / max(total, 1) for n in docs]
