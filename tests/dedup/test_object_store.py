"""A dedup run whose inputs, work folder, outputs and index are all on an object store (a local S3
server) decides exactly as the same run on a local disk."""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import dedup_corpus
import pytest
from s3_server import s3_server_in_environment
from sample_texts import sample_texts

from fineweb_pipe import storage
from fineweb_pipe.dedup import MinHashDedup
from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.stage import ShardRef

BUCKET = "dedup"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with s3_server_in_environment(monkeypatch, BUCKET) as env:
        yield env


def _decisions(ctx: PhaseContext, inputs: list[ShardRef], stage: str) -> dict[str, object]:
    """Kept ids per shard in order, and each removed id with the id it duplicates."""
    def read(url: str, columns: list[str]) -> dict[str, list]:
        with storage.open_input(url) as f:
            return pq.read_table(f, columns=columns).to_pydict()

    kept = {ref.shard: read(ctx.output_path(ref.shard), ["id"])["id"] for ref in inputs}
    removed: dict[str, str] = {}
    for ref in inputs:
        url = storage.join(ctx.run_dir, "removed", stage, f"{ref.shard}.parquet")
        if storage.exists(url):
            rows = read(url, ["id", "duplicate_of"])
            removed.update(zip(rows["id"], rows["duplicate_of"]))
    return {"kept": kept, "removed": removed}


@pytest.mark.slow
def test_a_run_on_s3_decides_as_the_local_run(s3: dict[str, str], tmp_path: Path) -> None:
    texts = [t for t in sample_texts(300) if len(t.split()) >= 50]
    corpus = dedup_corpus.generate(tmp_path / "corpus", 900, dup_fraction=0.3, seed=4,
                                                       shard_size=300, real_texts=texts)
    local_inputs = [ShardRef(Path(f).stem, f) for f in sorted(glob.glob(str(corpus / "docs" / "*.parquet")))]
    stage = MinHashDedup(docs_per_partition=400)  # 3 partitions

    local = PhaseContext.local(stage.name, local_inputs, str(tmp_path / "run"))
    MinHashDedup(docs_per_partition=400, save_index=str(tmp_path / "index")).run(local)

    fs, _ = storage.filesystem(f"s3://{BUCKET}")
    remote_inputs = []
    for ref in local_inputs:
        url = f"s3://{BUCKET}/crawl/{ref.shard}.parquet"
        fs.put_file(ref.path, url)
        remote_inputs.append(ShardRef(ref.shard, url))
    run = f"s3://{BUCKET}/run"
    remote = PhaseContext(stage_name=stage.name, inputs=remote_inputs, work_dir=f"{run}/_work/{stage.name}",
                          run_dir=run, output_dir=f"{run}/output")
    MinHashDedup(docs_per_partition=400, save_index=f"s3://{BUCKET}/index").run(remote)

    expected = _decisions(local, local_inputs, stage.name)
    assert expected["removed"], "the corpus has near-duplicates to remove"
    assert _decisions(remote, remote_inputs, stage.name) == expected
    assert remote.sections["dedup"]["removed"] == local.sections["dedup"]["removed"]
    assert storage.read_json(f"s3://{BUCKET}/index/manifest.json") == storage.read_json(str(tmp_path / "index" / "manifest.json"))
    # Nothing was written on the local disk for the remote run.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "index", "run"]
