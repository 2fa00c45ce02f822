"""``Rounds``: a corpus-wide stage's resumable rounds. A task whose marker exists is not run again and
gives back what it recorded; the figures per round and each shard's CPU share come from the results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.resumable import Rounds, round_figures, shares_by_documents
from fineweb_pipe.stage import Resources


@dataclass(frozen=True)
class Task:
    index: int

    @property
    def key(self) -> str:
        return f"t{self.index}"


class CountingFn:
    """A round's task function that records which tasks it ran."""

    def __init__(self, cpu_s: float = 1.0) -> None:
        self.ran: list[int] = []
        self.cpu_s = cpu_s

    def __call__(self, task: Task) -> dict[str, Any]:
        self.ran.append(task.index)
        return {"square": task.index ** 2, "rows_in": 10 * (task.index + 1), "files": 1, "cpu_s": self.cpu_s}


def context(tmp_path: Path) -> PhaseContext:
    return PhaseContext.local("stage", [], str(tmp_path))


def test_a_task_with_a_marker_is_not_run_again_and_returns_what_it_recorded(tmp_path: Path) -> None:
    tasks = [Task(i) for i in range(4)]
    first = CountingFn()
    recorded = Rounds(context(tmp_path), Resources())("squares", first, tasks)
    assert first.ran == [0, 1, 2, 3] and [r["square"] for r in recorded] == [0, 1, 4, 9]
    # The markers are where runs from before Rounds put them: <work_dir>/_done/<round>/<task key>.json.
    done = tmp_path / "_work" / "stage" / "_done" / "squares"
    assert sorted(p.name for p in done.iterdir()) == ["t0.json", "t1.json", "t2.json", "t3.json"]

    (done / "t2.json").unlink()  # as if the run stopped before task 2 finished
    rerun = CountingFn(cpu_s=5.0)
    again = Rounds(context(tmp_path), Resources())("squares", rerun, tasks)
    assert rerun.ran == [2]
    assert again[:2] + again[3:] == recorded[:2] + recorded[3:]  # the recorded results, with their cpu_s
    assert again[2]["cpu_s"] == 5.0


def test_rounds_of_another_name_have_their_own_markers(tmp_path: Path) -> None:
    rounds = Rounds(context(tmp_path), Resources())
    rounds("a", CountingFn(), [Task(0)])
    other = CountingFn()
    rounds("b", other, [Task(0)])
    assert other.ran == [0]


def test_figures_per_round_and_cpu_by_group(tmp_path: Path) -> None:
    rounds = Rounds(context(tmp_path), Resources())
    rounds("read", CountingFn(cpu_s=1.5), [Task(i) for i in range(3)])
    rounds("serve", CountingFn(cpu_s=0.25), [Task(i) for i in range(2)])
    rounds("check", CountingFn(cpu_s=0.125), [Task(i) for i in range(2)])
    assert rounds.figures() == {
        "read": {"tasks": 3, "files": 3, "rows_in_max": 30, "rows_in_mean": 20.0},
        "serve": {"tasks": 2, "files": 2, "rows_in_max": 20, "rows_in_mean": 15.0},
        "check": {"tasks": 2, "files": 2, "rows_in_max": 20, "rows_in_mean": 15.0},
    }
    assert rounds.cpu_figures() == {"read": 4.5, "serve": 0.5, "check": 0.25}
    assert rounds.cpu_figures({"read": ("read",), "verify": ("serve", "check"), "write": ("write",)}) == {
        "read": 4.5, "verify": 0.75, "write": 0}
    assert round_figures([]) == {"tasks": 0, "files": 0, "rows_in_max": 0, "rows_in_mean": 0.0}


def test_each_shard_gets_a_share_by_documents_of_the_rounds_not_counted_per_shard(tmp_path: Path) -> None:
    rounds = Rounds(context(tmp_path), Resources())
    rounds("keys", CountingFn(cpu_s=7.0), [Task(i) for i in range(2)])
    rounds("decide", CountingFn(cpu_s=3.0), [Task(i) for i in range(2)])
    rounds("write", CountingFn(cpu_s=11.0), [Task(i) for i in range(2)])
    shares = rounds.cpu_shares([100, 300], own=("keys", "write"))
    assert shares == pytest.approx([1.5, 4.5])  # the decide round's 6 CPU-s, a quarter and three quarters
    assert rounds.cpu_shares([100, 300], own=("write",)) == pytest.approx([5.0, 15.0])
    assert shares_by_documents(2.0, [0, 0]) == [0.0, 0.0]  # no documents: nothing to share, no division by 0
