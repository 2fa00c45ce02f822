"""A `ray start` cluster for one test: its own temporary folder and ports, stopped by its own process ids.

`ray stop` ends every Ray process on the machine (other users' and other tests' included), and a cluster
on Ray's default ports collides with any other one (its dashboard agent then never comes up, and every
job submission answers "No available agent")."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Cluster:
    gcs_port: int
    dashboard_port: int


@contextmanager
def ray_cluster(env: dict[str, str], num_cpus: int = 2) -> Iterator[Cluster]:
    """A head node started with `ray start` in ``env`` (token auth on), stopped at the end."""
    temp = tempfile.mkdtemp(prefix="fwp-", dir="/tmp")  # short: Ray's socket paths have a length limit
    cluster = Cluster(free_port(), free_port())
    ports = {"port": cluster.gcs_port, "dashboard-port": cluster.dashboard_port,
             "ray-client-server-port": free_port(), "dashboard-agent-listen-port": free_port(),
             "dashboard-agent-grpc-port": free_port(), "runtime-env-agent-port": free_port(),
             "metrics-export-port": free_port(), "node-manager-port": free_port(),
             "object-manager-port": free_port()}
    start = [str(BIN / "ray"), "start", "--head", f"--num-cpus={num_cpus}", f"--temp-dir={temp}",
             "--include-dashboard=true", "--dashboard-host=127.0.0.1", "--disable-usage-stats",
             *(f"--{name}={port}" for name, port in ports.items())]
    try:
        subprocess.run(start, check=True, capture_output=True, env={**env, "RAY_AUTH_MODE": "token"}, timeout=180)
        yield cluster
    finally:
        stop_cluster(temp, cluster.gcs_port)
        shutil.rmtree(temp, ignore_errors=True)


def stop_cluster(temp_dir: str, gcs_port: int) -> None:
    """Stop the processes of the cluster started with ``temp_dir``: those naming its folder or its GCS
    port on their command line, and everything they started."""
    me = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    found = _processes_and_children(lambda pid, line: pid not in me and (
        temp_dir in line or f":{gcs_port} " in f"{line} " or f":{gcs_port}," in line))
    for process in found.values():
        try:
            process.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(list(found.values()), timeout=20)
    for process in alive:
        try:
            process.kill()
        except psutil.Error:
            pass


@dataclass(frozen=True)
class WorkerNode:
    node_manager_port: int


@contextmanager
def ray_worker_node(env: dict[str, str], cluster: Cluster, num_cpus: int = 1) -> Iterator[WorkerNode]:
    """A worker node joined to ``cluster`` with `ray start --address` (its own ports), stopped at the end."""
    node = WorkerNode(free_port())
    ports = {"node-manager-port": node.node_manager_port, "object-manager-port": free_port(),
             "dashboard-agent-listen-port": free_port(), "dashboard-agent-grpc-port": free_port(),
             "runtime-env-agent-port": free_port(), "metrics-export-port": free_port()}
    start = [str(BIN / "ray"), "start", f"--address=127.0.0.1:{cluster.gcs_port}", f"--num-cpus={num_cpus}",
             "--disable-usage-stats", *(f"--{name}={port}" for name, port in ports.items())]
    subprocess.run(start, check=True, capture_output=True, env={**env, "RAY_AUTH_MODE": "token"}, timeout=180)
    try:
        yield node
    finally:
        kill_worker_node(node)


def kill_worker_node(node: WorkerNode) -> int:
    """SIGKILL a worker node's raylet and everything it started (its workers, agents), as a lost machine;
    returns how many processes were killed."""
    port = node.node_manager_port
    found = _processes_and_children(
        lambda pid, line: f"--node_manager_port={port}" in line or f"--node-manager-port={port}" in line)
    for process in found.values():
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(list(found.values()), timeout=20)
    return len(found)


def _processes_and_children(matches: Callable[[int, str], bool]) -> dict[int, psutil.Process]:
    """The processes whose (pid, command line) ``matches``, and everything they started."""
    found: dict[int, psutil.Process] = {}
    for process in psutil.process_iter(["cmdline"]):
        if matches(process.pid, " ".join(process.info["cmdline"] or ())):
            found[process.pid] = process
            try:
                found.update({child.pid: child for child in process.children(recursive=True)})
            except psutil.Error:
                pass
    return found
