"""The FineWeb recipe at cluster shape: a `ray start` head and two worker nodes that share nothing but an S3
server, inputs read from `s3://`, outputs written to `s3://` by the workers, a job sent with `ray job submit`,
and a worker node killed mid-run. The output must be what the in-process engine writes from local files."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from engine_support import output_contents
from ray_cluster import BIN, kill_worker_node, ray_cluster, ray_worker_node
from s3_server import s3_server

from fineweb_pipe import storage
from fineweb_pipe.cli import load_pipeline
from fineweb_pipe.engine.local import LocalExecutor
from fineweb_pipe.engine.runner import Runner
from fineweb_pipe.sample import write_sample_warc

REPO = Path(__file__).resolve().parents[2]
RECIPE = str(REPO / "pipelines" / "fineweb.py")
SHARDS = 4
pytestmark = [pytest.mark.slow, pytest.mark.ray]


def test_recipe_from_s3_to_s3_on_three_nodes_matches_local_when_a_node_dies(tmp_path: Path) -> None:
    crawl = tmp_path / "crawl"
    for i in range(SHARDS):
        write_sample_warc(str(crawl / f"part-{i}.warc.gz"), pages=30, seed=10 + i)
    Runner(load_pipeline(RECIPE), [str(crawl)], str(tmp_path / "local"), LocalExecutor(), show_progress=False).run()

    with s3_server("data") as s3:
        env = {**os.environ, **s3, "RAY_ADDRESS": "", "RAY_AUTH_MODE": "token",
               "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
        os.environ.update(s3)  # this process reads and writes the bucket too
        try:
            fs, _ = storage.filesystem("s3://data")
            fs.put(str(crawl) + "/", "data/crawl/", recursive=True)
            with ray_cluster(env, num_cpus=1) as cluster, ray_worker_node(env, cluster) as spare, \
                    ray_worker_node(env, cluster) as doomed:
                submit = [str(BIN / "ray"), "job", "submit", f"--address=http://127.0.0.1:{cluster.dashboard_port}",
                          "--submission-id=fineweb-s3", "--no-wait", "--", "python", RECIPE,
                          "--input", "s3://data/crawl", "--output", "s3://data/out", "--workers", "3", "--no-report"]
                deadline = time.monotonic() + 180  # the job agent comes up after `ray start` returns
                while True:
                    result = subprocess.run(submit, capture_output=True, text=True, env=env, timeout=120)
                    if result.returncode == 0 or time.monotonic() > deadline:
                        break
                    time.sleep(3)
                assert result.returncode == 0, result.stderr[-3000:]
                # A worker node dies once the first shard is committed, with others in flight.
                records = "s3://data/out/_work/00-stream/shards"
                while not storage.list_names(records) and time.monotonic() < deadline + 300:
                    time.sleep(0.5)
                assert kill_worker_node(doomed) > 0
                status = [str(BIN / "ray"), "job", "logs", f"--address=http://127.0.0.1:{cluster.dashboard_port}",
                          "--follow", "fineweb-s3"]
                logs = subprocess.run(status, capture_output=True, text=True, env=env, timeout=900)
                state = subprocess.run([str(BIN / "ray"), "job", "status", "--address",
                                        f"http://127.0.0.1:{cluster.dashboard_port}", "fineweb-s3"],
                                       capture_output=True, text=True, env=env, timeout=60)
                assert "succeeded" in state.stdout.lower(), logs.stdout[-4000:] + state.stdout
                assert spare.node_manager_port  # the other worker node lived on
            fs.get("data/out/", str(tmp_path / "s3-out") + "/", recursive=True)
        finally:
            for key in s3:
                os.environ.pop(key, None)

    local, remote = output_contents(tmp_path / "local"), output_contents(tmp_path / "s3-out")
    assert sorted(local) == sorted(remote)
    for name in local:
        assert local[name] == remote[name], name
    assert local["stats.json"]["reader"]["documents"] == SHARDS * 30
    assert not list((tmp_path / "s3-out").rglob("*.tmp-*"))
