"""The learning-rate schedule both training loops use: linear warmup, then cosine decay to a floor."""

from __future__ import annotations

import math


def cosine_lr(step: int, peak: float, warmup: int, total: int, floor_ratio: float = 0.1) -> float:
    """Learning rate for ``step`` (0-based): rises linearly over ``warmup`` steps to ``peak``, then follows a
    half cosine down to ``peak * floor_ratio`` at ``total`` steps and stays there."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    floor = peak * floor_ratio
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))
