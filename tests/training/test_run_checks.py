"""What ``train`` refuses or stops on, each with one line that says what to change, and what it reports:
the warmup against the steps, a resume with another schedule, missing splits, token ids outside the
vocabulary, a loss that is not finite, and metrics.jsonl as valid JSON."""

from __future__ import annotations

import json
import math

import pytest

from fineweb_pipe.training.__main__ import main
from fineweb_pipe.training.config import NonFiniteLoss, TrainConfig, TrainingError
from fineweb_pipe.training.metrics import METRICS, MetricsLog

torch = pytest.importorskip("torch")
from fineweb_pipe.training import train as train_module  # noqa: E402
from fineweb_pipe.training.train import CHECKPOINT, train  # noqa: E402

TINY_ARGS = ["--batch-size", "2", "--seq-len", "16", "--n-layer", "1", "--d-model", "16", "--n-head", "2",
             "--eval-batches", "1", "--log-every", "1", "--threads", "1"]
TINY = dict(batch_size=2, seq_len=16, n_layer=1, n_head=2, d_model=16, eval_batches=1, log_every=1, threads=1)


def _records(run) -> list[dict]:
    return [json.loads(line) for line in (run / METRICS).read_text().splitlines()]  # every line valid JSON


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# --- the schedule -------------------------------------------------------------------------------------

def test_without_warmup_the_schedule_reaches_its_peak_in_a_short_run(shard_set, tmp_path, capsys):
    assert main([str(shard_set()), "--out", str(tmp_path / "run"), "--steps", "20", "--lr", "0.001", *TINY_ARGS]) == 0
    rates = [r["lr"] for r in _records(tmp_path / "run") if r["event"] == "train"]
    assert len(rates) == 20 and max(rates) == pytest.approx(0.001)  # warmup 30 of 20 steps never got there
    assert rates.index(max(rates)) == 1  # the default warmup is 10% of the steps: 2
    assert TrainConfig("f", "o", steps=300).warmup_steps == 30  # the default run is unchanged


