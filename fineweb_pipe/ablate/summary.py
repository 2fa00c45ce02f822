"""From the runs' records to what a reader needs: each metric's mean and spread over seeds at the end and
along training, and a plain verdict per held-out evaluation, each variant against the first one.

A difference is called *outside the seed spread* when the seeds' ranges do not overlap (every seed of the
better variant beats every seed of the other), else *within* it: then this budget and these seeds do not
tell the two apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

Record = Mapping[str, Any]


def metrics(record: Record) -> dict[str, float]:
    """A record's scores under flat names: ``heldout/NAME/bpb``, ``val/loss``, ``choices/NAME/accuracy``."""
    flat = {f"heldout/{name}/{key}": value for name, scores in record["heldout"].items()
            for key, value in scores.items()}
    flat.update({f"val/{key}": value for key, value in record["val"].items()})
    flat.update({f"choices/{name}/{key}": value for name, scores in (record.get("choices") or {}).items()
                 for key, value in scores.items()})
    return flat


def lower_is_better(metric: str) -> bool:
    return not metric.startswith("choices/")


@dataclass(frozen=True)
class Spread:
    """One metric over the seeds: mean, sample standard deviation (0 for one seed), range, the values."""

    mean: float
    std: float
    low: float
    high: float
    seeds: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        array = np.asarray(values, dtype=np.float64)
        std = float(array.std(ddof=1)) if len(array) > 1 else 0.0
        return cls(float(array.mean()), std, float(array.min()), float(array.max()), tuple(float(v) for v in array))

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "min": self.low, "max": self.high, "seeds": list(self.seeds)}


def final_spreads(runs: Sequence[Sequence[Record]]) -> dict[str, Spread]:
    """Each metric of the runs' last records (one run per seed) over the seeds."""
    finals = [metrics(records[-1]) for records in runs]
    return {name: Spread.of([final[name] for final in finals]) for name in finals[0]}


def curves(runs: Sequence[Sequence[Record]]) -> dict[str, list[dict[str, float]]]:
    """Each metric at each evaluation step over the seeds: tokens, mean, min and max."""
    steps = [r["step"] for r in runs[0]]
    out: dict[str, list[dict[str, float]]] = {}
    for at, step in enumerate(steps):
        point = [metrics(records[at]) for records in runs]
        for name in point[0]:
            spread = Spread.of([p[name] for p in point])
            out.setdefault(name, []).append({"step": step, "tokens": runs[0][at]["tokens"], "mean": spread.mean,
                                             "min": spread.low, "max": spread.high})
    return out


def verdict(metric: str, baseline: str, other: str, a: Spread, b: Spread) -> str:
    """One sentence: which of ``other`` and ``baseline`` is better on ``metric``, by how much, and whether
    that is outside the seeds' spread."""
    _, *where, unit = metric.split("/")
    on = f"on {where[0]}" if where else "on its own validation split"
    unit_name = {"bpb": "bits per byte", "loss": "loss (nats per token)"}.get(unit, unit.replace("_", " "))
    seeds = len(a.seeds)
    if a.mean == b.mean:
        return f"{other} and {baseline} are equal {on} ({unit_name} {a.mean:.4f}, mean of {seeds} seeds)."
    b_better = (b.mean < a.mean) == lower_is_better(metric)
    better, worse, good, bad = (other, baseline, b, a) if b_better else (baseline, other, a, b)
    sentence = (f"{better} is better than {worse} by {abs(b.mean - a.mean):.4f} {unit_name} {on} "
                f"(mean of {seeds} seeds: {good.mean:.4f} against {bad.mean:.4f})")
    if seeds < 2:
        return sentence + ", with one seed: no spread to judge it against; run more seeds (--seeds)."
    apart = good.high < bad.low if lower_is_better(metric) else good.low > bad.high
    if apart:
        return sentence + f", outside the seed spread: every seed of {better} beats every seed of {worse}."
    return (sentence + f", within the seed spread: the seeds overlap ({better} {good.low:.4f}–{good.high:.4f}, "
            f"{worse} {bad.low:.4f}–{bad.high:.4f}); more seeds or a larger --tokens budget would be needed to "
            "tell them apart.")


def verdicts(names: Sequence[str], finals: Mapping[str, Mapping[str, Spread]]) -> list[str]:
    """A verdict for every variant after the first, against the first, on each held-out set's bits per byte
    and each multiple-choice set's accuracy per byte."""
    baseline = names[0]
    judged = [m for m in finals[baseline] if (m.startswith("heldout/") and m.endswith("/bpb"))
              or m.endswith("/accuracy_per_byte")]
    return [verdict(metric, baseline, other, finals[baseline][metric], finals[other][metric])
            for other in names[1:] for metric in judged]


def table_lines(names: Sequence[str], epochs: Mapping[str, float], finals: Mapping[str, Mapping[str, Spread]]) -> str:
    """The final table as text: one row per variant, mean ± sample std over seeds per metric."""
    shown = [m for m in finals[names[0]] if m.endswith(("/bpb", "/accuracy_per_byte")) or m == "val/bpb"]
    header = ["variant", "epochs", *shown]
    rows = [[name, f"{epochs[name]:.2f}", *(f"{finals[name][m].mean:.4f} ± {finals[name][m].std:.4f}" for m in shown)]
            for name in names]
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)) for row in [header, *rows])
