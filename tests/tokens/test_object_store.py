"""Tokenize with its inputs, work folder and run folder on an object store (a local S3 server) writes
the same shard set, byte for byte, as the same run on a local disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from s3_server import s3_server_in_environment
from sample_texts import sample_texts

from fineweb_pipe import storage
from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.stage import ShardRef
from fineweb_pipe.tokens.stage import Tokenize

BUCKET = "tokens"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    with s3_server_in_environment(monkeypatch, BUCKET) as env:
        yield env


def _tokenize(inputs: list[ShardRef], run_dir: str) -> PhaseContext:
    ctx = PhaseContext(stage_name="tokenize", inputs=inputs, work_dir=storage.join(run_dir, "_work", "tokenize"),
                       run_dir=run_dir, output_dir=storage.join(run_dir, "_work", "tokenize", "output"))
    Tokenize(vocab_size=600, shard_tokens=20_000, val=0.1, seed=3, train_docs=100).run(ctx)
    return ctx


@pytest.mark.slow
def test_a_run_on_s3_writes_the_same_shards_as_the_local_run(s3: dict[str, str], tmp_path: Path) -> None:
    texts = sample_texts(240)
    local_inputs = []
    for i in range(3):
        path = tmp_path / "docs" / f"part-{i}.parquet"
        path.parent.mkdir(exist_ok=True)
        part = range(i * 80, (i + 1) * 80)
        pq.write_table(pa.table({"id": [f"doc-{n}" for n in part], "text": [texts[n] for n in part]}), path)
        local_inputs.append(ShardRef(f"part-{i}", str(path)))
    s3_inputs = []
    for ref in local_inputs:
        url = f"s3://{BUCKET}/docs/{Path(ref.path).name}"
        storage.write_bytes(url, Path(ref.path).read_bytes())
        s3_inputs.append(ShardRef(ref.shard, url))

    local = _tokenize(local_inputs, str(tmp_path / "run"))
    remote = _tokenize(s3_inputs, f"s3://{BUCKET}/run")

    names = storage.list_names(str(tmp_path / "run" / "tokens"))
    assert len([n for n in names if n.endswith(".bin")]) >= 3 and "manifest.json" in names
    assert storage.list_names(f"s3://{BUCKET}/run/tokens") == names
    for name in names:
        assert storage.read_bytes(f"s3://{BUCKET}/run/tokens/{name}") == (tmp_path / "run" / "tokens" / name).read_bytes(), name
    assert storage.list_files(f"s3://{BUCKET}/run/_work") == []  # intermediate files removed
    assert remote.sections["tokens"]["totals"] == local.sections["tokens"]["totals"]
