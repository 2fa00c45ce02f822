"""One tokenizer for every variant, and each variant's documents in its own token shards.

The tokenizer is trained on an equal number of bytes from each run (the documents of smallest key outside
its validation split), so no variant's text shapes the vocabulary more than another's and losses stay
comparable; or it is the one the user gives. Each variant is then encoded into llm.c shards with a
``manifest.json`` (``docs/token-shards.md``), which ``fineweb-pipe train`` reads: ``val`` holds the
documents of smallest key up to the plan's ``val_bytes`` (at most a tenth of the run), ``train`` the rest.
``variant.json`` is written last: a variant folder that has it is complete and is reused on resume.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass

import numpy as np

from fineweb_pipe.ablate.corpus import KEY_SEED, DocumentIndex, chosen_texts, document_files, index_documents, text_batches
from fineweb_pipe.ablate.plan import Plan
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.storage import write_json
from fineweb_pipe.tokens.shards import (
    Delimiter, Manifest, ShardInfo, Split, TokenizerRef, file_sha256, index_file_name, shard_file_name, token_dtype,
    write_index, write_shard,
)
from fineweb_pipe.tokens.tokenizer import ENDOFTEXT, Encoder, TokenizerSpec, pattern_regex, train_bpe

TOKENIZER_FILE = "tokenizer.json"
VARIANT_FILE = "variant.json"
SHARD_TOKENS = 100_000_000
VAL_SHARE = 0.1  # of a run's bytes, at most, in its validation split


@dataclass(frozen=True)
class Variant:
    """One run's documents as token shards, and what was put where."""

    name: str
    run: str
    tokens_folder: str
    documents: int
    train_tokens: int
    train_documents: int
    val_tokens: int
    val_documents: int
    val_bytes: int  # UTF-8 bytes of the validation documents' text, for its bits per byte
    tokenizer_sample_bytes: int  # bytes of this run in the shared tokenizer's training sample (0: given)

    def epochs(self, trained_tokens: int) -> float:
        """How many times a run of ``trained_tokens`` reads this variant's training split."""
        return trained_tokens / max(self.train_tokens, 1)


def validation_split(index: DocumentIndex, val_bytes: int) -> np.ndarray:
    """The mask of a run's validation documents: smallest keys up to ``val_bytes``, at most a tenth of it."""
    budget = min(val_bytes, int(index.bytes * VAL_SHARE))
    return index.smallest_keys(budget) if budget > 0 else np.zeros(len(index.keys), bool)


def shared_tokenizer(plan: Plan, out: str, indexes: dict[str, DocumentIndex]) -> tuple[str, dict[str, int]]:
    """The tokenizer file every variant is encoded with, and the bytes each run gave to train it.

    Trained once into ``OUT/tokenizer.json`` (reused on resume) unless the plan names one."""
    if plan.tokenizer is not None:
        return plan.tokenizer, dict.fromkeys(plan.names, 0)
    path = os.path.join(out, TOKENIZER_FILE)
    sample_record = os.path.join(out, "tokenizer_sample.json")
    if os.path.exists(path) and os.path.exists(sample_record):
        with open(sample_record, encoding="utf-8") as f:
            return path, json.load(f)
    train_masks = {name: ~validation_split(indexes[name], plan.val_bytes) for name in plan.names}
    per_run = min([plan.tokenizer_bytes] + [int(indexes[n].sizes[train_masks[n]].sum()) for n in plan.names])
    texts: list[str] = []
    given: dict[str, int] = {}
    for name, run in zip(plan.names, plan.runs):
        sample = chosen_texts(document_files(run), indexes[name].smallest_keys(per_run, train_masks[name]))
        given[name] = sum(len(t.encode("utf-8")) for t in sample)
        texts += sample
    train_bpe(texts, path, plan.vocab_size)
    write_json(given, sample_record)  # after the tokenizer: its presence means both are complete
    return path, given


def load_encoder(path: str) -> Encoder:
    try:
        encoder = TokenizerSpec(path).load()
        encoder.token_id(ENDOFTEXT)
    except KeyError as exc:
        raise ConfigurationError(f"--tokenizer {path}: it has no {ENDOFTEXT} token, which every document starts "
                                 "with in the shards; train it with that special token") from exc
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"--tokenizer {path}: cannot be loaded ({exc}); give a tokenizer.json or a "
                                 "tiktoken BPE file") from exc
    return encoder


