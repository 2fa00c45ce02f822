"""Loader throughput: tokens/s per process from memory-mapped token shards, PyTorch and JAX paths.

Writes a synthetic llm.c shard set (random uint16 tokens, a document every ~1,000 tokens) unless
``--shards`` names one, reads it once to warm the page cache, then times for ``--seconds`` each:
the numpy batch source, the PyTorch dataset in-process and through a DataLoader with ``--workers``
workers, and the JAX iterator. A small model consumes ~1e4-1e6 tokens/s; the loader must be far above.
With CUDA present it also times the default GPT's training step (bf16) there.

    .venv/bin/python benchmarks/bench_loader.py [--shards FOLDER] [--seq-len 1024] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from fineweb_pipe.tokens import Delimiter, Manifest, ShardInfo, TokenizerRef
from fineweb_pipe.tokens.shards import index_file_name, shard_file_name, write_index, write_shard
from fineweb_pipe.training.batches import BatchConfig, BatchSource


def synthetic_shards(folder: Path, shards: int, tokens_per_shard: int, vocab_size: int = 50257) -> Path:
    if (folder / "manifest.json").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    infos = []
    for index in range(shards):
        split = "val" if index == 0 else "train"
        name = shard_file_name("bench", split, index)
        tokens = rng.integers(0, vocab_size, size=tokens_per_shard, dtype=np.uint16)
        starts = np.arange(0, tokens_per_shard, 1000, dtype=np.int64)
        tokens[starts] = 0
        sha = write_shard(str(folder / name), tokens)
        write_index(str(folder / index_file_name(name)), starts)
        infos.append(ShardInfo(name, split, tokens_per_shard, len(starts), index_file_name(name), sha))
    (folder / "tokenizer.json").write_text("{}")
    Manifest(format="llmc", dtype="uint16", vocab_size=vocab_size, tokenizer=TokenizerRef("tokenizer.json", "", "hf"),
             delimiter=Delimiter("<|endoftext|>", 0, "bos"), seed=0, shards=infos,
             shard_tokens=tokens_per_shard).save(str(folder))
    return folder


def tokens_per_second(batches: Iterable[object], tokens_per_batch: int, seconds: float) -> float:
    iterator = iter(batches)
    next(iterator)  # startup (worker processes, first maps) is not throughput
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        next(iterator)
        count += 1
    return count * tokens_per_batch / (time.perf_counter() - start)


def model_tokens_per_second(seq_len: int, batch_size: int, steps: int = 30) -> str:
    import torch

    if not torch.cuda.is_available():
        return "model on GPU: skipped (no CUDA device on this machine)"
    from fineweb_pipe.training.config import GPTConfig, TrainConfig
    from fineweb_pipe.training.model import GPT
    from fineweb_pipe.training.train import autocast_for, make_optimizer

    device = torch.device("cuda")
    model = GPT(GPTConfig(50257, seq_len)).to(device)
    optimizer = make_optimizer(model, TrainConfig("", ""))
    inputs = torch.randint(0, 50257, (batch_size, seq_len), device=device)
    for step in range(steps + 5):
        if step == 5:  # after warmup (kernel selection, allocator)
            torch.cuda.synchronize()
            start = time.perf_counter()
        with autocast_for(device):
            loss = model(inputs, inputs)[1]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    torch.cuda.synchronize()
    rate = steps * batch_size * seq_len / (time.perf_counter() - start)
    return f"model on GPU ({torch.cuda.get_device_name()}, {model.parameter_count() / 1e6:.1f}M params, bf16): {rate:,.0f} tokens/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", help="existing shard folder (default: synthetic, written to --work)")
    parser.add_argument("--work", default="/tmp/fineweb_pipe_bench_loader")
    parser.add_argument("--shard-tokens", type=int, default=20_000_000)
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()

    folder = str(Path(args.shards) if args.shards else synthetic_shards(Path(args.work), 3, args.shard_tokens))
    config = BatchConfig(folder, seq_len=args.seq_len, batch_size=args.batch_size, seed=0)
    source = BatchSource(config)
    for shard in source.shards:  # warm the page cache: steady-state training reads from it
        np.asarray(source.manifest.open_tokens(folder, shard)).sum()
    tokens = args.batch_size * args.seq_len
    print(f"shards: {folder} ({source.manifest.totals['train']['tokens']:,} train tokens), batch {args.batch_size} x "
          f"{args.seq_len}, {os.cpu_count()} CPUs (shared with other work)")

    rows = [("numpy batch source (int64)", lambda: (b for _, b in source.batches()))]
    rows.append(("numpy + document_starts", lambda: (b for _, b in BatchSource(
        BatchConfig(**{**config.__dict__, "document_starts": True})).batches())))
    from fineweb_pipe.training.jax_data import JaxBatches

    rows.append(("JAX iterator (int32 numpy)", lambda: JaxBatches(config)))
    try:
        import torch

        from fineweb_pipe.training.torch_data import TokenDataset

        torch.set_num_threads(1)
        rows.append(("torch dataset, in-process", lambda: TokenDataset(config).loader(0)))
        rows.append((f"torch DataLoader, {args.workers} worker(s)", lambda: TokenDataset(config).loader(args.workers)))
    except ModuleNotFoundError:
        print("torch not installed: torch rows skipped")
    for name, make in rows:
        print(f"{name:32s} {tokens_per_second(make(), tokens, args.seconds) / 1e6:8.1f}M tokens/s")
    if "torch" in globals() or "torch" in dir():
        print(model_tokens_per_second(args.seq_len, args.batch_size))


if __name__ == "__main__":
    main()
