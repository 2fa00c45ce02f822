"""The README's "Token shards and training" commands, run as written in the project's environment, on a
folder laid out as `make demo` leaves it (demo/output/tokens, made here from small documents)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fineweb_pipe.engine.context import PhaseContext
from fineweb_pipe.stage import ShardRef
from fineweb_pipe.tokens.stage import Tokenize

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SECTION = "## Token shards and training"
# Not run here: they replace torch by a CUDA build downloaded from PyTorch's index (no GPU, no such network).
NOT_RUN = {"pip uninstall -y torch", "pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu130"}


def section_commands() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(re.sub(r"\s+", " ", command))
    return commands


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """``tmp_path/demo/output/tokens`` as the recipe writes it, from 400 documents of common words."""
    import numpy as np

    words = np.array("the river stone light garden window market paper table summer winter cloud music letter "
                     "bridge orange silver forest station morning evening".split())
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=100)) + "." for _ in range(400)]
    docs = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": texts}), docs)
    ctx = PhaseContext.local("tokenize", [ShardRef("docs", str(docs))], str(tmp_path / "demo" / "output"))
    Tokenize(vocab_size=8192, val=0.1).run(ctx)
    return tmp_path


def test_the_section_s_commands_run_as_written(demo: Path) -> None:
    commands = section_commands()
    assert any(c.startswith("fineweb-pipe train ") for c in commands)
    ran = []
    for command in commands:
        if command in NOT_RUN:
            continue
        result = subprocess.run(["bash", "-c", f". {REPO}/.venv/bin/activate && {command}"], cwd=demo,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        ran.append((command, result))
    checks = {
        "fineweb-pipe inspect-shards": lambda r: "checks: ok" in r.stdout,
        "fineweb-pipe train": lambda r: "val loss" in r.stderr and json.loads(
            (demo / "demo" / "train" / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 20,
        "python -c": lambda r: re.match(r"\d+\.\d+\.\d+\S* (True|False)$", r.stdout.strip()),
    }
    for command, result in ran:
        known = [check for prefix, check in checks.items() if command.startswith(prefix)]
        assert known, f"a README command this test does not know: {command}"
        assert known[0](result), f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
