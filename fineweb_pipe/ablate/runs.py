"""One seed of one variant: trained by ``fineweb-pipe train``'s loop in segments, evaluated between them.

The trainer runs to each evaluation step (``stop_at``) and checkpoints there; the checkpoint's model is
then scored on the held-out texts and the variant's own validation split (and, at the end, on the
multiple-choice sets), and the scores are appended to ``evals.jsonl`` in the run's folder. A killed run
resumes from there: evaluations already recorded are kept, a segment that did not reach its checkpoint
is trained again from the one before, so a resumed run records the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from fineweb_pipe.ablate.choices import EncodedQuestion, accuracy
from fineweb_pipe.ablate.plan import Plan
from fineweb_pipe.ablate.scoring import TokenStream, score
from fineweb_pipe.ablate.variants import Variant
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.tokens.shards import Manifest
from fineweb_pipe.training.config import GPTConfig
from fineweb_pipe.training.model import GPT
from fineweb_pipe.training.train import CHECKPOINT, pick_device, train

RECORDS = "evals.jsonl"
TRAIN_LOG = "train.log"


@dataclass(frozen=True)
class Evaluations:
    """What every run is scored on: held-out texts (by name) and multiple-choice sets (by name)."""

    heldout: dict[str, TokenStream]
    choices: dict[str, list[EncodedQuestion]]


def validation_stream(variant: Variant) -> TokenStream:
    """A variant's own validation split as one stream (its documents were written whole)."""
    manifest = Manifest.load(variant.tokens_folder)
    parts = [np.asarray(manifest.open_tokens(variant.tokens_folder, s), dtype=np.int64) for s in manifest.split("val")]
    return TokenStream(np.concatenate(parts), variant.val_bytes, manifest.delimiter.id)


def load_model(checkpoint: str, device: torch.device) -> tuple[GPT, int]:
    """The model saved in a training checkpoint, and the step it was saved at."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = GPT(GPTConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(device), int(state["step"])


def read_records(run_dir: str) -> list[dict[str, Any]]:
    """The evaluations recorded so far (a line cut short by a kill is ignored)."""
    path = os.path.join(run_dir, RECORDS)
    if not os.path.exists(path):
        return []
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


def _append(run_dir: str, record: dict[str, Any]) -> None:
    path = os.path.join(run_dir, RECORDS)
    if os.path.exists(path):  # a line a kill cut short would spoil the next one: end it first
        with open(path, "rb") as f:
            f.seek(max(os.path.getsize(path) - 1, 0))
            ends_clean = f.read(1) in (b"", b"\n")
        if not ends_clean:
            with open(path, "a", encoding="utf-8") as f:
                f.write("\n")
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def evaluate_checkpoint(plan: Plan, variant: Variant, run_dir: str, evaluations: Evaluations,
                        validation: TokenStream, final: bool) -> dict[str, Any]:
    """The scores of the model checkpointed in ``run_dir``."""
    device = pick_device(plan.device)
    model, step = load_model(os.path.join(run_dir, CHECKPOINT), device)
    seq_len = plan.model.seq_len
    record: dict[str, Any] = {
        "step": step, "tokens": step * plan.tokens_per_step,
        "epochs": variant.epochs(step * plan.tokens_per_step),
        "heldout": {name: score(model, stream, seq_len, device).to_json()
                    for name, stream in evaluations.heldout.items()},
        "val": score(model, validation, seq_len, device).to_json(),
    }
    if final:
        record["choices"] = {name: accuracy(model, questions, seq_len, device)
                             for name, questions in evaluations.choices.items()}
    return record


def run_seed(plan: Plan, variant: Variant, seed: int, run_dir: str, evaluations: Evaluations) -> list[dict[str, Any]]:
    """Train and evaluate one seed of one variant (resuming what ``run_dir`` holds); its records."""
    os.makedirs(run_dir, exist_ok=True)
    config = plan.train_config(variant.tokens_folder, run_dir, seed)
    recorded = {r["step"] for r in read_records(run_dir)}
    validation = validation_stream(variant)
    checkpoint = os.path.join(run_dir, CHECKPOINT)
    last = plan.eval_steps()[-1]
    for step in plan.eval_steps():
        if step in recorded:
            continue
        saved = _checkpoint_step(checkpoint)
        if saved > step:
            raise ConfigurationError(f"{run_dir}: its checkpoint is at step {saved}, past the evaluation at step {step} "
                                     "that is not recorded; delete the folder to run this seed again")
        started = time.perf_counter()
        if saved < step:
            # The trainer prints a line per log interval: kept in the run's log, not on the console.
            with open(os.path.join(run_dir, TRAIN_LOG), "a", encoding="utf-8") as log, \
                    contextlib.redirect_stdout(log):
                result = train(replace(config, stop_at=step))
            tokens_per_s = result.tokens_per_second
        else:
            tokens_per_s = None  # trained by an earlier, killed call
        record = evaluate_checkpoint(plan, variant, run_dir, evaluations, validation, final=step == last)
        record.update(seed=seed, tokens_per_s=tokens_per_s, wall_s=time.perf_counter() - started)
        _append(run_dir, record)
        heldout = ", ".join(f"{name} {s['bpb']:.4f}" for name, s in record["heldout"].items())
        print(f"ablate: {variant.name} seed {seed} step {step}/{plan.steps} ({record['epochs']:.2f} epochs): bpb "
              f"{heldout}, own val {record['val']['bpb']:.4f}", file=sys.stderr, flush=True)
    return sorted(read_records(run_dir), key=lambda r: r["step"])


def _checkpoint_step(checkpoint: str) -> int:
    if not os.path.exists(checkpoint):
        return 0
    return int(torch.load(checkpoint, map_location="cpu", weights_only=True)["step"])

