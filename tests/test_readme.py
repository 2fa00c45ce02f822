"""Every command the README shows, run as written after the set-up (`make demo`), in a shell with the
project's environment activated as the README says, on small inputs: a sample crawl, the Common Crawl
bucket served by a local S3 (moto), and a Ray cluster started here. Only the cluster's address (HEAD)
and its shared folder (/shared) are put in; a README command this test does not know fails it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ray_cluster import ray_cluster
from s3_server import s3_server

pytestmark = [pytest.mark.slow, pytest.mark.ray]
REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
ACTIVATE = ". .venv/bin/activate"
CC_KEY = "crawl-data/CC-MAIN-2024-10/segments/1707947473347.0/warc/CC-MAIN-20240221-00000.warc.gz"
NOT_RUN = {
    "make test": "it runs this test",
    "pip uninstall -y torch": "it replaces torch by a CUDA build: no GPU here",
    "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu130": "a CUDA build: no GPU here",
}


def readme_commands() -> list[str]:
    """The README's shell commands: ```bash blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for command in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", command).strip()
            if command and not command.startswith("#"):
                commands.append(re.sub(r"\s+", " ", command))
    return commands


def readme_pipeline() -> str:
    return re.findall(r"```python\n(.*?)```", README, re.S)[0]


def shell(command: str, cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    """``command`` as a user types it, in the activated environment."""
    return subprocess.run(["bash", "-c", f"{ACTIVATE} && cd {cwd} && {command}"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The Common Crawl bucket with one small WARC at a real key, on a local S3 server."""
    import boto3

    from fineweb_pipe.sample import write_sample_warc

    with s3_server("commoncrawl", "my-bucket") as env:
        client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")
        warc = write_sample_warc(str(tmp_path_factory.mktemp("s3") / "cc.warc.gz"), pages=40, seed=7)
        client.upload_file(warc, "commoncrawl", CC_KEY)
        yield env


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's folder holding the README's pipeline file (outputs with relative paths land here)."""
    folder = tmp_path_factory.mktemp("user")
    (folder / "my_pipeline.py").write_text(readme_pipeline(), encoding="utf-8")
    shutil.copytree(REPO / "pipelines", folder / "pipelines")  # a user runs the recipe from a checkout
    return folder


def test_the_test_knows_every_readme_command() -> None:
    known = set(LOCAL) | set(CLUSTER) | set(NOT_RUN) | {ACTIVATE}
    assert [c for c in readme_commands() if c not in known] == []
    assert readme_commands()[:2] == ["make demo", "make test"]  # the two set-up commands come first


Check = Callable[[subprocess.CompletedProcess, Path], None]


def demo_ran(result: subprocess.CompletedProcess, work: Path) -> None:
    stats = json.loads((REPO / "demo" / "output" / "stats.json").read_text())
    assert stats["stages"][-1]["docs_out"] > 0 and (REPO / "demo" / "output" / "report.html").exists()


def help_lists_exit_codes(result: subprocess.CompletedProcess, work: Path) -> None:
    assert "exit codes" in result.stdout


def sample_written(result: subprocess.CompletedProcess, work: Path) -> None:
    assert (work / "crawl" / "sample.warc.gz").stat().st_size > 0


def run_finished(output: str) -> Check:
    def check(result: subprocess.CompletedProcess, work: Path) -> None:
        stats = json.loads((work / output / "stats.json").read_text())
        assert stats["reader"]["documents"] > 0 and "done in" in result.stderr, result.stderr[-2000:]
    return check


def report_written(result: subprocess.CompletedProcess, work: Path) -> None:
    assert "report.html" in result.stdout and (work / "out" / "report.html").exists()


def shards_checked(result: subprocess.CompletedProcess, work: Path) -> None:
    assert "checks: ok" in result.stdout, result.stdout[-2000:]


def trained(result: subprocess.CompletedProcess, work: Path) -> None:
    lines = (REPO / "demo" / "train" / "metrics.jsonl").read_text().splitlines()
    assert max(json.loads(line).get("step", 0) for line in lines) == 20


def unfiltered_ran(result: subprocess.CompletedProcess, work: Path) -> None:
    stats = json.loads((REPO / "demo" / "unfiltered" / "stats.json").read_text())
    assert [stage["name"] for stage in stats["stages"]] == ["url_filter", "trafilatura_extractor"]


def ablated(result: subprocess.CompletedProcess, work: Path) -> None:
    results = json.loads((REPO / "demo" / "ablation" / "results.json").read_text())
    assert len(results["verdicts"]) == 1 and "report:" in result.stdout, result.stdout[-2000:]


def s3_object(url: str, env: dict[str, str]) -> bytes:
    """An object's bytes, read under the local S3 server's environment."""
    import boto3

    bucket, key = url.removeprefix("s3://").split("/", 1)
    client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def s3_read(result: subprocess.CompletedProcess, work: Path) -> None:
    stats = json.loads((work / "fineweb" / "CC-MAIN-2024-10" / "stats.json").read_text())
    assert stats["run"]["input_files"] == [f"s3://commoncrawl/{CC_KEY}"] and stats["reader"]["documents"] == 40


# Each README command run on this machine: where (None: the user's folder) and what it must have done.
LOCAL: dict[str, tuple[Path | None, Check | None]] = {
    "make demo": (REPO, demo_ran),
    "fineweb-pipe --help": (None, help_lists_exit_codes),
    "fineweb-pipe sample --output crawl/sample.warc.gz": (None, sample_written),
    "fineweb-pipe run my_pipeline.py --input crawl/*.warc.gz --output out/": (None, run_finished("out")),
    "fineweb-pipe run my_pipeline.py --input crawl/ --output out-local/ --engine local": (None, run_finished("out-local")),
    "fineweb-pipe report out/ --compare out-local/": (None, report_written),
    "fineweb-pipe inspect-shards demo/output/tokens": (REPO, shards_checked),
    "fineweb-pipe train demo/output/tokens --out demo/train --steps 20": (REPO, trained),
    'python -c "import torch; print(torch.__version__, torch.cuda.is_available())"': (REPO, None),
    "fineweb-pipe run pipelines/extract_only.py --input demo/input --output demo/unfiltered --engine local":
        (REPO, unfiltered_ran),
    "fineweb-pipe ablate demo/unfiltered demo/output --eval ../shared/data/text/wikitext-2_valid.txt --tokens 50000 "
    "--seeds 2 --eval-bytes 50000 --out demo/ablation": (REPO, ablated),
    'pip install -e ".[s3]"': (REPO, None),
    "fineweb-pipe run pipelines/fineweb.py --input "
    "'s3://commoncrawl/crawl-data/CC-MAIN-2024-10/segments/1707947473347.0/warc/*.warc.gz' "
    "--output fineweb/CC-MAIN-2024-10": (None, s3_read),
}


def test_readme_commands_on_this_machine(work: Path, s3: dict[str, str]) -> None:
    env = {**os.environ, **s3}
    for command in readme_commands():
        if command in LOCAL:
            cwd, check = LOCAL[command]
            result = shell(command, cwd or work, env)
            assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
            if check is not None:
                check(result, work)


CLUSTER = {
    "export RAY_AUTH_MODE=token",
    "ray job submit --address http://HEAD:8265 --working-dir . -- python pipelines/fineweb.py --input "
    "'s3://commoncrawl/crawl-data/CC-MAIN-2024-10/segments/*/warc/*.warc.gz' --output s3://my-bucket/fineweb/CC-MAIN-2024-10",
    "fineweb-pipe run pipelines/fineweb.py --address HEAD:6379 --input "
    "'s3://commoncrawl/crawl-data/CC-MAIN-2024-10/segments/*/warc/*.warc.gz' --output s3://my-bucket/fineweb/CC-MAIN-2024-10",
}


def test_readme_cluster_commands(s3: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, **s3, "RAY_ADDRESS": "", "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    commands = [c for c in readme_commands() if c in CLUSTER]
    assert len(commands) == len(CLUSTER)
    exports = " && ".join(c for c in commands if c.startswith("export "))
    with ray_cluster(env) as cluster:  # started in the activated environment, as its nodes must be
        for command in (c for c in commands if not c.startswith("export ")):
            output = f"s3://my-bucket/{'job' if command.startswith('ray job') else 'direct'}"
            ours = (command.replace("HEAD:8265", f"127.0.0.1:{cluster.dashboard_port}")
                    .replace("HEAD:6379", f"127.0.0.1:{cluster.gcs_port}")
                    .replace("s3://my-bucket/fineweb/CC-MAIN-2024-10", output))
            deadline = time.monotonic() + 180  # the job agent comes up after `ray start` returns
            while True:
                result = shell(f"{exports} && {ours}", REPO, env)
                if "No available agent" not in result.stderr or time.monotonic() > deadline:
                    break
                time.sleep(3)
            assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            stats = json.loads(s3_object(output + "/stats.json", s3))
            assert stats["reader"]["documents"] == 40 and stats["run"]["engine"] == "ray"
            assert "<title>" in s3_object(output + "/report.html", s3).decode()  # written next to it
