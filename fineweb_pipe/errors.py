"""The kinds of failure a run tells apart, and the exit code each ends a command with.

- **Corrupt content** (a bad gzip member, an unparsable record, a line that is not JSON) is not an
  exception: readers count it in ``ReaderCounts`` with the file and offset, skip it, and the run goes on.
- :class:`InputUnavailable`: an input cannot be read *now* (it vanished, the connection was reset, the
  store throttled). The engine retries the shard with backoff; if it still fails, the shard stays
  uncommitted, the run exits with :data:`EXIT_INPUT` naming it, and a rerun retries it.
- :class:`ConfigurationError`: the run cannot work as asked (an input lacks a column the pipeline needs,
  the output belongs to another run or pipeline, another run holds it). It stops at once with one message
  that says what to do; nothing is retried.
- :class:`IntegrityError`: a conservation check failed (rows written differ from rows counted). Never
  expected; the shard is not committed and the run stops naming it.
"""

from __future__ import annotations

import gzip

#: Exit codes of ``fineweb-pipe`` (listed in ``--help``).
EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: the traceback is printed
EXIT_USAGE = 2  # the command or its configuration is wrong: fix it and run again
EXIT_INPUT = 3  # some inputs could not be read: rerun the same command to retry them
EXIT_INTEGRITY = 4  # a conservation check failed: the output was not committed
EXIT_NO_SPACE = 5  # the disk is full: free space and rerun to resume
EXIT_INTERRUPTED = 130  # Ctrl-C: rerun the same command to resume


class PipelineError(Exception):
    """Base of the errors the command line reports in one line."""

    exit_code = EXIT_INTERNAL


class ConfigurationError(PipelineError):
    exit_code = EXIT_USAGE


class InputUnavailable(PipelineError):
    """An input file could not be read for a reason that may pass (I/O or transport)."""

    exit_code = EXIT_INPUT

    def __init__(self, path: str, cause: BaseException) -> None:
        super().__init__(f"{path}: {type(cause).__name__}: {cause}")
        self.path = path


class InputsFailed(PipelineError):
    """Some shards' inputs stayed unavailable through every retry; the other shards are committed."""

    exit_code = EXIT_INPUT

    def __init__(self, failures: list[tuple[str, str]], committed: int, shards: int) -> None:
        listed = "; ".join(error for _, error in failures[:3]) + (" ..." if len(failures) > 3 else "")
        super().__init__(f"{len(failures)} of {shards} inputs could not be read ({listed}); {committed} shards are "
                         "committed: rerun the same command to retry the others")
        self.paths = [path for path, _ in failures]


class IntegrityError(PipelineError):
    exit_code = EXIT_INTEGRITY


def is_transport_error(error: BaseException) -> bool:
    """Whether ``error`` says the file could not be read now (missing, unreachable, reset, throttled)
    rather than that its bytes are bad. fsspec and its object-store backends raise ``OSError``s."""
    # BadGzipFile is an OSError about the bytes: corrupt content, counted by the readers.
    return isinstance(error, OSError) and not isinstance(error, gzip.BadGzipFile)
