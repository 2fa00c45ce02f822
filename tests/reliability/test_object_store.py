"""A run whose output is an object store (a local S3 server): one writer, a crash resumed, outputs never inputs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import CrashAfter, make_pipeline, output_contents
from s3_server import s3_server

from fineweb_pipe import storage
from fineweb_pipe.engine.local import LocalExecutor
from fineweb_pipe.engine.lock import RunLock
from fineweb_pipe.engine.runner import Runner
from fineweb_pipe.errors import ConfigurationError, IntegrityError
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.sample import write_sample_warc


@pytest.fixture(scope="module")
def bucket() -> Iterator[str]:
    with s3_server("runs") as env:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield "s3://runs"
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crawl")
    for i in range(3):
        write_sample_warc(str(folder / f"part-{i}.warc.gz"), pages=40, seed=i)
    return folder


def run(inputs: list[str], output: str, pipeline: Pipeline) -> dict:
    with LocalExecutor() as executor:
        return Runner(pipeline, inputs, output, executor, show_progress=False).run()


def download(url: str, folder: Path) -> Path:
    fs, path = storage.filesystem(url)
    fs.get(path + "/", str(folder) + "/", recursive=True)
    return folder


def test_one_writer_per_object_store_folder(bucket: str) -> None:
    first = RunLock(f"{bucket}/locked")
    first.acquire()
    try:
        with pytest.raises(ConfigurationError, match="is being written by another run"):
            RunLock(f"{bucket}/locked").acquire()  # the conditional PUT fails: the object exists
        first.fence().check()
        storage.remove(f"{bucket}/locked/run.lock")  # e.g. cleared by hand while the run goes on
        with pytest.raises(IntegrityError, match="lost the lock"):
            first.fence().check()  # what a worker checks before it commits a shard
    finally:
        first.release()
    second = RunLock(f"{bucket}/locked")
    second.acquire()
    second.release()


def test_a_crashed_run_into_s3_resumes_to_what_a_local_run_writes(bucket: str, crawl: Path, tmp_path: Path) -> None:
    marker = tmp_path / "crash"
    pipeline = lambda: make_pipeline(CrashAfter(str(marker), after=1))  # noqa: E731
    run([str(crawl)], str(tmp_path / "local"), pipeline())
    marker.touch()
    with pytest.raises(Exception, match="simulated crash"):
        run([str(crawl)], f"{bucket}/crashed", pipeline())
    finished = storage.list_names(f"{bucket}/crashed/_work/00-stream/shards")
    assert 0 < len(finished) < 3  # some shards committed before the crash
    marker.unlink()
    run([str(crawl)], f"{bucket}/crashed", pipeline())
    remote = output_contents(download(f"{bucket}/crashed", tmp_path / "remote"))
    assert remote == output_contents(tmp_path / "local")
    assert storage.read_json(f"{bucket}/crashed/stats.json")["run"]["phases"][0]["shards_resumed"] == len(finished)


def test_outputs_in_the_input_prefix_are_never_read_again(bucket: str, crawl: Path, tmp_path: Path) -> None:
    fs, _ = storage.filesystem(bucket)
    fs.put(str(crawl / "part-0.warc.gz"), "runs/data/part-0.warc.gz")
    pipeline = Pipeline(make_pipeline().steps, name="engine-test")  # reader by file name: Parquet too
    first = run([f"{bucket}/data"], f"{bucket}/data/out", pipeline)
    again = run([f"{bucket}/data"], f"{bucket}/data/out", pipeline)  # documents/*.parquet now lie below data/
    assert again["run"]["input_files"] == first["run"]["input_files"] == [f"{bucket}/data/part-0.warc.gz"]
