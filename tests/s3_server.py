"""A local S3 server (moto) for tests of object-store runs: ``with s3_server("bucket") as env:`` gives the
environment (endpoint and dummy credentials) under which ``s3://bucket/...`` reaches it."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def s3_server(*buckets: str) -> Iterator[dict[str, str]]:
    """Start ``moto_server`` on a free port, create ``buckets``, and yield the ``AWS_*`` environment that
    points boto3, s3fs and fsspec at it; the server stops when the block ends."""
    import boto3

    port = _free_port()
    env = {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "x",
           "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    with tempfile.TemporaryDirectory(prefix="moto-") as folder:
        server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
        try:
            client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                                  aws_access_key_id="x", aws_secret_access_key="x")
            deadline = time.monotonic() + 30
            for bucket in buckets:
                while True:
                    try:
                        client.create_bucket(Bucket=bucket)
                        break
                    except Exception:  # the server is still starting
                        if time.monotonic() > deadline or server.poll() is not None:
                            raise
                        time.sleep(0.3)
            _forget_s3_clients()
            yield env
        finally:
            server.terminate()
            server.wait(timeout=30)
            _forget_s3_clients()


def _forget_s3_clients() -> None:
    """fsspec keeps one S3 file system per set of arguments, and the endpoint comes from the environment, not
    the arguments: without this, a test would reach the server of a test before it (gone by then)."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@contextmanager
def s3_server_in_environment(monkeypatch: pytest.MonkeyPatch, *buckets: str) -> Iterator[dict[str, str]]:
    """``s3_server(*buckets)`` with its environment set in this process for the test's duration."""
    with s3_server(*buckets) as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield env
