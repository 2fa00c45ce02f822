"""A worker node dies in the middle of a run on a multi-node Ray cluster: the run completes and its
output is identical to an undisturbed run.

The cluster is simulated on this machine with Ray's cluster utilities: a head that runs no work and
one-CPU worker nodes, each a raylet of its own. When the first shard is committed, one worker node
is killed (its raylet and its workers with it); the run finishes on the node that is left. (No
replacement joins: Ray's cluster utilities can start a node from the main thread only, which runs the
pipeline.)
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
import ray
from ray import cloudpickle
from ray.cluster_utils import Cluster

import engine_support
from engine_support import make_pipeline, output_digest
from fineweb_pipe.engine.local import LocalExecutor
from fineweb_pipe.engine.ray_executor import RayExecutor
from fineweb_pipe.engine.runner import Runner
from fineweb_pipe.sample import write_sample_warc
from fineweb_pipe.stage import Transform

pytestmark = [pytest.mark.slow, pytest.mark.ray]


class SlowStage(Transform):
    """Makes each chunk take a while, so that the node dies while work is in flight."""

    def transform(self, batch: pa.Table) -> pa.Table:
        time.sleep(1.5)
        return batch


def kill_a_node_after_first_commit(cluster: Cluster, node, stats_dir: Path, committed_at_kill: list[int]) -> None:
    deadline = time.time() + 120
    while time.time() < deadline and not (stats_dir.exists() and any(stats_dir.iterdir())):
        time.sleep(0.05)
    cluster.remove_node(node, allow_graceful=False)
    committed_at_kill.append(len(os.listdir(stats_dir)))


def test_run_survives_a_lost_worker_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crawl = tmp_path / "crawl"
    for seed in range(6):
        write_sample_warc(str(crawl / f"part-{seed}.warc.gz"), pages=40, seed=seed)
    pipeline = lambda: make_pipeline(SlowStage())  # noqa: E731
    with LocalExecutor() as executor:
        Runner(pipeline(), [str(crawl)], str(tmp_path / "undisturbed"), executor, show_progress=False).run()

    cloudpickle.register_pickle_by_value(engine_support)  # test stages travel with the tasks
    cloudpickle.register_pickle_by_value(__import__(__name__))
    # A temp folder of its own (short: Ray's socket paths have a length limit), for every node.
    monkeypatch.setenv("RAY_TMPDIR", tempfile.mkdtemp(prefix="fwp-", dir="/tmp"))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        doomed = cluster.add_node(num_cpus=1)
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address)
        committed_at_kill: list[int] = []
        stats_dir = tmp_path / "out" / "_work" / "00-stream" / "shards"
        killer = threading.Thread(target=kill_a_node_after_first_commit, daemon=True,
                                  args=(cluster, doomed, stats_dir, committed_at_kill))
        killer.start()
        with RayExecutor(workers=2) as executor:
            Runner(pipeline(), [str(crawl)], str(tmp_path / "out"), executor, show_progress=False).run()
        killer.join(timeout=60)
        assert committed_at_kill and committed_at_kill[0] < 6  # the node died with shards still in flight
        assert len(os.listdir(stats_dir)) == 6
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert output_digest(str(tmp_path / "out")) == output_digest(str(tmp_path / "undisturbed"))
