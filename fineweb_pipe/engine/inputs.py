"""A run's inputs: what the user named, expanded to files, each named by a key that survives respelling.

An input's *key* is its path relative to what the user named (the folder, the glob's fixed part, or the
file's own folder), so ``in/a.warc.gz``, ``in//a.warc.gz``, ``./in/a.warc.gz`` and the same folder moved
elsewhere or unpacked by ``ray job submit --working-dir`` all give ``a.warc.gz``. Where a file would take
a key an earlier one has, folders of its real path are added until it does not. A shard's id derives
from the key, never from how a path was spelled. The same file named twice (two spellings, a symlink)
is read once, with a note; files under the output folder are never inputs.

An input's *version* (size plus a digest of its first and last 64 KiB, or an object store's ETag) lets a
resumed run tell that an input changed since the run began.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import fsspec

from fineweb_pipe import storage
from fineweb_pipe.errors import ConfigurationError

EDGE_BYTES = 64 << 10  # head and tail of a local file that go into its version
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class InputFile:
    key: str  # the path relative to what the user named: the input's identity across spellings
    path: str  # where it is read from now (a real local path, or a URI)
    size: int
    version: str

    @property
    def shard(self) -> str:
        """A stable, file-system-safe shard id: the file's name without extensions plus a hash of the key."""
        stem = PurePosixPath(self.key).name
        for ext in (".gz", ".zst", ".jsonl", ".json", ".parquet", ".warc", ".wet", ".arc"):
            stem = stem.removesuffix(ext)
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "shard"
        return f"{stem}-{hashlib.sha1(self.key.encode()).hexdigest()[:8]}"

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "path": self.path, "size": self.size, "version": self.version}


@dataclass
class Inputs:
    files: list[InputFile]
    notes: list[str]  # what was set aside and why (the same file twice, files under the output)


def find_inputs(specs: Sequence[str], patterns: Sequence[str], output: str) -> Inputs:
    """Every file named by ``specs`` (files, folders searched for ``patterns``, globs, URIs), sorted by key.

    Raises :class:`ConfigurationError` naming a spec that matches nothing.
    """
    output_real = os.path.realpath(output) if storage.is_local(output) else output.rstrip("/")
    found: dict[str, tuple[str, str, dict[str, Any]]] = {}  # real path -> (spec, path relative to it, info)
    notes: list[str] = []
    under_output = 0
    for spec in specs:
        fs, _, paths = fsspec.get_fs_token_paths(spec)
        remote = _protocol(fs) not in ("file", "local")
        if not paths:
            raise ConfigurationError(f"input {spec!r} matches no file; check the path or glob")
        base = _base_of(spec, paths[0], fs)
        for path in paths:
            if fs.isdir(path):
                every = fs.find(path, detail=True)
                below = {p: info for p, info in every.items()
                         if any(fnmatch.fnmatch(p.rsplit("/", 1)[-1], pat) for pat in patterns)}
                if not below:
                    raise ConfigurationError(f"folder {spec!r} holds no file matching {list(patterns)}")
                if len(below) < len(every):  # said, not silently passed over (a .WARC.GZ, a .wat.gz)
                    left = sorted(p.rsplit("/", 1)[-1] for p in every if p not in below)
                    notes.append(f"{len(left)} files in {spec!r} match no reader's names and are not read: "
                                 f"{', '.join(left[:5])}{', ...' if len(left) > 5 else ''}")
            elif fs.exists(path):
                below = {path: fs.info(path)}
            else:
                raise ConfigurationError(f"input {spec!r} does not exist")
            for file, info in below.items():
                real = f"{_protocol(fs)}://{file}" if remote else os.path.realpath(file)
                if real == output_real or real.startswith(output_real + ("/" if remote else os.sep)):
                    under_output += 1
                    continue
                relative = file[len(base):].lstrip("/") if file.startswith(base) else file.rsplit("/", 1)[-1]
                if real in found:
                    notes.append(f"{spec!r} names {real} again (as {relative!r}): read once")
                    continue
                found[real] = (spec, relative, info)
    if under_output:
        notes.append(f"{under_output} files under the output folder {output} are outputs, not inputs: not read")
    if not found:
        raise ConfigurationError(f"no input file left to read in {list(specs)}" +
                                 (f" ({notes[-1]})" if notes else ""))
    keys = _unique_keys({real: relative for real, (_, relative, _) in found.items()})
    files = [InputFile(keys[real], real, int(info.get("size") or 0), _version(real, info)) for real, (_, _, info) in found.items()]
    return Inputs(sorted(files, key=lambda f: f.key), notes)


def _protocol(fs: fsspec.AbstractFileSystem) -> str:
    return fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]


def _base_of(spec: str, first: str, fs: fsspec.AbstractFileSystem) -> str:
    """The folder a spec's files are named relative to: the folder itself, a glob's fixed part, or
    a single file's folder."""
    stripped = fs._strip_protocol(spec)  # noqa: SLF001 - fsspec's own normalisation of the user's text
    if _GLOB_CHARS.search(stripped):
        fixed = _GLOB_CHARS.split(stripped, 1)[0]
        return fixed.rsplit("/", 1)[0] if "/" in fixed else ""
    return first if fs.isdir(first) else first.rsplit("/", 1)[0]


def _unique_keys(relative: dict[str, str]) -> dict[str, str]:
    """Each real path's key: its relative path; a file whose key an earlier one (in the order the user
    named them) took gets folders of its real path added until it is unique, so that naming more inputs
    after the earlier ones never renames those."""
    keys: dict[str, str] = {}
    taken: set[str] = set()
    for real, key in relative.items():
        parts = real.split("://")[-1].strip("/").split("/")
        depth = len(key.split("/"))
        while key in taken and depth < len(parts):
            depth += 1
            key = "/".join(parts[-depth:])
        keys[real] = key
        taken.add(key)
    return keys


def _version(real: str, info: dict[str, Any]) -> str:
    """What changes when the file does: an object store's ETag, else a digest of size, head and tail."""
    etag = info.get("ETag") or info.get("etag") or info.get("md5Hash")
    if etag:
        return f"etag:{str(etag).strip(chr(34))}"
    if "://" in real:
        return f"size:{info.get('size')}"
    digest = hashlib.sha1(str(info.get("size")).encode())
    with open(real, "rb") as f:
        digest.update(f.read(EDGE_BYTES))
        size = os.fstat(f.fileno()).st_size
        if size > 2 * EDGE_BYTES:
            f.seek(size - EDGE_BYTES)
        digest.update(f.read(EDGE_BYTES))
    return f"sha1-edges:{digest.hexdigest()[:16]}"
