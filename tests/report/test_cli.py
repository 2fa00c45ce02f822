import argparse
from pathlib import Path

import pytest

from fineweb_pipe.report.cli import add_commands


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fineweb-pipe")
    add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_report_command_writes_the_page(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["report", str(run_dir)])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(run_dir / "report.html")
    assert (run_dir / "report.html").is_file()


def test_compare_option(run_dir: Path) -> None:
    args = _parse(["report", str(run_dir), "--compare", str(run_dir)])
    assert args.compare == str(run_dir)
    assert args.func(args) == 0


def test_missing_stats_is_an_error_that_names_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["report", str(tmp_path)])
    assert args.func(args) == 2
    assert f"{tmp_path / 'stats.json'}: no such file" in capsys.readouterr().err


def test_out_writes_the_page_elsewhere(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "elsewhere" / "fineweb.html"
    args = _parse(["report", str(run_dir), "--out", str(out)])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(out) and out.is_file()
    assert not (run_dir / "report.html").exists()
    args = _parse(["report", str(run_dir), "--out", str(tmp_path / "elsewhere")])  # a folder
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "elsewhere" / "report.html")


def test_out_does_not_replace_a_file_that_is_not_html(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stats = (run_dir / "stats.json").read_bytes()
    args = _parse(["report", str(run_dir), "--out", str(run_dir / "stats.json")])
    assert args.func(args) == 2
    assert "stats.json exists and is not an HTML file" in capsys.readouterr().err
    assert (run_dir / "stats.json").read_bytes() == stats
