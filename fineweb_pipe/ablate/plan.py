"""What an ablation does: the variants, the held-out evaluations, the model and the token budget, as one
plan saved in ``OUT/plan.json``. A rerun into the same folder resumes only under the same plan: a changed
budget, model or input would silently mix two experiments in one report."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.storage import write_json
from fineweb_pipe.training.config import GPTConfig, TrainConfig

PLAN_FILE = "plan.json"


@dataclass(frozen=True)
class Model:
    """The model and schedule every run of the ablation shares (the fields of ``fineweb-pipe train``)."""

    n_layer: int = 2
    n_head: int = 2
    d_model: int = 128
    seq_len: int = 128
    batch_size: int = 16
    lr: float = 3e-3
    warmup: int | None = None  # None: 10 % of the steps, as `train` does
    weight_decay: float = 0.1


@dataclass(frozen=True)
class Plan:
    """Everything that decides an ablation's numbers; the paths are absolute."""

    runs: tuple[str, ...]  # run output folders (each with documents/ and stats.json)
    names: tuple[str, ...]  # one short name per run, for tables and folders
    evals: tuple[str, ...]  # held-out texts scored as loss and bits per byte
    choice_evals: tuple[str, ...] = ()  # multiple-choice / cloze sets (JSONL, see ablate.choices)
    tokens: int = 1_000_000  # training tokens per run
    seeds: int = 3
    model: Model = field(default_factory=Model)
    tokenizer: str | None = None  # a given tokenizer file; None: one trained on an equal sample of each run
    vocab_size: int = 8192
    tokenizer_bytes: int = 20_000_000  # training text per run for the shared tokenizer, at most
    val_bytes: int = 500_000  # each run's own validation split, at most (and at most a tenth of the run)
    eval_bytes: int = 1_000_000  # text scored per held-out set, at most (the first bytes of it)
    eval_points: int = 4  # evaluations during each run, evenly spaced; the last at the end
    device: str = "auto"
    threads: int = 0  # torch CPU threads (0: torch's default)

    def __post_init__(self) -> None:
        if len(self.runs) < 2:
            raise ConfigurationError("ablate needs at least two run outputs to compare (RUN_A RUN_B ...)")
        if len(set(self.names)) != len(self.names) or len(self.names) != len(self.runs):
            raise ConfigurationError(f"give one distinct name per run (--names); got {list(self.names)} for "
                                     f"{len(self.runs)} runs")
        if not self.evals:
            raise ConfigurationError("give at least one held-out evaluation text (--eval FILE): a plain text "
                                     "file, JSONL, Parquet or a run output folder that shares no page with the runs")
        for name in ("tokens", "seeds", "eval_points", "vocab_size", "tokenizer_bytes", "val_bytes", "eval_bytes"):
            if getattr(self, name) < 1:
                raise ConfigurationError(f"--{name.replace('_', '-')} is {getattr(self, name)}; it must be at least 1")
        if self.steps < self.eval_points:
            raise ConfigurationError(
                f"--tokens {self.tokens:,} make {self.steps} steps of {self.tokens_per_step:,} tokens "
                f"(--batch-size x --seq-len), fewer than the {self.eval_points} evaluations (--eval-points): "
                "raise --tokens or lower --batch-size, --seq-len or --eval-points")
        GPTConfig(self.vocab_size, self.model.seq_len, self.model.n_layer, self.model.n_head, self.model.d_model)

    @property
    def tokens_per_step(self) -> int:
        return self.model.batch_size * self.model.seq_len

    @property
    def steps(self) -> int:
        """Optimizer steps per run: the budget in whole batches."""
        return self.tokens // self.tokens_per_step

    @property
    def trained_tokens(self) -> int:
        """Tokens each run trains on (the budget rounded down to whole steps)."""
        return self.steps * self.tokens_per_step

    def eval_steps(self) -> list[int]:
        """The steps after which every run is evaluated: evenly spaced, the last one the end."""
        return sorted({round(self.steps * (i + 1) / self.eval_points) for i in range(self.eval_points)})

    def train_config(self, tokens_folder: str, run_dir: str, seed: int) -> TrainConfig:
        """How `fineweb-pipe train` runs one seed of one variant: evaluation and logging are the ablation's,
        so the trainer only trains and checkpoints (at every ``stop_at``)."""
        model = self.model
        return TrainConfig(
            folder=tokens_folder, out_dir=run_dir, steps=self.steps, batch_size=model.batch_size,
            seq_len=model.seq_len, n_layer=model.n_layer, n_head=model.n_head, d_model=model.d_model, lr=model.lr,
            warmup=model.warmup, weight_decay=model.weight_decay, log_every=max(1, self.steps // 20),
            checkpoint_every=self.steps, eval_every=self.steps, seed=seed, device=self.device,
            threads=self.threads, evaluate=False)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        values = {f.name: data[f.name] for f in fields(cls) if f.name in data}
        values["model"] = Model(**data["model"])
        for name in ("runs", "names", "evals", "choice_evals"):
            values[name] = tuple(values.get(name, ()))
        return cls(**values)


def default_names(runs: list[str]) -> list[str]:
    """Each run's folder name; where two share one, their parent folders too (``a/out``, ``b/out``)."""
    paths = [Path(run).resolve() for run in runs]
    names = [path.name for path in paths]
    if len(set(names)) == len(names):
        return names
    return [f"{path.parent.name}/{path.name}" for path in paths]


def check_or_save(plan: Plan, out: str) -> None:
    """Save ``plan`` in ``out``, or check it equals the one an earlier ablation there saved."""
    path = os.path.join(out, PLAN_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        now = json.loads(json.dumps(plan.to_json()))  # tuples as lists, as they were saved
        changed = sorted(key for key in set(saved) | set(now) if saved.get(key) != now.get(key))
        if changed:
            raise ConfigurationError(
                f"{out} holds an ablation with other settings ({', '.join(changed)} differ; see {path}); rerun "
                "with its settings to resume it, or give another --out")
        return
    if os.path.isdir(out) and os.listdir(out):
        raise ConfigurationError(f"{out} is not empty and holds no {PLAN_FILE}: give a new or empty --out folder")
    write_json(plan.to_json(), path)
