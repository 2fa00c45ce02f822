"""Tokenization throughput on real web text: BPE training, encoding (HF vs tiktoken, per core), bytes per token.

    .venv/bin/python benchmarks/bench_tokens.py [--train-mb 10] [--encode-mb 20] [--vocab-size 32768]

Text: /work/shared/data/text/*.jsonl, repeated to reach the sizes asked. Rates are per core: tokens over
the CPU seconds the process used (all threads), with HF's thread pool held to one thread. Prints figures only.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before tokenizers starts its pool: one core's rate

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe.stage import ShardRef
from fineweb_pipe.tokens.stage import EncodeJob, encode_shard
from fineweb_pipe.tokens.tokenizer import TokenizerSpec, fertility, train_bpe

SHARED_TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"


def real_texts() -> list[str]:
    return [json.loads(line)["text"] for path in sorted(SHARED_TEXT.glob("*.jsonl"))
            for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def repeated(base: list[str], megabytes: float) -> list[str]:
    size = sum(len(t.encode()) for t in base)
    return base * max(1, round(megabytes * 1e6 / size))


def cpu_timed(fn):
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-mb", type=float, default=10)
    parser.add_argument("--encode-mb", type=float, default=20)
    parser.add_argument("--vocab-size", type=int, default=32768)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = real_texts()
        held_out = base[1::2]  # bytes per token on documents the tokenizer did not see
        train_texts = repeated(base[::2], args.train_mb)
        train_bytes = sum(len(t.encode()) for t in train_texts)
        path = os.path.join(tmp, "tokenizer.json")
        _, cpu, wall = cpu_timed(lambda: train_bpe(train_texts, path, args.vocab_size))
        encoder = TokenizerSpec(path).load()
        train_tokens = sum(map(len, encoder.encode_batch(train_texts)))
        print(f"training: {train_bytes / 1e6:.1f} MB, vocab {args.vocab_size}: {wall:.2f} s wall, {cpu:.2f} s CPU; "
              f"{train_bytes / 1e6 / cpu:.2f} MB/s and {train_tokens / cpu / 1e6:.2f}M tokens/s per core")

        texts = repeated(base, args.encode_mb)
        nbytes = sum(len(t.encode()) for t in texts)
        print(f"encoding {nbytes / 1e6:.1f} MB ({len(texts)} documents), engine {encoder.engine}")
        hf_ids, hf_cpu, _ = cpu_timed(lambda: encoder.encode_batch_hf(texts))
        tk_ids, tk_cpu, _ = cpu_timed(lambda: encoder.encode_batch(texts))
        tokens = sum(map(len, tk_ids))
        print(f"  HF encode_batch:   {tokens / hf_cpu / 1e6:.2f}M tokens/s per core")
        print(f"  tiktoken:          {tokens / tk_cpu / 1e6:.2f}M tokens/s per core  (ids identical: {hf_ids == tk_ids})")

        shard = os.path.join(tmp, "docs.parquet")
        pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": pa.array(texts, pa.large_string())}), shard)
        job = EncodeJob(ShardRef("bench", shard), os.path.join(tmp, "enc"), TokenizerSpec(path), "<|endoftext|>", "bos", 0)
        result = encode_shard(job)
        print(f"  Tokenize encode round (read Parquet, encode, delimiters, keys, counts, write): "
              f"{result.tokens / result.cpu_s / 1e6:.2f}M tokens/s per core")
        report = fertility(encoder, held_out)
        print(f"held-out documents ({report['documents']}, {report['bytes'] / 1e6:.2f} MB): "
              f"{report['bytes_per_token']:.3f} bytes per token, {report['tokens_per_word']:.3f} tokens per word")


if __name__ == "__main__":
    main()
