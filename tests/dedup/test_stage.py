from __future__ import annotations

import glob
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import bench_dedup
import dedup_corpus
from sample_texts import sample_texts

from fineweb_pipe.dedup import MinHashDedup, write
from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.stage import ShardRef


@pytest.fixture(scope="module", params=["sample", pytest.param("real", marks=pytest.mark.shared_data)])
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 documents, a quarter near-duplicates, built from the sample prose or (as well, where
    ../shared/data is present) from real web texts."""
    if request.param == "real":
        texts = dedup_corpus.load_real_texts(request.getfixturevalue("shared_data"))
    else:
        texts = [t for t in sample_texts(600) if len(t.split()) >= 50]
    out = tmp_path_factory.mktemp("corpus")
    return dedup_corpus.generate(out, 3000, dup_fraction=0.25, seed=1, shard_size=1000, real_texts=texts)


def _run(corpus: Path, run_dir: Path, stage: MinHashDedup, workers: int = 1) -> PhaseContext:
    return bench_dedup.run_stage(corpus, run_dir, stage, workers)


def _clusters(ctx: PhaseContext, name: str) -> dict[str, int]:
    return bench_dedup.clusters_of(ctx, name)


@pytest.mark.slow
def test_recall_precision_and_same_result_with_two_workers_and_distributed_components(
        corpus: Path, tmp_path: Path) -> None:
    one = _run(corpus, tmp_path / "one", MinHashDedup())
    clusters = _clusters(one, "minhash_dedup")
    scores = bench_dedup.evaluate(corpus, clusters)
    assert scores["recall_j>=0.85"] >= 0.95 and scores["precision"] >= 0.99
    # Two workers, the large-star/small-star rounds and several partitions: the same clusters.
    two = _run(corpus, tmp_path / "two", MinHashDedup(single_node_max_edges=0, docs_per_partition=700), workers=2)
    assert _clusters(two, "minhash_dedup") == clusters
    assert two.sections["dedup"]["components"]["algorithm"] == "large_star_small_star"
    assert two.total().to_json() == {**one.total().to_json(), "cpu_s": two.total().to_json()["cpu_s"]}


def test_outputs_removed_rows_stats_and_resume(corpus: Path, tmp_path: Path) -> None:
    stage = MinHashDedup()
    ctx = _run(corpus, tmp_path, stage)
    section = ctx.sections["dedup"]
    total = ctx.total()
    assert total.docs_in == 3000 and total.dropped["near_duplicate"] == section["removed"] > 0
    assert total.docs_out == 3000 - section["removed"]
    assert sum(int(k) * n for k, n in section["cluster_sizes"].items()) == section["docs_in_clusters"]
    example = section["examples"][0]
    assert example["members"][0]["kept"] and all(len(m["text"]) <= 600 for m in example["members"])
    kept = pa.concat_tables([pq.read_table(ctx.output_path(r.shard)) for r in ctx.inputs])
    removed = pa.concat_tables([pq.read_table(f) for f in glob.glob(str(tmp_path / "removed" / stage.name / "*"))])
    assert set(removed["drop_reason"].to_pylist()) == {"near_duplicate"}
    assert set(removed["duplicate_of"].to_pylist()) <= set(kept["id"].to_pylist())
    assert {"url", "dedup_cluster_id", "dedup_cluster_size"} <= set(kept.column_names)
    # A resume finds every round done and writes the same outputs.
    before = {r.shard: os.path.getmtime(ctx.output_path(r.shard)) for r in ctx.inputs}
    again = PhaseContext.local(stage.name, ctx.inputs, str(tmp_path))
    stage.run(again)
    assert again.sections["dedup"]["removed"] == section["removed"]
    assert before == {r.shard: os.path.getmtime(ctx.output_path(r.shard)) for r in ctx.inputs}


def test_every_document_comes_out_once_whatever_the_write_batch(corpus: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    stage = MinHashDedup()
    whole = _run(corpus, tmp_path / "whole", stage)
    monkeypatch.setattr(write, "WRITE_BATCH_ROWS", 97)  # shards of 1,000 rows: 11 batches, uneven
    batched = _run(corpus, tmp_path / "batched", stage)
    for ref in whole.inputs:
        kept = pq.read_table(batched.output_path(ref.shard))
        assert kept.equals(pq.read_table(whole.output_path(ref.shard)))
        removed = pq.read_table(str(tmp_path / "batched" / "removed" / stage.name / f"{ref.shard}.parquet"))
        source_ids = pq.read_table(ref.path, columns=["id"])["id"].to_pylist()
        # Nothing lost or doubled, and survivors keep their input order.
        assert sorted(kept["id"].to_pylist() + removed["id"].to_pylist()) == sorted(source_ids)
        assert kept["id"].to_pylist() == [i for i in source_ids if i in set(kept["id"].to_pylist())]
    assert batched.sections["dedup"]["examples"] == whole.sections["dedup"]["examples"]


def test_a_later_crawl_is_deduplicated_against_a_saved_index(corpus: Path, tmp_path: Path) -> None:
    shards = sorted(glob.glob(str(corpus / "docs" / "*.parquet")))
    index_dir = str(tmp_path / "index")
    first = PhaseContext.local("minhash_dedup", [ShardRef("a", shards[0])], str(tmp_path / "first"))
    MinHashDedup(save_index=index_dir).run(first)
    survivors = pq.read_table(first.output_path("a"), columns=["id"])["id"].to_pylist()
    # The "later crawl" re-crawled the first shard: every survivor is now a duplicate of the index.
    later = PhaseContext.local("minhash_dedup", [ShardRef("b", shards[0])], str(tmp_path / "later"))
    MinHashDedup(reference_index=index_dir).run(later)
    assert pq.read_table(later.output_path("b")).num_rows <= first.total().docs_out - len(survivors) + 5
    removed = pq.read_table(str(tmp_path / "later" / "removed" / "minhash_dedup" / "b.parquet"))
    assert set(removed["duplicate_of"].to_pylist()) <= set(survivors)
