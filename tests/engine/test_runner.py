"""The runner on the in-process executor: outputs, stats, removed documents, resume after a crash."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from engine_support import CrashAfter, make_pipeline, output_digest

from fineweb_pipe.dedup import MinHashDedup
from fineweb_pipe.engine.local import LocalExecutor
from fineweb_pipe.engine.runner import Runner
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.sample.prose import english_article
from fineweb_pipe.tokens.stage import Tokenize


def run_local(crawl: Path, output: Path, pipeline=None) -> dict:
    with LocalExecutor() as executor:
        return Runner(pipeline or make_pipeline(), [str(crawl)], str(output), executor, show_progress=False).run()


def test_outputs_and_stats(crawl: Path, tmp_path: Path) -> None:
    stats = run_local(crawl, tmp_path / "out")
    shards = sorted(os.listdir(tmp_path / "out" / "documents"))
    assert len(shards) == 3 and all(s.startswith("part-") for s in shards)
    docs = sum(pq.read_metadata(tmp_path / "out" / "documents" / s).num_rows for s in shards)
    stages = {s["name"]: s for s in stats["stages"]}
    assert stats["reader"]["documents"] == 180 and stats["reader"]["files"] == 3
    assert stages["html_length"]["docs_in"] == 180 == stages["html_length"]["docs_out"]
    assert stages["keep_https_only"]["docs_in"] - stages["keep_https_only"]["docs_out"] == stages["keep_https_only"]["dropped"]["not_https"]
    assert stages["drop_short_html"]["docs_out"] == docs
    assert stages["drop_short_html"]["docs_in"] == stages["keep_https_only"]["docs_out"]
    table = pq.read_table(tmp_path / "out" / "documents" / shards[0])
    assert "__seq" not in table.column_names and min(table.column("html_chars").to_pylist()) >= 2700
    offsets = table.column("source_offset").to_pylist()
    assert offsets == sorted(offsets)  # documents keep their order in the input
    removed = pq.read_table(tmp_path / "out" / "removed" / "keep_https_only")  # one file per shard, one dataset
    assert set(removed.column("scheme").to_pylist()) == {"http"}
    assert removed.num_rows == stages["keep_https_only"]["dropped"]["not_https"]
    sample = stats["samples"]["removed"]["drop_short_html"]["short_html"][0]
    assert sample["url"] and float(sample["value"]) < 2700
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["stages"] == stats["stages"]


def test_crash_then_rerun_gives_the_same_output(crawl: Path, tmp_path: Path) -> None:
    marker = tmp_path / "crash"
    pipeline = lambda: make_pipeline(CrashAfter(str(marker), after=2))  # noqa: E731
    run_local(crawl, tmp_path / "clean", pipeline())
    marker.touch()
    with pytest.raises(Exception, match="simulated crash"):
        run_local(crawl, tmp_path / "resumed", pipeline())
    finished = os.listdir(tmp_path / "resumed" / "_work" / "00-stream" / "shards")
    assert 0 < len(finished) < 3  # the crash left some shards done and one partial
    marker.unlink()
    run_local(crawl, tmp_path / "resumed", pipeline())
    assert output_digest(str(tmp_path / "resumed")) == output_digest(str(tmp_path / "clean"))
    assert not list((tmp_path / "resumed").rglob("*.tmp-*"))


def _articles_with_repeats(folder: Path, suffix: str) -> tuple[list[str], list[str]]:
    """Two input files; the second repeats ten articles of the first (duplicates to remove)."""
    rng = random.Random(7)
    articles = ["\n".join(english_article(rng, "astronomy", 3)) for _ in range(30)]
    paths, everything = [], []
    for part in range(2):
        texts = articles[part * 15:(part + 1) * 15] + (articles[:10] if part else [])
        table = pa.table({"id": [f"p{part}-{i}" for i in range(len(texts))], "text": pa.array(texts, pa.large_string())})
        path = folder / f"part-{part}.{suffix}"
        if suffix == "parquet":
            pq.write_table(table, path)
        else:
            path.write_text("".join(json.dumps(row) + "\n" for row in table.to_pylist()), encoding="utf-8")
        paths.append(str(path))
        everything += texts
    return paths, everything


@pytest.mark.parametrize("suffix", ["parquet", "jsonl"])
def test_a_pipeline_that_starts_with_dedup(suffix: str, tmp_path: Path) -> None:
    inputs, texts = _articles_with_repeats(tmp_path, suffix)
    with LocalExecutor() as executor:
        stats = Runner(Pipeline([MinHashDedup()]), inputs, str(tmp_path / "out"), executor, show_progress=False).run()
    [dedup] = stats["stages"]
    written = pq.read_table(tmp_path / "out" / "documents")
    assert stats["reader"]["documents"] == dedup["docs_in"] == 40 and dedup["docs_out"] == written.num_rows == 30
    assert stats["profiles"]["before"]["docs"] == 40 and stats["profiles"]["after"]["docs"] == 30
    assert dedup["bytes_out"] == sum(len(t.as_py().encode()) for t in written["text"])
    if suffix == "parquet":
        # Read where they lie, not copied first: the documents keep the input's columns.
        assert dedup["bytes_in"] == stats["reader"]["bytes"] == sum(len(t.encode()) for t in texts)
        assert not (tmp_path / "out" / "_work" / "00-stream").exists()
        assert written.column_names == ["id", "text", "dedup_cluster_id", "dedup_cluster_size"]
    else:
        assert "source_offset" in written.column_names


def test_the_pipeline_names_its_sink(crawl: Path, tmp_path: Path) -> None:
    import gzip

    from fineweb_pipe.writers.sinks import JsonlDocuments

    base = make_pipeline()
    run_local(crawl, tmp_path / "parquet", base)
    stats = run_local(crawl, tmp_path / "jsonl", Pipeline(base.steps, name=base.name, sink=JsonlDocuments()))
    files = sorted((tmp_path / "jsonl" / "documents").iterdir())
    assert files and all(f.name.endswith(".jsonl.gz") for f in files)
    rows = [json.loads(line) for f in files for line in gzip.open(f, "rt", encoding="utf-8")]
    expected = pq.read_table(tmp_path / "parquet" / "documents").to_pylist()
    assert [r["id"] for r in rows] == [r["id"] for r in expected] and len(rows) == stats["stages"][-1]["docs_out"]
    assert rows[0]["html"] == expected[0]["html"]
    with pytest.raises(ValueError, match="minhash_dedup writes documents/ itself, as Parquet"):
        Pipeline([*base.steps, MinHashDedup()], sink=JsonlDocuments())
    with pytest.raises(ValueError, match="JsonlDocuments cannot be read back by 01-tokenize"):
        Pipeline([*base.steps, Tokenize(vocab_size=300)], sink=JsonlDocuments())
