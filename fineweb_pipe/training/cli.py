"""``fineweb-pipe train`` (and ``python -m fineweb_pipe.training``): train the bundled GPT on a shard folder.

torch / jax are imported only when the command runs, so the rest of the CLI works without them.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields

from fineweb_pipe.errors import EXIT_INTEGRITY, EXIT_USAGE, PipelineError
from fineweb_pipe.tokens.shards import ShardError
from fineweb_pipe.training.config import DEFAULT_WARMUP_SHARE, TrainConfig

HELP = {
    "steps": "optimizer steps in the schedule", "batch_size": "windows per step", "seq_len": "tokens per window",
    "n_layer": "transformer blocks", "n_head": "attention heads", "d_model": "model width", "lr": "peak learning rate",
    "warmup": "linear warmup steps, below --steps", "weight_decay": "AdamW decay (matrices only)",
    "eval_every": "steps between validation evaluations", "eval_batches": "validation batches per evaluation",
    "log_every": "steps between train loss / tokens/s lines", "checkpoint_every": "steps between checkpoints",
    "seed": "data order and initialization seed", "device": "torch device: auto (CUDA if present), cpu, cuda, cuda:1",
    "workers": "DataLoader worker processes (torch)", "threads": "torch CPU threads (0: torch's default)",
    "stop_at": "end this run at this step, keeping the schedule of --steps (resume later)",
}


EXIT_CODES = (f"exit codes: 0 done; {EXIT_USAGE} the settings, the shard set or the checkpoint in --out do not "
              f"allow the run (the message says what to change); {EXIT_INTEGRITY} the loss became NaN or infinite "
              "(nothing of it was saved); 1 a bug (with its traceback)")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the training arguments: the shard folder, --out, --framework and one option per TrainConfig field."""
    parser.add_argument("folder", help="token shard folder (holding manifest.json)")
    parser.add_argument("--out", "-o", required=True, help="run folder: metrics.jsonl and checkpoints; a rerun resumes")
    parser.add_argument("--framework", choices=("torch", "jax"), default="torch", help="default: %(default)s")
    parser.add_argument("--no-resume", action="store_true", help="start afresh even if --out holds a checkpoint")
    parser.add_argument("--no-eval", action="store_true",
                        help="no validation loss: for a shard set without a val split (or to save the time)")
    # %% is argparse's escape of %.
    defaults = {"warmup": f"{round(DEFAULT_WARMUP_SHARE * 100)}%% of --steps", "stop_at": "run to --steps"}
    for field in fields(TrainConfig):
        if field.name in HELP:
            kind = int if field.name in ("stop_at", "warmup") else type(field.default)
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=field.default,
                                help=f"{HELP[field.name]} (default: {defaults.get(field.name, field.default)})")
    parser.set_defaults(func=train_command)


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train the bundled small GPT on a token shard folder (needs the [train] extra)",
        description="Train a small GPT-2 style model on token shards: logs train/val loss and tokens/s, "
                    "saves and resumes checkpoints. CPU by default; CUDA with bf16 when present (torch; "
                    "untested by this project, see the README).", epilog=EXIT_CODES)
    configure_parser(parser)


def train_command(args: argparse.Namespace) -> int:
    try:
        config = TrainConfig(folder=args.folder, out_dir=args.out, resume=not args.no_resume,
                             evaluate=not args.no_eval, **{name: getattr(args, name) for name in HELP})
        if args.framework == "jax":
            from fineweb_pipe.training.jax_train import train_jax as run
        else:
            from fineweb_pipe.training.train import train as run
    except ModuleNotFoundError as exc:
        print(f"fineweb-pipe train --framework {args.framework} needs {exc.name}: "
              "pip install 'fineweb-pipe[train]'", file=sys.stderr)
        return EXIT_USAGE
    except PipelineError as exc:
        print(f"train: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        result = run(config)
    except ShardError as exc:  # the shard set cannot be read or trained on
        print(f"train: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except PipelineError as exc:  # settings or checkpoint (2), a loss that is not finite (4)
        print(f"train: {exc}", file=sys.stderr)
        return exc.exit_code
    if result.first_val_loss is None or result.last_val_loss is None:
        done = f"step {result.steps}, no evaluation"
    else:
        done = f"val loss {result.first_val_loss:.3f} -> {result.last_val_loss:.3f} at step {result.steps}"
    print(f"{done}; {result.tokens_per_second:,.0f} train tokens/s", file=sys.stderr)
    return 0
