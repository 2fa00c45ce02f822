"""``Tokenize``: the pipeline's last stage, documents in, a globally shuffled set of token shards out.

Rounds (each a parallel ``ctx.map`` exchanging files under ``ctx.work_dir``; no worker holds the corpus):

1. (training only) each input shard offers its documents with the smallest shuffle keys; one task keeps
   the globally smallest ``train_docs`` of them and trains a byte-level BPE on them;
2. each input shard is encoded into a token file plus (key, length) per document;
3. the driver orders all documents by key (metadata only: 16 bytes a document), splits off validation
   and cuts shards by cumulative token count, writing one plan per output shard;
4. each output shard is assembled from the token files its plan names, with its index.

A document's key is xxh3-64 of its id seeded with ``seed`` (ties broken by input shard id and row), so
the shard bytes depend on the input and seed only, never on the number of workers or their timing.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import chain
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from fineweb_pipe import schema
from fineweb_pipe.stage import GlobalContext, GlobalStage, Resources, ShardRef
from fineweb_pipe.tokens import megatron
from fineweb_pipe.tokens.shards import (
    MANIFEST, Delimiter, Format, Manifest, Position, ShardInfo, Split, TokenizerRef, file_sha256,
    index_file_name, shard_file_name, token_dtype, write_index, write_shard,
)
from fineweb_pipe.tokens.tokenizer import (
    ENDOFTEXT, Encoder, TokenizerSpec, fertility, pattern_regex, train_bpe, vocab_shortfall,
)
from fineweb_pipe.storage import local_staging

DOC_META = np.dtype([("key", "<u8"), ("length", "<i8")])  # per encoded document, in input order
PLAN = np.dtype([("source", "<i4"), ("offset", "<i8"), ("length", "<i8")])  # per output document, in order
READ_BATCH_ROWS = 1024
CHECK_DOCS = 16  # documents per input shard whose tiktoken ids are checked against HF's
TOP_TOKENS = 30
TOKENS_FOLDER = "tokens"  # in the run's output folder, unless out_dir says otherwise


def document_keys(ids: Sequence[str | None], seed: int, shard: str, first_row: int) -> np.ndarray:
    """The shuffle key of each document: xxh3-64 of its id (of shard and row when it has none)."""
    return np.fromiter(
        (xxhash.xxh3_64_intdigest((i if i is not None else f"{shard}:{first_row + n}").encode(), seed=seed)
         for n, i in enumerate(ids)), dtype="<u8", count=len(ids))


def _encoder(spec: TokenizerSpec) -> Encoder:
    # Keyed by the file's size and time too: a rerun in the same process may have trained a new one there.
    stat = os.stat(spec.path)
    return _cached_encoder(spec, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=2)
def _cached_encoder(spec: TokenizerSpec, size: int, mtime_ns: int) -> Encoder:
    # Loaded once per worker process, not once per task.
    return spec.load()


@dataclass(frozen=True)
class SampleJob:
    source: ShardRef
    out_path: str
    seed: int
    docs: int


@dataclass(frozen=True)
class TrainJob:
    sample_paths: tuple[str, ...]
    tokenizer_path: str
    docs: int
    vocab_size: int
    special_tokens: tuple[str, ...]
    pattern: str


@dataclass(frozen=True)
class EncodeJob:
    source: ShardRef
    prefix: str  # {prefix}.tokens.npy, {prefix}.docs.npy, {prefix}.counts.npy
    spec: TokenizerSpec
    delimiter: str
    position: Position
    seed: int


@dataclass(frozen=True)
class Encoded:
    docs: int
    tokens: int
    bytes: int
    cpu_s: float
    engine: str
    mismatch: str  # why tiktoken was dropped for HF on this shard, "" when it was not


@dataclass(frozen=True)
class AssembleJob:
    plan_path: str
    encoded_prefixes: tuple[str, ...]
    out_path: str
    format: Format
    dtype: str
    split: Split


def sample_shard(job: SampleJob) -> int:
    """Write this shard's ``docs`` documents of smallest key (key, shard order, row) with their text."""
    table = pq.read_table(job.source.path, columns=[schema.ID])
    keys = document_keys(table.column(schema.ID).to_pylist(), job.seed, job.source.shard, 0)
    rows = np.lexsort((np.arange(len(keys)), keys))[: job.docs]
    texts = pq.read_table(job.source.path, columns=[schema.TEXT]).column(schema.TEXT).take(pa.array(rows))
    out = pa.table({"key": pa.array(keys[rows]), "row": pa.array(rows, pa.int64()), schema.TEXT: texts})
    with local_staging(job.out_path) as tmp:
        pq.write_table(out, tmp)
    return len(rows)


