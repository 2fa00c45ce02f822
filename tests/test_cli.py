"""The command line as a new user meets it: ordinary mistakes are one line with a distinct exit code and are
caught before Ray starts; Ctrl-C is one line; the progress and the final line say what this run did."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from fineweb_pipe.cli import main
from fineweb_pipe.errors import EXIT_INTERRUPTED, EXIT_USAGE
from fineweb_pipe.sample import write_sample_warc

REPO = Path(__file__).resolve().parent.parent
RECIPE = str(REPO / "pipelines" / "fineweb.py")


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse's own usage errors
        code = int(exit_.code or 0)
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("mistake", ["missing_input", "empty_folder", "output_is_a_file", "workers_negative",
                                     "file_without_reader"])
def test_an_ordinary_mistake_is_one_line_before_ray_starts(mistake: str, crawl: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import ray

    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    inputs, output, extra = str(crawl), str(tmp_path / "out"), []
    if mistake == "missing_input":
        inputs = str(tmp_path / "crawl-typo")
    elif mistake == "empty_folder":
        inputs = str(tmp_path / "empty")
    elif mistake == "output_is_a_file":
        output = str(tmp_path / "a-file")
    elif mistake == "file_without_reader":
        inputs = str(tmp_path / "a-file")
    else:
        extra = ["--workers", "-1"]
    started = time.monotonic()
    code, err = run_cli(["run", RECIPE, "--input", inputs, "--output", output, *extra], capsys)
    assert code == EXIT_USAGE
    problem = [line for line in err if not line.startswith(("usage:", " "))]  # argparse adds its usage lines
    assert len(problem) == 1 and "Traceback" not in "\n".join(err), err
    assert {"missing_input": "crawl-typo", "empty_folder": "holds no file", "output_is_a_file": "is a file",
            "workers_negative": "1 or more", "file_without_reader": "no reader for"}[mistake] in problem[0]
    assert not ray.is_initialized() and time.monotonic() - started < 20  # no Ray was started for it


def test_sample_needs_an_output_and_shows_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_cli(["sample"], capsys)
    assert code == EXIT_USAGE and "--output" in err[-1]
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    assert "(default: 600)" in capsys.readouterr().out


def test_every_sample_seed_makes_a_crawl() -> None:
    from fineweb_pipe.sample.crawl import build_pages

    for seed in range(12):  # seeds 3 and 8 drew a paragraph without words to edit
        assert len(build_pages(1000, seed)) == 1000


def test_progress_ends_with_the_phase_s_final_counts_and_a_rerun_says_it_redid_nothing(
        crawl: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = str(REPO / "tests" / "engine" / "run_test_pipeline.py")
    args = [sys.executable, pipeline, "--engine", "local", "--input", str(crawl), "--output", str(tmp_path / "out"),
            "--no-report"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)
    lines = [line for line in first.stderr.splitlines() if line.startswith("[00-stream]")]
    assert lines[-1].startswith("[00-stream] shards 3/3 | read 180"), first.stderr
    assert "3 inputs, 180 documents read" in first.stderr.splitlines()[-1]
    again = subprocess.run(args, capture_output=True, text=True, timeout=300, check=True)
    assert "nothing was redone" in again.stderr.splitlines()[-1]
    phases = json.loads((tmp_path / "out" / "stats.json").read_text())["run"]["phases"]
    assert [(p["shards"], p["shards_resumed"]) for p in phases] == [(3, 3)]


def test_ctrl_c_while_the_engine_shuts_down_after_a_finished_run_says_it_finished(
        crawl: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C that lands while Ray stops, after the run wrote stats.json: not "rerun to resume"."""
    from fineweb_pipe.engine import local

    def stopped_by_ctrl_c(self: local.LocalExecutor) -> None:
        raise KeyboardInterrupt
    monkeypatch.setattr(local.LocalExecutor, "close", stopped_by_ctrl_c)
    code, err = run_cli(["run", RECIPE, "--input", str(crawl), "--output", str(tmp_path / "out"),
                         "--engine", "local", "--quiet"], capsys)
    assert code == EXIT_INTERRUPTED and (tmp_path / "out" / "stats.json").exists()
    assert err[-1] == (f"interrupted after the run had finished ({tmp_path / 'out'}/stats.json is written); rerun the "
                       "same command to write the report")


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.usefixtures("ctrl_c_raises")
def test_ctrl_c_on_an_embedded_ray_run_is_one_line_and_the_rerun_resumes(tmp_path: Path) -> None:
    crawl = tmp_path / "crawl"
    write_sample_warc(str(crawl / "big.warc.gz"), pages=1500, seed=5)
    command = [sys.executable, "-m", "fineweb_pipe.cli", "run", RECIPE, "--input", str(crawl),
               "--output", str(tmp_path / "out"), "--no-report", "--quiet"]
    ray_temp = tempfile.mkdtemp(prefix="fwp-", dir="/tmp")  # short: Ray's socket paths have a length limit
    env = {**os.environ, "RAY_ADDRESS": "", "RAY_TMPDIR": ray_temp}
    # Its own session and process group, as a terminal's foreground job: Ctrl-C reaches every process in it.
    run = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "out" / "run.json").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(5)  # Ray up and the workers into the shard (its files appear only when it is done)
    os.killpg(run.pid, signal.SIGINT)
    _, err = run.communicate(timeout=120)
    assert run.returncode == EXIT_INTERRUPTED, err
    said = [line for line in err.splitlines() if line.strip()]
    assert said == ["interrupted: rerun the same command to resume"], err
    assert "Token authentication" not in err
    rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["reader"]["documents"] == 1500
    shutil.rmtree(ray_temp, ignore_errors=True)


def test_a_relative_output_inside_a_ray_job_s_working_dir_copy_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    job_dir = tmp_path / "session_x" / "runtime_resources" / "working_dir_files" / "_ray_pkg_0"
    job_dir.mkdir(parents=True)
    write_sample_warc(str(job_dir / "in" / "a.warc.gz"), pages=5)
    monkeypatch.chdir(job_dir)
    code, err = run_cli(["run", RECIPE, "--input", "in", "--output", "out"], capsys)
    assert code == EXIT_USAGE and "Ray's copy of the job's --working-dir" in err[-1]
    assert not (job_dir / "out").exists()
