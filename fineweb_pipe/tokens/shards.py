"""Token shards on disk: llm.c ``.bin`` files, their document index and the set's ``manifest.json``.

The contract is ``docs/token-shards.md``. A shard is a 1024-byte header (256 little-endian int32:
magic, version, token count) followed by the tokens, uint16 (magic 20240520, version 1) or uint32 for
vocabularies above 65,536 (magic 20240801, version 7). Beside each shard, ``{shard}.idx.npy`` holds
the int64 start offset of every document in it. ``manifest.json`` is written last: its presence means
the set is complete. Readers memory-map, so a training process touches only the pages it reads.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from fineweb_pipe.storage import local_staging, write_json

HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
MAGIC_UINT16 = 20240520
MAGIC_UINT32 = 20240801
VERSION_BY_MAGIC = {MAGIC_UINT16: 1, MAGIC_UINT32: 7}
DTYPE_BY_MAGIC: dict[int, np.dtype] = {MAGIC_UINT16: np.dtype("<u2"), MAGIC_UINT32: np.dtype("<u4")}
MANIFEST = "manifest.json"
INDEX_SUFFIX = ".idx.npy"
UINT16_VOCAB_LIMIT = 2**16

Format = Literal["llmc", "megatron"]
Split = Literal["train", "val"]
SPLITS: tuple[Split, ...] = ("train", "val")
Position = Literal["bos", "eos"]


class ShardError(ValueError):
    """A shard, index or manifest that does not match the contract; the message names the file."""


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocab_size <= 65,536), else uint32; always little-endian."""
    return np.dtype("<u2") if vocab_size <= UINT16_VOCAB_LIMIT else np.dtype("<u4")


def shard_file_name(name: str, split: Split, index: int) -> str:
    """llm.c's naming: ``{name}_{split}_{index:06d}.bin``."""
    return f"{name}_{split}_{index:06d}.bin"


def index_file_name(shard_file: str) -> str:
    return shard_file + INDEX_SUFFIX


@dataclass(frozen=True)
class Header:
    """The parsed llm.c header of one shard."""

    magic: int
    version: int
    tokens: int

    @property
    def dtype(self) -> np.dtype:
        return DTYPE_BY_MAGIC[self.magic]


def header_bytes(tokens: int, dtype: np.dtype) -> bytes:
    """The 1024-byte llm.c header for ``tokens`` tokens of ``dtype`` (uint16 or uint32)."""
    magic = MAGIC_UINT16 if np.dtype(dtype).itemsize == 2 else MAGIC_UINT32
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[:3] = (magic, VERSION_BY_MAGIC[magic], tokens)
    return header.tobytes()


def read_header(path: str) -> Header:
    """Parse and check a shard's header: magic, version, and file size == 1024 + itemsize x count."""
    with open(path, "rb") as f:
        raw = f.read(HEADER_BYTES)
    if len(raw) < HEADER_BYTES:
        raise ShardError(f"{path}: {len(raw)} bytes, shorter than the {HEADER_BYTES}-byte llm.c header")
    magic, version, tokens = (int(v) for v in np.frombuffer(raw, dtype="<i4", count=3))
    if magic not in VERSION_BY_MAGIC:
        raise ShardError(f"{path}: magic {magic} at offset 0 is not llm.c's ({MAGIC_UINT16} or {MAGIC_UINT32})")
    if version != VERSION_BY_MAGIC[magic]:
        raise ShardError(f"{path}: version {version} at offset 4, expected {VERSION_BY_MAGIC[magic]} for magic {magic}")
    header = Header(magic=magic, version=version, tokens=tokens)
    expected = HEADER_BYTES + header.dtype.itemsize * tokens
    size = os.path.getsize(path)
    if size != expected:
        raise ShardError(f"{path}: {size} bytes, but the header's count {tokens} needs {expected}; "
                         "the file is truncated or was not written by a shard writer")
    return header


def open_tokens(path: str) -> np.memmap:
    """The tokens of an llm.c shard, memory-mapped read-only (the header is checked first)."""
    header = read_header(path)
    return np.memmap(path, dtype=header.dtype, mode="r", offset=HEADER_BYTES, shape=(header.tokens,))


def write_shard(path: str, tokens: np.ndarray) -> str:
    """Write an llm.c shard atomically; ``tokens`` must already have the shard's dtype. Returns its sha256."""
    if tokens.dtype not in (np.dtype("<u2"), np.dtype("<u4")):
        raise ValueError(f"{path}: tokens must be uint16 or uint32, got {tokens.dtype}")
    return write_hashed(path, [header_bytes(len(tokens), tokens.dtype), tokens])


