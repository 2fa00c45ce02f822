"""Tokenization on real web text: throughput (BPE training, encoding HF vs tiktoken per core, bytes per
token) and, with ``--scale``, how Tokenize's memory and files grow with the corpus.

    .venv/bin/python benchmarks/bench_tokens.py [--train-mb 10] [--encode-mb 20] [--vocab-size 32768]
    .venv/bin/python benchmarks/bench_tokens.py --scale 100000 1000000 [--work DIR] [--workers 2]

Text: /work/shared/data/text/*.jsonl, repeated to reach the sizes asked. Rates are per core: tokens over
the CPU seconds the process used (all threads), with HF's thread pool held to one thread.

``--scale N``: N documents (slices of ~600 bytes of the real texts, unique ids) in input shards of
``--docs-per-input`` documents, tokenized with a given 4,096-token BPE into shards of ``--shard-tokens``.
Every task runs in a fresh process, so its peak RSS is its own; printed per round: tasks, largest peak RSS,
and the files the round left in the work and tokens folders; per assemble task its peak RSS beside its
bucket's token bytes; then the driver's peak RSS. Prints figures only.
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # before tokenizers starts its pool: one core's rate

import argparse
import hashlib
import json
import multiprocessing
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe import storage
from fineweb_pipe.engine.context import PhaseContext, run_task
from fineweb_pipe.stage import Resources, ShardRef
from fineweb_pipe.tokens.encode import EncodeJob, encode_shard
from fineweb_pipe.tokens.stage import Tokenize
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


def throughput(args: argparse.Namespace) -> None:
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
        sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        job = EncodeJob(ShardRef("bench", shard), 0, os.path.join(tmp, "enc.parquet"), 64, TokenizerSpec(path), sha,
                        "<|endoftext|>", "bos", 0)
        result = encode_shard(job)
        print(f"  Tokenize encode round (read Parquet, encode, delimiters, keys, write by key range): "
              f"{result['tokens'] / result['cpu_s'] / 1e6:.2f}M tokens/s per core")
        report = fertility(encoder, held_out)
        print(f"held-out documents ({report['documents']}, {report['bytes'] / 1e6:.2f} MB): "
              f"{report['bytes_per_token']:.3f} bytes per token, {report['tokens_per_word']:.3f} tokens per word")


def _peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent a worker was
    forked from before its exec)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def _measured(fn: Callable[[Any], Any], item: Any) -> tuple[Any, float]:
    return run_task(fn, item), _peak_rss_mb()


def _idle(_: Any) -> None:
    """A task that does nothing: a worker's own memory (interpreter, pyarrow, tokenizers, numpy)."""


class MeasuringMapper:
    """Runs each task in a fresh process (so its peak RSS is its own) and keeps, per round, the tasks'
    peaks and the files the round added under ``folders``."""

    def __init__(self, workers: int, folders: Sequence[str]) -> None:
        self.workers, self.folders = workers, folders
        self.rounds: dict[str, dict[str, Any]] = defaultdict(lambda: {"tasks": 0, "peak_mb": 0.0, "files": 0, "markers": 0})
        self.tasks: dict[str, list[tuple[Any, Any, float]]] = defaultdict(list)  # per round: item, result, peak

    def _files(self) -> set[str]:
        return {f for folder in self.folders for f in storage.list_files(folder)}

    def __call__(self, fn: Callable[[Any], Any], items: Sequence[Any], resources: Resources) -> list[Any]:
        before = self._files()
        context = multiprocessing.get_context("spawn")
        # max_tasks_per_child is 3.11+; mypy targets 3.10
        with ProcessPoolExecutor(self.workers, context, max_tasks_per_child=1) as pool:  # type: ignore[call-overload]
            measured = list(pool.map(partial(_measured, fn), items))
        added = self._files() - before
        name = getattr(fn, "fn", fn).__name__
        stats = self.rounds[name]
        stats["tasks"] += len(items)
        stats["peak_mb"] = max([stats["peak_mb"]] + [peak for _, peak in measured])
        stats["markers"] += sum("/done/" in f for f in added)
        stats["files"] += sum("/done/" not in f for f in added)
        self.tasks[name] += [(item, result, peak) for item, (result, peak) in zip(items, measured)]
        return [result for result, _ in measured]


