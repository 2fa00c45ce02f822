"""Held-out figures of a binary classifier: ROC AUC, precision and recall at a threshold."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def roc_auc(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray) -> float:
    """The probability that a random positive scores above a random negative (ties count half), by ranks
    (Mann-Whitney U). NaN when either class is absent."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    positives, negatives = int(y.sum()), int((~y).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_scores = s[order]
    # average ranks over ties: each run of equal scores gets the mean of its 1-based positions
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(s)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2
    return float((ranks[y].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def precision_recall(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray,
                     threshold: float = 0.5) -> tuple[float, float]:
    """Precision and recall of "positive" for documents scored ``>= threshold`` (precision 0 when none is)."""
    predicted = np.asarray(scores, dtype=np.float64) >= threshold
    y = np.asarray(labels, dtype=bool)
    true_positives = int((predicted & y).sum())
    precision = true_positives / int(predicted.sum()) if predicted.any() else 0.0
    recall = true_positives / int(y.sum()) if y.any() else 0.0
    return precision, recall
