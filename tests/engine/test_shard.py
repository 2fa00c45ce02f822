"""A shard done by a worker: the CPU charged to each stage (its own process, plus its child processes where it
has them), and one file with one schema however its batches differ."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.engine.shard import ShardDone, ShardOutputs, ShardTask, _run_stage, process_shard
from fineweb_pipe.readers import JsonlReader
from fineweb_pipe.stage import Transform
from fineweb_pipe.stats import ShardStats

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
    stats = ShardStats()
    stage.setup()
    try:
        _run_stage(stage, batch, stats, {}, "s", 0)
    finally:
        stage.close()
    return stats.stages[stage.name].cpu_s


def test_a_stage_with_child_processes_is_charged_their_cpu(tmp_path: Path) -> None:
    assert stage_cpu(WorksInAChild(), tmp_path) > 0.1  # 6 rows of ~0.05 s in the child
    # without the flag only the stage's own process counts: it waited on the pipe
    assert stage_cpu(DoesNotSayItHasChildren(), tmp_path) < 0.05


class DropsEverythingButId(Transform):
    """A stage free to reshape its batch: no engine column rides along for it to lose."""

    def transform(self, batch: pa.Table) -> pa.Table:
        return batch.select([schema.ID])


def test_batches_with_different_columns_make_one_file_with_their_union(tmp_path: Path) -> None:
    import json

    import pyarrow.parquet as pq

    lines = [{"id": f"d{i}", "text": f"text {i}"} for i in range(5)] + \
            [{"id": f"d{i}", "text": f"text {i}", "topic": "late field"} for i in range(5, 8)]
    source = tmp_path / "a.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "a.parquet"
    task = ShardTask("a", str(source), JsonlReader(batch_docs=5),
                     ShardOutputs(str(out), (), str(tmp_path / "a.json")))
    events = list(process_shard(task, []))
    done = events[-1]
    assert isinstance(done, ShardDone) and done.record.rows == 8
    table = pq.read_table(out)
    assert table.column(schema.ID).to_pylist() == [f"d{i}" for i in range(8)]  # input order
    assert (tmp_path / "a.json").exists()  # the record, written last
    reshaped = tmp_path / "b.parquet"
    list(process_shard(ShardTask("a", str(source), JsonlReader(batch_docs=5),
                                 ShardOutputs(str(reshaped), (), str(tmp_path / "b.json"))), [DropsEverythingButId()]))
    assert pq.read_table(reshaped).column_names == [schema.ID]


class TypeChangesBetweenBatches(Transform):
    """A buggy stage: the same column as numbers in one batch and as text in the next."""

    calls = 0

    def transform(self, batch: pa.Table) -> pa.Table:
        TypeChangesBetweenBatches.calls += 1
        values = pa.array([1] * batch.num_rows) if self.calls == 1 else pa.array(["x"] * batch.num_rows)
        return batch.append_column("score", values)


def test_a_stage_whose_column_changes_type_fails_naming_the_shard(tmp_path: Path) -> None:
    import json

    import pytest

    from fineweb_pipe.engine.shard import StageFailed

    source = tmp_path / "a.jsonl"
    source.write_text("".join(json.dumps({"id": f"d{i}", "text": "t"}) + "\n" for i in range(4)))
    task = ShardTask("a", str(source), JsonlReader(batch_docs=2), ShardOutputs(str(tmp_path / "a.parquet"), (),
                                                                             str(tmp_path / "a.json")))
    with pytest.raises(StageFailed, match="shard a: the stages gave batches whose columns cannot be merged"):
        list(process_shard(task, [TypeChangesBetweenBatches()]))
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "a.parquet").exists()