def train_on_sample(job: TrainJob) -> dict[str, Any]:
    """Train on the globally smallest-key documents of the per-shard samples; report fertility on them."""
    tables = [pq.read_table(p) for p in job.sample_paths]
    keys = np.concatenate([t.column("key").to_numpy() for t in tables] or [np.zeros(0, "<u8")])
    shard = np.concatenate([np.full(t.num_rows, i) for i, t in enumerate(tables)] or [np.zeros(0, np.int64)])
    row = np.concatenate([np.arange(t.num_rows) for t in tables] or [np.zeros(0, np.int64)])
    chosen = np.lexsort((row, shard, keys))[: job.docs]
    texts = [tables[shard[i]].column(schema.TEXT)[row[i]].as_py() or "" for i in chosen.tolist()]
    start = time.perf_counter()
    train_bpe(texts, job.tokenizer_path, job.vocab_size, job.special_tokens, job.pattern)
    train_s = time.perf_counter() - start
    encoder = TokenizerSpec(job.tokenizer_path).load()
    return {"train_s": round(train_s, 3), "sample": fertility(encoder, texts), "vocab_size": encoder.vocab_size}


def encode_shard(job: EncodeJob) -> Encoded:
    """Encode one input shard: its tokens (delimiter per document) back to back, key and length per document."""
    cpu_start = time.process_time()
    encoder = _encoder(job.spec)
    delimiter_id = encoder.token_id(job.delimiter)
    dtype = token_dtype(encoder.vocab_size)
    parts: list[np.ndarray] = []
    meta: list[np.ndarray] = []
    counts = np.zeros(encoder.vocab_size, dtype=np.int64)
    nbytes = rows = 0
    mismatch = ""
    for batch in pq.ParquetFile(job.source.path).iter_batches(READ_BATCH_ROWS, columns=[schema.ID, schema.TEXT]):
        texts = [t or "" for t in batch.column(schema.TEXT).to_pylist()]
        encoded = encoder.encode_batch(texts)
        if rows == 0 and encoder.hf is not None and encoder.engine == "tiktoken":
            reference = encoder.encode_batch_hf(texts[:CHECK_DOCS])
            if encoded[:CHECK_DOCS] != reference:
                mismatch = f"tiktoken ids differ from HF's on {job.source.path}; encoding it with HF"
                encoder = replace(job.spec, fast=False).load()
                encoded = encoder.encode_batch(texts)
        lengths = np.fromiter((len(ids) + 1 for ids in encoded), dtype=np.int64, count=len(encoded))
        flat = _delimited(encoded, lengths, delimiter_id, job.position, dtype)
        parts.append(flat)
        counts += np.bincount(flat, minlength=encoder.vocab_size)
        keys = document_keys(batch.column(schema.ID).to_pylist(), job.seed, job.source.shard, rows)
        meta.append(np.rec.fromarrays([keys, lengths], dtype=DOC_META))
        nbytes += pc.sum(pc.binary_length(batch.column(schema.TEXT))).as_py() or 0
        rows += len(texts)
    tokens = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
    docs = np.concatenate(meta) if meta else np.zeros(0, dtype=DOC_META)
    for suffix, array in ((".tokens.npy", tokens), (".docs.npy", docs), (".counts.npy", counts)):
        with local_staging(job.prefix + suffix) as tmp, open(tmp, "wb") as f:
            np.save(f, array)
    return Encoded(docs=rows, tokens=len(tokens), bytes=nbytes,
                   cpu_s=time.process_time() - cpu_start, engine=encoder.engine, mismatch=mismatch)


