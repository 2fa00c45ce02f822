"""``fineweb-pipe tokenize`` (train and/or encode a Parquet output into token shards) and
``fineweb-pipe inspect-shards`` (counts, header and index checks, a decoded sample)."""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from fineweb_pipe.engine.context import Mapper, PhaseContext, run_task, sequential_map
from fineweb_pipe.stage import Resources, ShardRef
from fineweb_pipe.tokens.shards import Manifest, ShardError, documents, read_index, validate
from fineweb_pipe.tokens.stage import Tokenize
from fineweb_pipe.tokens.tokenizer import TokenizerSpec


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    tok = subparsers.add_parser("tokenize", help="train a BPE tokenizer and/or encode Parquet documents into token shards")
    tok.add_argument("inputs", nargs="+", help="Parquet files or folders of them (a pipeline's output; "
                     "folders named removed/ or starting with _ are skipped)")
    tok.add_argument("--out", required=True, help="folder for the shard set (manifest.json, shards, tokenizer)")
    tok.add_argument("--tokenizer", help="tokenizer.json or tiktoken BPE file to encode with; omit to train one")
    tok.add_argument("--train-only", action="store_true", help="train the tokenizer, write it to OUT, encode nothing")
    tok.add_argument("--vocab-size", type=int, default=32768)
    tok.add_argument("--special-tokens", default="<|endoftext|>", help="comma-separated; first ids when training")
    tok.add_argument("--pattern", default="gpt4", help="pre-tokenization: gpt4, gpt2 or a regex")
    tok.add_argument("--train-docs", type=int, default=100_000, help="documents in the training sample")
    tok.add_argument("--delimiter", default="<|endoftext|>", help="token put once per document")
    tok.add_argument("--position", choices=("bos", "eos"), default="bos", help="delimiter before (llm.c) or after")
    tok.add_argument("--shard-tokens", type=int, default=100_000_000)
    tok.add_argument("--format", choices=("llmc", "megatron"), default="llmc")
    tok.add_argument("--name", default="fineweb", help="shard name prefix: NAME_{train,val}_000000.bin")
    tok.add_argument("--val", default="0.01", help="fraction of documents for validation, or first_shard")
    tok.add_argument("--seed", type=int, default=1234)
    tok.add_argument("--workers", type=int, default=1, help="processes for the parallel rounds")
    tok.add_argument("--hf-only", action="store_true", help="encode with HF tokenizers even where tiktoken is exact")
    tok.set_defaults(func=tokenize_command)

    ins = subparsers.add_parser("inspect-shards", help="check a token shard set and print counts and a decoded sample")
    ins.add_argument("folder")
    ins.add_argument("--sample", type=int, default=2, help="documents to decode from the first shard")
    ins.add_argument("--chars", type=int, default=400, help="characters shown per decoded document")
    ins.add_argument("--hashes", action="store_true", help="also check the sha256 of every file (reads all)")
    ins.set_defaults(func=inspect_command)


def parquet_inputs(paths: Sequence[str]) -> list[ShardRef]:
    """Shards for the given Parquet files and folders; the shard id is the path relative to its folder."""
    refs = []
    for given in map(Path, paths):
        if given.is_file():
            refs.append(ShardRef(given.stem, str(given)))
            continue
        for path in sorted(given.rglob("*.parquet")):
            parts = path.relative_to(given).parts
            if any(p.startswith(("_", ".")) or p == "removed" for p in parts[:-1]):
                continue
            refs.append(ShardRef(str(path.relative_to(given).with_suffix("")), str(path)))
    return refs


def _pool_map(workers: int, fn: Callable[[Any], Any], items: Sequence[Any], resources: Resources) -> list[Any]:
    # spawn, not fork: the parent may already run HF tokenizers' thread pool, which a fork would break.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(partial(run_task, fn), items))


def process_pool_mapper(workers: int) -> Mapper:
    """A mapper running items in ``workers`` local processes (``sequential_map`` for one)."""
    return sequential_map if workers <= 1 else partial(_pool_map, workers)


def tokenize_command(args: argparse.Namespace) -> int:
    inputs = parquet_inputs(args.inputs)
    if not inputs:
        print(f"tokenize: no Parquet files under {args.inputs}", file=sys.stderr)
        return 2
    stage = Tokenize(
        args.tokenizer, vocab_size=args.vocab_size, special_tokens=args.special_tokens.split(","),
        pattern=args.pattern, train_docs=args.train_docs, delimiter=args.delimiter, position=args.position,
        shard_tokens=args.shard_tokens, format=args.format, name=args.name,
        val=args.val if args.val == "first_shard" else float(args.val), seed=args.seed,
        fast=not args.hf_only, encode=not args.train_only, out_dir=args.out)
    ctx = PhaseContext.local(stage.name, inputs, args.out)
    ctx.mapper = process_pool_mapper(args.workers)
    stage.run(ctx)
    shutil.rmtree(os.path.dirname(ctx.work_dir), ignore_errors=True)  # OUT/_work: as large as the shards
    print(json.dumps(ctx.sections.get("tokens", {}), indent=1, ensure_ascii=False))
    return 0


def inspect_command(args: argparse.Namespace) -> int:
    try:
        manifest = Manifest.load(args.folder)
        problems = validate(args.folder, check_hashes=args.hashes)
    except ShardError as e:
        print(f"inspect-shards: {e}", file=sys.stderr)
        return 1
    print(f"{args.folder}: format {manifest.format}, {manifest.dtype}, vocab {manifest.vocab_size}, "
          f"delimiter {manifest.delimiter.token!r} = {manifest.delimiter.id} ({manifest.delimiter.position}), "
          f"seed {manifest.seed}")
    for split, totals in manifest.totals.items():
        print(f"  {split}: {len(manifest.split(split))} shards, {totals['tokens']:,} tokens, "
              f"{totals['documents']:,} documents")
    if manifest.shards:
        shard = manifest.shards[0]
        ref = manifest.tokenizer
        encoder = TokenizerSpec(os.path.join(args.folder, ref.file), ref.pattern or "gpt4",
                                tuple(ref.special_tokens)).load()
        tokens = manifest.open_tokens(args.folder, shard)
        for i, doc in enumerate(documents(tokens, read_index(os.path.join(args.folder, shard.index)))[: args.sample]):
            print(f"--- {shard.file} document {i} ({len(doc)} tokens)\n{encoder.decode(doc.tolist())[: args.chars]}")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    print("checks: " + ("ok" if not problems else f"{len(problems)} problems"))
    return 0 if not problems else 1
