"""Smoke run of the bundled trainer: val loss must fall well below ln(vocab) and resume must continue.

Without ``--shards``, builds a shard set from real text (``../shared/data/text/*.jsonl``): a byte-level
BPE (HF tokenizers, ``--vocab`` ids) trained on it, documents shuffled with the seed, the first 10 % as
``val``, written with ``fineweb_pipe.tokens``' shard writer. With ``--shards FOLDER`` (e.g. the demo's
token shards) it trains on that folder instead. The run stops halfway, then a second run resumes from
the checkpoint; both halves' figures are printed.

    .venv/bin/python benchmarks/train_smoke.py [--shards FOLDER] [--steps 300] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from fineweb_pipe.tokens import Delimiter, Manifest, ShardInfo, TokenizerRef
from fineweb_pipe.tokens.shards import file_sha256, index_file_name, shard_file_name, write_index, write_shard

REPO = Path(__file__).resolve().parent.parent
TEXT = Path(os.environ.get("FINEWEB_PIPE_SHARED_DATA", REPO.parent / "shared" / "data")) / "text"
ENDOFTEXT = "<|endoftext|>"


def build_shards(folder: Path, vocab_size: int, seed: int) -> Path:
    """Tokenize the shared text with a fresh byte-level BPE into one val and one train llm.c shard."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    files = sorted(TEXT.glob("*.jsonl"))
    if not files:
        raise SystemExit(f"no *.jsonl under {TEXT}: pass --shards FOLDER or set FINEWEB_PIPE_SHARED_DATA")
    texts = [json.loads(line)["text"] for f in files for line in f.read_text(encoding="utf-8").splitlines() if line]
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[ENDOFTEXT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    delimiter = tokenizer.token_to_id(ENDOFTEXT)
    docs = [np.array([delimiter, *e.ids], dtype="<u2") for e in tokenizer.encode_batch(texts)]
    order = np.random.default_rng(seed).permutation(len(docs))
    val_count = max(1, len(docs) // 10)
    splits = {"val": [docs[i] for i in order[:val_count]], "train": [docs[i] for i in order[val_count:]]}

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    infos = []
    for split, split_docs in splits.items():
        name = shard_file_name("smoke", split, 0)
        sha = write_shard(str(folder / name), np.concatenate(split_docs))
        write_index(str(folder / index_file_name(name)), np.cumsum([0] + [len(d) for d in split_docs[:-1]]))
        infos.append(ShardInfo(name, split, sum(len(d) for d in split_docs), len(split_docs), index_file_name(name), sha))
    Manifest(format="llmc", dtype="uint16", vocab_size=tokenizer.get_vocab_size(),
             tokenizer=TokenizerRef("tokenizer.json", file_sha256(str(folder / "tokenizer.json")), "hf"),
             delimiter=Delimiter(ENDOFTEXT, delimiter, "bos"), seed=seed, shards=infos,
             shard_tokens=max(i.tokens for i in infos)).save(str(folder))
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", help="existing token shard folder (default: build one from shared text)")
    parser.add_argument("--work", default="/tmp/fineweb_pipe_train_smoke", help="scratch folder (emptied first)")
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from fineweb_pipe.training.config import TrainConfig
    from fineweb_pipe.training.train import train

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    shards = Path(args.shards) if args.shards else build_shards(work / "shards", args.vocab, args.seed)
    manifest = Manifest.load(str(shards))
    print(f"shards: {shards} vocab={manifest.vocab_size} totals={manifest.totals}")
    config = TrainConfig(str(shards), str(work / "run"), steps=args.steps, batch_size=args.batch_size,
                         seq_len=args.seq_len, n_layer=args.n_layer, n_head=4, d_model=args.d_model,
                         warmup=max(1, args.steps // 10), eval_every=max(1, args.steps // 6),
                         log_every=max(1, args.steps // 30), checkpoint_every=args.steps, threads=args.threads,
                         seed=args.seed)
    first = train(TrainConfig(**{**config.__dict__, "stop_at": args.steps // 2}))
    second = train(config)
    print(f"\nln(vocab) = {math.log(manifest.vocab_size):.3f}")
    print(f"val loss at start: {first.first_val_loss:.3f}  at step {first.steps} (stop): {first.last_val_loss:.3f}")
    print(f"resumed from step {second.resumed_from}: val loss {second.first_val_loss:.3f} "
          f"(same weights, so equal to the stop's), final at step {second.steps}: {second.last_val_loss:.3f}")
    print(f"train tokens/s (CPU, {args.threads} threads): first half {first.tokens_per_second:,.0f}, "
          f"second half {second.tokens_per_second:,.0f}")
    dropped = second.last_val_loss < first.first_val_loss - 1.0
    continued = abs(second.first_val_loss - first.last_val_loss) < 1e-4
    print("OK" if dropped and continued else "FAILED: loss did not drop by 1 nat or resume did not continue")
    return 0 if dropped and continued else 1


if __name__ == "__main__":
    sys.exit(main())
