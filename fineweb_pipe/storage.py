"""Where a run keeps its files: a local folder or an object store (``s3://``, ``gs://``, any fsspec URL).

Every file the engine and the stages write or look up goes through these functions, which take plain
paths and URLs alike, so that the same run works on a laptop's disk and on a bucket that the nodes of a
cluster share (no shared POSIX file system, no rename). What they rely on:

- a file appears complete or not at all: locally it is written under a temporary name and renamed,
  on an object store an upload is published only when it completes (a failed one is discarded);
- an exclusive create (``create_exclusive``): ``O_EXCL`` locally, a conditional PUT (``If-None-Match``)
  on S3, so that two runs cannot both take a lock;
- listings and existence checks are never served from a cache (fsspec caches S3 listings by default).

Object-store endpoints and credentials come from the usual environment (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID``, ...), so the same command runs against a local S3 server and the real one.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import fsspec

#: What marks a local file being written: ``<final name><TEMPORARY_SUFFIX><12 hex digits>``.
TEMPORARY_SUFFIX = ".tmp-"


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def local_path(url: str) -> str:
    return url.removeprefix("file://")


def absolute(url: str) -> str:
    """``url`` with a local path made absolute (object-store URLs are left as they are)."""
    return os.path.abspath(local_path(url)) if is_local(url) else url.rstrip("/")


def join(url: str, *parts: str) -> str:
    if is_local(url):
        return os.path.join(local_path(url), *parts)
    return posixpath.join(url, *parts)


def dirname(url: str) -> str:
    return os.path.dirname(local_path(url)) if is_local(url) else posixpath.dirname(url)


def basename(url: str) -> str:
    return os.path.basename(local_path(url)) if is_local(url) else posixpath.basename(url)


def filesystem(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The fsspec file system of ``url`` and the path within it; pyarrow takes it as ``filesystem=``."""
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def _fresh(url: str) -> tuple[fsspec.AbstractFileSystem, str]:
    fs, path = filesystem(url)
    if not is_local(url):
        fs.invalidate_cache(path)  # another node may have written or deleted since this one looked
    return fs, path


def exists(url: str) -> bool:
    if is_local(url):
        return os.path.exists(local_path(url))
    fs, path = _fresh(url)
    return bool(fs.exists(path))


def is_dir(url: str) -> bool:
    if is_local(url):
        return os.path.isdir(local_path(url))
    fs, path = _fresh(url)
    return bool(fs.isdir(path))


def list_files(url: str) -> list[str]:
    """Every file under the folder ``url`` (recursively), as full paths or URLs, sorted; none if absent."""
    if is_local(url):
        root = local_path(url)
        return sorted(os.path.join(d, f) for d, _, files in os.walk(root) for f in files)
    fs, path = _fresh(url)
    protocol = url.split("://", 1)[0]
    return sorted(f"{protocol}://{p}" for p in fs.find(path))


def list_names(url: str) -> list[str]:
    """The names directly in the folder ``url`` (files and folders); none if absent."""
    if is_local(url):
        root = local_path(url)
        return sorted(os.listdir(root)) if os.path.isdir(root) else []
    fs, path = _fresh(url)
    if not fs.exists(path):
        return []
    return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(path, detail=False))


def size(url: str) -> int:
    if is_local(url):
        return os.path.getsize(local_path(url))
    fs, path = _fresh(url)
    return int(fs.size(path))


def read_bytes(url: str) -> bytes:
    if is_local(url):
        with open(local_path(url), "rb") as f:
            return f.read()
    fs, path = filesystem(url)
    return bytes(fs.cat_file(path))


def read_range(url: str, start: int, end: int | None = None) -> bytes:
    """Bytes ``start`` to ``end`` (exclusive) of ``url`` in one read; a negative ``start`` with no ``end``
    reads the last ``-start`` bytes (one ranged GET on an object store, no size lookup)."""
    if is_local(url):
        with open(local_path(url), "rb") as f:
            if start < 0:
                f.seek(max(0, os.fstat(f.fileno()).st_size + start))
                return f.read()
            f.seek(start)
            return f.read() if end is None else f.read(end - start)
    fs, path = filesystem(url)
    return bytes(fs.cat_file(path, start=start, end=end))


def read_json(url: str) -> Any:
    return json.loads(read_bytes(url))


def open_input(url: str) -> IO[bytes]:
    """``url`` opened for reading (random access: Parquet footers are read from the end)."""
    if is_local(url):
        return open(local_path(url), "rb")
    fs, path = filesystem(url)
    return fs.open(path, "rb")


@contextmanager
def open_atomic(url: str) -> Iterator[IO[bytes]]:
    """A binary file to write ``url`` through; it appears under ``url`` only if the block ends without
    an error (else nothing of it remains)."""
    if is_local(url):
        path = local_path(url)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = f"{path}{TEMPORARY_SUFFIX}{uuid.uuid4().hex[:12]}"
        try:
            with open(tmp, "wb") as f:
                yield f
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return
    fs, path = filesystem(url)
    out = fs.open(path, "wb")
    try:
        yield out
    except BaseException:
        discard = getattr(out, "discard", None)  # s3fs and gcsfs: abort the upload, publish nothing
        if discard is not None:
            discard()
            out.closed = True  # nothing left to flush: its finaliser must not upload the rest
        else:
            out.close()
            fs.rm(path)
        raise
    out.close()


@contextmanager
def local_staging(url: str) -> Iterator[str]:
    """A local path to write ``url`` through with libraries that take only paths (tokenizers, numpy
    memory maps): locally a temporary name renamed at the end, for an object store a temporary file
    uploaded at the end. Nothing appears under ``url`` if the block raises."""
    if is_local(url):
        path = local_path(url)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = f"{path}{TEMPORARY_SUFFIX}{uuid.uuid4().hex[:12]}"
        try:
            yield tmp
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="fwp-stage-") as folder:
        tmp = os.path.join(folder, basename(url))
        yield tmp
        fs, path = filesystem(url)
        fs.put_file(tmp, path)


def write_bytes(url: str, data: bytes) -> None:
    """Write ``data`` to ``url`` atomically."""
    with open_atomic(url) as f:
        f.write(data)


def write_json(data: Any, url: str) -> None:
    """Write ``data`` as indented JSON, atomically."""
    write_bytes(url, (json.dumps(data, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))


def create_exclusive(url: str, data: bytes) -> bool:
    """Create ``url`` holding ``data`` unless it exists; whether this call created it. Atomic against
    other processes and nodes: ``O_EXCL`` locally, a conditional PUT on an object store."""
    if is_local(url):
        path = local_path(url)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return True
    fs, path = filesystem(url)
    try:
        fs.pipe_file(path, data, mode="create")
    except FileExistsError:
        return False
    except OSError as exc:  # s3fs reports a failed precondition (the object exists) as an OSError
        if "PreconditionFailed" in str(exc) or "412" in str(exc):
            return False
        raise
    return True


def remove(url: str) -> bool:
    """Delete the file or folder ``url``; whether there was one."""
    if is_local(url):
        path = local_path(url)
        if os.path.isdir(path):
            import shutil

            shutil.rmtree(path)
            return True
        if os.path.exists(path):
            os.remove(path)
            return True
        return False
    fs, path = _fresh(url)
    if not fs.exists(path):
        return False
    fs.rm(path, recursive=True)
    return True


def make_dirs(url: str) -> None:
    """Create the local folder ``url`` (object stores have no folders)."""
    if is_local(url):
        os.makedirs(local_path(url), exist_ok=True)
