"""Training a tokenizer: the file is written atomically, and a vocabulary smaller than asked is reported."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq

from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.stage import ShardRef
from fineweb_pipe.tokens.cli import add_commands
from fineweb_pipe.tokens.shards import Manifest
from fineweb_pipe.tokens.stage import Tokenize

# The tokenizer is written into a file system that refuses to grow any file past 2,000 bytes: the way a
# full disk fails a write, within one process (RLIMIT_FSIZE, with SIGXFSZ ignored so write() gets EFBIG).
FULL_DISK = textwrap.dedent("""
    import resource, signal, sys
    from fineweb_pipe.tokens.tokenizer import train_bpe
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2000, resource.RLIM_INFINITY))
    texts = [f"hello world, this is line {i} of some text with words" for i in range(200)]
    try:
        train_bpe(texts, sys.argv[1], vocab_size=400)
    except Exception as exc:
        print(type(exc).__name__, exc)
        sys.exit(3)
""")


def test_a_failed_write_leaves_no_truncated_tokenizer(tmp_path):
    target = tmp_path / "tokens" / "tokenizer.json"
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(target)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stdout + done.stderr  # the write failed ...
    assert not target.exists()  # ... and left nothing under the final name
    assert list(target.parent.iterdir()) == []  # nor a temporary file

    target.write_text('{"an": "earlier tokenizer"}')
    done = subprocess.run([sys.executable, "-c", FULL_DISK, str(target)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 3
    assert json.loads(target.read_text()) == {"an": "earlier tokenizer"}  # an earlier file stays whole


def _documents(folder, texts) -> ShardRef:
    path = folder / "docs.parquet"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts}), path)
    return ShardRef("docs", str(path))


def test_a_vocabulary_smaller_than_asked_is_reported(tmp_path, texts, capsys):
    ctx = PhaseContext.local("tokenize", [_documents(tmp_path / "in", texts(40))], str(tmp_path / "run"))
    Tokenize(vocab_size=8192, shard_tokens=10_000, val=0.1).run(ctx)
    section = ctx.sections["tokens"]
    got = Manifest.load(str(tmp_path / "run" / "tokens")).vocab_size
    assert got < 8192
    assert section["vocab_size"] == section["training"]["vocab_size"] == got
    assert section["vocab_size_requested"] == 8192
    assert len(section["warnings"]) == 1
    assert f"vocab_size=8192) trained a vocabulary of only {got:,}" in section["warnings"][0]
    assert "40 documents" in section["warnings"][0]
    err = capsys.readouterr().err
    assert err.count("warning: ") == 1 and f"only {got:,} tokens" in err


def test_a_vocabulary_as_asked_has_no_warning(tmp_path, texts, capsys):
    ctx = PhaseContext.local("tokenize", [_documents(tmp_path / "in", texts(40))], str(tmp_path / "run"))
    Tokenize(vocab_size=300, shard_tokens=10_000, val=0.1).run(ctx)
    section = ctx.sections["tokens"]
    assert section["vocab_size"] == section["vocab_size_requested"] == 300
    assert "warnings" not in section and "warning" not in capsys.readouterr().err


def test_tokenize_command_says_how_many_tokens_it_got(tmp_path, texts, capsys):
    _documents(tmp_path / "in", texts(40))
    parser = argparse.ArgumentParser(prog="fineweb-pipe")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["tokenize", str(tmp_path / "in"), "--out", str(tmp_path / "tokens"),
                              "--vocab-size", "8192"])
    assert args.func(args) == 0
    got = Manifest.load(str(tmp_path / "tokens")).vocab_size
    captured = capsys.readouterr()
    assert f"vocabulary {got:,} (8,192 asked" in captured.out
    assert "warning: " in captured.err