def corpus_texts(count: int, seed: int = 0) -> list[str]:
    """``count`` documents: slices of 300-900 bytes of the real texts, at random offsets."""
    text = "\n".join(real_texts())
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(text) - 1000, size=count)
    sizes = rng.integers(300, 900, size=count)
    return [text[a:a + n] for a, n in zip(starts.tolist(), sizes.tolist())]


def write_inputs(folder: Path, docs: int, per_input: int) -> list[ShardRef]:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    inputs = []
    for first in range(0, docs, per_input):
        n = min(per_input, docs - first)
        path = folder / f"part-{first // per_input:05d}.parquet"
        texts = corpus_texts(n, seed=first)
        pq.write_table(pa.table({"id": [f"doc-{first + i}" for i in range(n)], "text": texts}), path)
        inputs.append(ShardRef(path.stem, str(path)))
    return inputs


def scale(args: argparse.Namespace) -> None:
    work = Path(args.work)
    tokenizer = work / "tokenizer.json"
    work.mkdir(parents=True, exist_ok=True)
    if not tokenizer.exists():
        train_bpe(real_texts(), str(tokenizer), 4096)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        idle = pool.submit(_measured, _idle, None).result()[1]
    print(f"idle worker (spawned, modules imported): {idle:.0f} MB peak RSS")
    for docs in args.scale:
        folder = work / f"docs-{docs}"
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:  # not in the driver
            inputs = pool.submit(write_inputs, folder, docs, args.docs_per_input).result()
        run_dir = work / f"run-{docs}"
        shutil.rmtree(run_dir, ignore_errors=True)
        ctx = PhaseContext.local("tokenize", inputs, str(run_dir))
        mapper = MeasuringMapper(args.workers, [ctx.work_dir, str(run_dir / "tokens")])
        ctx.mapper = mapper
        start = time.perf_counter()
        Tokenize(str(tokenizer), shard_tokens=args.shard_tokens, val=0.01, seed=1).run(ctx)
        wall = time.perf_counter() - start
        section = ctx.sections["tokens"]
        tokens = sum(t["tokens"] for t in section["totals"].values())
        sizes = sorted(section["tokens_per_shard"].values())
        print(f"{docs:,} documents, {len(inputs)} inputs, {tokens / 1e6:.0f}M tokens, {section['shards']} shards "
              f"(tokens per shard {sizes[0] / 1e6:.1f}M to {sizes[-1] / 1e6:.1f}M of {args.shard_tokens / 1e6:.0f}M): "
              f"{wall:.0f} s wall")
        for name, stats in mapper.rounds.items():
            print(f"  {name:>16}: {stats['tasks']:4d} tasks, peak RSS {stats['peak_mb']:6.0f} MB "
                  f"(+{stats['peak_mb'] - idle:4.0f} over idle), files written {stats['files']}, markers {stats['markers']}")
        for job, result, peak in mapper.tasks["assemble_bucket"]:
            bucket_mb = sum(s["tokens"] for s in result["shards"]) * np.dtype(job.dtype).itemsize / 2**20
            print(f"    assemble {job.key}: {len(result['shards'])} shards, {bucket_mb:5.0f} MB of tokens, peak RSS "
                  f"{peak:4.0f} MB (+{peak - idle:4.0f} over idle = {(peak - idle) / max(bucket_mb, 1e-9):.2f}x the tokens)")
        print(f"  driver: peak RSS {_peak_rss_mb():.0f} MB (its peak over all sizes so far)")
        shutil.rmtree(folder)
        shutil.rmtree(run_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-mb", type=float, default=10)
    parser.add_argument("--encode-mb", type=float, default=20)
    parser.add_argument("--vocab-size", type=int, default=32768)
    parser.add_argument("--scale", type=int, nargs="+", help="document counts to tokenize at, measuring memory")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench-tokens"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--docs-per-input", type=int, default=50_000)
    parser.add_argument("--shard-tokens", type=int, default=20_000_000)
    args = parser.parse_args()
    if args.scale:
        scale(args)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
