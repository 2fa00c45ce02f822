"""Kill the driver (SIGKILL) in every phase of the full FineWeb recipe, rerun the same command, and get
byte-identical output (documents, dedup decisions, token shards, stats) to an undisturbed run; a run
attempted while another holds the folder (here the test, having taken the dead run's lock over) is
refused in between."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_support import output_digest

from fineweb_pipe.engine.lock import RunLock
from fineweb_pipe.sample import write_sample_warc

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def command(crawl: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "fineweb_pipe.cli", "run", str(REPO / "pipelines" / "fineweb.py"), "--input", str(crawl),
            "--output", str(output), "--engine", "local", "--quiet", "--no-report"]


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crawl")
    for seed in range(3):
        write_sample_warc(str(folder / f"part-{seed}.warc.gz"), pages=60, seed=seed + 1)
    return folder


@pytest.fixture(scope="module")
def undisturbed(crawl: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("clean") / "out"
    subprocess.run(command(crawl, out), check=True, timeout=300, capture_output=True)
    return output_digest(str(out))


def kill_when(cmd: list[str], ready: callable[[], bool], timeout_s: float = 240) -> bool:
    """Start ``cmd`` and SIGKILL it as soon as ``ready()``; False if it finished first."""
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if ready():
                process.send_signal(signal.SIGKILL)
                process.wait()
                return True
            time.sleep(0.01)
        return False
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def files_in(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


@pytest.mark.parametrize("point", ["first_shard_committed", "during_dedup", "during_pii", "during_tokenize"])
def test_killed_driver_then_rerun_gives_identical_output(crawl: Path, tmp_path: Path, undisturbed: str, point: str) -> None:
    out = tmp_path / "out"
    ready = {
        "first_shard_committed": lambda: files_in(out / "_work" / "00-stream" / "shards"),
        "during_dedup": lambda: files_in(out / "_work" / "01-minhash_dedup"),
        "during_pii": lambda: files_in(out / "_work" / "02-stream"),
        "during_tokenize": lambda: files_in(out / "_work" / "03-tokenize"),
    }[point]
    assert kill_when(command(crawl, out), ready), f"the run finished before {point}"
    assert not (out / "stats.json").exists()
    assert (out / "run.lock").exists()  # the killed run's lock is left behind
    with RunLock(str(out)):  # a second attempt takes the dead run's lock over and holds the folder...
        refused = subprocess.run(command(crawl, out), capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "being written by another run" in refused.stderr, refused.stderr
    subprocess.run(command(crawl, out), check=True, timeout=300, capture_output=True)  # ...then it is free again
    assert output_digest(str(out)) == undisturbed
    # No partial file under a final name, nor left under a temporary one where readers of the output look.
    # (A kill inside an atomic write leaves its temporary file under _work/, removed by the next run.)
    assert not [p for p in out.rglob("*.tmp-*") if "_work" not in p.relative_to(out).parts]
