"""What a training run checks before it builds a model or writes anything: that the shard set can be
trained on as configured. Plain numpy; both training loops call :func:`check_shard_set` first."""

from __future__ import annotations

import os

from fineweb_pipe.tokens import Manifest, ShardError, out_of_vocabulary
from fineweb_pipe.tokens.shards import Split
from fineweb_pipe.training.batches import missing_split
from fineweb_pipe.training.config import TrainConfig, TrainingError
from fineweb_pipe.training.windows import WindowSampler


def check_shard_set(config: TrainConfig) -> Manifest:
    """The manifest of ``config.folder`` once the splits the run reads (``train``, and ``val`` unless
    ``evaluate`` is off) exist, hold a whole batch, and have every token id inside the vocabulary.

    The id check reads each shard of those splits once (memory-mapped, about 10 ms per 100M cached
    tokens): ids at or above ``vocab_size`` would crash torch's embedding and make JAX train on NaN.
    Raises :class:`TrainingError` or :class:`ShardError` with a message that says what to change.
    """
    manifest = Manifest.load(config.folder)
    splits: tuple[Split, ...] = ("train", "val") if config.evaluate else ("train",)
    for split in splits:
        shards = manifest.split(split)
        if not shards:
            raise TrainingError(missing_split(config.folder, manifest, split))
        sampler = WindowSampler([s.tokens for s in shards], config.seq_len, config.batch_size, config.seed,
                                shuffle=split == "train")
        if sampler.batches_per_epoch(0) == 0:
            fix = "lower --batch-size or --seq-len, or tokenize more data" + (
                "; or train without evaluation (--no-eval)" if split == "val" else "")
            raise TrainingError(
                f"the '{split}' split of {config.folder} ({manifest.totals[split]['tokens']:,} tokens) holds no whole "
                f"batch of {config.batch_size} windows of {config.seq_len + 1} tokens: {fix}")
    for split in splits:
        for shard in manifest.split(split):
            found = out_of_vocabulary(manifest.open_tokens(config.folder, shard), manifest.vocab_size)
            if found is not None:
                raise ShardError(found.describe(os.path.join(config.folder, shard.file), manifest.vocab_size)
                                 + f"; a model of {manifest.vocab_size:,} embeddings cannot train on it (check the "
                                   f"set with fineweb-pipe inspect-shards {config.folder})")
    return manifest
