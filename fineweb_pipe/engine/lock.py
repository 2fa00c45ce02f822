"""One writer per output folder: a lock file with its owner, host and a heartbeat.

``run.lock`` is created exclusively (``O_EXCL`` locally, a conditional PUT on an object store); while the run lasts a thread rewrites its heartbeat.
A second run into the same folder refuses with a message naming the owner. A lock whose owner is gone
is taken over: on the owner's host when its process no longer exists, from another host when the
heartbeat is older than ``stale_after_s``. Two runs taking over the same stale lock race for a marker
file named after that lock's token, so only one of them wins. Workers that commit outputs check the
lock with a :class:`LockFence` first, so a run whose lock was taken over commits nothing more.
"""

from __future__ import annotations

import getpass
import json
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from types import TracebackType
from typing import Any

import psutil

from fineweb_pipe import storage
from fineweb_pipe.errors import ConfigurationError, IntegrityError

LOCK_NAME = "run.lock"
HEARTBEAT_S = 5.0
STALE_AFTER_S = 60.0


class RunLock:
    """The output folder's lock, held from ``acquire()`` to ``release()`` (or as a context manager)."""

    def __init__(self, folder: str, heartbeat_s: float = HEARTBEAT_S, stale_after_s: float = STALE_AFTER_S) -> None:
        self.folder = folder
        self.path = storage.join(folder, LOCK_NAME)
        self.heartbeat_s = heartbeat_s
        self.stale_after_s = stale_after_s
        self.token = uuid.uuid4().hex
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        storage.make_dirs(self.folder)
        if not self._create():
            holder = self._read()
            if holder is not None and self._alive(holder):
                raise ConfigurationError(
                    f"{self.folder} is being written by another run: {_describe(holder)}; "
                    "wait for it to end, or give this run another --output")
            self._take_over(holder)
        self._thread = threading.Thread(target=self._beat, name="run-lock-heartbeat", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Raise if another run has taken the lock over (this one looked dead to it): nothing more
        may be committed."""
        if self._lost:
            raise IntegrityError(f"lost the lock on {self.folder}: {self._lost}; "
                                 "this run stopped before committing more")

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        holder = self._read()
        if holder is not None and holder.get("token") == self.token:
            storage.remove(self.path)

    def fence(self) -> LockFence:
        """What a worker checks before it commits: that this run still holds the lock."""
        return LockFence(self.path, self.token)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()

    # -- the lock file ----------------------------------------------------------------------------

    def _content(self) -> dict[str, Any]:
        me = psutil.Process()
        return {
            "token": self.token,
            "user": getpass.getuser(),
            "host": socket.gethostname(),
            "pid": me.pid,
            "pid_started": me.create_time(),
            "command": " ".join(sys.argv),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "heartbeat": time.time(),
        }

    def _create(self) -> bool:
        """Create the lock file if there is none; False if there is one."""
        return storage.create_exclusive(self.path, json.dumps(self._content()).encode())

    def _read(self) -> dict[str, Any] | None:
        return read_holder(self.path)

    def _alive(self, holder: dict[str, Any]) -> bool:
        if holder.get("host") == socket.gethostname():
            if holder.get("token") == "unreadable":
                return True
            try:
                process = psutil.Process(int(holder["pid"]))
                return abs(process.create_time() - float(holder.get("pid_started", 0))) < 1.0
            except (psutil.Error, KeyError, ValueError):
                return False
        return time.time() - float(holder.get("heartbeat", 0)) < self.stale_after_s

    def _take_over(self, holder: dict[str, Any] | None) -> None:
        if holder is None:  # released between our two looks
            if not self._create():
                raise ConfigurationError(f"{self.folder}: another run took the lock just now; "
                                         "wait for it to end, or give this run another --output")
            return
        marker = f"{self.path}.takeover-{holder.get('token')}"
        if not storage.create_exclusive(marker, json.dumps({"created": time.time()}).encode()):
            if time.time() - _created(marker) < self.stale_after_s:
                raise ConfigurationError(f"{self.folder}: another run is taking over the lock "
                                         f"left by {_describe(holder)}; wait for it to end") from None
        try:
            current = self._read()
            if current is not None and current.get("token") != holder.get("token"):
                raise ConfigurationError(f"{self.folder} was just locked by another run: "
                                         f"{_describe(current)}")
            if current is not None:
                storage.remove(self.path)
            if not self._create():
                raise ConfigurationError(f"{self.folder}: another run took the lock just now")
            print(f"took over the lock left by a run that is gone ({_describe(holder)})", file=sys.stderr)
        finally:
            storage.remove(marker)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            holder = self._read()
            if holder is None or holder.get("token") != self.token:
                self._lost = f"now held by {_describe(holder)}" if holder else "the lock file was removed"
                return
            holder["heartbeat"] = time.time()
            storage.write_json(holder, self.path)


def _describe(holder: dict[str, Any]) -> str:
    age = time.time() - float(holder.get("heartbeat", 0))
    return (f"{holder.get('user', '?')}@{holder.get('host', '?')} pid {holder.get('pid', '?')}, started "
            f"{holder.get('started', '?')}, last heartbeat {age:.0f} s ago ({holder.get('command', '')})")


def read_holder(path: str) -> dict[str, Any] | None:
    """The lock file's content; None when there is none."""
    try:
        data: dict[str, Any] = json.loads(storage.read_bytes(path))
    except FileNotFoundError:
        return None
    except ValueError:  # being written this instant (O_EXCL then write): treat as held for now
        return {"token": "unreadable", "host": socket.gethostname(), "pid": -1, "heartbeat": time.time()}
    return data


def _created(marker: str) -> float:
    try:
        return float(json.loads(storage.read_bytes(marker))["created"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return 0.0


@dataclass(frozen=True)
class LockFence:
    """A run's claim on its output folder, checked by workers before each commit."""

    path: str
    token: str

    def check(self) -> None:
        holder = read_holder(self.path)
        if holder is None or holder.get("token") != self.token:
            lost = f"now held by {_describe(holder)}" if holder else "the lock file was removed"
            raise IntegrityError(f"lost the lock on {storage.dirname(self.path)} ({lost}); "
                                 "this run stopped before committing more")
