from __future__ import annotations

import math

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from fineweb_pipe.training.config import GPTConfig, TrainConfig  # noqa: E402
from fineweb_pipe.training.jax_model import forward, init_params  # noqa: E402
from fineweb_pipe.training.jax_train import CHECKPOINT, adamw_init, adamw_update, train_jax  # noqa: E402

TINY = dict(batch_size=4, seq_len=32, n_layer=1, n_head=2, d_model=32, eval_batches=2, log_every=1)


def test_adamw_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    matrix, vector = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    grads = [(rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=4).astype(np.float32)) for _ in range(3)]

    torch_params = [torch.tensor(matrix, requires_grad=True), torch.tensor(vector, requires_grad=True)]
    optimizer = torch.optim.AdamW([{"params": torch_params[:1], "weight_decay": 0.1},
                                   {"params": torch_params[1:], "weight_decay": 0.0}], lr=0.01, betas=(0.9, 0.95))
    params = {"m": jnp.asarray(matrix), "v": jnp.asarray(vector)}
    state = adamw_init(params)
    for g_matrix, g_vector in grads:
        torch_params[0].grad, torch_params[1].grad = torch.tensor(g_matrix), torch.tensor(g_vector)
        optimizer.step()
        params, state = adamw_update({"m": jnp.asarray(g_matrix), "v": jnp.asarray(g_vector)}, state, params,
                                     jnp.float32(0.01), 0.1)
    # torch applies decay as p *= 1 - lr * wd before the Adam step; the same to first order in lr * wd.
    np.testing.assert_allclose(params["m"], torch_params[0].detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(params["v"], torch_params[1].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_model_is_causal_and_starts_near_uniform() -> None:
    config = GPTConfig(vocab_size=300, seq_len=16, n_layer=2, n_head=2, d_model=32)
    params = init_params(config, 0)
    inputs = jnp.asarray(np.random.default_rng(0).integers(0, 300, (2, 16)), dtype=jnp.int32)
    logits = jax.jit(forward, static_argnames="n_head")(params, inputs, config.n_head)
    assert logits.shape == (2, 16, 300)
    probabilities = jax.nn.softmax(logits, -1)
    assert float(-jnp.log(probabilities).mean()) == pytest.approx(math.log(300), abs=0.3)
    changed = inputs.at[:, 10].set((inputs[:, 10] + 1) % 300)
    np.testing.assert_allclose(jax.jit(forward, static_argnames="n_head")(params, changed, config.n_head)[:, :10], logits[:, :10], atol=1e-5)


@pytest.mark.slow  # three jit compilations: ~20 s on a shared 2-core machine
def test_jax_training_resumes_on_the_same_curve(shard_set, tmp_path) -> None:
    folder = str(shard_set())
    straight = train_jax(TrainConfig(folder, str(tmp_path / "straight"), steps=6, warmup=1, eval_every=3, **TINY))
    first = train_jax(TrainConfig(folder, str(tmp_path / "split"), steps=6, warmup=1, eval_every=3, stop_at=3, **TINY))
    second = train_jax(TrainConfig(folder, str(tmp_path / "split"), steps=6, warmup=1, eval_every=3, **TINY))
    assert (tmp_path / "split" / CHECKPOINT).exists() and second.resumed_from == 3
    losses = lambda result: [r["loss"] for r in result.history if r["event"] == "train"]  # noqa: E731
    assert losses(first) + losses(second) == pytest.approx(losses(straight), rel=1e-5)
    assert straight.first_val_loss == pytest.approx(math.log(500), abs=0.3)  # random tokens: nothing to learn
