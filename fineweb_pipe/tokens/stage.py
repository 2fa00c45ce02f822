"""``Tokenize``: the pipeline's last stage, documents in, a globally shuffled set of token shards out.

Rounds (each a parallel ``ctx.map``, exchanging files under ``ctx.work_dir``; every task's result is
recorded (:class:`~fineweb_pipe.resumable.Resumable`), so a rerun skips what was finished):

1. each input's rows and text bytes, from its Parquet footer: they size the sample and the exchange;
2. (training only) each input offers its documents of smallest shuffle key; one task keeps the
   ``train_docs`` of smallest key and trains a byte-level BPE on them (:mod:`.sampling`);
3. each input is encoded into one file, its documents grouped in fine key ranges (:mod:`.encode`);
4. the driver cuts the key space into one range per shard from the token totals of the encode tasks
   (:mod:`.ranges`), and each shard is assembled from its range of every encoded file (:mod:`.assemble`).

The driver handles one small record per input and per shard, never a document. A document's key is
xxh3-64 of its id seeded with ``seed`` (ties broken by input and row), so the shards' bytes depend on
the input and seed only, never on the number of workers, their timing, or a resume. All files go
through :mod:`fineweb_pipe.storage`: the inputs, work folder and tokens folder may be on an object store.
"""

from __future__ import annotations

import hashlib
import io
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import xxhash

from fineweb_pipe import storage
from fineweb_pipe.resumable import Resumable
from fineweb_pipe.stage import GlobalContext, GlobalStage, Resources, ShardRef
from fineweb_pipe.tokens import megatron
from fineweb_pipe.tokens.assemble import AssembleJob, assemble_bucket
from fineweb_pipe.tokens.encode import EncodeJob, Encoded, encode_shard, text_bytes
from fineweb_pipe.tokens.ranges import fine_partition_count, plan_buckets
from fineweb_pipe.tokens.sampling import SampleJob, TrainJob, sample_shard, sample_threshold, train_on_sample
from fineweb_pipe.tokens.shards import (
    MANIFEST, Delimiter, Format, Manifest, Position, ShardInfo, TokenizerRef, shard_file_name, token_dtype,
)
from fineweb_pipe.tokens.tokenizer import (
    ENDOFTEXT, Encoder, TokenizerSpec, cached_encoder, pattern_regex, vocab_shortfall,
)

