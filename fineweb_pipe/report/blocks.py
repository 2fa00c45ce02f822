"""What a report section is made of: key figures, charts with their numbers, tables, document samples.

Sections are built from ``stats.json`` as these plain values and drawn by the page template, so the
reading of the stats and the HTML stay apart. Text fields hold raw strings (from the web, often): the
template escapes them; only :attr:`Chart.svg` is markup, escaped where it is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup


@dataclass(frozen=True)
class Figures:
    """Headline numbers, shown as large tiles: (label, value) pairs."""

    items: Sequence[tuple[str, str]]
    kind: str = "figures"


@dataclass(frozen=True)
class Table:
    """A table whose first ``text_columns`` columns are text and the rest numbers (right-aligned)."""

    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str = ""
    text_columns: int = 1
    kind: str = "table"


@dataclass(frozen=True)
class Chart:
    """A chart and, folded under it, the numbers it was drawn from."""

    svg: Markup
    caption: str
    numbers: Table | None = None
    kind: str = "chart"


@dataclass(frozen=True)
class Document:
    """A sampled document: where it came from, an excerpt, the value that failed a rule, if any, and a
    short status tag (a dedup cluster's ``kept`` or ``removed``), if any."""

    url: str
    text: str
    value: str = ""
    id: str = ""
    tag: str = ""

    @classmethod
    def from_sample(cls, sample: Mapping[str, Any]) -> Document:
        value = sample.get("value")
        return cls(
            url=str(sample.get("url") or ""),
            text=str(sample.get("text") or ""),
            value="" if value is None else str(value),
            id=str(sample.get("id") or ""),
        )


@dataclass(frozen=True)
class Samples:
    """Sampled documents under a heading (e.g. one drop reason, or the kept documents)."""

    title: str
    documents: Sequence[Document]
    note: str = ""
    kind: str = "samples"


@dataclass(frozen=True)
class Cluster:
    """One group of near-duplicates: how many documents it holds and those sampled from it."""

    size: int
    documents: Sequence[Document]

    @property
    def summary(self) -> str:
        shown = f", {len(self.documents):,} shown" if len(self.documents) < self.size else ""
        return f"{self.size:,} documents{shown}"


@dataclass(frozen=True)
class Clusters:
    """Groups of near-duplicate documents, each group shown side by side."""

    title: str
    clusters: Sequence[Cluster]
    kind: str = "clusters"


@dataclass(frozen=True)
class Note:
    """A sentence of explanation."""

    text: str
    kind: str = "note"


Block = Figures | Table | Chart | Samples | Clusters | Note


@dataclass(frozen=True)
class Section:
    """One part of the report. ``missing`` says why a section has no data in this run."""

    id: str
    title: str
    blocks: Sequence[Block] = field(default_factory=list)
    missing: str = ""
