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
from fineweb_pipe.errors import EXIT_INTEGRITY, EXIT_OK, EXIT_USAGE
from fineweb_pipe.stage import Resources, ShardRef
from fineweb_pipe.tokens.shards import Manifest, ShardError, ShardInfo, documents, read_index, validate
from fineweb_pipe.tokens.stage import Tokenize
from fineweb_pipe.tokens.tokenizer import TokenizerSpec


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    tok = subparsers.add_parser(
        "tokenize", help="train a BPE tokenizer and/or encode Parquet documents into token shards",
        description="Encode the documents of Parquet files (a pipeline's output folder) into globally shuffled "
                    "token shards for training: llm.c .bin shards (or Megatron's .bin/.idx) split into train and "
                    "val, each with a document index, the tokenizer and manifest.json (docs/token-shards.md). "
                    "Without --tokenizer, first trains a byte-level BPE on a sample of the documents. Prints a "
                    "short summary; --json prints the full one (the run's stats section) instead.")
    tok.add_argument("inputs", nargs="+", help="Parquet files or folders of them (a pipeline's output; "
                     "folders named removed/ or starting with _ are skipped)")
    tok.add_argument("--out", required=True, help="folder for the shard set (manifest.json, shards, tokenizer)")
    tok.add_argument("--tokenizer", help="tokenizer.json or tiktoken BPE file to encode with; omit to train one")
    tok.add_argument("--train-only", action="store_true", help="train the tokenizer, write it to OUT, encode nothing")
    tok.add_argument("--vocab-size", type=int, default=32768,
                     help="tokens in a trained vocabulary, at most: a small sample may give fewer "
                          "(default: %(default)s)")
    tok.add_argument("--special-tokens", default="<|endoftext|>",
                     help="comma-separated; first ids when training (default: %(default)s)")
    tok.add_argument("--pattern", default="gpt4", help="pre-tokenization: gpt4, gpt2 or a regex (default: %(default)s)")
    tok.add_argument("--train-docs", type=int, default=100_000,
                     help="documents in the training sample (default: %(default)s)")
    tok.add_argument("--delimiter", default="<|endoftext|>", help="token put once per document (default: %(default)s)")
    tok.add_argument("--position", choices=("bos", "eos"), default="bos",
                     help="delimiter before (llm.c) or after each document (default: %(default)s)")
    tok.add_argument("--shard-tokens", type=int, default=100_000_000,
                     help="target tokens per shard (default: %(default)s)")
    tok.add_argument("--format", choices=("llmc", "megatron"), default="llmc", help="default: %(default)s")
    tok.add_argument("--name", default="fineweb", help="shard name prefix: NAME_{train,val}_000000.bin")
    tok.add_argument("--val", default=0.01, type=_val_arg,
                     help="fraction of documents for validation, in [0, 1), or first_shard (default: %(default)s)")
    tok.add_argument("--seed", type=int, default=1234, help="shuffle seed (default: %(default)s)")
    tok.add_argument("--workers", type=int, default=1, help="processes for the parallel rounds (default: %(default)s)")
    tok.add_argument("--hf-only", action="store_true", help="encode with HF tokenizers even where tiktoken is exact")
    tok.add_argument("--json", action="store_true",
                     help="print the full summary as JSON (counts per shard, top tokens, ...) instead of the short one")
    tok.set_defaults(func=tokenize_command)

    ins = subparsers.add_parser(
        "inspect-shards", help="check a token shard set and print counts and a decoded sample",
        description="Check a token shard folder against its manifest.json: headers, sizes, token and document "
                    "counts, document indexes, delimiters, and that every token id is inside the vocabulary "
                    "(--hashes also checks sha256). Prints the counts and decodes a few documents. Exits 0 when "
                    "every check passes, 1 when one fails (each problem is printed to stderr).")
    ins.add_argument("folder", help="token shard folder (holding manifest.json)")
    ins.add_argument("--sample", type=int, default=2,
                     help="documents to decode from the first shard that has some (default: %(default)s)")
    ins.add_argument("--chars", type=int, default=400,
                     help="characters shown per decoded document (default: %(default)s)")
    ins.add_argument("--hashes", action="store_true", help="also check the sha256 of every file (reads all)")
    ins.set_defaults(func=inspect_command)


