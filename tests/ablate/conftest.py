"""The runs tests/ablate compares: a long variant of English prose, a short one of repetitive word salad
(shorter than the budget), and a held-out text."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from ablate_support import write_run
from sample_texts import sample_texts


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    rng = random.Random(1)
    salad = [" ".join(rng.choice(["click", "here", "buy", "now", "login", "menu", "12", "&"]) for _ in range(120))
             for _ in range(40)]
    heldout = root / "heldout.txt"
    heldout.write_text("\n\n".join(sample_texts(12, seed=99)), encoding="utf-8")
    return {"prose": write_run(root / "prose", sample_texts(160, seed=0)),
            "salad": write_run(root / "salad", salad, files=1), "heldout": heldout}
