"""What the engine charges a stage's CPU to: its own process, plus its child processes where it has them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.engine.chunks import ChunkResult, PhaseDirs, _run_stage
from fineweb_pipe.stage import Transform

# A persistent child that burns ~0.05 CPU-s per line it is sent, as an extractor's child does per page.
_BUSY_CHILD = "import sys\nfor line in sys.stdin:\n    sum(range(2_000_000))\n    print(line.strip(), flush=True)\n"


class WorksInAChild(Transform):
    uses_child_processes = True

    def setup(self) -> None:
        self._child = subprocess.Popen([sys.executable, "-c", _BUSY_CHILD], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)

    def transform(self, batch: pa.Table) -> pa.Table:
        assert self._child.stdin is not None and self._child.stdout is not None
        for doc_id in batch.column(schema.ID).to_pylist():
            self._child.stdin.write(doc_id + "\n")
            self._child.stdin.flush()
            assert self._child.stdout.readline().strip() == doc_id
        return batch

    def close(self) -> None:
        self._child.kill()
        self._child.wait()


class DoesNotSayItHasChildren(WorksInAChild):
    uses_child_processes = False


def stage_cpu(stage: WorksInAChild, tmp_path: Path) -> float:
    batch = pa.table({schema.ID: [f"doc-{i}" for i in range(6)], schema.TEXT: ["text"] * 6})
    result = ChunkResult(shard="s", chunk=0, first_seq=0, rows=6, chunk_rows=6, chunk_last=True, reader=None)
    stage.setup()
    try:
        _run_stage(stage, batch, result, PhaseDirs(str(tmp_path / "parts"), str(tmp_path / "removed")))
    finally:
        stage.close()
    return result.stages[stage.name]["cpu_s"]


def test_a_stage_with_child_processes_is_charged_their_cpu(tmp_path: Path) -> None:
    assert stage_cpu(WorksInAChild(), tmp_path) > 0.1  # 6 rows of ~0.05 s in the child
    # without the flag only the stage's own process counts: it waited on the pipe
    assert stage_cpu(DoesNotSayItHasChildren(), tmp_path) < 0.05
