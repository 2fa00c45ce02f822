from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
from fineweb_pipe.training.config import GPTConfig, TrainConfig  # noqa: E402
from fineweb_pipe.training.metrics import METRICS  # noqa: E402
from fineweb_pipe.training.model import GPT  # noqa: E402
from fineweb_pipe.training.schedule import cosine_lr  # noqa: E402
from fineweb_pipe.training.train import CHECKPOINT, train  # noqa: E402

TINY = dict(batch_size=4, seq_len=32, n_layer=1, n_head=2, d_model=32, eval_batches=2, log_every=1, threads=1)


def test_model_starts_near_uniform_loss_and_is_causal() -> None:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=300, seq_len=16, n_layer=2, n_head=2, d_model=32))
    inputs = torch.randint(0, 300, (2, 16))
    logits, loss = model(inputs, torch.randint(0, 300, (2, 16)))
    assert logits.shape == (2, 16, 300)
    assert abs(loss.item() - math.log(300)) < 0.3
    changed = inputs.clone()
    changed[:, 10] = (changed[:, 10] + 1) % 300
    assert torch.equal(model(changed)[0][:, :10], logits[:, :10])  # the future does not leak back
    assert model.head.weight is model.token_embedding.weight


def test_schedule_warms_up_then_decays_to_its_floor() -> None:
    rates = [cosine_lr(s, 1.0, warmup=4, total=20) for s in range(25)]
    assert rates[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(rates[4:], rates[5:]))
    assert rates[20] == rates[24] == pytest.approx(0.1)


def test_training_logs_and_resumes_on_the_same_loss_curve(shard_set, tmp_path) -> None:
    folder = str(shard_set())
    straight = train(TrainConfig(folder, str(tmp_path / "straight"), steps=4, warmup=1, eval_every=2, **TINY))
    first = train(TrainConfig(folder, str(tmp_path / "split"), steps=4, warmup=1, eval_every=2, stop_at=2, **TINY))
    second = train(TrainConfig(folder, str(tmp_path / "split"), steps=4, warmup=1, eval_every=2, **TINY))
    assert (first.steps, second.resumed_from, second.steps) == (2, 2, 4)
    losses = lambda result: [r["loss"] for r in result.history if r["event"] == "train"]  # noqa: E731
    assert losses(first) + losses(second) == pytest.approx(losses(straight), rel=1e-5)
    assert second.last_val_loss == pytest.approx(straight.last_val_loss, rel=1e-5)
    assert straight.first_val_loss == pytest.approx(math.log(500), abs=0.3)
    assert straight.tokens_per_second > 0
    assert (tmp_path / "split" / CHECKPOINT).exists()
    records = [json.loads(line) for line in (tmp_path / "split" / METRICS).read_text().splitlines()]
    assert [r["step"] for r in records if r["event"] == "eval"] == [0, 2, 2, 4]


def test_a_checkpoint_of_another_model_is_refused(shard_set, tmp_path) -> None:
    folder = str(shard_set())
    train(TrainConfig(folder, str(tmp_path), steps=1, **TINY))
    with pytest.raises(ValueError, match="checkpoint is of model"):
        train(TrainConfig(folder, str(tmp_path), steps=2, **{**TINY, "d_model": 64}))