def _delimited(encoded: list[list[int]], lengths: np.ndarray, delimiter_id: int, position: Position,
               dtype: np.dtype) -> np.ndarray:
    """The documents' ids back to back, one delimiter before (bos) or after (eos) each."""
    out = np.empty(int(lengths.sum()), dtype=dtype)
    ends = np.cumsum(lengths)
    at = ends - lengths if position == "bos" else ends - 1
    is_text = np.ones(len(out), dtype=bool)
    is_text[at] = False
    out[at] = delimiter_id
    out[is_text] = np.fromiter(chain.from_iterable(encoded), dtype=dtype, count=len(out) - len(encoded))
    return out


def assemble_shard(job: AssembleJob) -> ShardInfo:
    """Gather one output shard's documents from the encoded token files, write it and its index."""
    plan = np.load(job.plan_path)
    sources = {s: np.load(job.encoded_prefixes[s] + ".tokens.npy", mmap_mode="r") for s in np.unique(plan["source"])}
    tokens = np.empty(int(plan["length"].sum()), dtype=np.dtype(job.dtype).newbyteorder("<"))
    starts = np.zeros(len(plan), dtype=np.int64)
    np.cumsum(plan["length"][:-1], out=starts[1:])
    for (source, offset, length), start in zip(plan.tolist(), starts.tolist()):
        tokens[start:start + length] = sources[source][offset:offset + length]
    if job.format == "llmc":
        sha = write_shard(job.out_path, tokens)
    else:
        sha = megatron.write_bin(job.out_path, tokens)
        megatron.write_idx(megatron.idx_path(job.out_path), plan["length"], tokens.dtype)
    write_index(index_file_name(job.out_path), starts)
    name = os.path.basename(job.out_path)
    return ShardInfo(file=name, split=job.split, tokens=len(tokens), documents=len(plan),
                     index=index_file_name(name), sha256=sha)


def cut_shards(lengths: np.ndarray, shard_tokens: int) -> list[slice]:
    """Consecutive runs of documents, each filled until the next would pass ``shard_tokens`` (a longer
    document alone makes a shard)."""
    ends = np.cumsum(lengths)
    cuts, start, base = [], 0, 0
    while start < len(lengths):
        stop = max(int(np.searchsorted(ends, base + shard_tokens, side="right")), start + 1)
        cuts.append(slice(start, stop))
        base, start = int(ends[stop - 1]), stop
    return cuts