def write_hashed(path: str, parts: Sequence[bytes | np.ndarray]) -> str:
    """Write ``parts`` back to back to ``path`` atomically and return the sha256 of what was written."""
    digest = hashlib.sha256()
    with local_staging(path) as tmp, open(tmp, "wb") as f:
        for part in parts:
            data = np.ascontiguousarray(part).data.cast("B") if isinstance(part, np.ndarray) else part
            f.write(data)
            digest.update(data)
    return digest.hexdigest()


def write_index(path: str, starts: np.ndarray) -> None:
    """Write a shard's document start offsets (int64, in tokens after the header) atomically."""
    with local_staging(path) as tmp, open(tmp, "wb") as f:
        np.save(f, np.asarray(starts, dtype="<i8"))


def read_index(path: str) -> np.ndarray:
    """A shard's document start offsets, memory-mapped."""
    return np.load(path, mmap_mode="r")


def document_bounds(starts: np.ndarray, tokens: int) -> np.ndarray:
    """(start, end) per document: each runs to the next start, the last to the shard's end."""
    starts = np.asarray(starts, dtype=np.int64)
    if not len(starts):  # a shard without documents
        return np.zeros((0, 2), dtype=np.int64)
    return np.stack([starts, np.append(starts[1:], tokens)], axis=1)


@dataclass(frozen=True)
class OutOfVocabulary:
    """Token ids of a shard outside ``[0, vocab_size)``: how many, where the first is, the smallest and
    largest of them."""

    count: int
    first: int  # token offset of the first one
    smallest: int
    largest: int

    def describe(self, path: str, vocab_size: int) -> str:
        ids = f"id {self.largest}" if self.smallest == self.largest else f"ids {self.smallest} to {self.largest}"
        plural = "s" if self.count > 1 else ""
        return (f"{path}: {self.count:,} token id{plural} outside the vocabulary of {vocab_size:,} ({ids}, the first "
                f"at token {self.first}); the shards were not written with this manifest's tokenizer or vocab_size")


def out_of_vocabulary(tokens: np.ndarray, vocab_size: int, chunk: int = 1 << 24) -> OutOfVocabulary | None:
    """The ids of ``tokens`` that a model of ``vocab_size`` cannot embed (None when all fit). Reads the
    tokens once, ``chunk`` at a time, so a memory-mapped shard is never copied whole."""
    count, first, smallest, largest = 0, -1, 0, 0
    for at in range(0, len(tokens), chunk):
        part = np.asarray(tokens[at:at + chunk])
        low, high = int(part.min()), int(part.max())
        if low >= 0 and high < vocab_size:
            continue
        outside = np.flatnonzero((part < 0) | (part >= vocab_size))
        values = part[outside]
        if first < 0:
            first, smallest, largest = at + int(outside[0]), int(values.min()), int(values.max())
        count += len(outside)
        smallest, largest = min(smallest, int(values.min())), max(largest, int(values.max()))
    return OutOfVocabulary(count, first, smallest, largest) if count else None


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class TokenizerRef:
    """The tokenizer file saved beside the shards, its hash, and how to load it. A tiktoken file does not
    carry its split regex and special tokens, so they are recorded here (for ``hf`` they stay empty)."""

    file: str
    sha256: str
    kind: Literal["hf", "tiktoken"]
    pattern: str | None = None
    special_tokens: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Delimiter:
    """The token put once per document: before it (``bos``, as llm.c does) or after it (``eos``)."""

    token: str
    id: int
    position: Position


@dataclass(frozen=True)
class ShardInfo:
    file: str
    split: Split
    tokens: int
    documents: int
    index: str
    sha256: str


