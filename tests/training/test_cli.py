from __future__ import annotations

import argparse

import pytest

from fineweb_pipe.training.__main__ import main
from fineweb_pipe.training.cli import add_commands

pytest.importorskip("torch")

TINY = ["--steps", "2", "--batch-size", "2", "--seq-len", "16", "--n-layer", "1", "--d-model", "16",
        "--n-head", "2", "--eval-batches", "1", "--log-every", "1", "--threads", "1"]


def test_train_command_parses_into_the_config_and_runs(shard_set, tmp_path) -> None:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", str(shard_set()), "--out", str(tmp_path / "run"), *TINY, "--stop-at", "1"])
    assert (args.steps, args.seq_len, args.stop_at, args.framework) == (2, 16, 1, "torch")
    assert args.func(args) == 0
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    # python -m fineweb_pipe.training continues the same run to its last step.
    assert main([str(shard_set()), "--out", str(tmp_path / "run"), *TINY]) == 0
    assert '"step": 2' in (tmp_path / "run" / "metrics.jsonl").read_text()
