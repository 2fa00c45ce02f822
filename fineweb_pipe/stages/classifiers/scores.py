"""What the classifier stages share: filtering on a score, and the score histogram the report draws.

Each stage adds one counter per histogram bin, ``score_hist:<column>:<low edge>``, so histograms add up
across chunks and workers like any counter. A document scored under the threshold is dropped with the
reason ``score_<low>-<high>`` of its bin and its score as the value: the run's removed samples are then
samples per score bucket.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fineweb_pipe.stage import Drop
from fineweb_pipe.stats import Histogram

HIST_PREFIX = "score_hist:"


def score_histogram(column: str, scores: np.ndarray, low: float, high: float, bins: int) -> dict[str, int]:
    """Counters for the histogram of ``scores`` over ``bins`` equal bins from ``low`` to ``high`` (values
    outside go to the first or last bin)."""
    hist = Histogram.linear_bins(low, high, bins)
    hist.add(scores)
    return {f"{HIST_PREFIX}{column}:{edge:g}": n for edge, n in zip(hist.edges, hist.counts)}


def threshold_decisions(scores: np.ndarray, threshold: float | None, low: float, high: float, bins: int
                        ) -> Sequence[Drop | None]:
    """Keep scores ``>= threshold`` (everything when it is None); a drop names the score's bin."""
    if threshold is None:
        return [None] * len(scores)
    step = (high - low) / bins
    index = np.clip(np.floor((scores - low) / step), 0, bins - 1)
    return [None if score >= threshold else
            Drop(f"score_{low + i * step:g}-{low + (i + 1) * step:g}", float(score))
            for score, i in zip(scores.tolist(), index.tolist())]
