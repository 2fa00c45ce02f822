"""Tokenize end to end on real web text: roundtrip, splits, formats, and worker-count independence."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sample_texts import sample_texts

from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.stage import ShardRef
from fineweb_pipe.tokens import megatron, stage
from fineweb_pipe.tokens.cli import process_pool_mapper
from fineweb_pipe.tokens.shards import HEADER_BYTES, Manifest, documents, read_header, read_index, validate
from fineweb_pipe.tokens.stage import Tokenize
from fineweb_pipe.tokens.tokenizer import TokenizerSpec

def _web_texts(shared_data: Path | None) -> list[dict[str, str]]:
    """Real web texts from ``shared_data``, or without it the sample prose."""
    if shared_data is None:
        docs = [{"id": f"sample:{n}", "text": text} for n, text in enumerate(sample_texts(400))]
    else:
        docs = []
        for path in sorted((shared_data / "text").glob("*.jsonl")):
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                record = json.loads(line)
                docs.append({"id": f"{path.name}:{n}", "text": record["text"]})
    docs.append({"id": "quoting-the-delimiter", "text": "A page that quotes <|endoftext|> in its text."})
    docs.append({"id": "empty", "text": ""})
    return docs


@pytest.fixture(scope="module", params=["sample", pytest.param("real", marks=pytest.mark.shared_data)])
def inputs(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[list[ShardRef], list[str]]:
    """Three Parquet shards of documents (sample prose, and real ones where ../shared/data is present),
    in crawl order (as the pipeline writes them)."""
    docs = _web_texts(request.getfixturevalue("shared_data") if request.param == "real" else None)
    folder = tmp_path_factory.mktemp("docs")
    refs = []
    for i, part in enumerate(np.array_split(np.arange(len(docs)), 3)):
        path = str(folder / f"part-{i}.parquet")
        rows = [docs[j] for j in part]
        pq.write_table(pa.table({"id": [r["id"] for r in rows], "text": pa.array([r["text"] for r in rows], pa.large_string())}), path)
        refs.append(ShardRef(f"part-{i}", path))
    return refs, [d["text"] for d in docs]


def _run(inputs: list[ShardRef], run_dir: Path, workers: int = 1, **options) -> PhaseContext:
    options = {"vocab_size": 1024, "shard_tokens": 60_000, "val": 0.1, "seed": 7, **options}
    ctx = PhaseContext.local("tokenize", inputs, str(run_dir))
    ctx.mapper = process_pool_mapper(workers)
    Tokenize(**options).run(ctx)
    return ctx


def _decoded(folder: str, split: str | None = None) -> list[str]:
    manifest = Manifest.load(folder)
    ref = manifest.tokenizer
    encoder = TokenizerSpec(os.path.join(folder, ref.file), ref.pattern or "gpt4", tuple(ref.special_tokens)).load()
    delimiter = manifest.delimiter
    texts = []
    for shard in manifest.shards:
        if split and shard.split != split:
            continue
        tokens = manifest.open_tokens(folder, shard)
        for doc in documents(tokens, read_index(os.path.join(folder, shard.index))):
            at = 0 if delimiter.position == "bos" else -1
            assert doc[at] == delimiter.id and delimiter.id not in np.delete(doc, at)
            texts.append(encoder.decode(np.delete(doc, at).tolist()))
    return texts


@pytest.fixture(scope="module")
def trained_run(inputs, tmp_path_factory) -> tuple[str, PhaseContext]:
    run_dir = tmp_path_factory.mktemp("run")
    ctx = _run(inputs[0], run_dir)
    return str(run_dir / "tokens"), ctx


def test_shards_decode_back_to_exactly_the_documents(inputs, trained_run):
    folder, _ = trained_run
    assert Counter(_decoded(folder)) == Counter(inputs[1])
    assert validate(folder, check_hashes=True) == []


def test_headers_sizes_indexes_and_manifest_agree(trained_run):
    folder, _ = trained_run
    manifest = Manifest.load(folder)
    assert manifest.dtype == "uint16" and manifest.tokenizer.kind == "hf"
    assert len(manifest.split("train")) >= 3 and len(manifest.split("val")) >= 1
    for shard in manifest.shards:
        header = read_header(os.path.join(folder, shard.file))
        assert header.tokens == shard.tokens
        assert os.path.getsize(os.path.join(folder, shard.file)) == HEADER_BYTES + 2 * shard.tokens
        starts = read_index(os.path.join(folder, shard.index))
        assert starts[0] == 0 and len(starts) == shard.documents
    assert all(s.tokens <= manifest.shard_tokens for s in manifest.shards)
    # Shards are filled evenly: a bucket's shards are cut by token count (val holds about 10% in all).
    assert all(s.tokens >= 0.6 * manifest.shard_tokens for s in manifest.split("train"))


def test_validation_split_is_about_the_fraction_asked(inputs, trained_run):
    folder, _ = trained_run
    totals = Manifest.load(folder).totals
    share = totals["val"]["documents"] / (totals["val"]["documents"] + totals["train"]["documents"])
    assert 0.03 < share < 0.2


def test_documents_are_shuffled_across_shards(inputs, trained_run):
    folder, _ = trained_run
    train = _decoded(folder, "train")
    in_order = [t for t in inputs[1] if t in set(train)]
    assert train != in_order


def test_report_section_has_fertility_and_top_tokens(trained_run):
    _, ctx = trained_run
    section = ctx.sections["tokens"]
    assert 1.5 < section["bytes_per_token"] < 6  # a 1,024-token vocabulary
    assert section["training"]["sample"]["tokens_per_word"] > 1
    assert section["engine"] == ["tiktoken"] and section["tiktoken_mismatches"] == []
    assert section["top_tokens"][0]["count"] >= section["top_tokens"][1]["count"] > 0
    assert sum(c.counters["tokens"] for c in ctx.counts.values()) == sum(
        t["tokens"] for t in section["totals"].values())


@pytest.mark.slow
def test_one_or_two_workers_write_identical_bytes(inputs, trained_run, tmp_path):
    folder, _ = trained_run
    ctx = _run(inputs[0], tmp_path, workers=2)
    _same_files(folder, str(tmp_path / "tokens"))
    assert ctx.sections["tokens"]["totals"] == Manifest.load(folder).totals


def test_first_shard_validation_and_eos_with_a_given_tokenizer(inputs, trained_run, tmp_path):
    folder, _ = trained_run
    _run(inputs[0], tmp_path, tokenizer=os.path.join(folder, "tokenizer.json"), val="first_shard", position="eos")
    out = str(tmp_path / "tokens")
    manifest = Manifest.load(out)
    assert [s.split for s in manifest.shards][:2] == ["val", "train"] and len(manifest.split("val")) == 1
    assert manifest.delimiter.position == "eos"
    assert Counter(_decoded(out)) == Counter(inputs[1])
    assert validate(out, check_hashes=True) == []


def test_megatron_format_idx_layout(inputs, trained_run, tmp_path):
    folder, _ = trained_run
    _run(inputs[0], tmp_path, tokenizer=os.path.join(folder, "tokenizer.json"), format="megatron")
    out = str(tmp_path / "tokens")
    manifest = Manifest.load(out)
    assert validate(out) == []
    for shard in manifest.shards:
        idx = megatron.read_idx(os.path.join(out, shard.file.removesuffix(".bin") + ".idx"))
        starts = read_index(os.path.join(out, shard.index))
        assert idx.dtype == np.uint16 and len(idx.lengths) == shard.documents
        assert idx.lengths.sum() * 2 == os.path.getsize(os.path.join(out, shard.file))
        assert (idx.pointers == starts * 2).all()
        assert idx.document_indices.tolist() == list(range(shard.documents + 1))
    assert Counter(_decoded(out)) == Counter(inputs[1])


def _same_files(folder: str, other: str) -> None:
    names = sorted(os.listdir(folder))
    assert names == sorted(os.listdir(other))
    for name in names:
        assert Path(folder, name).read_bytes() == Path(other, name).read_bytes(), name


def test_a_run_killed_in_the_assemble_round_resumes_to_identical_bytes(inputs, trained_run, tmp_path, monkeypatch):
    folder, ctx = trained_run
    ran: list[str] = []
    killed: list[int] = []
    encode, assemble = stage.encode_shard, stage.assemble_bucket

    def encode_counted(task):
        ran.append("encode")
        return encode(task)

    def assemble_killed_once(task):  # the second bucket fails the first time, after the first is written
        ran.append(f"bucket {task.index}")
        if task.index == 1 and not killed:
            killed.append(task.index)
            raise RuntimeError("killed")
        return assemble(task)

    monkeypatch.setattr(stage, "encode_shard", encode_counted)
    monkeypatch.setattr(stage, "assemble_bucket", assemble_killed_once)
    with pytest.raises(RuntimeError, match="killed"):
        _run(inputs[0], tmp_path)
    assert not (tmp_path / "tokens" / "manifest.json").exists()
    assert ran == ["encode"] * 3 + ["bucket 0", "bucket 1"]
    ran.clear()
    resumed = _run(inputs[0], tmp_path)
    _same_files(folder, str(tmp_path / "tokens"))
    assert "encode" not in ran and "bucket 0" not in ran and ran[0] == "bucket 1"  # only what was left
    assert resumed.sections["tokens"]["top_tokens"] == ctx.sections["tokens"]["top_tokens"]
    assert not list((tmp_path / "_work" / "tokenize").iterdir())  # the intermediate files are gone


def test_a_rerun_with_another_seed_uses_none_of_the_killed_runs_files(inputs, trained_run, tmp_path, monkeypatch):
    folder, _ = trained_run
    original = stage.assemble_bucket

    def killed(task):
        raise RuntimeError("killed")

    monkeypatch.setattr(stage, "assemble_bucket", killed)
    with pytest.raises(RuntimeError, match="killed"):
        _run(inputs[0], tmp_path, seed=8)
    monkeypatch.setattr(stage, "assemble_bucket", original)
    _run(inputs[0], tmp_path)
    _same_files(folder, str(tmp_path / "tokens"))
