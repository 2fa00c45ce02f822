"""The funnel of a run: documents, bytes and tokens left after each step, read from ``stats.json``.

The first step is what the reader produced; each stage then adds a step with what it let through. A
stage's ``tokens`` counter (the tokenizer keeps one) gives the tokens after it; failing that, a tokenized
run's total (``sections.tokens.totals``) is put on the last step, since only then are tokens counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

INPUT_STEP = "input (reader)"


@dataclass(frozen=True)
class Step:
    """What was left after one step, and what the step removed."""

    name: str
    kind: str
    docs: int
    bytes: int
    tokens: int | None
    removed: int  # documents this step removed

    @property
    def docs_before(self) -> int:
        return self.docs + self.removed


def funnel_steps(stats: Mapping[str, Any]) -> list[Step]:
    reader = stats.get("reader") or {}
    stages = stats.get("stages") or []
    first_docs = reader.get("documents", stages[0].get("docs_in", 0) if stages else 0)
    first_bytes = reader.get("bytes", stages[0].get("bytes_in", 0) if stages else 0)
    steps = [Step(INPUT_STEP, "reader", first_docs, first_bytes, None, 0)]
    for stage in stages:
        docs_in, docs_out = stage.get("docs_in", 0), stage.get("docs_out", 0)
        steps.append(Step(
            name=str(stage.get("name", "?")),
            kind=str(stage.get("kind", "")),
            docs=docs_out,
            bytes=stage.get("bytes_out", 0),
            tokens=(stage.get("counters") or {}).get("tokens"),
            removed=max(0, docs_in - docs_out),
        ))
    totals = ((stats.get("sections") or {}).get("tokens") or {}).get("totals") or {}
    if totals and all(step.tokens is None for step in steps):
        total_tokens = sum(split.get("tokens", 0) for split in totals.values())
        last = steps[-1]
        steps[-1] = Step(last.name, last.kind, last.docs, last.bytes, total_tokens, last.removed)
    return steps


def has_tokens(steps: list[Step]) -> bool:
    return any(step.tokens is not None for step in steps)
