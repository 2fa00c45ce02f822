"""Ctrl-C stops a run, even where a library catches the KeyboardInterrupt it raised.

Python turns SIGINT into a KeyboardInterrupt in the main thread, but code between the signal and the
runner may catch it (a stage's library with a broad ``except``, in-process engines run stages in the
driver's main thread; a library that defers SIGINT and lets it go). Python's C-level
signal handler also writes every signal it receives to the *wakeup fd*, whatever Python-level handler
is installed at the time: while a run's driver runs, :class:`InterruptWatch` keeps a pipe there, and the
runner calls :meth:`InterruptWatch.check` at each shard event and finished task, which raises
KeyboardInterrupt if a SIGINT came. A Ctrl-C then stops the run at the next event at the latest.
(A process started with SIGINT ignored, as a shell starts a background job, never sees one.)
"""

from __future__ import annotations

import os
import signal
import threading
from types import TracebackType


class InterruptWatch:
    """A context manager; only in the main thread, and only where no one else holds the wakeup fd (an
    event loop in the main thread does): elsewhere :meth:`check` does nothing."""

    def __init__(self) -> None:
        self._pipe: tuple[int, int] | None = None

    def __enter__(self) -> InterruptWatch:
        if threading.current_thread() is not threading.main_thread():
            return self
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        if previous != -1:  # someone else's: give it back and do without
            signal.set_wakeup_fd(previous)
            os.close(read)
            os.close(write)
            return self
        self._pipe = read, write
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._pipe is not None:
            signal.set_wakeup_fd(-1)
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None

    def check(self) -> None:
        """Raise KeyboardInterrupt if SIGINT arrived since the last check (or since the watch began)."""
        if self._pipe is None:
            return
        try:
            received = os.read(self._pipe[0], 4096)
        except BlockingIOError:
            return
        if signal.SIGINT in received:
            raise KeyboardInterrupt
