"""The JAX training loop: the plain-JAX GPT on :class:`JaxBatches`, with a hand-written AdamW.

Mirrors the PyTorch loop (``train.py``): same config, checks, schedule, gradient clipping at 1.0, weight
decay on matrices only, evaluation on the first ``eval_batches`` batches of ``val``, ``metrics.jsonl``, a
stop on a loss that is not finite, and a resumable checkpoint, here ``{out_dir}/checkpoint_jax.npz``
(parameter and optimizer leaves as arrays, plus step, data position, model sizes and schedule as JSON;
no pickle). Runs on JAX's default device.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fineweb_pipe.training.batches import BatchConfig, BatchSource
from fineweb_pipe.training.checks import check_shard_set
from fineweb_pipe.training.config import GPTConfig, TrainConfig, TrainingError, check_same_schedule
from fineweb_pipe.training.jax_data import JaxBatches
from fineweb_pipe.training.jax_model import Params, init_params, loss_fn
from fineweb_pipe.training.metrics import MetricsLog, TrainResult, raise_if_not_finite
from fineweb_pipe.training.schedule import cosine_lr
from fineweb_pipe.storage import local_staging

CHECKPOINT = "checkpoint_jax.npz"
BETAS = (0.9, 0.95)
EPSILON = 1e-8
MAX_GRAD_NORM = 1.0


class AdamWState(NamedTuple):
    count: jax.Array  # type: ignore[assignment]  # shadows tuple.count; steps taken, for bias correction
    mu: Params  # first moments, shaped like the parameters
    nu: Params  # second moments


def adamw_init(params: Params) -> AdamWState:
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
    return AdamWState(jnp.zeros((), jnp.int32), zeros, jax.tree_util.tree_map(jnp.zeros_like, params))


def adamw_update(grads: Params, state: AdamWState, params: Params, lr: jax.Array,
                 weight_decay: float) -> tuple[Params, AdamWState]:
    """One decoupled-weight-decay Adam step (Loshchilov & Hutter); decay applies to matrices only."""
    b1, b2 = BETAS
    count = state.count + 1
    mu = jax.tree_util.tree_map(lambda m, g: b1 * m + (1 - b1) * g, state.mu, grads)
    nu = jax.tree_util.tree_map(lambda v, g: b2 * v + (1 - b2) * g * g, state.nu, grads)
    correction1, correction2 = 1 - b1**count, 1 - b2**count

    def step(p: jax.Array, m: jax.Array, v: jax.Array) -> jax.Array:
        update = (m / correction1) / (jnp.sqrt(v / correction2) + EPSILON)
        decay = weight_decay * p if p.ndim >= 2 else 0.0
        return p - lr * (update + decay)

    return jax.tree_util.tree_map(step, params, mu, nu), AdamWState(count, mu, nu)


def clip_by_global_norm(grads: Params, max_norm: float) -> Params:
    norm = jnp.sqrt(sum(jnp.sum(g * g) for g in jax.tree_util.tree_leaves(grads)))
    scale = jnp.minimum(1.0, max_norm / (norm + 1e-6))
    return jax.tree_util.tree_map(lambda g: g * scale, grads)


@partial(jax.jit, static_argnames=("n_head", "weight_decay"))
def train_step(params: Params, state: AdamWState, inputs: jax.Array, targets: jax.Array, lr: jax.Array,
               n_head: int, weight_decay: float) -> tuple[Params, AdamWState, jax.Array]:
    """Loss, gradients, clipping and the AdamW update, compiled as one function."""
    loss, grads = jax.value_and_grad(loss_fn)(params, inputs, targets, n_head)
    params, state = adamw_update(clip_by_global_norm(grads, MAX_GRAD_NORM), state, params, lr, weight_decay)
    return params, state, loss


eval_loss = jax.jit(loss_fn, static_argnames=("n_head",))


@jax.jit
def track_non_finite(bad: jax.Array, loss: jax.Array, step: int) -> jax.Array:
    """(step, loss) of the first step whose loss was not finite, (-1, 0) while none was; on the device,
    so no step waits for its loss."""
    first = (bad[0] < 0) & ~jnp.isfinite(loss)
    return jnp.where(first, jnp.stack([jnp.float32(step), loss.astype(jnp.float32)]), bad)


def evaluate(params: Params, val: BatchSource, batches: int, n_head: int) -> float:
    losses: list[float] = []
    for _, batch in val.batches(epochs=1):
        if len(losses) == batches:
            break
        losses.append(float(eval_loss(params, batch["inputs"], batch["targets"], n_head)))
    return float(np.mean(losses))


def save_checkpoint(path: str, params: Params, state: AdamWState, step: int, data: JaxBatches,
                    model_config: GPTConfig, config: TrainConfig | None = None) -> None:
    leaves = jax.tree_util.tree_leaves((params, state))
    meta = {"step": step, "data": data.state_dict(), "model_config": asdict(model_config),
            "schedule": config.schedule() if config is not None else None}
    with local_staging(path) as tmp, open(tmp, "wb") as f:
        arrays: dict[str, Any] = {f"leaf_{i}": np.asarray(leaf) for i, leaf in enumerate(leaves)}
        np.savez(f, meta=np.array(json.dumps(meta)), **arrays)


def load_checkpoint(path: str, params: Params, state: AdamWState, data: JaxBatches,
                    model_config: GPTConfig, config: TrainConfig | None = None) -> tuple[Params, AdamWState, int]:
    """Parameters, optimizer state and step from ``path`` (the tree structure comes from this run's model).
    With ``config``, a checkpoint of another schedule is refused (:func:`check_same_schedule`)."""
    with np.load(path) as saved:
        meta: dict[str, Any] = json.loads(str(saved["meta"]))
        if meta["model_config"] != asdict(model_config):
            raise TrainingError(f"{path}: checkpoint is of model {meta['model_config']}, this run builds "
                                f"{asdict(model_config)}; use the same sizes or another out_dir")
        if config is not None:
            check_same_schedule(path, meta.get("schedule"), config)
        treedef = jax.tree_util.tree_structure((params, state))
        leaves = [jnp.asarray(saved[f"leaf_{i}"]) for i in range(treedef.num_leaves)]  # type: ignore[attr-defined]  # PyTreeDef is unresolved for mypy
    data.load_state_dict(meta["data"])
    params, state = jax.tree_util.tree_unflatten(treedef, leaves)
    return params, state, int(meta["step"])


def train_jax(config: TrainConfig) -> TrainResult:
    manifest = check_shard_set(config)  # before anything is built or written
    os.makedirs(config.out_dir, exist_ok=True)
    shape: dict[str, Any] = dict(seq_len=config.seq_len, batch_size=config.batch_size)
    data = JaxBatches(BatchConfig(config.folder, "train", seed=config.seed, **shape))
    val = None
    if config.evaluate:
        val = BatchSource(BatchConfig(config.folder, "val", shuffle=False, **shape), dtype=np.int32)
    model_config = GPTConfig(manifest.vocab_size, config.seq_len, config.n_layer, config.n_head, config.d_model)
    params = init_params(model_config, config.seed)
    state = adamw_init(params)

    checkpoint = os.path.join(config.out_dir, CHECKPOINT)
    resumed_from = None
    if config.resume and os.path.exists(checkpoint):
        params, state, resumed_from = load_checkpoint(checkpoint, params, state, data, model_config, config)
    step, saved_step = resumed_from or 0, resumed_from
    log = MetricsLog(config.out_dir)
    parameters = sum(leaf.size for leaf in jax.tree_util.tree_leaves(params))
    log.write({"event": "start", "step": step, "device": str(jax.devices()[0]), "parameters": int(parameters),
               "framework": "jax", "resumed": resumed_from is not None})

    def validation(step: int) -> None:
        if val is not None:
            loss = evaluate(params, val, config.eval_batches, config.n_head)
            log.write({"event": "eval", "step": step, "val_loss": loss})
            raise_if_not_finite(loss, "validation", step, saved_step, log)

    validation(step)
    tokens_per_step = config.batch_size * config.seq_len
    end = min(config.steps, config.stop_at or config.steps)
    train_seconds = interval_seconds = 0.0
    interval_steps = 0
    bad = jnp.array([-1.0, 0.0], dtype=jnp.float32)  # see track_non_finite
    while step < end:
        started = time.perf_counter()
        batch = next(data)
        lr = jnp.float32(cosine_lr(step, config.lr, config.warmup_steps, config.steps))
        params, state, loss = train_step(params, state, batch["inputs"], batch["targets"], lr,
                                         config.n_head, config.weight_decay)
        step += 1
        interval_steps += 1
        bad = track_non_finite(bad, loss, step)
        last = step == end
        logs, evals, saves = (step % every == 0 or last for every in
                              (config.log_every, config.eval_every, config.checkpoint_every))
        if logs or evals or saves:
            loss.block_until_ready()  # steps run asynchronously: wait, so the timed interval holds their work
        interval_seconds += time.perf_counter() - started
        if (logs or evals or saves) and float(bad[0]) >= 0:  # before anything of the diverged state is kept
            raise_if_not_finite(float(bad[1]), "train", int(bad[0]), saved_step, log)
        if logs:
            log.write({"event": "train", "step": step, "loss": float(loss), "lr": float(lr),
                       "tokens_per_s": interval_steps * tokens_per_step / interval_seconds})
            train_seconds, interval_seconds, interval_steps = train_seconds + interval_seconds, 0.0, 0
        if evals:
            validation(step)
        if saves:
            save_checkpoint(checkpoint, params, state, step, data, model_config, config)
            saved_step = step

    trained = step - (resumed_from or 0)
    return log.result(step, resumed_from, trained * tokens_per_step / train_seconds if train_seconds else 0.0)
