"""``tokenize`` and ``inspect-shards`` as the lead's CLI will call them."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sample_texts import sample_texts

from fineweb_pipe.errors import EXIT_INTEGRITY, EXIT_USAGE
from fineweb_pipe.tokens.cli import add_commands, parquet_inputs


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fineweb-pipe")
    add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture(params=["sample", pytest.param("real", marks=pytest.mark.shared_data)])
def output(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A pipeline output folder of 181 documents (the sample prose, or real web texts where ../shared/data
    is present) in two shards, plus a removed/ folder that must not be tokenized."""
    if request.param == "sample":
        docs = [{"id": f"sample-{n}", "text": text} for n, text in enumerate(sample_texts(181))]
    else:
        shared_data: Path = request.getfixturevalue("shared_data")
        lines = (shared_data / "text" / "clean_web_texts.dev.jsonl").read_text(encoding="utf-8").split("\n")
        docs = [json.loads(line) for line in lines if line.strip()]
    assert len(docs) == 181
    for i, part in enumerate((docs[:90], docs[90:])):
        path = tmp_path / "out" / "data" / f"shard-{i}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"id": [d["id"] for d in part], "text": [d["text"] for d in part]}), path)
    (tmp_path / "out" / "removed" / "language").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["x"], "text": ["nicht englisch"]}), tmp_path / "out" / "removed" / "language" / "a.parquet")
    return tmp_path / "out"


def test_inputs_skip_removed_documents(output):
    assert [ref.shard for ref in parquet_inputs([str(output)])] == ["data/shard-0", "data/shard-1"]


def test_tokenize_then_inspect(output, tmp_path, capsys):
    tokens = tmp_path / "tokens"
    args = _parse("tokenize", str(output), "--out", str(tokens), "--vocab-size", "1000", "--shard-tokens", "50000",
                  "--json")
    assert args.func(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["totals"]["train"]["documents"] + summary["totals"]["val"]["documents"] == 181
    assert not (tokens / "_work").exists()
    args = _parse("inspect-shards", str(tokens), "--hashes")
    assert args.func(args) == 0
    shown = capsys.readouterr().out
    assert "checks: ok" in shown and "document 0" in shown and "uint16" in shown


def test_inspect_reports_a_damaged_shard(output, tmp_path, capsys):
    tokens = tmp_path / "tokens"
    args = _parse("tokenize", str(output), "--out", str(tokens), "--vocab-size", "1000", "--format", "megatron")
    assert args.func(args) == 0
    damaged = sorted(tokens.glob("*_train_*.bin"))[0]
    damaged.chmod(0o644)
    with open(damaged, "r+b") as f:
        f.truncate(10)
    args = _parse("inspect-shards", str(tokens))
    assert args.func(args) == EXIT_INTEGRITY
    assert damaged.name in capsys.readouterr().err


def test_inspect_refuses_a_folder_without_a_sound_manifest_in_one_line(tmp_path, capsys):
    args = _parse("inspect-shards", str(tmp_path))
    assert args.func(args) == EXIT_USAGE
    assert "manifest.json not found" in capsys.readouterr().err
    (tmp_path / "manifest.json").write_bytes(b"\x89PNG not json")
    assert args.func(args) == EXIT_USAGE
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "not a token shard manifest" in error


def test_tokenize_prints_a_short_summary_and_the_json_on_request(output, tmp_path, capsys):
    tokens = tmp_path / "tokens"
    args = _parse("tokenize", str(output), "--out", str(tokens), "--vocab-size", "1000")
    assert args.func(args) == 0
    shown = capsys.readouterr().out
    lines = shown.splitlines()
    assert len(lines) <= 5 and not shown.lstrip().startswith("{")
    assert f"{tokens}: " in lines[0] and "vocabulary 1,000" in lines[0]
    assert any(line.strip().startswith("train: ") and "documents" in line for line in lines)
    assert "top_tokens" not in shown and "--json" in shown

