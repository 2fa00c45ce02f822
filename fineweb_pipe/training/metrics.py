"""What a training run reports: log records (printed and kept in ``metrics.jsonl``) and its result."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

from fineweb_pipe.training.config import NonFiniteLoss

METRICS = "metrics.jsonl"


@dataclass
class TrainResult:
    first_val_loss: float | None  # of this run's first evaluation (the starting loss unless it resumed); None: no eval
    last_val_loss: float | None
    steps: int
    resumed_from: int | None
    tokens_per_second: float
    history: list[dict[str, Any]] = field(default_factory=list)


def _json_value(value: Any) -> Any:
    # JSON has no NaN or infinity (json.dumps would write a bare NaN, which JSON readers reject): null.
    return None if isinstance(value, float) and not math.isfinite(value) else value


class MetricsLog:
    """Prints each record and appends it to ``metrics.jsonl`` (one JSON object a line; a value that is
    not a finite number is written as null)."""

    def __init__(self, out_dir: str) -> None:
        self.path = os.path.join(out_dir, METRICS)
        self.history: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()), flush=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps({k: _json_value(v) for k, v in record.items()}, allow_nan=False) + "\n")

    def result(self, steps: int, resumed_from: int | None, tokens_per_second: float) -> TrainResult:
        evals = [r["val_loss"] for r in self.history if r["event"] == "eval"]
        return TrainResult(evals[0] if evals else None, evals[-1] if evals else None, steps, resumed_from,
                           tokens_per_second, self.history)


def raise_if_not_finite(loss: float, kind: str, step: int, saved_step: int | None, log: MetricsLog) -> None:
    """Stop the run when ``loss`` is NaN or infinite, saying so in ``metrics.jsonl`` too. ``saved_step``:
    the step of the last checkpoint, None when there is none."""
    if math.isfinite(loss):
        return
    kept = "no checkpoint was saved" if saved_step is None else f"the checkpoint stays at step {saved_step}"
    message = (f"{kind} loss is {loss} at step {step}: training diverged or the data is broken; the run stops "
               f"and saves nothing of it ({kept}). Lower --lr or raise --warmup, and check the shard set with "
               "fineweb-pipe inspect-shards")
    log.write({"event": "error", "step": step, "error": message})
    raise NonFiniteLoss(message)