@dataclass
class Manifest:
    """``manifest.json``: everything a consumer needs to read a shard set (see docs/token-shards.md)."""

    format: Format
    dtype: str
    vocab_size: int
    tokenizer: TokenizerRef
    delimiter: Delimiter
    seed: int
    shards: list[ShardInfo]
    shard_tokens: int  # the target size; a shard holds at most this many tokens unless one document is longer
    totals: dict[Split, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.totals = {
            split: {"tokens": sum(s.tokens for s in self.shards if s.split == split),
                    "documents": sum(s.documents for s in self.shards if s.split == split)}
            for split in SPLITS
        }

    def split(self, split: Split) -> list[ShardInfo]:
        return [s for s in self.shards if s.split == split]

    def open_tokens(self, folder: str, shard: ShardInfo) -> np.ndarray:
        """The tokens of ``shard`` (in this set's format), memory-mapped."""
        path = os.path.join(folder, shard.file)
        if self.format == "llmc":
            return open_tokens(path)
        dtype = np.dtype(self.dtype).newbyteorder("<")
        if os.path.getsize(path) == 0:  # an empty shard: numpy cannot map an empty file
            return np.zeros(0, dtype)
        return np.memmap(path, dtype=dtype, mode="r")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, folder: str) -> None:
        write_json(self.to_json(), os.path.join(folder, MANIFEST))

    @classmethod
    def load(cls, folder: str) -> Manifest:
        path = os.path.join(folder, MANIFEST)
        if not os.path.exists(path):
            raise ShardError(f"{path} not found: the shard set is incomplete (the manifest is written last) "
                             "or the folder is not a token shard folder")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            return cls(
                format=data["format"],
                dtype=data["dtype"],
                vocab_size=data["vocab_size"],
                tokenizer=TokenizerRef(**data["tokenizer"]),
                delimiter=Delimiter(**data["delimiter"]),
                seed=data["seed"],
                shards=[ShardInfo(**s) for s in data["shards"]],
                shard_tokens=data["shard_tokens"],
            )
        except (KeyError, TypeError, ValueError) as e:  # ValueError: not JSON, or not UTF-8
            raise ShardError(f"{path}: not a token shard manifest ({e})") from e


def validate(folder: str, check_hashes: bool = False) -> list[str]:
    """Check a shard set against its manifest; returns the problems found (empty when sound).

    Checks per shard: header (llm.c) or size (megatron), dtype, that every token id is below the
    manifest's ``vocab_size`` (a model of that vocabulary cannot embed the others), token and document
    counts, that the index starts at 0, rises strictly and stays inside the shard, and that the delimiter
    sits at every document's start (bos) or end (eos); with ``check_hashes``, the sha256 of shards and
    tokenizer.
    """
    manifest = Manifest.load(folder)
    problems: list[str] = []
    for shard in manifest.shards:
        problems += _shard_problems(folder, manifest, shard, check_hashes)
    tokenizer_path = os.path.join(folder, manifest.tokenizer.file)
    if not os.path.exists(tokenizer_path):
        problems.append(f"{tokenizer_path}: tokenizer file named in the manifest is missing")
    elif check_hashes and file_sha256(tokenizer_path) != manifest.tokenizer.sha256:
        problems.append(f"{tokenizer_path}: sha256 differs from the manifest's")
    return problems


def _shard_problems(folder: str, manifest: Manifest, shard: ShardInfo, check_hashes: bool) -> list[str]:
    path = os.path.join(folder, shard.file)
    if not os.path.exists(path):
        return [f"{path}: shard listed in the manifest is missing"]
    try:
        tokens = manifest.open_tokens(folder, shard)
    except ShardError as e:
        return [str(e)]
    problems = []
    outside = out_of_vocabulary(tokens, manifest.vocab_size)
    if outside is not None:
        problems.append(outside.describe(path, manifest.vocab_size))
    if tokens.dtype != np.dtype(manifest.dtype):
        problems.append(f"{path}: tokens are {tokens.dtype}, the manifest says {manifest.dtype}")
    if len(tokens) != shard.tokens:
        problems.append(f"{path}: {len(tokens)} tokens, the manifest says {shard.tokens}")
    starts = read_index(os.path.join(folder, shard.index))
    if len(starts) != shard.documents:
        problems.append(f"{shard.index}: {len(starts)} documents, the manifest says {shard.documents}")
    if len(starts) and (starts[0] != 0 or np.any(np.diff(starts) <= 0) or starts[-1] >= len(tokens)):
        problems.append(f"{shard.index}: document starts must begin at 0, rise strictly and stay below "
                        f"the shard's {len(tokens)} tokens")
    elif len(starts):
        at = starts if manifest.delimiter.position == "bos" else np.append(starts[1:], len(tokens)) - 1
        wrong = np.flatnonzero(tokens[at] != manifest.delimiter.id)
        if len(wrong):
            problems.append(f"{path}: {len(wrong)} documents lack the delimiter {manifest.delimiter.id} at their "
                            f"{manifest.delimiter.position} (first at token {int(at[wrong[0]])})")
    if check_hashes and file_sha256(path) != shard.sha256:
        problems.append(f"{path}: sha256 differs from the manifest's")
    return problems


def documents(tokens: np.ndarray, starts: Sequence[int] | np.ndarray) -> list[np.ndarray]:
    """Split a shard's tokens into its documents (delimiter included) using its index."""
    return [tokens[a:b] for a, b in document_bounds(np.asarray(starts), len(tokens))]
