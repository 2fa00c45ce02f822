"""What a training run does and the model it builds: one config for the PyTorch and the JAX code (plain
data, no framework imports)."""

from __future__ import annotations

from dataclasses import dataclass


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
    warmup: int = 30
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
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_head ({self.n_head})")
