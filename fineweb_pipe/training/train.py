"""The PyTorch training loop: a small GPT on a token shard folder, with evaluation and resumable checkpoints.

AdamW (weight decay on matrices only), warmup + cosine learning rate, gradient clipping at 1.0. Every
``eval_every`` steps (and before the first) the loss on the first ``eval_batches`` batches of the
``val`` split, read in order (none with ``evaluate=False``); every ``log_every`` steps the train loss and
tokens/s. Everything logged is also appended to ``{out_dir}/metrics.jsonl``. ``{out_dir}/checkpoint.pt``
(written atomically) holds the model, optimizer, step, data-loader position and schedule, so a rerun with
the same ``out_dir`` and schedule continues exactly where the last checkpoint stopped (another schedule is
refused). Before anything is built the shard set is checked (:func:`check_shard_set`); a loss that is
not finite stops the run (:class:`NonFiniteLoss`) before it is logged or saved. CPU by default; CUDA with
bf16 autocast when present (that path has not been run by this project's tests: they have no GPU).
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from fineweb_pipe.training.batches import BatchConfig, BatchSource
from fineweb_pipe.training.checks import check_shard_set
from fineweb_pipe.training.config import GPTConfig, TrainConfig, TrainingError, check_same_schedule
from fineweb_pipe.training.metrics import MetricsLog, TrainResult, raise_if_not_finite
from fineweb_pipe.training.model import GPT
from fineweb_pipe.training.schedule import cosine_lr
from fineweb_pipe.training.torch_data import TokenDataset
from fineweb_pipe.storage import local_staging

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
    losses: list[float] = []
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
             "data": data.state_dict(), "model_config": asdict(model.config), "train_config": asdict(config),
             "schedule": config.schedule()}
    with local_staging(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str, model: GPT, optimizer: torch.optim.Optimizer, data: TokenDataset,
                    config: TrainConfig | None = None) -> int:
    """Restore model, optimizer and data position from ``path``; returns the step to continue from.
    With ``config``, a checkpoint of another schedule is refused (:func:`check_same_schedule`)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state["model_config"] != asdict(model.config):
        raise TrainingError(f"{path}: checkpoint is of model {state['model_config']}, this run builds "
                            f"{asdict(model.config)}; use the same sizes or another out_dir")
    if config is not None:
        saved = state.get("schedule")
        if saved is None and "train_config" in state:  # written before schedules were saved: the same fields
            saved = {k: v for k, v in state["train_config"].items() if k in config.schedule()}
        check_same_schedule(path, saved, config)
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
    manifest = check_shard_set(config)  # before anything is built or written
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    os.makedirs(config.out_dir, exist_ok=True)

    shape: dict[str, Any] = dict(seq_len=config.seq_len, batch_size=config.batch_size)
    data = TokenDataset(BatchConfig(config.folder, "train", seed=config.seed, **shape))
    val = BatchSource(BatchConfig(config.folder, "val", shuffle=False, **shape)) if config.evaluate else None
    model_config = GPTConfig(manifest.vocab_size, config.seq_len, config.n_layer, config.n_head, config.d_model)
    model = GPT(model_config).to(device)
    optimizer = make_optimizer(model, config)

    checkpoint = os.path.join(config.out_dir, CHECKPOINT)
    resumed_from = None
    if config.resume and os.path.exists(checkpoint):
        resumed_from = load_checkpoint(checkpoint, model, optimizer, data, config)
    step, saved_step = resumed_from or 0, resumed_from
    log = MetricsLog(config.out_dir)
    log.write({"event": "start", "step": step, "device": str(device), "parameters": model.parameter_count(),
               "train_tokens": manifest.totals["train"]["tokens"], "resumed": resumed_from is not None})

    def validation(step: int) -> None:
        if val is not None:
            loss = evaluate(model, val, config.eval_batches, device)
            log.write({"event": "eval", "step": step, "val_loss": loss})
            raise_if_not_finite(loss, "validation", step, saved_step, log)

    validation(step)
    tokens_per_step = config.batch_size * config.seq_len
    batches = data.loader(num_workers=config.workers, pin_memory=device.type == "cuda")
    clock, interval_steps = TrainingClock(device), 0
    # The first step whose loss was not finite and that loss, kept on the device so no step waits for it.
    bad_step, bad_loss = torch.full((), -1, device=device), torch.zeros((), device=device)
    end = min(config.steps, config.stop_at or config.steps)
    try:
        while step < end:
            clock.start()
            batch = next(batches)
            lr = cosine_lr(step, config.lr, config.warmup_steps, config.steps)
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
            first_bad = (bad_step < 0) & ~torch.isfinite(loss.detach())
            bad_step = torch.where(first_bad, step, bad_step)
            bad_loss = torch.where(first_bad, loss.detach().float(), bad_loss)
            last = step == end
            logs, evals, saves = (step % every == 0 or last for every in
                                  (config.log_every, config.eval_every, config.checkpoint_every))
            if not (logs or evals or saves):
                continue
            clock.pause()
            if int(bad_step) >= 0:  # before anything of the diverged state is logged or saved
                raise_if_not_finite(float(bad_loss), "train", int(bad_step), saved_step, log)
            if logs:
                seconds = clock.take_interval()
                log.write({"event": "train", "step": step, "loss": loss.item(), "lr": lr,
                           "tokens_per_s": interval_steps * tokens_per_step / seconds})
                interval_steps = 0
            if evals:
                validation(step)
            if saves:
                save_checkpoint(checkpoint, model, optimizer, step, data, config)
                saved_step = step
    finally:
        batches.close()  # stops DataLoader workers now rather than at garbage collection

    trained = step - (resumed_from or 0)
    return log.result(step, resumed_from, trained * tokens_per_step / clock.total if clock.total else 0.0)

