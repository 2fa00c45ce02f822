"""The FineWeb recipe at cluster shape: a `ray start` head and two worker nodes that share nothing but an S3
server, inputs read from `s3://`, outputs written to `s3://` by the workers, a job sent with `ray job submit`,
and a worker node killed mid-run. The output must be what the in-process engine writes from local files."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from engine_support import strip_timing
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
# Where a document was read from differs between the two runs by design (a local path, an s3:// URL); the
# rest of every file must be the same.
LOCATION_COLUMNS = ("source_file",)
LOCATION_KEYS = {"input_files", "output", "notes"}

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def output_contents(folder: Path) -> dict[str, Any]:
    """Every output of a run, as a user reads it: documents and removed documents as rows (without the
    location columns), token files as bytes, stats.json without timings and locations."""
    contents: dict[str, Any] = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if relative.startswith(("documents/", "removed/")) and path.suffix == ".parquet":
            table = pq.read_table(path)
            contents[relative] = table.drop_columns([c for c in LOCATION_COLUMNS if c in table.column_names]).to_pylist()
        elif relative.startswith("tokens/") and path.is_file():
            contents[relative] = path.read_bytes() if path.name != "manifest.json" else \
                strip_timing(json.loads(path.read_text()))
    stats = strip_timing(json.loads((folder / "stats.json").read_text()))
    stats["run"] = {k: v for k, v in stats["run"].items() if k not in LOCATION_KEYS}
    contents["stats.json"] = stats
    return contents


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
