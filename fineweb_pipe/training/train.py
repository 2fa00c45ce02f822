"""The PyTorch training loop: a small GPT on a token shard folder, with evaluation and resumable checkpoints.

AdamW (weight decay on matrices only), warmup + cosine learning rate, gradient clipping at 1.0. Every
``eval_every`` steps (and before the first) the loss on the first ``eval_batches`` batches of the
``val`` split, read in order; every ``log_every`` steps the train loss and tokens/s. Everything logged
is also appended to ``{out_dir}/metrics.jsonl``. ``{out_dir}/checkpoint.pt`` (written atomically) holds
the model, optimizer, step and data-loader position, so a rerun with the same ``out_dir`` continues
exactly where the last checkpoint stopped. CPU by default; CUDA with bf16 autocast when present.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict

import numpy as np
import torch

from fineweb_pipe.training.batches import BatchConfig, BatchSource
from fineweb_pipe.training.config import GPTConfig, TrainConfig
from fineweb_pipe.training.metrics import MetricsLog, TrainResult
from fineweb_pipe.training.model import GPT
from fineweb_pipe.training.schedule import cosine_lr
from fineweb_pipe.training.torch_data import TokenDataset
from fineweb_pipe.writers.atomic import atomic_path

CHECKPOINT = "checkpoint.pt"


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def autocast_for(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA GPUs that support it (weights and optimizer stay fp32); nothing on CPU."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_optimizer(model: GPT, config: TrainConfig) -> torch.optim.AdamW:
    # Decay matrices (linear and embedding weights) only; biases and norms are not regularized.
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    vectors = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": matrices, "weight_decay": config.weight_decay}, {"params": vectors, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95), eps=1e-8)


@torch.no_grad()
def evaluate(model: GPT, val: BatchSource, batches: int, device: torch.device) -> float:
    model.eval()
    losses = []
    for _, batch in val.batches(epochs=1):
        if len(losses) == batches:
            break
        inputs, targets = (torch.from_numpy(batch[k]).to(device) for k in ("inputs", "targets"))
        with autocast_for(device):
            losses.append(model(inputs, targets)[1].item())
    model.train()
    return float(np.mean(losses))


def save_checkpoint(path: str, model: GPT, optimizer: torch.optim.Optimizer, step: int,
                    data: TokenDataset, config: TrainConfig) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
             "data": data.state_dict(), "model_config": asdict(model.config), "train_config": asdict(config)}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str, model: GPT, optimizer: torch.optim.Optimizer, data: TokenDataset) -> int:
    """Restore model, optimizer and data position from ``path``; returns the step to continue from."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state["model_config"] != asdict(model.config):
        raise ValueError(f"{path}: checkpoint is of model {state['model_config']}, this run builds "
                         f"{asdict(model.config)}; use the same sizes or another out_dir")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    data.load_state_dict(state["data"])
    return int(state["step"])


class TrainingClock:
    """Time spent training, excluding evaluation and checkpoints; syncs the device before reading it, as
    CUDA runs asynchronously."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.total = self.interval = 0.0
        self._since: float | None = None

    def start(self) -> None:
        """Run the clock (it keeps running across steps, so the device is not synced every step)."""
        if self._since is None:
            self._since = time.perf_counter()

    def pause(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        if self._since is not None:
            elapsed = time.perf_counter() - self._since
            self.total, self.interval, self._since = self.total + elapsed, self.interval + elapsed, None

    def take_interval(self) -> float:
        interval, self.interval = self.interval, 0.0
        return interval


def train(config: TrainConfig) -> TrainResult:
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    os.makedirs(config.out_dir, exist_ok=True)

    shape = dict(seq_len=config.seq_len, batch_size=config.batch_size)
    data = TokenDataset(BatchConfig(config.folder, "train", seed=config.seed, **shape))
    val = BatchSource(BatchConfig(config.folder, "val", shuffle=False, **shape))
    model_config = GPTConfig(data.source.vocab_size, config.seq_len, config.n_layer, config.n_head, config.d_model)
    model = GPT(model_config).to(device)
    optimizer = make_optimizer(model, config)

    checkpoint = os.path.join(config.out_dir, CHECKPOINT)
    resumed_from = load_checkpoint(checkpoint, model, optimizer, data) if config.resume and os.path.exists(checkpoint) else None
    step = resumed_from or 0
    log = MetricsLog(config.out_dir)
    log.write({"event": "start", "step": step, "device": str(device), "parameters": model.parameter_count(),
               "train_tokens": data.source.manifest.totals["train"]["tokens"], "resumed": resumed_from is not None})
    log.write({"event": "eval", "step": step, "val_loss": evaluate(model, val, config.eval_batches, device)})

    tokens_per_step = config.batch_size * config.seq_len
    batches = data.loader(num_workers=config.workers, pin_memory=device.type == "cuda")
    clock, interval_steps = TrainingClock(device), 0
    end = min(config.steps, config.stop_at or config.steps)
    while step < end:
        clock.start()
        batch = next(batches)
        lr = cosine_lr(step, config.lr, config.warmup, config.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        inputs, targets = (batch[k].to(device, non_blocking=True) for k in ("inputs", "targets"))
        with autocast_for(device):
            _, loss = model(inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        interval_steps += 1
        last = step == end
        if step % config.log_every == 0 or last:
            clock.pause()
            seconds = clock.take_interval()
            clock.start()
            log.write({"event": "train", "step": step, "loss": loss.item(), "lr": lr,
                       "tokens_per_s": interval_steps * tokens_per_step / seconds})
            interval_steps = 0
        if step % config.eval_every == 0 or last:
            clock.pause()
            log.write({"event": "eval", "step": step, "val_loss": evaluate(model, val, config.eval_batches, device)})
        if step % config.checkpoint_every == 0 or last:
            clock.pause()
            save_checkpoint(checkpoint, model, optimizer, step, data, config)
    batches.close()  # stops DataLoader workers now rather than at garbage collection

    trained = step - (resumed_from or 0)
    return log.result(step, resumed_from, trained * tokens_per_step / clock.total if clock.total else 0.0)
