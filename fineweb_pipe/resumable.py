"""Resumable rounds of a global stage: a task whose result is recorded is not run again.

A global stage runs as rounds of parallel tasks (``GlobalContext.map``). Wrapping a round's function in
:class:`Resumable` records each task's small JSON result as a marker once its outputs are written, so a
rerun after a crash (or a lost node) skips the finished tasks and gets the same results back. Markers
go through :mod:`fineweb_pipe.storage`: the work folder may be on an object store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from fineweb_pipe import storage


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