def _val_arg(value: str) -> float | str:
    if value == "first_shard":
        return value
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0.0 <= share < 1.0:
        raise argparse.ArgumentTypeError(f"{value!r} is neither a fraction in [0, 1) nor first_shard")
    return share


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
        val=args.val, seed=args.seed,
        fast=not args.hf_only, encode=not args.train_only, out_dir=args.out)
    ctx = PhaseContext.local(stage.name, inputs, args.out)
    ctx.mapper = process_pool_mapper(args.workers)
    stage.run(ctx)
    shutil.rmtree(os.path.dirname(ctx.work_dir), ignore_errors=True)  # OUT/_work: as large as the shards
    section = ctx.sections.get("tokens", {})
    print(json.dumps(section, indent=1, ensure_ascii=False) if args.json else summary_lines(section))
    return 0


def summary_lines(section: dict[str, Any]) -> str:
    """The few lines ``tokenize`` prints: where the set is, its shards and splits, the vocabulary."""
    folder = section.get("folder", "")
    training = section.get("training") or {}
    vocab = section.get("vocab_size", training.get("vocab_size"))
    asked = section.get("vocab_size_requested")
    tokenizer = f"tokenizer {'trained' if training else 'given'}, vocabulary {vocab:,}"
    if asked and vocab < asked:  # the stage has printed why
        tokenizer += f" ({asked:,} asked: the training sample held too little text for more)"
    if "totals" not in section:  # --train-only
        return f"{folder}: {tokenizer}; nothing encoded (--train-only)"
    lines = [f"{folder}: {section['shards']} shards ({section['format']}, {section['dtype']}), {tokenizer}, "
             f"{section['bytes_per_token']} bytes per token"]
    lines += [f"  {split}: {totals['tokens']:,} tokens, {totals['documents']:,} documents"
              for split, totals in section["totals"].items()]
    lines.append(f"next: fineweb-pipe inspect-shards {folder}  (--json prints the full summary)")
    return "\n".join(lines)


def inspect_command(args: argparse.Namespace) -> int:
    try:
        manifest = Manifest.load(args.folder)
        problems = validate(args.folder, check_hashes=args.hashes)
    except ShardError as e:
        print(f"inspect-shards: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.folder}: format {manifest.format}, {manifest.dtype}, vocab {manifest.vocab_size}, "
          f"delimiter {manifest.delimiter.token!r} = {manifest.delimiter.id} ({manifest.delimiter.position}), "
          f"seed {manifest.seed}")
    for split, totals in manifest.totals.items():
        print(f"  {split}: {len(manifest.split(split))} shards, {totals['tokens']:,} tokens, "
              f"{totals['documents']:,} documents")
    # The sample comes from the first shard with documents (a shard may be empty) that passed its checks.
    broken = {shard.file for shard in manifest.shards for p in problems if shard.file in p or shard.index in p}
    shard = next((s for s in manifest.shards if s.documents and s.file not in broken), None)
    if shard is not None and args.sample > 0:
        problems += _show_sample(args, manifest, shard)
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    print("checks: " + ("ok" if not problems else f"{len(problems)} problems"))
    return EXIT_OK if not problems else EXIT_INTEGRITY


def _show_sample(args: argparse.Namespace, manifest: Manifest, shard: ShardInfo) -> list[str]:
    """Print the first ``--sample`` documents of ``shard`` decoded; returns the problems met doing so."""
    ref = manifest.tokenizer
    try:
        encoder = TokenizerSpec(os.path.join(args.folder, ref.file), ref.pattern or "gpt4",
                                tuple(ref.special_tokens)).load()
    except Exception as exc:  # noqa: BLE001 - any reason the file does not load is a problem of the set
        return [f"{os.path.join(args.folder, ref.file)}: the tokenizer does not load ({type(exc).__name__}: {exc})"]
    tokens = manifest.open_tokens(args.folder, shard)
    for i, doc in enumerate(documents(tokens, read_index(os.path.join(args.folder, shard.index)))[: args.sample]):
        print(f"--- {shard.file} document {i} ({len(doc)} tokens)\n{encoder.decode(doc.tolist())[: args.chars]}")
    return []
