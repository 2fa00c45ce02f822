"""Finding input files (paths, folders, globs, object-store URIs) and opening them, decompressed."""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import re
import zlib
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import BinaryIO

import fsspec


def expand_inputs(inputs: Sequence[str], patterns: Sequence[str]) -> list[str]:
    """Every file named by ``inputs``: a file, a folder (files matching ``patterns`` below it), or a glob.

    URIs with a scheme (``s3://``, ``gs://``, ...) go through fsspec. The result is sorted, so shard
    order (and with it the output) does not depend on the order the file system lists things in.
    """
    found: list[str] = []
    for spec in inputs:
        fs, _, paths = fsspec.get_fs_token_paths(spec)
        protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
        if not paths:
            raise FileNotFoundError(f"input {spec!r} matches no file; check the path or glob")
        for path in paths:
            if fs.isdir(path):
                below = [p for p in fs.find(path) if any(fnmatch.fnmatch(p.rsplit("/", 1)[-1], pat) for pat in patterns)]
                if not below:
                    raise FileNotFoundError(f"folder {spec!r} holds no file matching {list(patterns)}")
                paths_found = below
            elif fs.exists(path):
                paths_found = [path]
            else:
                raise FileNotFoundError(f"input {spec!r} does not exist")
            found += [p if protocol in ("file", "local") else f"{protocol}://{p}" for p in paths_found]
    return sorted(dict.fromkeys(found))


def shard_id(path: str) -> str:
    """A stable, file-system-safe id for an input file: its name without extensions plus a short hash
    of the full path (two folders may hold files of the same name)."""
    stem = PurePosixPath(path).name
    for ext in (".gz", ".zst", ".jsonl", ".json", ".parquet", ".warc", ".wet", ".arc"):
        stem = stem.removesuffix(ext)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "shard"
    return f"{stem}-{hashlib.sha1(path.encode()).hexdigest()[:8]}"


class ForwardStream(io.RawIOBase):
    """A read-only stream that knows its position and cannot seek: what FastWARC needs from a stream
    (it asks where it is through ``seek``/``tell``). Subclasses implement ``readinto`` and advance
    ``_position``."""

    def __init__(self) -> None:
        super().__init__()
        self._position = 0

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # Only the no-op seeks make sense on a stream.
        target = offset + (self._position if whence == io.SEEK_CUR else 0)
        if whence == io.SEEK_END or target != self._position:
            raise io.UnsupportedOperation(f"{type(self).__name__} cannot seek")
        return self._position


class TrappedStream(ForwardStream):
    """A read-only stream that turns a decompression failure into end-of-file and remembers it.

    A truncated or corrupt ``.gz`` must not lose the records read before the damage: the reader stops
    there, keeps what it has, and reports ``error`` (e.g. ``truncated_gzip``).
    """

    def __init__(self, inner: BinaryIO) -> None:
        super().__init__()
        self._inner = inner
        self._read = getattr(inner, "read1", inner.read)
        self.error: tuple[str, str] | None = None

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self.error:
            return 0
        try:
            # read1: one step of the decompressor. A buffered read() that fails part-way loses what it
            # had decompressed in that call (all of a small file cut at its end).
            data = self._read(len(buffer))
        except EOFError as exc:
            self.error = ("truncated_gzip", str(exc))
            return 0
        except (gzip.BadGzipFile, zlib.error, OSError) as exc:
            self.error = ("corrupt_compression", str(exc))
            return 0
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


def open_binary(path: str) -> TrappedStream:
    """Open ``path`` for streaming reads, decompressing ``.gz`` (multi-member too) and ``.zst``."""
    raw = fsspec.open(path, "rb").open()
    if path.endswith(".gz"):
        inner: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    elif path.endswith(".zst"):
        import zstandard

        inner = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)  # type: ignore[assignment]
    else:
        inner = raw
    return TrappedStream(inner)
