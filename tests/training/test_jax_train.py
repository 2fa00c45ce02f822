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


def test_jax_refuses_ids_outside_the_vocabulary_instead_of_training_on_nan(split_set, tmp_path, capsys) -> None:
    from fineweb_pipe.training.__main__ import main

    folder = split_set(ids_below=600)  # the manifest says 500
    assert main([str(folder), "--out", str(tmp_path / "run"), "--framework", "jax", "--steps", "2",
                 "--batch-size", "2", "--seq-len", "16", "--n-layer", "1", "--d-model", "16", "--n-head", "2"]) == 2
    err = capsys.readouterr().err
    assert "outside the vocabulary of 500" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_jax_stops_on_a_non_finite_loss_and_refuses_another_schedule(shard_set, tmp_path, monkeypatch) -> None:
    import json

    from fineweb_pipe.training import jax_train
    from fineweb_pipe.training.config import NonFiniteLoss, TrainingError
    from fineweb_pipe.training.metrics import METRICS

    folder, run = str(shard_set()), tmp_path / "run"
    config = dict(steps=6, warmup=1, checkpoint_every=2, **TINY)
    train_jax(TrainConfig(folder, str(run), stop_at=2, **config))
    with pytest.raises(TrainingError, match=r"--steps 6 \(now 9\)"):
        train_jax(TrainConfig(folder, str(run), **{**config, "steps": 9}))

    step = jax_train.train_step
    calls = {"n": 0}

    def diverging(*args, **kwargs):
        params, state, loss = step(*args, **kwargs)
        calls["n"] += 1
        return params, state, loss * jnp.nan if calls["n"] == 2 else loss  # the resumed run's 2nd step: 4

    monkeypatch.setattr(jax_train, "train_step", diverging)
    with pytest.raises(NonFiniteLoss, match="train loss is nan at step 4.*the checkpoint stays at step 2"):
        train_jax(TrainConfig(folder, str(run), **config))
    records = [json.loads(line) for line in (run / METRICS).read_text().splitlines()]  # no bare NaN
    assert records[-1]["event"] == "error" and max(r["step"] for r in records if r["event"] == "train") == 3
    with np.load(run / CHECKPOINT) as saved:
        assert json.loads(str(saved["meta"]))["step"] == 2