class Tokenize(GlobalStage):
    """Encode documents into globally shuffled token shards under ``<run_dir>/tokens/``.

    ``tokenizer``: a ``tokenizer.json`` or tiktoken BPE file; ``None`` trains a byte-level BPE
    (``vocab_size``, ``special_tokens``, ``pattern``) on ``train_docs`` documents chosen by shuffle key.
    ``val``: the fraction of documents (by key) in the validation split, or ``"first_shard"`` (llm.c).
    ``encode=False`` stops after training (the tokenizer is saved in the tokens folder).
    """

    passes_documents = False
    resources = Resources(num_cpus=1)

    def __init__(self, tokenizer: str | None = None, *, vocab_size: int = 32768,
                 special_tokens: Sequence[str] = (ENDOFTEXT,), pattern: str = "gpt4", train_docs: int = 100_000,
                 delimiter: str = ENDOFTEXT, position: Position = "bos", shard_tokens: int = 100_000_000,
                 format: Format = "llmc", name: str = "fineweb", val: float | Literal["first_shard"] = 0.01,
                 seed: int = 1234, fast: bool = True, encode: bool = True, out_dir: str | None = None) -> None:
        if position not in ("bos", "eos") or format not in ("llmc", "megatron"):
            raise ValueError(f"position must be bos or eos (got {position!r}), format llmc or megatron ({format!r})")
        if val != "first_shard" and not 0.0 <= float(val) < 1.0:
            raise ValueError(f"val must be a fraction in [0, 1) or 'first_shard', got {val!r}")
        self.tokenizer, self.vocab_size, self.special_tokens = tokenizer, vocab_size, tuple(special_tokens)
        self.pattern, self.train_docs, self.delimiter, self.position = pattern, train_docs, delimiter, position
        self.shard_tokens, self.format, self.out_name, self.val = shard_tokens, format, name, val
        self.seed, self.fast, self.encode, self.out_dir = seed, fast, encode, out_dir

    @property
    def run_outputs(self) -> tuple[str, ...]:
        return () if self.out_dir else (TOKENS_FOLDER,)

    def run(self, ctx: GlobalContext) -> None:
        out_dir = self.out_dir or os.path.join(ctx.run_dir, TOKENS_FOLDER)
        os.makedirs(out_dir, exist_ok=True)
        if os.path.exists(os.path.join(out_dir, MANIFEST)):
            os.remove(os.path.join(out_dir, MANIFEST))  # the set is incomplete until the new one is written
        inputs = sorted(ctx.inputs, key=lambda ref: ref.shard)
        section: dict[str, Any] = {"folder": out_dir}
        tokenizer_path = self.tokenizer
        if tokenizer_path is None:
            tokenizer_path = os.path.join(out_dir, "tokenizer.json")
            section["training"] = self._train(ctx, inputs, tokenizer_path)
            section["vocab_size_requested"] = self.vocab_size
            trained = section["training"]
            shortfall = vocab_shortfall(self.vocab_size, trained["vocab_size"], trained["sample"])
            if shortfall:  # in the stats section and on the console
                section["warnings"] = [shortfall]
                print(f"warning: {shortfall}", file=sys.stderr)
        spec = TokenizerSpec(tokenizer_path, self.pattern, self.special_tokens, self.fast)
        if not self.encode:
            ctx.add_section("tokens", section)
            return
        encoded_dir = os.path.join(ctx.work_dir, "encoded")
        prefixes = tuple(os.path.join(encoded_dir, f"{i:06d}") for i in range(len(inputs)))
        results: list[Encoded] = ctx.map(encode_shard, [
            EncodeJob(ref, prefix, spec, self.delimiter, self.position, self.seed)
            for ref, prefix in zip(inputs, prefixes)], Resources(num_cpus=1))
        for ref, r in zip(inputs, results):
            ctx.record(ref.shard, r.docs, r.docs, {}, r.cpu_s, {"tokens": r.tokens, "text_bytes": r.bytes})
        encoder = _encoder(spec)
        jobs = self._plan(ctx.work_dir, prefixes, out_dir, token_dtype(encoder.vocab_size) if self.format == "llmc"
                          else megatron.megatron_dtype(encoder.vocab_size))
        shards: list[ShardInfo] = ctx.map(assemble_shard, jobs, Resources(num_cpus=1))
        manifest = Manifest(
            format=self.format, dtype=jobs[0].dtype if jobs else token_dtype(encoder.vocab_size).name,
            vocab_size=encoder.vocab_size, tokenizer=self._saved_tokenizer(spec, out_dir),
            delimiter=Delimiter(self.delimiter, encoder.token_id(self.delimiter), self.position),
            seed=self.seed, shards=shards, shard_tokens=self.shard_tokens)
        _remove_stale(out_dir, self.out_name, {s.file for s in shards})
        manifest.save(out_dir)
        section.update(self._summary(manifest, results, prefixes, encoder))
        for done in ("encoded", "plan"):  # as large as the shard set itself, and of no use once it is complete
            shutil.rmtree(os.path.join(ctx.work_dir, done), ignore_errors=True)
        ctx.add_section("tokens", section)

    def _train(self, ctx: GlobalContext, inputs: list[ShardRef], tokenizer_path: str) -> dict[str, Any]:
        sample_dir = os.path.join(ctx.work_dir, "sample")
        paths = tuple(os.path.join(sample_dir, f"{i:06d}.parquet") for i in range(len(inputs)))
        ctx.map(sample_shard, [SampleJob(ref, path, self.seed, self.train_docs) for ref, path in zip(inputs, paths)])
        train = TrainJob(paths, tokenizer_path, self.train_docs, self.vocab_size, self.special_tokens, self.pattern)
        return ctx.map(train_on_sample, [train])[0]

    def _plan(self, work_dir: str, prefixes: tuple[str, ...], out_dir: str, dtype: np.dtype) -> list[AssembleJob]:
        metas = [np.load(p + ".docs.npy") for p in prefixes]
        keys = np.concatenate([m["key"] for m in metas]) if metas else np.zeros(0, "<u8")
        lengths = np.concatenate([m["length"] for m in metas]) if metas else np.zeros(0, "<i8")
        source = np.concatenate([np.full(len(m), i, dtype=np.int32) for i, m in enumerate(metas)] or [np.zeros(0, np.int32)])
        offsets = np.concatenate([np.cumsum(m["length"]) - m["length"] for m in metas] or [np.zeros(0, np.int64)])
        rows = np.concatenate([np.arange(len(m)) for m in metas] or [np.zeros(0, np.int64)])
        order = np.lexsort((rows, source, keys))
        runs: list[tuple[Split, np.ndarray]] = []
        if self.val == "first_shard":
            cuts = cut_shards(lengths[order], self.shard_tokens)
            for i, c in enumerate(cuts):
                runs.append(("val" if i == 0 else "train", order[c]))
        else:
            is_val = keys[order] < np.uint64(int(float(self.val) * 2**64))
            halves: tuple[tuple[Split, np.ndarray], ...] = (("val", order[is_val]), ("train", order[~is_val]))
            for split, chosen in halves:
                runs += [(split, chosen[c]) for c in cut_shards(lengths[chosen], self.shard_tokens)]
        plan_dir = os.path.join(work_dir, "plan")
        os.makedirs(plan_dir, exist_ok=True)
        jobs, counters = [], {"val": 0, "train": 0}
        for split, docs in runs:
            file = shard_file_name(self.out_name, split, counters[split])
            counters[split] += 1
            plan_path = os.path.join(plan_dir, file + ".plan.npy")
            plan = np.rec.fromarrays([source[docs], offsets[docs], lengths[docs]], dtype=PLAN)
            with local_staging(plan_path) as tmp, open(tmp, "wb") as f:
                np.save(f, plan)
            jobs.append(AssembleJob(plan_path, prefixes, os.path.join(out_dir, file), self.format, dtype.name, split))
        return jobs

    def _saved_tokenizer(self, spec: TokenizerSpec, out_dir: str) -> TokenizerRef:
        """The tokenizer file copied beside the shards (a trained one is already there)."""
        kind = spec.kind
        target = os.path.join(out_dir, "tokenizer.json" if kind == "hf" else os.path.basename(spec.path))
        if os.path.abspath(spec.path) != os.path.abspath(target):
            with local_staging(target) as tmp:
                shutil.copyfile(spec.path, tmp)
        if kind == "tiktoken":
            return TokenizerRef(file=os.path.basename(target), sha256=file_sha256(target), kind=kind,
                                pattern=pattern_regex(spec.pattern), special_tokens=list(spec.special_tokens))
        return TokenizerRef(file=os.path.basename(target), sha256=file_sha256(target), kind=kind)

    def _summary(self, manifest: Manifest, results: list[Encoded], prefixes: tuple[str, ...],
                 encoder: Encoder) -> dict[str, Any]:
        docs = sum(r.docs for r in results)
        text_tokens = sum(r.tokens for r in results) - docs  # without the delimiters
        counts = sum((np.load(p + ".counts.npy") for p in prefixes), np.zeros(encoder.vocab_size, np.int64))
        top = np.argsort(-counts, kind="stable")[:TOP_TOKENS]
        return {
            "format": manifest.format, "dtype": manifest.dtype, "vocab_size": manifest.vocab_size,
            "engine": sorted({r.engine for r in results}), "tiktoken_mismatches": [r.mismatch for r in results if r.mismatch],
            "totals": manifest.totals, "shards": len(manifest.shards),
            "tokens_per_shard": {s.file: s.tokens for s in manifest.shards},
            "bytes_per_token": round(sum(r.bytes for r in results) / max(text_tokens, 1), 4),
            "top_tokens": [{"id": int(i), "token": encoder.decode([int(i)]), "count": int(counts[i])}
                           for i in top if counts[i]],
        }


def _remove_stale(out_dir: str, name: str, keep: set[str]) -> None:
    """Remove shards of an earlier run in this folder that the new set does not have."""
    for entry in os.listdir(out_dir):
        base = entry.removesuffix(".idx.npy").removesuffix(".idx")
        base = base if base.endswith(".bin") else base + ".bin"
        if entry.startswith(f"{name}_") and base not in keep:
            os.remove(os.path.join(out_dir, entry))
