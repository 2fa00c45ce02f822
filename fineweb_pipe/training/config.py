"""What a training run does and the model it builds: one config for the PyTorch and the JAX code (plain
data, no framework imports), and the errors a run stops with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fineweb_pipe.errors import ConfigurationError, IntegrityError

#: Warmup when none is given: this share of the steps (30 of the default 300).
DEFAULT_WARMUP_SHARE = 0.1


class TrainingError(ConfigurationError, ValueError):
    """A run that cannot go as asked (its settings, its shard set, its checkpoint): one line saying what
    to change; ``fineweb-pipe train`` exits 2."""


class NonFiniteLoss(IntegrityError):
    """The loss became NaN or infinite: the run stops before it logs or saves anything of that state
    (``fineweb-pipe train`` exits 4); the last checkpoint stays as it was."""


@dataclass(frozen=True)
class TrainConfig:
    folder: str
    out_dir: str
    steps: int = 300
    batch_size: int = 16
    seq_len: int = 128
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 256
    lr: float = 3e-3
    warmup: int | None = None  # None: DEFAULT_WARMUP_SHARE of `steps`; else below `steps`
    weight_decay: float = 0.1
    eval_every: int = 50
    eval_batches: int = 20
    log_every: int = 10
    checkpoint_every: int = 100
    seed: int = 0
    device: str = "auto"  # "auto": CUDA when present, else CPU
    workers: int = 0  # DataLoader workers; 0 reads in the training process
    threads: int = 0  # torch CPU threads; 0 leaves torch's default
    resume: bool = True
    stop_at: int | None = None  # end this run early at this step (a time-limited job); the schedule spans `steps`
    evaluate: bool = True  # False: no validation loss (a shard set without a val split can then be used)

    def __post_init__(self) -> None:
        at_least_one = ("steps", "batch_size", "seq_len", "eval_every", "eval_batches", "log_every", "checkpoint_every")
        for name in at_least_one:
            if getattr(self, name) < 1:
                raise TrainingError(f"--{name.replace('_', '-')} is {getattr(self, name)}; it must be at least 1")
        if self.stop_at is not None and self.stop_at < 1:
            raise TrainingError(f"--stop-at is {self.stop_at}; it must be at least 1 (or left out)")
        if not self.lr > 0:
            raise TrainingError(f"--lr is {self.lr}; it must be above 0")
        if self.warmup is not None and not 0 <= self.warmup < self.steps:
            raise TrainingError(
                f"--warmup {self.warmup} is not below --steps {self.steps}: the learning rate would "
                f"{'never reach its peak' if self.warmup > self.steps else 'never decay'}; give a warmup "
                f"below the steps, or leave --warmup out ({DEFAULT_WARMUP_SHARE:.0%} of --steps)")

    @property
    def warmup_steps(self) -> int:
        """The warmup the schedule uses: ``warmup``, or ``DEFAULT_WARMUP_SHARE`` of ``steps`` when unset."""
        return self.warmup if self.warmup is not None else int(self.steps * DEFAULT_WARMUP_SHARE)

    def schedule(self) -> dict[str, Any]:
        """What must stay the same for a resumed run to continue the same run: the learning-rate
        schedule, the optimizer's decay, and the data order (seed, batch size)."""
        return {"steps": self.steps, "warmup": self.warmup_steps, "lr": self.lr, "weight_decay": self.weight_decay,
                "batch_size": self.batch_size, "seed": self.seed}


def check_same_schedule(checkpoint: str, saved: dict[str, Any] | None, config: TrainConfig) -> None:
    """Refuse to resume ``checkpoint`` (whose schedule was ``saved``) with a different one: a changed
    ``--steps`` would silently stretch or cut the learning-rate curve mid-run. ``saved`` None (a
    checkpoint from before schedules were saved) is not checked."""
    if saved is None:
        return
    now = config.schedule()
    changed = [f"--{name.replace('_', '-')} {saved[name]} (now {now[name]})"
               for name in now if name in saved and saved[name] != now[name]]
    if changed:
        raise TrainingError(
            f"{checkpoint} was trained with {', '.join(changed)}; resuming would change its schedule midway. "
            f"Rerun with the checkpoint's values (--stop-at ends a run early), or start afresh with --no-resume "
            f"or another --out")


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    seq_len: int = 256
    n_layer: int = 4
    n_head: int = 4
    d_model: int = 256
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_head:
            raise TrainingError(f"d_model ({self.d_model}) must be a multiple of n_head ({self.n_head})")
