"""The benchmarks' n-gram index: a sorted array of 64-bit n-gram hashes and, per hash, the benchmark and
example it came from, as ``.npy`` files that every worker maps read-only, so the workers of a node share
one copy in the page cache instead of each holding its own.

N-grams are GPT-3's and datatrove's: words of the text lowercased, punctuation and accents removed
(:mod:`.normalize`; digits are kept), ``n`` consecutive words hashed as MinHash shingles are
(:func:`~.signatures.shingle_sets`). A text shorter than ``n`` words is one n-gram of all its words, so
a short example matches only a document that is exactly it.

An index on an object store is copied once per node into a local cache folder named by its manifest's
digest, and mapped from there.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fineweb_pipe import storage
from fineweb_pipe.dedup.benchmark_sets import Benchmark, read_examples
from fineweb_pipe.dedup.normalize import NormalizeConfig, normalize_batch
from fineweb_pipe.dedup.signatures import MinHashParams, shingle_hash, shingle_sets, shingles

HASHES, OWNERS, MANIFEST = "hashes.npy", "owners.npy", "manifest.json"
LOCAL_CACHE = os.path.join(tempfile.gettempdir(), "fineweb_pipe-ngram-index")
NORMALIZE = NormalizeConfig(fold_digits=False)  # "Janet has 16 eggs" and "... 61 eggs" are other texts


def ngram_params(n: int) -> MinHashParams:
    return MinHashParams(ngram=n, normalize=NORMALIZE)


def ngram_hashes(texts: Sequence[str | None], n: int) -> list[np.ndarray]:
    """Each text's distinct n-gram hashes (sorted uint64)."""
    return shingle_sets(texts, ngram_params(n))


def ngram_text(text: str, n: int, wanted: int) -> str:
    """The normalized n-gram of ``text`` whose hash is ``wanted`` (for the stats' samples)."""
    for shingle in shingles(text, ngram_params(n)):
        if shingle_hash(shingle) == wanted:
            return shingle.decode("utf-8", "surrogatepass")
    raise ValueError(f"no n-gram of the text has hash {wanted}")


def build_index(benchmarks: Sequence[Benchmark], n: int, folder: str) -> dict[str, Any]:
    """Index every example's n-grams into ``folder`` (each hash owned by the first example that has it, in
    the order of ``benchmarks`` and their files); returns the manifest, also written there last."""
    hashes, owners, described = [], [], []
    for b, benchmark in enumerate(benchmarks):
        examples = short = 0
        for texts in read_examples(benchmark):
            words = [len(t.split()) for t in normalize_batch(texts, NORMALIZE).split(b"\x00")]
            for i, (found, count) in enumerate(zip(ngram_hashes(texts, n), words), start=examples):
                short += 0 < count < n
                hashes.append(found)
                owners.append(np.repeat(np.array([[b, i]], np.int32), len(found), axis=0))
            examples += len(texts)
        described.append({"name": benchmark.name, "path": benchmark.path, "fields": list(benchmark.fields),
                          "bytes": storage.size(benchmark.path), "examples": examples, "shorter_than_n": short})
    all_hashes = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    all_owners = np.concatenate(owners) if owners else np.zeros((0, 2), np.int32)
    unique, first = np.unique(all_hashes, return_index=True)  # stable: the first example keeps a hash
    for name, array in ((HASHES, unique), (OWNERS, all_owners[first])):
        with storage.local_staging(storage.join(folder, name)) as path, open(path, "wb") as f:
            np.save(f, array)
    manifest = {"ngram": n, "normalize": NORMALIZE.__dict__, "ngrams": len(unique), "benchmarks": described}
    storage.write_json(manifest, storage.join(folder, MANIFEST))
    return manifest


@dataclass(frozen=True)
class NgramIndex:
    """A mapped index: ``hashes`` sorted, ``owners[i]`` = (benchmark, example) of ``hashes[i]``."""

    hashes: np.ndarray
    owners: np.ndarray
    names: tuple[str, ...]
    n: int

    def first_hits(self, texts: Sequence[str | None]) -> list[tuple[int, int, int] | None]:
        """Per text, its first n-gram found in the index as (hash, benchmark, example), or ``None``."""
        found: list[tuple[int, int, int] | None] = []
        for grams in ngram_hashes(texts, self.n):
            at = np.searchsorted(self.hashes, grams)
            hit = np.flatnonzero(at < len(self.hashes))
            hit = hit[self.hashes[at[hit]] == grams[hit]] if len(self.hashes) else hit[:0]
            if not len(hit):
                found.append(None)
                continue
            # The smallest owning (benchmark, example): the same answer whatever the text's n-gram order.
            owners = self.owners[at[hit]]
            j = int(np.lexsort((owners[:, 1], owners[:, 0]))[0])
            found.append((int(grams[hit[j]]), int(owners[j, 0]), int(owners[j, 1])))
        return found


_MAPPED: dict[str, NgramIndex] = {}  # per process, by manifest digest: a worker maps an index once


def open_index(folder: str) -> NgramIndex:
    """The index in ``folder``, mapped read-only (copied to this node's cache first if not local)."""
    raw = storage.read_bytes(storage.join(folder, MANIFEST))
    digest = hashlib.sha256(raw).hexdigest()[:16]
    if digest in _MAPPED:
        return _MAPPED[digest]
    local = storage.local_path(folder)
    if not storage.is_local(folder):
        local = os.path.join(LOCAL_CACHE, digest)
        fs, _ = storage.filesystem(folder)
        for name in (HASHES, OWNERS):
            if not os.path.exists(os.path.join(local, name)):
                # Atomic: tasks on one node that copy at once each publish a whole file.
                with storage.local_staging(os.path.join(local, name)) as path:
                    fs.get_file(storage.filesystem(storage.join(folder, name))[1], path)
    manifest = json.loads(raw)
    index = NgramIndex(np.load(os.path.join(local, HASHES), mmap_mode="r"),
                       np.load(os.path.join(local, OWNERS), mmap_mode="r"),
                       tuple(b["name"] for b in manifest["benchmarks"]), manifest["ngram"])
    _MAPPED[digest] = index
    return index
