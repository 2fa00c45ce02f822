"""Run statistics: per-stage counts, reader counts, histograms and samples, mergeable across workers.

A worker counts everything of the shard it does into a ``ShardStats`` (the ``merge`` methods here add
counts, histograms and samples) and returns it in the shard's completion record
(``engine.shard.ShardRecord``); a shard is recorded once, however often it was attempted. The driver
merges the records as they arrive and the runner assembles the ``stats.json`` document. Its layout:

```
{"format": 1,
 "run": {"pipeline", "engine", "workers", "started", "wall_s", "input_files", "output"},
 "reader": {"files", "documents", "bytes", "records": {type: n}, "skipped": {reason: n},
            "errors": {type: n}},
 "stages": [{"name", "kind", "phase", "docs_in", "docs_out", "bytes_in", "bytes_out",
             "dropped": {reason: n}, "cpu_s", "counters": {name: n}}, ...],   # pipeline order
 "profiles": {"before"|"after": {"docs", "chars", "words", "lines": Histogram.to_json(),
              "languages": {code: n}, "language_score": Histogram.to_json()}},
 "samples": {"removed": {stage: {reason: [{"id", "url", "value", "text"}]}}, "kept": [{...}]},
 "errors": [{"file", "offset", "type", "message"}],   # capped list; counts are in reader.errors
 "sections": {name: {...}}}                          # from global stages (dedup, tokens, ...)
```
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from fineweb_pipe import schema

SAMPLES_PER_REASON = 5
KEPT_SAMPLES = 10
ERRORS_KEPT = 200
EXCERPT_CHARS = 600


@dataclass
class Histogram:
    """Counts over fixed log-spaced bins (1, 2, 5, 10, 20, 50, ...), so histograms merge by adding."""

    edges: list[float]
    counts: list[int]

    @classmethod
    def log_bins(cls, top: float = 1e7) -> Histogram:
        edges = [0.0]
        decade = 1.0
        while decade <= top:
            edges += [decade, 2 * decade, 5 * decade]
            decade *= 10
        return cls(edges=edges, counts=[0] * len(edges))

    @classmethod
    def linear_bins(cls, low: float, high: float, n: int) -> Histogram:
        step = (high - low) / n
        return cls(edges=[low + i * step for i in range(n)], counts=[0] * n)

    def add(self, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        idx = np.searchsorted(np.asarray(self.edges), values, side="right") - 1
        np.clip(idx, 0, len(self.edges) - 1, out=idx)
        for i, n in zip(*np.unique(idx, return_counts=True)):
            self.counts[int(i)] += int(n)

    def merge(self, other: Histogram) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts)]

    def to_json(self) -> dict[str, list]:
        return {"edges": self.edges, "counts": self.counts}

    @classmethod
    def from_json(cls, data: dict[str, list]) -> Histogram:
        return cls(edges=list(data["edges"]), counts=list(data["counts"]))


def word_counts(texts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Words in each string, as ``len(text.split())`` but on the UTF-8 bytes in place (~2x faster than
    splitting the strings): words are separated by ASCII whitespace, so a Unicode space (U+00A0,
    U+3000) joins two words here. 0 for a null."""
    chunks = texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]
    return np.concatenate([np.zeros(0, np.int64), *(_word_counts(c) for c in chunks)])


def _word_counts(array: pa.Array) -> np.ndarray:
    if not pa.types.is_large_string(array.type):
        array = array.cast(pa.large_string())
    n = len(array)
    if n == 0 or array.buffers()[2] is None:
        return np.zeros(n, np.int64)
    offsets = np.frombuffer(array.buffers()[1], np.int64)[array.offset:array.offset + n + 1]
    data = np.frombuffer(array.buffers()[2], np.uint8)[offsets[0]:offsets[-1]]
    space = (data == 32) | (data - np.uint8(9) <= 4)  # space, or \t \n \v \f \r (9-13; smaller bytes wrap)
    starts = ~space
    starts[1:] &= space[:-1]
    # Each document's first byte starts a word whatever the document before it ended with.
    begins = offsets[:-1][offsets[1:] > offsets[:-1]] - offsets[0]
    starts[begins] = ~space[begins]
    counts = np.diff(np.searchsorted(np.flatnonzero(starts), offsets - offsets[0]))
    if array.null_count:
        counts[array.is_null().to_numpy(zero_copy_only=False)] = 0
    return counts


