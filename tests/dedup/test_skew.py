"""A corpus with one huge templated cluster: no task of any round reads much more than the others (the
distributed components rounds included), and every round writes a few files per task (never shards x
partitions)."""

from __future__ import annotations

import glob
from pathlib import Path

import dedup_corpus
import pytest
from sample_texts import sample_texts

from fineweb_pipe import storage
from fineweb_pipe.dedup import MinHashDedup
from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.stage import ShardRef

@pytest.mark.slow
def test_a_10k_member_cluster_spreads_over_every_task(tmp_path: Path) -> None:
    texts = [t for t in sample_texts(600) if len(t.split()) >= 50]
    corpus = dedup_corpus.generate(tmp_path / "corpus", 20_000, dup_fraction=0.2, seed=5,
                                                       shard_size=500, real_texts=texts, boilerplate=10_000)
    inputs = [ShardRef(Path(f).stem, f) for f in sorted(glob.glob(str(corpus / "docs" / "*.parquet")))]
    ctx = PhaseContext.local("minhash_dedup", inputs, str(tmp_path / "run"))
    MinHashDedup(docs_per_partition=2000, single_node_max_edges=0).run(ctx)
    section = ctx.sections["dedup"]
    assert max(map(int, section["cluster_sizes"])) >= 10_000  # the templated pages are one cluster
    rounds = section["rounds"]
    assert rounds["verify-check"]["tasks"] == section["partitions"] == 10
    assert section["components"]["algorithm"] == "large_star_small_star" and "cc-labels" in rounds
    # Every round is within 2x, the star steps at 1.03-1.05x. The bucket round is at 1.75x only because the
    # cluster is small next to a partition: it holds each bucket whole (the cluster's buckets, about 10,000
    # rows in each of 16 bands, over 10 partitions of 32,000 band rows; the largest task gets four), and a
    # task with k buckets of B rows passes 2x when k * B > 16 * (docs_per_partition + B / P).
    for name, figures in rounds.items():
        assert figures["rows_in_max"] <= 2 * figures["rows_in_mean"], (name, figures)
    # A few files per task, and the figures count every file of the work folder.
    assert all(figures["files"] <= 3 * figures["tasks"] for figures in rounds.values()), rounds
    work = [f for f in storage.list_files(ctx.work_dir) if "/_done/" not in f and not f.startswith(ctx.output_dir)]
    assert len(work) == sum(figures["files"] for name, figures in rounds.items() if name != "write")
    assert len(work) < len(inputs) * section["partitions"]
