"""The same pipeline on the in-process executor, on an embedded Ray, and as a job on a Ray cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from engine_support import output_digest
from ray_cluster import ray_cluster


pytestmark = [pytest.mark.ray, pytest.mark.slow]
ENTRY = Path(__file__).with_name("run_test_pipeline.py")
TEXT_ENTRY = Path(__file__).with_name("run_text_pipeline.py")
BIN = Path(sys.executable).parent


def run_entry(args: list[str], env: dict[str, str] | None = None, entry: Path = ENTRY) -> None:
    result = subprocess.run([sys.executable, str(entry), *args], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def local_digest(crawl: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("local") / "out"
    run_entry(["--engine", "local", "--input", str(crawl), "--output", str(out), "--no-report"])
    return output_digest(str(out))


def test_embedded_ray_matches_local(crawl: Path, tmp_path: Path, local_digest: str) -> None:
    env = {"RAY_ADDRESS": "", "RAY_TMPDIR": tempfile.mkdtemp(prefix="fwp-", dir="/tmp")}
    run_entry(["--workers", "2", "--input", str(crawl), "--output", str(tmp_path / "out"), "--no-report"], env)
    assert output_digest(str(tmp_path / "out")) == local_digest
    shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)


def test_extraction_dedup_and_tokenization_on_embedded_ray_match_local(crawl: Path, tmp_path: Path) -> None:
    """Global stages on Ray: dedup's rounds and tokenization's encode and assemble tasks run as Ray tasks,
    extraction in two actors; the documents, removed duplicates, token shards and stats are the same bytes."""
    run_entry(["--engine", "local", "--input", str(crawl), "--output", str(tmp_path / "local"), "--no-report"],
              entry=TEXT_ENTRY)
    env = {"RAY_ADDRESS": "", "RAY_TMPDIR": tempfile.mkdtemp(prefix="fwp-", dir="/tmp")}
    run_entry(["--workers", "2", "--input", str(crawl), "--output", str(tmp_path / "ray"), "--no-report"], env,
              entry=TEXT_ENTRY)
    shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    stats = json.loads((tmp_path / "local" / "stats.json").read_text())
    counts = {s["name"]: s for s in stats["stages"]}
    assert counts["minhash_dedup"]["docs_in"] > counts["minhash_dedup"]["docs_out"] > 0  # it removed some
    assert len(list((tmp_path / "local" / "tokens").glob("*_train_*.bin"))) > 1
    assert output_digest(str(tmp_path / "ray")) == output_digest(str(tmp_path / "local"))


def test_ray_job_submit_matches_local(crawl: Path, tmp_path: Path, local_digest: str) -> None:
    # Token auth on (Ray 2.5x+): the CLI sends the token from ~/.ray/auth_token only in this mode.
    env = {**os.environ, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "token"}
    with ray_cluster(env) as cluster:
        submit = [str(BIN / "ray"), "job", "submit", "--address", f"http://127.0.0.1:{cluster.dashboard_port}", "--",
                  sys.executable, str(ENTRY), "--input", str(crawl), "--output", str(tmp_path / "out"), "--no-report"]
        deadline = time.monotonic() + 180  # the job agent comes up after `ray start` returns: later on a busy machine
        while True:
            result = subprocess.run(submit, capture_output=True, text=True, env=env, timeout=300)
            if "No available agent" not in result.stderr or time.monotonic() > deadline:
                break
            time.sleep(3)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert output_digest(str(tmp_path / "out")) == local_digest


@pytest.fixture()
def embedded_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """A RayExecutor made in this test starts its own Ray (its own temporary folder), and the test
    stages travel to its actors by value."""
    from ray import cloudpickle

    import engine_support

    cloudpickle.register_pickle_by_value(engine_support)
    monkeypatch.setenv("RAY_TMPDIR", tempfile.mkdtemp(prefix="fwp-", dir="/tmp"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


def test_a_stage_that_cannot_set_up_fails_the_run_once(crawl: Path, tmp_path: Path, embedded_ray: None) -> None:
    import ray

    import engine_support
    from fineweb_pipe.engine.ray_executor import RayExecutor
    from fineweb_pipe.engine.runner import Runner

    started = time.monotonic()
    with RayExecutor(workers=2) as executor:
        with pytest.raises(ray.exceptions.RayActorError, match="no model at /nonexistent/lid.bin") as failed:
            Runner(engine_support.make_pipeline(engine_support.MissingModel()), [str(crawl)], str(tmp_path / "out"),
                   executor, show_progress=False).run()
        assert not executor.is_transient(failed.value)  # not taken for a lost worker and run again
    assert time.monotonic() - started < 60


def test_a_renamed_stage_reports_its_counts_under_its_name(crawl: Path, tmp_path: Path, embedded_ray: None) -> None:

    import engine_support
    from fineweb_pipe.engine.local import LocalExecutor
    from fineweb_pipe.engine.ray_executor import RayExecutor
    from fineweb_pipe.engine.runner import Runner

    stage = engine_support.CountHttps()
    pipeline = engine_support.make_pipeline(stage.named("https_counter"))
    counted = {}
    for name, executor in (("local", LocalExecutor()), ("ray", RayExecutor(workers=2))):
        with executor:
            Runner(pipeline, [str(crawl)], str(tmp_path / name), executor, show_progress=False).run()
        stats = json.loads((tmp_path / name / "stats.json").read_text())
        counted[name] = {s["name"]: s["counters"] for s in stats["stages"]}
    assert counted["ray"] == counted["local"]
    assert counted["ray"]["https_counter"]["https_pages"] > 0
    assert "count_https" not in counted["ray"] and stage.name == "count_https"  # named() made a copy


def test_a_gpu_stage_gets_a_phase_of_its_own_and_an_unmeetable_request_is_refused(
        crawl: Path, tmp_path: Path, embedded_ray: None) -> None:
    import engine_support
    from fineweb_pipe.engine.ray_executor import RayExecutor
    from fineweb_pipe.engine.runner import Runner
    from fineweb_pipe.errors import ConfigurationError

    from fineweb_pipe.pipeline import Pipeline

    pipeline = Pipeline([engine_support.HtmlLength(), engine_support.KeepHttpsOnly(), engine_support.ScoresOnGpu(),
                         engine_support.DropShortHtml(), engine_support.CountHttps()], name="gpu-test")
    kinds = [[s.resources.num_gpus > 0 for s in phase.stages] for phase in pipeline.phases]
    assert kinds == [[False, False], [True], [False, False]]  # CPU stages never share the GPU actors
    with RayExecutor(workers=2) as executor:  # this machine has no GPU: never shrunk to CPU, refused
        with pytest.raises(ConfigurationError, match=r"scores_on_gpu asks for 1 CPUs, 1 GPUs and 100 MB per worker, "
                                                     r"and no node of the cluster has that"):
            Runner(pipeline, [str(crawl)], str(tmp_path / "out"), executor, show_progress=False).run()
    # The CPU phase before it finished and stays finished for a rerun on a cluster that has a GPU.
    assert list((tmp_path / "out" / "_work" / "00-stream" / "shards").glob("*.json"))


def test_a_failed_task_cancels_the_rest_of_its_round(embedded_ray: None) -> None:
    import engine_support
    from fineweb_pipe.engine.ray_executor import RayExecutor
    from fineweb_pipe.stage import Resources

    with RayExecutor(workers=2) as executor:
        with pytest.raises(Exception, match="task 0 failed on its input"):
            executor.map(engine_support.fails_first, list(range(6)), Resources())
        # The round's other tasks no longer hold the two CPUs (they would for minutes): the next round runs now.
        started, done = time.monotonic(), []
        assert executor.map(lambda x: x * 2, [1, 2, 3], Resources(), lambda n, total: done.append((n, total))) == [2, 4, 6]
        assert time.monotonic() - started < 30
        assert done == [(1, 3), (2, 3), (3, 3)]  # progress per finished task
