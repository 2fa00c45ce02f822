"""The texts an ablation reads: each run's kept documents (its ``documents/`` folder), chosen by a seeded
key so that samples and validation splits do not depend on file order, and the held-out evaluation texts
(a plain text file, any input the readers take that carries text, or a run output folder)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import xxhash

from fineweb_pipe import schema
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.readers import reader_for
from fineweb_pipe.stats import ReaderCounts

DOCUMENTS = "documents"
READ_BATCH_ROWS = 1024
KEY_SEED = 20240520  # fixed: the same document is in the same split and sample in every ablation


def document_files(folder: str) -> list[str]:
    """The Parquet files of a finished run's ``documents/`` folder (or of a folder of Parquet files)."""
    documents = os.path.join(folder, DOCUMENTS)
    root = documents if os.path.isdir(documents) else folder
    if not os.path.isdir(root):
        raise ConfigurationError(f"{folder}: no such folder; give the output folder of a finished "
                                 "`fineweb-pipe run` (it holds documents/)")
    files = sorted(str(p) for p in Path(root).rglob("*.parquet") if not p.name.startswith(("_", ".")))
    if not files:
        raise ConfigurationError(f"{root}: no Parquet documents; give the output folder of a finished "
                                 "`fineweb-pipe run` (documents/*.parquet)")
    return files


def text_batches(files: list[str]) -> Iterator[tuple[list[str], list[str]]]:
    """(ids, texts) of the documents of ``files``, in file and row order; a missing text is empty."""
    for path in files:
        columns = [schema.ID, schema.TEXT]
        if schema.TEXT not in pq.read_schema(path).names:
            raise ConfigurationError(f"{path}: no '{schema.TEXT}' column; give documents after extraction")
        for batch in pq.ParquetFile(path).iter_batches(READ_BATCH_ROWS, columns=columns):
            ids = batch.column(schema.ID).to_pylist()
            texts = [t or "" for t in batch.column(schema.TEXT).to_pylist()]
            yield [i if i is not None else f"{path}:{n}" for n, i in enumerate(ids)], texts


@dataclass(frozen=True)
class DocumentIndex:
    """Per document of a run, in reading order: its key (a seeded hash of its id) and its UTF-8 size."""

    keys: np.ndarray  # uint64
    sizes: np.ndarray  # int64 bytes

    @property
    def bytes(self) -> int:
        return int(self.sizes.sum())

    def smallest_keys(self, budget: int, among: np.ndarray | None = None) -> np.ndarray:
        """A mask of the documents of smallest key (among ``among``) whose sizes add up to ``budget`` bytes,
        the last one crossing it; at least one document when there is any."""
        candidates = np.flatnonzero(among if among is not None else np.ones(len(self.keys), bool))
        order = candidates[np.argsort(self.keys[candidates], kind="stable")]
        before = np.cumsum(self.sizes[order]) - self.sizes[order]  # bytes taken before each one
        chosen = np.zeros(len(self.keys), dtype=bool)
        chosen[order[before < budget]] = True
        return chosen


def document_key(document_id: str) -> int:
    return xxhash.xxh3_64_intdigest(document_id.encode("utf-8"), seed=KEY_SEED)


def index_documents(files: list[str]) -> DocumentIndex:
    keys: list[int] = []
    sizes: list[int] = []
    for ids, texts in text_batches(files):
        keys += [document_key(i) for i in ids]
        sizes += [len(t.encode("utf-8")) for t in texts]
    return DocumentIndex(np.array(keys, dtype=np.uint64), np.array(sizes, dtype=np.int64))


def chosen_texts(files: list[str], chosen: np.ndarray) -> list[str]:
    """The texts of the documents ``chosen`` marks (a mask in reading order)."""
    texts: list[str] = []
    at = 0
    for _, batch in text_batches(files):
        texts += [t for t, keep in zip(batch, chosen[at:at + len(batch)]) if keep]
        at += len(batch)
    return texts


def eval_name(path: str) -> str:
    """A held-out set's name in tables: its file name without extensions (its folder name for a folder)."""
    name = Path(path.rstrip("/")).name
    for suffix in (".gz", ".zst", ".jsonl", ".json", ".parquet", ".txt", ".wet", ".warc"):
        name = name.removesuffix(suffix)
    return name


def eval_texts(path: str, max_bytes: int) -> list[str]:
    """The first ``max_bytes`` UTF-8 bytes of a held-out set as documents (the last one cut there).

    A ``.txt`` file is one document; a folder is a run output (its documents/) or a folder of Parquet
    files; any other file goes through the reader its name picks (JSONL, Parquet, WET: their ``text``)."""
    if not os.path.exists(path):
        raise ConfigurationError(f"--eval {path}: no such file or folder")
    if os.path.isdir(path):
        batches: Iterator[list[str]] = (texts for _, texts in text_batches(document_files(path)))
    elif path.endswith(".txt"):
        with open(path, encoding="utf-8", errors="replace") as f:
            batches = iter([[f.read()]])
    else:
        batches = _reader_texts(path)
    texts: list[str] = []
    left = max_bytes
    for batch in batches:
        for text in batch:
            data = text.encode("utf-8")
            if len(data) >= left:
                texts.append(data[:left].decode("utf-8", errors="ignore"))  # a cut character is dropped whole
                return texts
            texts.append(text)
            left -= len(data)
    return texts


def _reader_texts(path: str) -> Iterator[list[str]]:
    try:
        reader = reader_for(path)
    except ValueError as exc:
        raise ConfigurationError(f"--eval {path}: {exc}; or give a .txt file") from exc
    for table in reader.iter_batches(path, ReaderCounts()):
        if schema.TEXT not in table.column_names:
            raise ConfigurationError(f"--eval {path}: its documents have no text (a WARC holds HTML): extract "
                                     "them first, e.g. `fineweb-pipe run pipelines/extract_only.py --input "
                                     f"{path} --output heldout/`, and pass heldout/")
        yield [t or "" for t in table.column(schema.TEXT).to_pylist()]
