"""Live progress of a run: documents through each stage, shards finished, documents per second; for
global stages, each round's tasks done, rate and time left."""

from __future__ import annotations

import sys
import time
from collections import Counter
from typing import Any

from fineweb_pipe.engine.base import OnDone
from fineweb_pipe.engine.shard import ChunkDone, ShardDone, ShardEvent, ShardFailed, ShardRestarted

REFRESH_S = 2.0


class Progress:
    """Prints one status line per phase, refreshed in place on a terminal and every few seconds in logs."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._tty = sys.stderr.isatty()
        self._last = 0.0

    def start_phase(self, phase: str, stages: list[str], shards: int, already_done: int) -> None:
        self.phase, self.stages = phase, stages
        self.shards, self.shards_done, self.already_done = shards, already_done, already_done
        self.read = 0
        self.out: Counter = Counter()
        self._shown: dict[str, tuple[int, dict[str, int]]] = {}  # what each shard in flight reported last
        self.started = time.time()
        if already_done:
            self._print(f"[{phase}] resuming: {already_done}/{shards} shards already finished", final=True)

    def event(self, event: ShardEvent) -> None:
        if isinstance(event, ShardRestarted):
            # Always shown, as a lost worker is: the run is waiting on an input.
            sys.stderr.write(f"[{self.phase}] reading {event.shard} again: {event.error}\n")
            self._advance(event.shard, 0, {})  # counted again as it is read again
        elif isinstance(event, ShardFailed):
            sys.stderr.write(f"[{self.phase}] gave up on {event.shard}: {event.error}\n")
            self._advance(event.shard, 0, {})
        elif isinstance(event, ChunkDone):
            self._advance(event.shard, event.read, event.out)
        elif isinstance(event, ShardDone):
            stats = event.record.stats
            self._advance(event.shard, stats.reader.documents, {n: c.docs_out for n, c in stats.stages.items()})
        if isinstance(event, (ShardDone, ShardRestarted, ShardFailed)):
            self._shown.pop(event.shard, None)  # only shards in flight are kept
        if self._due():
            self._print(self._line())

    def _advance(self, shard: str, read: int, out: dict[str, int]) -> None:
        """Add what ``shard`` has done since it was last shown (workers send totals so far)."""
        shown_read, shown_out = self._shown.get(shard, (0, {}))
        self.read += read - shown_read
        for name in out.keys() | shown_out.keys():
            self.out[name] += out.get(name, 0) - shown_out.get(name, 0)
        self._shown[shard] = (read, out)

    def _due(self) -> bool:
        return time.time() - self._last >= (0.2 if self._tty else REFRESH_S)

    def round(self, phase: str, name: str) -> OnDone:
        """A callback for one round of a global stage: tasks done of all, rate and time left."""
        started = time.time()

        def done(finished: int, total: int) -> None:
            if finished < total and not self._due():
                return
            elapsed = time.time() - started
            rate = finished / max(elapsed, 1e-9)
            left = (total - finished) / rate if rate else 0.0
            self._print(f"[{phase}] {name}: {finished:,}/{total:,} tasks ({rate:,.1f}/s, "
                        f"{'done in ' + _duration(elapsed) if finished == total else _duration(left) + ' left'})",
                        final=finished == total)
        return done

    def shard_done(self) -> None:
        self.shards_done += 1

    def phase_done(self) -> None:
        """The phase's last line, with its final counts (the live line may be seconds old)."""
        if self.shards_done > self.already_done:
            self._print(self._line(), final=True)

    def retry(self, phase: str, error: BaseException) -> None:
        # Always shown: a lost worker is worth knowing about even in a quiet run.
        sys.stderr.write(f"[{phase}] workers lost ({type(error).__name__}); running the unfinished shards again\n")

    def global_done(self, stage: str, counts: dict[str, Any]) -> None:
        self._print(f"[{self.phase}] {stage}: {counts['docs_in']:,} in -> {counts['docs_out']:,} out", final=True)

    def finish(self, stats: dict[str, Any]) -> None:
        run = stats["run"]
        kept = stats["stages"][-1]["docs_out"] if stats["stages"] else stats["reader"]["documents"]
        if all(p["shards_resumed"] == p["shards"] for p in run["phases"]):
            self._print(f"done: an earlier run had finished everything; nothing was redone -> {run['output']}",
                        final=True)
            return
        reader = stats["reader"]
        errors = f" ({reader['files_with_errors']} with read errors: see 'errors' in stats.json)" \
            if reader.get("files_with_errors") else ""
        self._print(f"done in {run['wall_s']:.1f}s: {reader['files']:,} inputs{errors}, {reader['documents']:,} "
                    f"documents read, {kept:,} kept -> {run['output']}", final=True)

    def _line(self) -> str:
        rate = self.read / max(time.time() - self.started, 1e-9)
        flow = " -> ".join(f"{name} {self.out[name]:,}" for name in self.stages)
        return (f"[{self.phase}] shards {self.shards_done}/{self.shards} | read {self.read:,} "
                f"({rate:,.0f}/s) | {flow}")

    def _print(self, line: str, final: bool = False) -> None:
        if not self.enabled:
            return
        self._last = time.time()
        if self._tty:
            sys.stderr.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{seconds % 3600 / 60:02.0f}m"
