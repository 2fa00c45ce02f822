"""A Ctrl-C stops a run even when something between the signal and the runner catches its
KeyboardInterrupt (a library's handler, a deferred signal dropped on an error)."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from fineweb_pipe.engine.interrupt import InterruptWatch
from fineweb_pipe.engine.local import LocalExecutor
from fineweb_pipe.engine.runner import Runner
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.stage import Transform

pytestmark = pytest.mark.usefixtures("ctrl_c_raises")


def ctrl_c_swallowed() -> None:
    """SIGINT to this process, its KeyboardInterrupt caught as a careless library would."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)  # the handler runs here
    except KeyboardInterrupt:
        pass


def test_a_swallowed_ctrl_c_is_still_seen_once() -> None:
    with InterruptWatch() as watch:
        watch.check()  # nothing yet
        ctrl_c_swallowed()
        with pytest.raises(KeyboardInterrupt):
            watch.check()
        watch.check()  # seen: not again


def test_a_ctrl_c_under_another_handler_is_seen() -> None:
    """A library's own SIGINT handler that drops the signal (as a deferred SIGINT is dropped on an error)."""
    with InterruptWatch() as watch:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.2)
        finally:
            signal.signal(signal.SIGINT, previous)
        with pytest.raises(KeyboardInterrupt):
            watch.check()


def test_the_watch_leaves_someone_else_s_wakeup_fd_and_other_threads_alone() -> None:
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write)
    try:
        with InterruptWatch() as watch:
            assert signal.set_wakeup_fd(write) == write  # still theirs
            ctrl_c_swallowed()
            watch.check()  # does nothing: the signal went to their fd
        assert signal.set_wakeup_fd(-1) == write
    finally:
        os.close(read)
        os.close(write)
    seen: list[BaseException] = []

    def in_a_thread() -> None:
        try:
            with InterruptWatch() as watch:
                watch.check()
        except BaseException as exc:  # noqa: BLE001 - the test reports whatever it was
            seen.append(exc)
    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert not seen and signal.set_wakeup_fd(-1) == -1


class SwallowsCtrlC(Transform):
    """Its first batch meets a Ctrl-C that a library inside it swallows."""

    def __init__(self) -> None:
        super().__init__()
        self.hit = False

    def transform(self, batch: pa.Table) -> pa.Table:
        if not self.hit:
            self.hit = True
            ctrl_c_swallowed()
        return batch


def test_a_run_whose_ctrl_c_was_swallowed_stops_and_commits_nothing_more(crawl: Path, tmp_path: Path) -> None:
    pipeline = Pipeline([SwallowsCtrlC()], name="swallows")
    with LocalExecutor() as executor, pytest.raises(KeyboardInterrupt):
        Runner(pipeline, [str(crawl)], str(tmp_path / "out"), executor, show_progress=False).run()
    assert not (tmp_path / "out" / "stats.json").exists()
    assert len(list((tmp_path / "out" / "documents").glob("*.parquet"))) <= 1  # at most the shard under way