class _ShardWriter:
    """Documents of one split appended in order, written as llm.c shards of about SHARD_TOKENS each."""

    def __init__(self, folder: str, name: str, split: Split, dtype: np.dtype) -> None:
        self.folder, self.name, self.split, self.dtype = folder, name, split, dtype
        self.parts: list[np.ndarray] = []
        self.pending = 0
        self.shards: list[ShardInfo] = []

    def add(self, document: np.ndarray) -> None:
        self.parts.append(document)
        self.pending += len(document)
        if self.pending >= SHARD_TOKENS:
            self.flush()

    def flush(self) -> None:
        if not self.parts:
            return
        file = shard_file_name(self.name, self.split, len(self.shards))
        tokens = np.concatenate(self.parts).astype(self.dtype)
        starts = np.cumsum([0] + [len(p) for p in self.parts[:-1]])
        sha = write_shard(os.path.join(self.folder, file), tokens)
        write_index(os.path.join(self.folder, index_file_name(file)), starts)
        self.shards.append(ShardInfo(file, self.split, len(tokens), len(self.parts), index_file_name(file), sha))
        self.parts, self.pending = [], 0


def tokenize_variant(name: str, run: str, folder: str, encoder: Encoder, tokenizer_path: str,
                     index: DocumentIndex, val_bytes: int, sample_bytes: int) -> Variant:
    """Encode ``run``'s documents into ``folder``: each document preceded by ``<|endoftext|>``."""
    os.makedirs(folder, exist_ok=True)
    delimiter = encoder.token_id(ENDOFTEXT)
    dtype = token_dtype(encoder.vocab_size)
    is_val = validation_split(index, val_bytes)
    if is_val.all():
        raise ConfigurationError(f"{run}: its {len(is_val)} documents are too few to hold out a validation split "
                                 "and still train on some; run the pipeline on more input")
    writers = {split: _ShardWriter(folder, "ablate", split, dtype) for split in ("train", "val")}
    at = 0
    for _, texts in text_batches(document_files(run)):
        for ids, val in zip(encoder.encode_batch(texts), is_val[at:at + len(texts)]):
            writers["val" if val else "train"].add(np.array([delimiter, *ids], dtype=np.int64))
        at += len(texts)
    for writer in writers.values():
        writer.flush()
    tokenizer_copy = os.path.join(folder, os.path.basename(tokenizer_path))
    shutil.copyfile(tokenizer_path, tokenizer_copy)
    file, sha = os.path.basename(tokenizer_path), file_sha256(tokenizer_copy)
    # A tiktoken file does not carry its split regex and special tokens: the manifest records them.
    ref = (TokenizerRef(file, sha, "hf") if encoder.spec.kind == "hf"
           else TokenizerRef(file, sha, "tiktoken", pattern_regex(encoder.spec.pattern), [ENDOFTEXT]))
    manifest = Manifest(
        format="llmc", dtype=dtype.name, vocab_size=encoder.vocab_size, tokenizer=ref,
        delimiter=Delimiter(ENDOFTEXT, delimiter, "bos"), seed=KEY_SEED,
        shards=writers["train"].shards + writers["val"].shards, shard_tokens=SHARD_TOKENS)
    manifest.save(folder)
    variant = Variant(
        name=name, run=run, tokens_folder=folder, documents=len(is_val),
        train_tokens=manifest.totals["train"]["tokens"], train_documents=manifest.totals["train"]["documents"],
        val_tokens=manifest.totals["val"]["tokens"], val_documents=manifest.totals["val"]["documents"],
        val_bytes=int(index.sizes[is_val].sum()), tokenizer_sample_bytes=sample_bytes)
    write_json(asdict(variant), os.path.join(folder, VARIANT_FILE))
    return variant


def load_variant(folder: str) -> Variant | None:
    path = os.path.join(folder, VARIANT_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return Variant(**json.load(f))


def prepare_variants(plan: Plan, out: str) -> tuple[str, list[Variant]]:
    """The shared tokenizer's path and every variant's shards, made where an earlier call did not."""
    folders = {name: os.path.join(out, "variants", _folder_name(name)) for name in plan.names}
    done = {name: load_variant(folders[name]) for name in plan.names}
    tokenizer_ready = plan.tokenizer is not None or os.path.exists(os.path.join(out, "tokenizer_sample.json"))
    needed = [n for n in plan.names if done[n] is None or not tokenizer_ready]
    indexes = {name: index_documents(document_files(run)) for name, run in zip(plan.names, plan.runs)
               if name in needed}
    tokenizer_path, sample_bytes = shared_tokenizer(plan, out, indexes)
    encoder = load_encoder(tokenizer_path)
    variants = []
    for name, run in zip(plan.names, plan.runs):
        variant = done[name] or tokenize_variant(name, run, folders[name], encoder, tokenizer_path, indexes[name],
                                                 plan.val_bytes, sample_bytes[name])
        variants.append(variant)
    return tokenizer_path, variants


def _folder_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