TOP_TOKENS = 30
TOKENS_FOLDER = "tokens"  # in the run's output folder, unless out_dir says otherwise
# The work folder of each round is named by the round and a hash of what its results depend on, so a
# rerun with other options or inputs never takes an earlier attempt's files for its own.
ROUNDS = ("train", "encode", "assemble")
# Tokens an assemble task is expected to gather at most (unless one shard is larger): more shards per
# bucket make their sizes more even where few documents fill a shard.
BUCKET_BYTES = 128 << 20
# An assemble task holds its bucket's tokens once, ~60 bytes a document and one encoded file's compressed
# range: ~1.25x the bucket measured (benchmarks/README.md), beside a worker's ~120 MB; asked with a margin.
ASSEMBLE_BASE_MB = 200
ONE_CPU = Resources(num_cpus=1)


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
        out_dir = self.out_dir or storage.join(ctx.run_dir, TOKENS_FOLDER)
        storage.remove(storage.join(out_dir, MANIFEST))  # the set is incomplete until the new one is written
        inputs = sorted(ctx.inputs, key=lambda ref: ref.shard)
        sizes = ctx.map(text_bytes, inputs, Resources(num_cpus=0.5))
        section: dict[str, Any] = {"folder": out_dir}
        tokenizer_url = self.tokenizer
        if tokenizer_url is None:
            tokenizer_url = storage.join(_round_dir(ctx, "train", self._training_options(), inputs), "tokenizer.json")
            section["training"] = self._train(ctx, inputs, sum(s["rows"] for s in sizes), tokenizer_url)
            section["vocab_size_requested"] = self.vocab_size
            trained = section["training"]
            shortfall = vocab_shortfall(self.vocab_size, trained["vocab_size"], trained["sample"])
            if shortfall:  # in the stats section and on the console
                section["warnings"] = [shortfall]
                print(f"warning: {shortfall}", file=sys.stderr)
        spec = TokenizerSpec(tokenizer_url, self.pattern, self.special_tokens, self.fast)
        tokenizer_bytes = storage.read_bytes(tokenizer_url)
        sha = hashlib.sha256(tokenizer_bytes).hexdigest()
        encoder = cached_encoder(spec, sha)
        saved = self._save_tokenizer(spec, encoder, tokenizer_bytes, out_dir)
        if self.encode:
            manifest, encoded, counts = self._encode_and_assemble(ctx, inputs, sizes, spec, sha, encoder, out_dir, saved)
            section.update(self._summary(manifest, encoded, counts, encoder))
        for name in storage.list_names(ctx.work_dir):  # as large as the shard set, of no use once it is complete
            if name.startswith(tuple(f"{r}-" for r in ROUNDS)):
                storage.remove(storage.join(ctx.work_dir, name))
        ctx.add_section("tokens", section)

    def _training_options(self) -> tuple[Any, ...]:
        return self.seed, self.train_docs, self.vocab_size, self.special_tokens, self.pattern

    def _train(self, ctx: GlobalContext, inputs: list[ShardRef], total_docs: int, tokenizer_url: str) -> dict[str, Any]:
        folder = storage.dirname(tokenizer_url)
        threshold = sample_threshold(self.train_docs, total_docs)
        samples = [SampleJob(ref, i, storage.join(folder, "sample", f"{i:06d}.parquet"), self.seed, self.train_docs,
                             threshold) for i, ref in enumerate(inputs)]
        _resumable_map(ctx, sample_shard, samples, folder, "sample")
        train = TrainJob(tuple(s.out_url for s in samples), tokenizer_url, self.train_docs, self.vocab_size,
                         self.special_tokens, self.pattern)
        return _resumable_map(ctx, train_on_sample, [train], folder, "train")[0]

    def _encode_and_assemble(self, ctx: GlobalContext, inputs: list[ShardRef], sizes: list[dict[str, int]],
                             spec: TokenizerSpec, sha: str, encoder: Encoder, out_dir: str,
                             tokenizer: TokenizerRef) -> tuple[Manifest, list[Encoded], list[str]]:
        partitions = fine_partition_count(sum(s["text_bytes"] for s in sizes), self.shard_tokens)
        encode_dir = _round_dir(ctx, "encode", (spec, sha, self.delimiter, self.position, self.seed, partitions), inputs)
        jobs = [EncodeJob(ref, i, storage.join(encode_dir, f"{i:06d}.parquet"), partitions, spec, sha,
                          self.delimiter, self.position, self.seed) for i, ref in enumerate(inputs)]
        encoded = [Encoded(**r) for r in _resumable_map(ctx, encode_shard, jobs, encode_dir, "encode")]
        for ref, r in zip(inputs, encoded):
            ctx.record(ref.shard, r.docs, r.docs, {}, r.cpu_s, {"tokens": r.tokens, "text_bytes": r.bytes})

        dtype = token_dtype(encoder.vocab_size) if self.format == "llmc" else megatron.megatron_dtype(encoder.vocab_size)
        bucket_tokens = max(self.shard_tokens, BUCKET_BYTES // dtype.itemsize)
        buckets = plan_buckets(sum(r.tokens for r in encoded), sum(r.squared_lengths for r in encoded),
                               self.shard_tokens, self.val, bucket_tokens)
        assemble_dir = _round_dir(ctx, "assemble", (encode_dir, self.shard_tokens, self.val, self.format,
                                                    self.out_name, out_dir), [])
        assemble = [AssembleJob(b, bucket, tuple(j.out_url for j in jobs), partitions,
                                tuple(storage.join(out_dir, shard_file_name(self.out_name, *s)) for s in bucket.shards),
                                storage.join(assemble_dir, "counts", f"{b:06d}.npy"), self.format,
                                token_dtype(encoder.vocab_size).name, dtype.name, encoder.vocab_size)
                    for b, bucket in enumerate(buckets)]
        memory_mb = ASSEMBLE_BASE_MB + math.ceil(2 * bucket_tokens * dtype.itemsize / 2**20)
        assembled = _resumable_map(ctx, assemble_bucket, assemble, assemble_dir, "assemble",
                                   Resources(num_cpus=1, memory_mb=memory_mb))
        shards = [ShardInfo(**s) for bucket in assembled for s in bucket["shards"]]
        shards.sort(key=lambda s: (s.split != "val", s.file))  # val first, each split in index order
        manifest = Manifest(
            format=self.format, dtype=dtype.name, vocab_size=encoder.vocab_size, tokenizer=tokenizer,
            delimiter=Delimiter(self.delimiter, encoder.token_id(self.delimiter), self.position),
            seed=self.seed, shards=shards, shard_tokens=self.shard_tokens)
        _remove_stale(out_dir, self.out_name, {s.file for s in shards})
        manifest.save(out_dir)
        return manifest, encoded, [job.counts_url for job in assemble]

    def _save_tokenizer(self, spec: TokenizerSpec, encoder: Encoder, data: bytes, out_dir: str) -> TokenizerRef:
        """The tokenizer file copied beside the shards."""
        kind: Literal["hf", "tiktoken"] = "hf" if encoder.hf is not None else "tiktoken"
        name = "tokenizer.json" if kind == "hf" else storage.basename(spec.path)
        if storage.absolute(spec.path) != storage.absolute(storage.join(out_dir, name)):
            storage.write_bytes(storage.join(out_dir, name), data)
        sha = hashlib.sha256(data).hexdigest()
        if kind == "tiktoken":
            return TokenizerRef(file=name, sha256=sha, kind=kind, pattern=pattern_regex(spec.pattern),
                                special_tokens=list(spec.special_tokens))
        return TokenizerRef(file=name, sha256=sha, kind=kind)

    def _summary(self, manifest: Manifest, results: list[Encoded], counts_urls: list[str],
                 encoder: Encoder) -> dict[str, Any]:
        docs = sum(r.docs for r in results)
        text_tokens = sum(r.tokens for r in results) - docs  # without the delimiters
        counts = np.zeros(encoder.vocab_size, np.int64)
        for url in counts_urls:  # one shard's counts in memory at a time
            counts += np.load(io.BytesIO(storage.read_bytes(url)))
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


def _round_dir(ctx: GlobalContext, name: str, options: tuple[Any, ...], inputs: Sequence[ShardRef]) -> str:
    """``work_dir/<round>-<hash of the options and inputs the round's results depend on>``."""
    digest = xxhash.xxh3_64_hexdigest(repr((options, [(r.shard, r.path) for r in inputs])).encode())
    return storage.join(ctx.work_dir, f"{name}-{digest}")


def _resumable_map(ctx: GlobalContext, fn: Callable[[Any], dict[str, Any]], tasks: Sequence[Any], folder: str,
                   name: str, resources: Resources = ONE_CPU) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = ctx.map(Resumable(fn, storage.join(folder, "done", name)), tasks, resources)
    return results


def _remove_stale(out_dir: str, name: str, keep: set[str]) -> None:
    """Remove shards of an earlier run in this folder that the new set does not have."""
    for entry in storage.list_names(out_dir):
        base = entry.removesuffix(".idx.npy").removesuffix(".idx")
        base = base if base.endswith(".bin") else base + ".bin"
        if entry.startswith(f"{name}_") and base not in keep:
            storage.remove(storage.join(out_dir, entry))