@dataclass
class Profile:
    """Shape of a set of documents: lengths in characters, words and lines; languages and scores."""

    docs: int = 0
    chars: Histogram = field(default_factory=Histogram.log_bins)
    words: Histogram = field(default_factory=Histogram.log_bins)
    lines: Histogram = field(default_factory=Histogram.log_bins)
    languages: Counter = field(default_factory=Counter)
    language_score: Histogram = field(default_factory=lambda: Histogram.linear_bins(0.0, 1.0, 20))

    def add(self, table: pa.Table) -> None:
        if schema.TEXT not in table.column_names or table.num_rows == 0:
            return
        text = table.column(schema.TEXT)
        self.docs += table.num_rows
        self.chars.add(pc.utf8_length(text).to_numpy(zero_copy_only=False))
        self.words.add(word_counts(text))
        lines = pc.add(pc.count_substring(text, "\n"), 1)
        self.lines.add(lines.to_numpy(zero_copy_only=False))
        if schema.LANGUAGE in table.column_names:
            self.languages.update(v for v in table.column(schema.LANGUAGE).to_pylist() if v)
        if schema.LANGUAGE_SCORE in table.column_names:
            scores = table.column(schema.LANGUAGE_SCORE).to_numpy(zero_copy_only=False)
            self.language_score.add(scores[~np.isnan(scores)])

    def merge(self, other: Profile) -> None:
        self.docs += other.docs
        for name in ("chars", "words", "lines", "language_score"):
            getattr(self, name).merge(getattr(other, name))
        self.languages.update(other.languages)

    def to_json(self) -> dict[str, Any]:
        return {
            "docs": self.docs,
            "chars": self.chars.to_json(),
            "words": self.words.to_json(),
            "lines": self.lines.to_json(),
            "languages": dict(self.languages.most_common()),
            "language_score": self.language_score.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Profile:
        return cls(
            docs=data["docs"],
            chars=Histogram.from_json(data["chars"]),
            words=Histogram.from_json(data["words"]),
            lines=Histogram.from_json(data["lines"]),
            languages=Counter(data["languages"]),
            language_score=Histogram.from_json(data["language_score"]),
        )


@dataclass
class StageCounts:
    """One stage's counts over some documents."""

    docs_in: int = 0
    docs_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    cpu_s: float = 0.0
    dropped: Counter = field(default_factory=Counter)
    counters: Counter = field(default_factory=Counter)

    def merge(self, other: StageCounts) -> None:
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        self.bytes_in += other.bytes_in
        self.bytes_out += other.bytes_out
        self.cpu_s += other.cpu_s
        self.dropped.update(other.dropped)
        self.counters.update(other.counters)

    def to_json(self) -> dict[str, Any]:
        return {
            "docs_in": self.docs_in,
            "docs_out": self.docs_out,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "dropped": dict(self.dropped.most_common()),
            "cpu_s": round(self.cpu_s, 4),
            "counters": dict(sorted(self.counters.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StageCounts:
        return cls(
            docs_in=data["docs_in"],
            docs_out=data["docs_out"],
            bytes_in=data["bytes_in"],
            bytes_out=data["bytes_out"],
            cpu_s=data["cpu_s"],
            dropped=Counter(data["dropped"]),
            counters=Counter(data["counters"]),
        )


@dataclass
class ReaderCounts:
    """What a reader saw in its input: records by type, what it skipped and why, errors by type."""

    documents: int = 0
    bytes: int = 0
    records: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    error_list: list[dict[str, Any]] = field(default_factory=list)

    def error(self, kind: str, file: str, offset: int | None, message: str) -> None:
        self.errors[kind] += 1
        if len(self.error_list) < ERRORS_KEPT:
            self.error_list.append({"file": file, "offset": offset, "type": kind, "message": message[:500]})

    def drain(self) -> ReaderCounts:
        """Hand over the counts gathered so far and start again from zero (per chunk of input)."""
        taken = ReaderCounts(self.documents, self.bytes, self.records.copy(), self.skipped.copy(),
                             self.errors.copy(), list(self.error_list))
        self.__init__()  # type: ignore[misc]
        return taken

    def merge(self, other: ReaderCounts) -> None:
        self.documents += other.documents
        self.bytes += other.bytes
        self.records.update(other.records)
        self.skipped.update(other.skipped)
        self.errors.update(other.errors)
        self.error_list.extend(other.error_list[: max(0, ERRORS_KEPT - len(self.error_list))])

    def to_json(self) -> dict[str, Any]:
        return {
            "documents": self.documents,
            "bytes": self.bytes,
            "records": dict(self.records.most_common()),
            "skipped": dict(self.skipped.most_common()),
            "errors": dict(self.errors.most_common()),
            "error_list": self.error_list,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReaderCounts:
        return cls(
            documents=data["documents"],
            bytes=data["bytes"],
            records=Counter(data["records"]),
            skipped=Counter(data["skipped"]),
            errors=Counter(data["errors"]),
            error_list=list(data["error_list"]),
        )


def text_bytes(table: pa.Table) -> int:
    """Bytes of the document payload (``text`` if present, else ``html``), for the funnel's byte counts."""
    for column in (schema.TEXT, schema.HTML):
        if column in table.column_names:
            return int(pc.sum(pc.binary_length(table.column(column))).as_py() or 0)
    return 0


def sample_rows(table: pa.Table, limit: int, value_column: str | None = None,
                scores: bool = False) -> list[dict[str, Any]]:
    """Up to ``limit`` rows as small dicts (id, url, excerpt of the text, the failing value) for reports;
    with ``scores``, also every floating-point column (classifier scores, language score) by name."""
    rows = []
    payload = schema.TEXT if schema.TEXT in table.column_names else schema.HTML
    float_columns = [f.name for f in table.schema if pa.types.is_floating(f.type)] if scores else []
    for i in range(min(limit, table.num_rows)):
        row: dict[str, Any] = {}
        for column in (schema.ID, schema.URL):
            if column in table.column_names:
                row[column] = table.column(column)[i].as_py()
        if payload in table.column_names:
            text = table.column(payload)[i].as_py() or ""
            row["text"] = text[:EXCERPT_CHARS]
        if value_column and value_column in table.column_names:
            row["value"] = table.column(value_column)[i].as_py()
        if float_columns:
            row["scores"] = {name: table.column(name)[i].as_py() for name in float_columns}
        rows.append(row)
    return rows


def merge_samples(into: dict[str, dict[str, list]], other: dict[str, dict[str, list]]) -> None:
    """Add removed-document samples, keeping at most ``SAMPLES_PER_REASON`` per stage and reason."""
    for stage, reasons in other.items():
        mine = into.setdefault(stage, {})
        for reason, rows in reasons.items():
            kept = mine.setdefault(reason, [])
            kept.extend(rows[: max(0, SAMPLES_PER_REASON - len(kept))])


@dataclass
class ShardStats:
    """Everything counted for one shard of a streaming phase (or, merged, for the whole phase)."""

    reader: ReaderCounts = field(default_factory=ReaderCounts)
    stages: dict[str, StageCounts] = field(default_factory=dict)
    samples: dict[str, dict[str, list]] = field(default_factory=dict)
    kept: list[dict[str, Any]] = field(default_factory=list)
    before: Profile = field(default_factory=Profile)
    after: Profile = field(default_factory=Profile)

    def merge(self, other: ShardStats) -> None:
        self.reader.merge(other.reader)
        for name, counts in other.stages.items():
            self.stages.setdefault(name, StageCounts()).merge(counts)
        merge_samples(self.samples, other.samples)
        self.kept.extend(other.kept[: max(0, KEPT_SAMPLES - len(self.kept))])
        self.before.merge(other.before)
        self.after.merge(other.after)

    def to_json(self) -> dict[str, Any]:
        return {
            "reader": self.reader.to_json(),
            "stages": {name: counts.to_json() for name, counts in self.stages.items()},
            "samples": self.samples,
            "kept": self.kept,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardStats:
        return cls(
            reader=ReaderCounts.from_json(data["reader"]),
            stages={name: StageCounts.from_json(c) for name, c in data["stages"].items()},
            samples=data["samples"],
            kept=data["kept"],
            before=Profile.from_json(data["before"]),
            after=Profile.from_json(data["after"]),
        )


class MergeInOrder:
    """Merges the ``ShardStats`` of a phase's shards as they arrive, keeping the capped lists (removed and
    kept samples, error details) as if the shards had been merged in input order: ``stats.json`` then does
    not depend on which worker finished first. Counts are merged at once; of the lists, only what can still
    be among the first ones is held."""

    def __init__(self) -> None:
        self._totals = ShardStats()
        self._lists: dict[tuple[str, ...], list[tuple[int, list]]] = {}

    def add(self, position: int, stats: ShardStats) -> None:
        """Merge the stats of the shard at ``position`` in the phase's input order."""
        counts = ShardStats(ReaderCounts(stats.reader.documents, stats.reader.bytes, stats.reader.records,
                                         stats.reader.skipped, stats.reader.errors),
                            stats.stages, {}, [], stats.before, stats.after)
        self._totals.merge(counts)
        self._hold(("errors",), position, stats.reader.error_list, ERRORS_KEPT)
        self._hold(("kept",), position, stats.kept, KEPT_SAMPLES)
        for stage, reasons in stats.samples.items():
            for reason, rows in reasons.items():
                self._hold(("removed", stage, reason), position, rows, SAMPLES_PER_REASON)

    def _hold(self, key: tuple[str, ...], position: int, rows: list, limit: int) -> None:
        if not rows:
            return
        held = self._lists.setdefault(key, [])
        held.append((position, rows))
        held.sort(key=lambda entry: entry[0])
        total = 0
        for i, (_, entry_rows) in enumerate(held):
            total += len(entry_rows)
            if total >= limit:
                del held[i + 1:]  # later shards' rows can no longer be among the first
                break

    def result(self) -> ShardStats:
        merged = self._totals
        first = {key: [row for _, rows in held for row in rows] for key, held in self._lists.items()}
        merged.reader.error_list = first.get(("errors",), [])[:ERRORS_KEPT]
        merged.kept = first.get(("kept",), [])[:KEPT_SAMPLES]
        merged.samples = {}
        for key in sorted(k for k in first if k[0] == "removed"):
            merged.samples.setdefault(key[1], {})[key[2]] = first[key][:SAMPLES_PER_REASON]
        return merged
