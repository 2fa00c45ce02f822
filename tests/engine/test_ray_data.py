"""Stages in a user's own Ray Data program (fineweb_pipe/engine/ray_data.py): docs/ray-data.md's example runs
as written, and what comes out is what the stages keep when called in-process."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ray
from sample_texts import sample_texts

from fineweb_pipe.readers import reader_for
from fineweb_pipe.sample import write_sample_warc
from fineweb_pipe.sample.crawl import SPAM_URLS
from fineweb_pipe.stage import DROP_REASON, Stage
from fineweb_pipe.stages.classifiers.transformer_scorer import TransformerScorer
from fineweb_pipe.stages.extraction import TrafilaturaExtractor
from fineweb_pipe.stages.quality import GopherQualityFilter
from fineweb_pipe.stages.url import UrlFilter
from fineweb_pipe.stats import ReaderCounts

# Skipped, with the module's message, where Ray Data is not installed (it needs pandas: ray[data]).
ray_data = pytest.importorskip("fineweb_pipe.engine.ray_data", exc_type=ImportError)

pytestmark = [pytest.mark.ray, pytest.mark.slow]
DOC = Path(__file__).resolve().parents[2] / "docs" / "ray-data.md"
TESTED_MARKER = "<!-- tested:"


@pytest.fixture(scope="module")
def embedded_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A Ray of 2 CPUs started in a folder of its own, which is its workers' working directory too (where
    the doc example's relative paths point)."""
    workdir = tmp_path_factory.mktemp("ray-data")
    temp = tempfile.mkdtemp(prefix="fwp-rd-", dir="/tmp")  # short: Ray's socket paths have a length limit
    before = os.getcwd()
    os.chdir(workdir)
    ray.init(num_cpus=2, _temp_dir=temp, include_dashboard=False, log_to_driver=False)
    try:
        yield workdir
    finally:
        ray.shutdown()
        os.chdir(before)
        shutil.rmtree(temp, ignore_errors=True)


def doc_example() -> str:
    """The python block after the doc's 'tested' marker."""
    text = DOC.read_text()
    assert TESTED_MARKER in text, f"{DOC} lost its tested example marker"
    block = re.search(r"```python\n(.*?)```", text[text.index(TESTED_MARKER):], re.S)
    assert block, f"no python block after the marker in {DOC}"
    return block.group(1)


def in_process(paths: list[Path], stages: list[Stage]) -> pa.Table:
    """What the stages keep of the files' documents, called batch by batch in this process."""
    kept = []
    for path in paths:
        for batch in reader_for(str(path)).iter_batches(str(path), ReaderCounts()):
            for stage in stages:
                batch = stage(batch).kept
            kept.append(batch)
    return pa.concat_tables(kept)


def test_doc_example_keeps_what_the_stages_keep_in_process(embedded_ray: Path) -> None:
    paths = [embedded_ray / "crawl" / f"part-{seed}.warc.gz" for seed in range(2)]
    for seed, path in enumerate(paths):
        write_sample_warc(str(path), pages=60, seed=seed)
    example: dict[str, Any] = {}
    exec(compile(doc_example(), str(DOC), "exec"), example)

    written = pq.read_table(embedded_ray / "out" / "documents")
    expected = in_process(paths, [UrlFilter(), TrafilaturaExtractor(favor_precision=True, timeout_s=1.0),
                                  GopherQualityFilter()])
    assert 0 < expected.num_rows < 120  # the stages dropped some documents and kept some
    assert sorted(zip(written["id"].to_pylist(), written["text"].to_pylist())) == \
        sorted(zip(expected["id"].to_pylist(), expected["text"].to_pylist()))
    totals = example["counts"].totals()
    assert totals["reader"]["documents"] == 120
    assert totals["stages"]["url_filter"]["docs_in"] == 120
    assert totals["stages"]["gopher_quality_filter"]["docs_out"] == expected.num_rows


def test_with_dropped_gives_every_row_once_with_its_reason(embedded_ray: Path) -> None:
    texts = sample_texts(40)
    texts[3] = texts[9] = "Too short to be a document."
    urls = [SPAM_URLS[i % len(SPAM_URLS)] if i % 10 == 5 else f"https://example.org/{i}" for i in range(40)]
    table = pa.table({"id": [f"doc-{i}" for i in range(40)], "url": urls, "text": texts})
    ds = ray.data.from_arrow(table)
    ds = ray_data.map_stage(ds, UrlFilter(), with_dropped=True, num_cpus=0.5)
    ds = ray_data.map_stage(ds, GopherQualityFilter(), with_dropped=True, num_cpus=0.5)
    out = pa.concat_tables(ray.get(ds.to_arrow_refs()), promote_options="default")

    by_url = UrlFilter()(table)
    by_gopher = GopherQualityFilter()(by_url.kept)
    expected = {doc: None for doc in by_gopher.kept["id"].to_pylist()}
    for dropped in (by_url.dropped, by_gopher.dropped):
        assert dropped is not None and dropped.num_rows  # both stages dropped some
        expected.update(zip(dropped["id"].to_pylist(), dropped[DROP_REASON].to_pylist()))
    assert sorted(out["id"].to_pylist()) == sorted(table["id"].to_pylist())  # every row, once
    assert dict(zip(out["id"].to_pylist(), out[DROP_REASON].to_pylist())) == expected


class Recorder:
    """A stand-in for a Dataset that keeps the arguments of ``map_batches``."""

    def __init__(self) -> None:
        self.kwargs: dict[str, Any] = {}

    def map_batches(self, fn: Any, **kwargs: Any) -> Recorder:
        self.kwargs = {"fn": fn, **kwargs}
        return self


def test_a_gpu_stage_asks_ray_data_for_a_gpu_and_cpu_stages_do_not(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    gpu_stage = TransformerScorer(tmp_path / "model", device="cuda")  # the model is loaded in setup only
    recorded = ray_data.map_stage(Recorder(), gpu_stage, concurrency=2).kwargs
    assert recorded["fn"] is ray_data.StageFn
    assert recorded["fn_constructor_args"] == (gpu_stage,)
    assert (recorded["num_gpus"], recorded["num_cpus"], recorded["memory"]) == (1.0, 1.0, 2000 * 2**20)
    assert recorded["compute"].min_size == recorded["compute"].max_size == 2
    assert recorded["batch_format"] == "pyarrow"

    cpu_only = ray_data.map_stages(Recorder(), [UrlFilter(), GopherQualityFilter()]).kwargs
    assert "num_gpus" not in cpu_only
    assert ray_data.stage_resources([UrlFilter(), gpu_stage]) == {"num_cpus": 1.0, "num_gpus": 1.0,
                                                                  "memory": 2000 * 2**20}
