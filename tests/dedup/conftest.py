"""The dedup tests use the benchmarks' corpus generator and stage runner (``import dedup_corpus``,
``import bench_dedup``)."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = str(Path(__file__).resolve().parents[2] / "benchmarks")
if BENCHMARKS not in sys.path:
    sys.path.append(BENCHMARKS)
