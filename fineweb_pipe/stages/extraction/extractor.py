"""What every HTML extractor stage does: ``html`` in, ``text`` and ``title`` out, one page at a time
under a time limit, pages that fail or come out empty dropped with a reason."""

from __future__ import annotations

from abc import abstractmethod
from collections import Counter
from collections.abc import Callable

import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.stage import Drop, Resources, Stage, StageResult, set_column, split_by_decisions
from fineweb_pipe.stages.extraction.isolated import CallFailed, CallTimedOut, IsolatedFunction
from fineweb_pipe.stages.extraction.page_text import ExtractFn, FromUtf8, NewShard

DEFAULT_TIMEOUT_S = 1.0
_FAILURE_COUNTERS = {"extraction_timeout": "extraction_timeouts", "extraction_crash": "extraction_crashes"}
_WARMUP_HTML = b"<html><head><title>t</title></head><body><article><p>Warm up text.</p></article></body></html>"


def already_extracted(batch: pa.Table) -> bool:
    """Whether ``batch`` holds text and no HTML (WET, JSONL, Parquet text): extraction passes it through."""
    return schema.HTML not in batch.column_names and schema.TEXT in batch.column_names


class HtmlExtractor(Stage):
    """Base of the extraction stages. Subclasses give the extraction function.

    With ``timeout_s`` set (default 1 s, FineWeb's), pages are extracted in a persistent child process
    (:class:`IsolatedFunction`; the limit is CPU time, so machine load does not change which pages are
    cut, and 5x that in wall time) and a page that runs past the limit or kills the extractor is dropped
    (``extraction_timeout``, ``extraction_crash``) and counted, and the next page gets a fresh child.
    ``timeout_s=None`` extracts in the worker itself (no IPC, no protection against hangs). A page whose
    extraction is blank is dropped as ``extraction_empty``. The ``html`` column is removed. A batch that
    has ``text`` and no ``html`` (WET, JSONL, Parquet) passes through unchanged (``already_extracted``).
    """

    # The worker mostly waits on its child, which takes the CPU.
    resources = Resources(num_cpus=1.0, memory_mb=500)
    uses_child_processes = True
    worker_state = ("_extract",)
    _extract: PageFunction

    def __init__(self, timeout_s: float | None = DEFAULT_TIMEOUT_S) -> None:
        if timeout_s is not None and timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive or None (no limit), got {timeout_s}")
        self.timeout_s = timeout_s

    @abstractmethod
    def extract_fn(self) -> ExtractFn:
        """The function that extracts one page (called once per worker, in ``setup``)."""

    def reset_fn(self) -> Callable[[], None] | None:
        """A function that clears what the extraction function remembers between pages, if anything."""
        return None

    def setup(self) -> None:
        self._extract = start_page_function(self.extract_fn(), self.timeout_s, self.reset_fn())

    def begin_shard(self) -> None:
        self._extract(NewShard())  # where the extraction function runs: in the child, if there is one

    def close(self) -> None:
        """Stop the child process now (it also stops when this stage is garbage-collected or at exit)."""
        close_page_function(self)

    def process(self, batch: pa.Table) -> StageResult:
        if already_extracted(batch):  # the same pipeline runs on every input
            return StageResult(kept=batch, counters={"already_extracted": batch.num_rows} if batch.num_rows else {})
        if schema.HTML not in batch.column_names:
            raise KeyError(f"{self.name}: batch has no '{schema.HTML}' or '{schema.TEXT}' column (columns: "
                           f"{batch.column_names}); extraction reads HTML from a WARC reader")
        restarts_before = self._extract.restarts
        counters: Counter = Counter()
        texts: list[str | None] = []
        titles: list[str | None] = []
        decisions: list[Drop | None] = []
        for html in batch.column(schema.HTML).cast(pa.large_binary()).to_pylist():
            text, title, decision = self._extract_one(html or b"")
            texts.append(text)
            titles.append(title)
            decisions.append(decision)
            if decision is not None and decision.reason in _FAILURE_COUNTERS:
                counters[_FAILURE_COUNTERS[decision.reason]] += 1
        counters["extractor_restarts"] = self._extract.restarts - restarts_before
        out = batch.drop_columns([schema.HTML])
        out = set_column(out, schema.TEXT, pa.array(texts, pa.large_string()))
        out = set_column(out, schema.TITLE, pa.array(titles, pa.string()))
        result = split_by_decisions(out, decisions)
        result.counters = {name: n for name, n in counters.items() if n}
        return result

    def _extract_one(self, html: bytes) -> tuple[str | None, str | None, Drop | None]:
        try:
            text, title = self._extract(html)
        except CallTimedOut:
            return None, None, Drop("extraction_timeout", self.timeout_s)
        except CallFailed as exc:
            return None, None, Drop("extraction_crash", str(exc)[:200])
        if not text or not text.strip():
            return None, title, Drop("extraction_empty")
        return text, title, None


def close_page_function(stage: Stage) -> None:
    """Stop the child process of ``stage._extract`` now, if setup() started one (it also stops when the
    stage is garbage-collected or at exit)."""
    extract = stage.__dict__.get("_extract")  # not the attribute: reading it before setup() runs setup()
    if isinstance(extract, IsolatedFunction):
        extract.close()


def start_page_function(fn: ExtractFn, timeout_s: float | None, reset: Callable[[], None] | None = None) -> PageFunction:
    """``fn`` over pages given as UTF-8 bytes: in this process (``timeout_s=None``), or in a child process
    that is killed and restarted when a page takes more than ``timeout_s`` of CPU. Called with
    :class:`NewShard` instead of a page, it runs ``reset`` there."""
    wrapped = FromUtf8(fn, reset)
    if timeout_s is None:
        return _InProcess(wrapped)
    isolated = IsolatedFunction(wrapped, timeout_s, warmup=_WARMUP_HTML)
    isolated.start()
    return isolated


class _InProcess:
    """The extraction function called directly, its exceptions reported like a failed isolated call."""

    restarts = 0

    def __init__(self, fn: FromUtf8) -> None:
        self.fn = fn

    def __call__(self, html: bytes | NewShard) -> tuple[str, str | None]:
        try:
            return self.fn(html)
        except Exception as exc:
            raise CallFailed(f"{type(exc).__name__}: {exc}") from exc


#: What :func:`start_page_function` returns: called with a page's UTF-8 bytes.
PageFunction = _InProcess | IsolatedFunction
