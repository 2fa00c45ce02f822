"""What a training run reports: log records (printed and kept in ``metrics.jsonl``) and its result."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

METRICS = "metrics.jsonl"


@dataclass
class TrainResult:
    first_val_loss: float  # of this run's first evaluation (the starting loss unless it resumed)
    last_val_loss: float
    steps: int
    resumed_from: int | None
    tokens_per_second: float
    history: list[dict[str, Any]] = field(default_factory=list)


class MetricsLog:
    """Prints each record and appends it to ``metrics.jsonl`` (one JSON object a line)."""

    def __init__(self, out_dir: str) -> None:
        self.path = os.path.join(out_dir, METRICS)
        self.history: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self.history.append(record)
        print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()), flush=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def result(self, steps: int, resumed_from: int | None, tokens_per_second: float) -> TrainResult:
        evals = [r["val_loss"] for r in self.history if r["event"] == "eval"]
        return TrainResult(evals[0], evals[-1], steps, resumed_from, tokens_per_second, self.history)
