"""``inspect-shards`` on small sets built here: empty shards, ids outside the vocabulary, its help."""

from __future__ import annotations

import argparse

from fineweb_pipe.errors import EXIT_INTEGRITY
from fineweb_pipe.tokens.cli import add_commands
from fineweb_pipe.tokens.shards import validate


def _inspect(folder, capsys, *extra: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="fineweb-pipe")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["inspect-shards", str(folder), *extra])
    code = args.func(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_sound_set_passes(token_set, texts, capsys):
    folder = token_set([("val", texts(3, seed=1)), ("train", texts(5, seed=2))])
    code, out, err = _inspect(folder, capsys, "--hashes")
    assert (code, err) == (0, "")
    assert "checks: ok" in out and "test_val_000000.bin document 0" in out and "river" in out


def test_a_zero_token_shard_first_is_skipped_for_the_sample(token_set, texts, capsys):
    folder = token_set([("val", []), ("train", texts(4))])
    assert validate(str(folder)) == []
    code, out, err = _inspect(folder, capsys)
    assert (code, err) == (0, "")
    assert "checks: ok" in out and "test_train_000000.bin document 0" in out


def test_token_ids_outside_the_vocabulary_fail_the_checks(token_set, texts, small_tokenizer, capsys):
    vocab = small_tokenizer.vocab_size
    folder = token_set([("val", texts(2)), ("train", texts(3)), ("train", texts(3, seed=5))], extra_ids={2: vocab + 7})
    problems = validate(str(folder))
    assert len(problems) == 1
    assert "test_train_000001.bin" in problems[0] and f"vocabulary of {vocab}" in problems[0]
    assert f"id {vocab + 7}" in problems[0] and "at token 1" in problems[0]
    code, out, err = _inspect(folder, capsys)
    assert code == EXIT_INTEGRITY and "checks: ok" not in out and "checks: 1 problems" in out
    assert f"id {vocab + 7}" in err


def test_tokenize_and_inspect_shards_describe_themselves_in_help():
    parser = argparse.ArgumentParser(prog="fineweb-pipe")
    subparsers = parser.add_subparsers(dest="command")
    add_commands(subparsers)
    for name in ("tokenize", "inspect-shards"):
        command = subparsers.choices[name]
        assert command.description and "token shard" in command.description, name
    tokenize_help = subparsers.choices["tokenize"].format_help()
    assert "(default: 32768)" in tokenize_help and "--json" in tokenize_help
    assert "(default: 2)" in subparsers.choices["inspect-shards"].format_help()
