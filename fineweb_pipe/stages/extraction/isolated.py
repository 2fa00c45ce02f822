"""Run a function in a persistent child process, one call at a time, with a time limit per call.

HTML extractors occasionally hang on a pathological page (regex backtracking, deep trees) or crash in
C code. Running them in a child process lets the parent kill a call that overruns its time limit, or
survive the child dying, and go on with the next page in a fresh child. The child is started once and
fed through a pipe, so a call costs one pickled round trip (tens of microseconds for a 150 KB page)
rather than a process start. It is a fresh interpreter running this module (no fork of a multithreaded
worker, and unlike multiprocessing's ``spawn`` it does not re-run the parent's main script: in a Ray
worker that is Ray's own worker script, ~0.4 CPU-s and ~80 MB per child for nothing), and it dies
with its parent: on garbage collection or interpreter exit through a finalizer, and if the parent is
killed outright, by reading end-of-file on the pipe or, if busy, through a watchdog thread that sees
the parent gone.

The limit is on the child's CPU time, so that a busy machine (other work on the same cores) does not
change which pages are cut; a call that blocks without computing is cut after ``wall_factor`` times the
limit in wall-clock time.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

DEFAULT_STARTUP_TIMEOUT_S = 120.0
_READY = "ready"
_ORPHAN_CHECK_S = 1.0
DEFAULT_WALL_FACTOR = 5.0
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class CallTimedOut(Exception):
    """The call ran past its time limit; the child was killed."""


class CallFailed(Exception):
    """The call raised in the child, or the child died during it."""


def _exit_when_orphaned(parent_pid: int) -> None:
    """Child watchdog: a parent killed outright leaves a busy child running; end it within a second."""
    while os.getppid() == parent_pid:
        time.sleep(_ORPHAN_CHECK_S)
    os._exit(1)


def _serve(conn: Connection) -> None:
    """Child main loop: take the function, then answer each argument with ``(True, result)`` or
    ``(False, error text)``."""
    fn, warmup, parent_pid = conn.recv()
    threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), daemon=True).start()
    if warmup is not None:
        fn(warmup)  # pay lazy initialisation before the first timed call
    gc.freeze()  # the extractor's modules live as long as this child: full collections need not walk them
    conn.send((_READY, time.process_time()))
    while True:
        try:
            arg = conn.recv()
        except (EOFError, OSError):  # the parent closed the pipe or died
            return
        try:
            ok, value = True, fn(arg)
        except Exception as exc:  # the parent counts it and moves on
            ok, value = False, f"{type(exc).__name__}: {exc}"[:500]
        conn.send((ok, value, time.process_time()))  # CPU used so far: the next call's starting point


def serve_fd(fd: int) -> None:
    """The child's entry point: serve calls over the connection on file descriptor ``fd``."""
    _serve(Connection(fd))


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (Linux ``/proc``); None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def _stop(process: subprocess.Popen, conn: Connection) -> None:
    conn.close()
    if process.poll() is None:
        process.kill()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:  # unkillable (stuck in the kernel): leave it to the OS
        pass


class IsolatedFunction:
    """``fn(arg)`` evaluated in a child process, at most ``timeout_s`` CPU seconds per call (and
    ``wall_factor`` times that in wall-clock time).

    ``fn`` must pickle (a module-level function, or a ``functools.partial`` of one). ``warmup``, if not
    None, is passed to ``fn`` once when a child starts, outside the time limit. ``restarts`` counts the
    children started after the first one.
    """

    def __init__(self, fn: Callable[[Any], Any], timeout_s: float, warmup: Any = None,
                 wall_factor: float = DEFAULT_WALL_FACTOR, startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S) -> None:
        self.fn = fn
        self.timeout_s = timeout_s
        self.wall_factor = wall_factor
        self.warmup = warmup
        self.startup_timeout_s = startup_timeout_s
        self.restarts = 0
        self._child: tuple[subprocess.Popen, Connection] | None = None
        self._finalizer: weakref.finalize | None = None
        self._started = 0
        self._child_cpu = 0.0  # the child's CPU seconds when it last answered

    def __call__(self, arg: Any) -> Any:
        conn = self._connection()
        try:
            conn.send(arg)
        except (BrokenPipeError, ConnectionResetError, EOFError):
            # The child died between calls (e.g. killed for memory): this argument is not to blame.
            self._discard()
            conn = self._connection()
            conn.send(arg)
        self._wait(conn)
        try:
            ok, value, self._child_cpu = conn.recv()
        except (EOFError, OSError):
            process = self._child[0] if self._child else None
            self._discard()
            code = process.poll() if process is not None else None
            raise CallFailed(f"child process died (exit code {code})") from None
        if not ok:
            raise CallFailed(value)
        return value

    def _wait(self, conn: Connection) -> None:
        """Return when an answer is ready; kill the child and raise when the call is over its limit."""
        started = time.monotonic()
        wait = self.timeout_s
        while not conn.poll(wait):
            wall = time.monotonic() - started
            cpu_now = _cpu_seconds(self._child[0].pid) if self._child else None
            used = wall if cpu_now is None else cpu_now - self._child_cpu
            if used >= self.timeout_s or wall >= self.timeout_s * self.wall_factor:
                self._discard()
                raise CallTimedOut(f"over the {self.timeout_s} s limit ({used:.2f} s CPU, {wall:.2f} s wall); "
                                   "child killed")
            wait = max(self.timeout_s - used, 0.02)

    def start(self) -> None:
        """Start the child now (otherwise the first call does)."""
        self._connection()

    def close(self) -> None:
        self._discard()

    def _connection(self) -> Connection:
        if self._child is None:
            parent_end, child_end = multiprocessing.Pipe(duplex=True)
            # The parent's import path, so the function's module imports in the child as it does here.
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            entry = f"from {__name__} import serve_fd; serve_fd({child_end.fileno()})"
            process = subprocess.Popen([sys.executable, "-c", entry], pass_fds=(child_end.fileno(),), env=env, stdin=subprocess.DEVNULL)
            child_end.close()  # the child holds the only other end: its death reads as EOF here
            self._child = (process, parent_end)
            self._finalizer = weakref.finalize(self, _stop, process, parent_end)
            try:
                parent_end.send((self.fn, self.warmup, os.getpid()))
            except (BrokenPipeError, ConnectionResetError):  # it died starting: its traceback is on stderr
                pass
            try:
                ready = parent_end.poll(self.startup_timeout_s)
                if ready:
                    message, self._child_cpu = parent_end.recv()
                    ready = message == _READY
            except (EOFError, OSError):  # it died starting: its traceback is on stderr
                ready = False
            if not ready:
                self._discard()
                raise RuntimeError(f"child process for {self.fn!r} did not start within {self.startup_timeout_s} s "
                                   f"(exit code {process.poll()}); the function must be importable in a fresh "
                                   "interpreter (defined at module level)")
            self.restarts += self._started > 0
            self._started += 1
        return self._child[1]

    def _discard(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # kills and reaps the child, closes the pipe
        self._child = None
        self._finalizer = None
