"""Stage names, and splitting a batch by per-document decisions."""

from __future__ import annotations

import pickle
import threading

import numpy as np
import pyarrow as pa
import pytest

from fineweb_pipe import schema
from fineweb_pipe.dedup import MinHashDedup
from fineweb_pipe.stage import MAX_SLICED_RUNS, Drop, Transform, select_rows, split_by_decisions
from fineweb_pipe.stages.quality import C4QualityFilter, FineWebQualityFilter


def pages(n: int) -> pa.Table:
    html = [f"<html><body><p>Page {i}: " + "text " * 2000 + "</p></body></html>" for i in range(n)]
    return pa.table({schema.ID: [f"doc-{i}" for i in range(n)], schema.HTML: pa.array(html, pa.large_string())})


def data_range(table: pa.Table, column: str) -> tuple[int, int]:
    """Where the column's character data lies in memory (of its first chunk)."""
    data = table.column(column).chunks[0].buffers()[2]
    return data.address, data.address + data.size


def test_stage_names_come_from_the_class_unless_declared_or_given() -> None:
    assert C4QualityFilter().name == "c4_quality_filter"
    assert FineWebQualityFilter().name == "fineweb_quality_filter"  # not fine_web_
    assert MinHashDedup().name == "minhash_dedup"
    assert FineWebQualityFilter().named("strict_fineweb").name == "strict_fineweb"


def test_named_returns_a_renamed_copy_of_any_stage() -> None:
    stage = C4QualityFilter(min_words_per_line=2)
    renamed = stage.named("c4_lenient")
    assert (stage.name, renamed.name, renamed.min_words_per_line) == ("c4_quality_filter", "c4_lenient", 2)
    dedup = MinHashDedup()
    assert dedup.named("dedup_again").name == "dedup_again" and dedup.name == "minhash_dedup"


class _Tagger(Transform):
    """Worker state that does not pickle (a lock), counts from ``transform``."""

    worker_state = ("_lock",)
    _lock: threading.Lock
    setups = 0

    def setup(self) -> None:
        type(self).setups += 1
        self._lock = threading.Lock()

    def transform(self, batch: pa.Table) -> pa.Table:
        with self._lock:
            self.count("tagged", batch.num_rows)
            self.count("never", 0)
        return batch


def test_worker_state_is_left_out_of_pickles_and_built_once_on_first_use() -> None:
    stage = _Tagger().named("tagger")
    result = stage(pages(3))  # set up on first use
    assert result.counters == {"tagged": 3, "never": 0} and _Tagger.setups == 1
    assert stage.process(pages(2)).counters == {"tagged": 2, "never": 0}  # counts are per batch
    clone = pickle.loads(pickle.dumps(stage))
    assert clone.name == "tagger" and "_lock" not in vars(clone)
    clone.ensure_setup()
    clone.ensure_setup()
    assert _Tagger.setups == 2


def test_split_keeps_the_rest_in_order_and_labels_the_drops() -> None:
    batch = pages(10)
    decisions = [Drop("spam", 0.9) if i in (2, 3, 7) else None for i in range(10)]
    result = split_by_decisions(batch, decisions)
    assert result.kept.column(schema.ID).to_pylist() == [f"doc-{i}" for i in (0, 1, 4, 5, 6, 8, 9)]
    assert result.dropped is not None
    assert result.dropped.column(schema.ID).to_pylist() == ["doc-2", "doc-3", "doc-7"]
    assert result.dropped.column("drop_reason").to_pylist() == ["spam"] * 3
    assert result.dropped.column("drop_value").to_pylist() == ["0.9"] * 3
    with pytest.raises(ValueError, match="2 decisions for a batch of 10 rows"):
        split_by_decisions(batch, [None, None])


def test_a_few_dropped_rows_do_not_copy_the_kept_html() -> None:
    batch = pages(256)
    keep = np.ones(256, dtype=bool)
    keep[[17, 18, 200]] = False
    kept = select_rows(batch, keep)
    assert kept.column(schema.ID).to_pylist() == [f"doc-{i}" for i in range(256) if keep[i]]
    start, end = data_range(batch, schema.HTML)
    for chunk in kept.column(schema.HTML).chunks:  # each run of kept rows is a view of the input
        assert start <= chunk.buffers()[2].address < end


def test_many_runs_are_filtered_into_one_array() -> None:
    batch = pages(100)
    keep = np.arange(100) % 3 == 0  # 34 runs of one row
    kept = select_rows(batch, keep)
    assert 34 > MAX_SLICED_RUNS and kept.column(schema.HTML).num_chunks == 1
    assert kept.column(schema.ID).to_pylist() == [f"doc-{i}" for i in range(0, 100, 3)]
    assert select_rows(batch, np.zeros(100, dtype=bool)).num_rows == 0
    assert select_rows(batch, np.ones(100, dtype=bool)).equals(batch)
