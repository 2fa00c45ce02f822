"""A cheap first pass in front of the extractor: resiliparse's main text and the fastText LID on every page
(~3 CPU-ms a page on the bench WARCs, its child process included), so that trafilatura (18-27 ms a page
there) is not spent on pages that the language filter after it would drop anyway."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.stage import Drop, Resources, Stage, StageResult, select_rows, set_column, split_by_decisions
from fineweb_pipe.stages.extraction.extractor import (
    DEFAULT_TIMEOUT_S, PageFunction, already_extracted, close_page_function, start_page_function,
)
from fineweb_pipe.stages.extraction.isolated import CallFailed, CallTimedOut
from fineweb_pipe.stages.extraction.resiliparse_extractor import extract_with_resiliparse
from fineweb_pipe.stages.language import LanguageFilter

#: Chosen by ``benchmarks/eval_language_prescreen.py`` (figures in benchmarks/README.md).
DEFAULT_MIN_SCORE = 0.65
DEFAULT_LID_CHARS = 2000
DROP_REASON = "language_prescreen"
_LID_WINDOWS = 4

_fast_text = functools.partial(extract_with_resiliparse, main_content=True, alt_texts=False, links=False,
                               list_bullets=True)


@dataclass
class Screening:
    """The fast pass over a batch: per page the fast main text (None where the pass failed or timed out),
    its top language (None for a blank text) and that language's score (0.0 for a blank text)."""

    texts: list[str | None]
    languages: list[str | None]
    scores: np.ndarray
    failures: int


class LanguagePrescreen(Stage):
    """Drops the pages whose fast main text is confidently in none of ``languages``, before extraction.

    Each page's main text is extracted with resiliparse (in a child process under ``timeout_s``, as the
    extractors do; ``None``: in the worker) and identified by :class:`LanguageFilter`'s fastText model. A
    page whose top language is not in ``languages`` and scores at least ``min_score`` is dropped as
    ``language_prescreen`` (value: language and score, e.g. ``"de 0.9812"``) with ``language``,
    ``language_score`` and the fast ``text`` added and its ``html`` kept: with ``keep_removed=True`` the
    engine writes it under ``removed/<stage>/<language>/``, ready for a per-language pipeline to extract.

    Documents that hold text and no HTML (WET, JSONL, Parquet) pass unchanged, as through the extractor.
    Every other page passes unchanged: a kept language at any score (the real LID decides after the
    extractor), a non-kept language under ``min_score``, a blank fast text (no text is no evidence), a
    fast pass that failed or ran out of time (counted as ``prescreen_failures``). The LID reads at most
    ``lid_chars`` characters of a fast text, in windows spread over all of it (a page that turns to
    English half-way is still seen as mixed); ``None`` reads it whole.

    ``enabled=False`` passes every batch through untouched and loads nothing: the pipeline's output is then
    byte for byte that of the same pipeline without this stage (FineWeb exactly).
    """

    resources = Resources(num_cpus=1.0, memory_mb=300)
    uses_child_processes = True
    worker_state = ("_extract",)
    _extract: PageFunction

    def __init__(self, languages: Sequence[str] = ("en",), min_score: float = DEFAULT_MIN_SCORE,
                 model_path: str | os.PathLike | None = None, keep_removed: bool = False,
                 timeout_s: float | None = DEFAULT_TIMEOUT_S, lid_chars: int | None = DEFAULT_LID_CHARS,
                 enabled: bool = True) -> None:
        if not languages:
            raise ValueError("languages must name at least one language to keep")
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive or None (no limit), got {timeout_s}")
        self.languages = frozenset(languages)
        self.min_score = min_score
        self.timeout_s = timeout_s
        self.lid_chars = lid_chars
        self.enabled = enabled
        self.keep_removed = keep_removed
        self.removed_partition = schema.LANGUAGE
        self._lid = LanguageFilter(languages=None, model_path=model_path)

    def setup(self) -> None:
        if not self.enabled:
            return
        self._lid.ensure_setup()
        self._extract = start_page_function(_fast_text, self.timeout_s)

    def close(self) -> None:
        """Stop the child process now (it also stops when this stage is garbage-collected or at exit)."""
        close_page_function(self)

    def screen(self, htmls: Sequence[bytes | None]) -> Screening:
        """The fast text, language and score of each page (UTF-8 HTML, as the WARC reader gives it)."""
        texts: list[str | None] = []
        failures = 0
        for html in htmls:
            try:
                text, _ = self._extract(html or b"")
            except (CallTimedOut, CallFailed):
                text = None
                failures += 1
            texts.append(text)
        languages, scores = self._lid.predict([_spread_sample(t, self.lid_chars) for t in texts])
        return Screening(texts, languages, scores, failures)

    def process(self, batch: pa.Table) -> StageResult:
        if not self.enabled or batch.num_rows == 0 or already_extracted(batch):
            # (an empty batch passes as it came, whatever its columns; text is screened by the LID after)
            return StageResult(kept=batch)
        if schema.HTML not in batch.column_names:
            raise KeyError(f"{self.name}: batch has no '{schema.HTML}' column (columns: {batch.column_names}); "
                           "the pre-screen goes in front of an extraction stage")
        screening = self.screen(batch.column(schema.HTML).cast(pa.large_binary()).to_pylist())
        decisions = [self._decide(language, score) for language, score in zip(screening.languages, screening.scores)]
        blank = sum(not (text and text.strip()) for text in screening.texts)
        counters = {"prescreen_failures": screening.failures, "prescreen_blank": blank - screening.failures}
        counters = {name: n for name, n in counters.items() if n}
        if all(d is None for d in decisions):
            return StageResult(kept=batch, counters=counters)
        # The screen's columns go on the dropped rows only: the kept rows reach the extractor unchanged.
        annotated = set_column(batch, schema.LANGUAGE, pa.array(screening.languages, pa.string()))
        annotated = set_column(annotated, schema.LANGUAGE_SCORE, pa.array(screening.scores, pa.float64()))
        annotated = set_column(annotated, schema.TEXT, pa.array(screening.texts, pa.large_string()))
        result = split_by_decisions(annotated, decisions)
        result.kept = select_rows(batch, np.array([d is None for d in decisions]))
        result.counters = counters
        return result

    def _decide(self, language: str | None, score: float) -> Drop | None:
        if language is None or language in self.languages or score < self.min_score:
            return None
        return Drop(DROP_REASON, f"{language} {score:.4g}")


def _spread_sample(text: str | None, chars: int | None) -> str | None:
    """``text``, or where it is longer than ``chars``, that many characters of it in windows spread evenly
    from its start to its end."""
    if text is None or chars is None or len(text) <= chars:
        return text
    width = chars // _LID_WINDOWS
    step = (len(text) - width) / (_LID_WINDOWS - 1)
    return " ".join(text[round(i * step):round(i * step) + width] for i in range(_LID_WINDOWS))