def test_a_warmup_not_below_the_steps_is_refused(shard_set, tmp_path, capsys):
    with pytest.raises(TrainingError, match="--warmup 30 is not below --steps 20"):
        TrainConfig("f", "o", steps=20, warmup=30)
    assert main([str(shard_set()), "--out", str(tmp_path / "run"), "--steps", "20", "--warmup", "30", *TINY_ARGS]) == 2
    assert "never reach its peak" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_resuming_with_other_steps_is_refused(shard_set, tmp_path, capsys):
    folder, run = str(shard_set()), tmp_path / "run"
    assert main([folder, "--out", str(run), "--steps", "4", "--stop-at", "2", *TINY_ARGS]) == 0
    capsys.readouterr()
    before = (run / CHECKPOINT).read_bytes()
    assert main([folder, "--out", str(run), "--steps", "8", *TINY_ARGS]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--steps 4 (now 8)" in line and "--no-resume" in line
    assert (run / CHECKPOINT).read_bytes() == before
    # The same schedule resumes; --no-resume starts afresh with the new one.
    assert main([folder, "--out", str(run), "--steps", "4", *TINY_ARGS]) == 0
    assert main([folder, "--out", str(run), "--steps", "8", "--no-resume", *TINY_ARGS]) == 0


def test_a_checkpoint_written_before_schedules_were_saved_is_checked_by_its_config(shard_set, tmp_path):
    folder = str(shard_set())
    train(TrainConfig(folder, str(tmp_path), steps=4, warmup=1, stop_at=2, **TINY))
    state = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    del state["schedule"]
    torch.save(state, tmp_path / CHECKPOINT)
    with pytest.raises(TrainingError, match=r"--steps 4 \(now 5\)"):
        train(TrainConfig(folder, str(tmp_path), steps=5, warmup=1, **TINY))
    assert train(TrainConfig(folder, str(tmp_path), steps=4, warmup=1, **TINY)).resumed_from == 2


# --- the splits ---------------------------------------------------------------------------------------

def test_a_set_without_val_trains_with_no_eval(split_set, tmp_path, capsys):
    folder = str(split_set(train=2, val=0))
    assert main([folder, "--out", str(tmp_path / "refused"), "--steps", "2", *TINY_ARGS]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "no 'val' shards" in line and "--no-eval" in line
    assert not (tmp_path / "refused").exists()
    assert main([folder, "--out", str(tmp_path / "run"), "--steps", "2", "--no-eval", *TINY_ARGS]) == 0
    assert "no evaluation" in capsys.readouterr().err
    records = _records(tmp_path / "run")
    assert not [r for r in records if r["event"] == "eval"] and records[-1]["step"] == 2


def test_an_empty_train_split_says_there_is_nothing_to_train_on(split_set, tmp_path, capsys):
    folder = str(split_set(train=0, val=1))
    assert main([folder, "--out", str(tmp_path / "run"), *TINY_ARGS]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "no 'train' shards" in line and "nothing to train on" in line and "40 documents are all in 'val'" in line
    assert "tokenize with a validation split" not in line


def test_a_split_too_small_for_one_batch_is_refused_before_training(split_set, tmp_path, capsys):
    folder = str(split_set(train=1, val=1, docs_per_shard=1))
    assert main([folder, "--out", str(tmp_path / "run"), "--batch-size", "64", "--seq-len", "128", "--n-layer", "1",
                 "--d-model", "16", "--n-head", "2"]) == 2
    assert "holds no whole batch" in _one_line(capsys.readouterr().err)


# --- token ids and non-finite losses ------------------------------------------------------------------

def test_ids_outside_the_vocabulary_are_refused_before_training(split_set, tmp_path, capsys):
    folder = split_set(ids_below=600)  # the manifest says 500
    assert main([str(folder), "--out", str(tmp_path / "run"), *TINY_ARGS]) == 2  # not torch's IndexError
    line = _one_line(capsys.readouterr().err)
    assert "outside the vocabulary of 500" in line and "test_train_000000.bin" in line and "inspect-shards" in line
    assert not (tmp_path / "run").exists()


def test_the_loaders_refuse_a_batch_with_ids_outside_the_vocabulary(split_set):
    from fineweb_pipe.tokens import ShardError
    from fineweb_pipe.training.batches import BatchConfig
    from fineweb_pipe.training.torch_data import TokenDataset

    dataset = TokenDataset(BatchConfig(str(split_set(ids_below=600)), "train", seq_len=16, batch_size=2))
    with pytest.raises(ShardError, match="outside the vocabulary of 500"):
        next(iter(dataset))


def test_a_non_finite_loss_stops_the_run_before_it_is_saved(shard_set, tmp_path, monkeypatch):
    forward = train_module.GPT.forward
    calls = {"train": 0}

    def diverging(self, inputs, targets=None):
        logits, loss = forward(self, inputs, targets)
        if self.training:
            calls["train"] += 1
            if calls["train"] == 3:  # step 3
                loss = loss * float("nan")
        return logits, loss

    monkeypatch.setattr(train_module.GPT, "forward", diverging)
    run = tmp_path / "run"
    with pytest.raises(NonFiniteLoss, match="train loss is nan at step 3.*the checkpoint stays at step 2"):
        train(TrainConfig(str(shard_set()), str(run), steps=6, warmup=1, checkpoint_every=2, **TINY))
    records = _records(run)
    assert [r["step"] for r in records if r["event"] == "train"] == [1, 2]
    assert records[-1]["event"] == "error" and records[-1]["step"] == 3
    assert torch.load(run / CHECKPOINT, weights_only=True)["step"] == 2


def test_the_cli_exits_4_on_a_non_finite_loss(shard_set, tmp_path, monkeypatch, capsys):
    def nan_loss(self, inputs, targets=None):
        logits = self.head(self.token_embedding(inputs))
        return logits, logits.sum() * float("nan")

    monkeypatch.setattr(train_module.GPT, "forward", nan_loss)
    assert main([str(shard_set()), "--out", str(tmp_path / "run"), "--steps", "2", "--no-eval", *TINY_ARGS]) == 4
    assert "train loss is nan at step 1" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "run" / CHECKPOINT).exists()


def test_metrics_are_valid_json_when_a_value_is_not_finite(tmp_path):
    log = MetricsLog(str(tmp_path))
    log.write({"event": "eval", "step": 0, "val_loss": math.nan})
    log.write({"event": "train", "step": 1, "loss": math.inf, "lr": 0.1})
    assert [json.loads(line) for line in (tmp_path / METRICS).read_text().splitlines()] == [
        {"event": "eval", "step": 0, "val_loss": None}, {"event": "train", "step": 1, "loss": None, "lr": 0.1}]
