"""Block list files: plain text (one entry per line, ``#`` comments, ``.gz`` allowed) or the UT1
blacklist layout (``<dir>/<category>/domains`` and ``<dir>/<category>/urls``), compiled once into
memory-mapped hash sets cached on disk and keyed by the files' identity (path, size, mtime)."""

from __future__ import annotations

import fcntl
import gzip
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import xxhash

from fineweb_pipe.stages.url.hash_set import MappedHashSet, hash_entries

DEFAULT_LISTS_DIR = Path(__file__).parent / "lists"
DEFAULT_CACHE_DIR = Path(os.environ.get("FINEWEB_PIPE_CACHE", Path.home() / ".cache" / "fineweb_pipe")) / "url_lists"
_FORMAT = b"1"  # bump when hashing or normalisation changes, so old caches are not reused
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")


def default_list(name: str) -> str:
    return str(DEFAULT_LISTS_DIR / name)


def read_lines(path: str | os.PathLike) -> list[bytes]:
    """Entries of a list file, lower-cased, without blank lines or ``#`` comments."""
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise FileNotFoundError(f"cannot read block list {path}: {exc}; check the path") from exc
    if b"#" not in data:  # the common case for big lists: one fast split
        return data.lower().split()
    lines = (line.strip() for line in data.lower().splitlines())
    return [line for line in lines if line and not line.startswith(b"#")]


def read_words(paths: Sequence[str | os.PathLike]) -> frozenset[str]:
    return frozenset(w.decode("utf-8", "replace") for p in paths for w in read_lines(p))


def ut1_files(dirs: Sequence[str | os.PathLike], categories: Sequence[str] | None, kind: str) -> list[str]:
    """``<dir>/<category>/<kind>`` (or ``<kind>.gz``) for each category (None: every category found)."""
    files = []
    for folder in map(Path, dirs):
        if not folder.is_dir():
            raise FileNotFoundError(f"block list folder {folder} does not exist (expected UT1 layout "
                                    "<dir>/<category>/domains)")
        found = sorted(p.name for p in folder.iterdir() if p.is_dir())
        for category in categories if categories is not None else found:
            if category not in found:
                raise FileNotFoundError(f"category {category!r} not in {folder} (found: {', '.join(found)})")
            for name in (kind, f"{kind}.gz"):
                if (folder / category / name).is_file():
                    files.append(str(folder / category / name))
    return files


def normalize_url(url: str) -> str:
    """Lower case, no scheme, no leading ``www.``, no fragment, no trailing slash: the form in which
    URLs are compared with URL lists (UT1 lists them without a scheme)."""
    url = _SCHEME.sub("", url.strip().lower(), count=1).split("#", 1)[0]
    return url.removeprefix("www.").rstrip("/")


def _url_entries(path: str) -> list[bytes]:
    return [normalize_url(e.decode("utf-8", "replace")).encode() for e in read_lines(path)]


def _domain_entries(path: str) -> list[bytes]:
    return [e.rstrip(b".") for e in read_lines(path)]


def _cache_key(kind: str, files: Sequence[str]) -> str:
    h = xxhash.xxh3_128(_FORMAT + kind.encode())
    for path in sorted(os.path.abspath(f) for f in files):
        st = os.stat(path)
        h.update(f"\0{path}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    return h.hexdigest()


def compiled_set(kind: str, files: Sequence[str], cache_dir: str | os.PathLike) -> MappedHashSet:
    """The hash set of all entries of ``files`` (``kind``: "domains" or "urls"), built on first use and
    then mapped from the cache. A lock makes concurrent workers wait for one build instead of racing."""
    if not files:
        return MappedHashSet(np.empty(0, dtype=np.uint64))
    entries: Callable[[str], list[bytes]] = _url_entries if kind == "urls" else _domain_entries
    path = Path(cache_dir) / f"{kind}-{_cache_key(kind, files)}.npy"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{path}.lock", "wb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not path.exists():
                MappedHashSet.build(np.concatenate([hash_entries(entries(f)) for f in files]), str(path))
    return MappedHashSet.open(str(path))
