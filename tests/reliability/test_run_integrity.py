"""Run integrity: each way a careful-looking run used to lose, double or silently reuse data (issue 17's
cases 1-8), read back the way a user reads an output: ``documents/`` as one dataset, ``stats.json``."""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from engine_support import CrashAfter, DropShortHtml, HtmlAsText, make_pipeline, output_digest

from fineweb_pipe.cli import main, main_for_pipeline
from fineweb_pipe.dedup import MinHashDedup
from fineweb_pipe.engine.shard import InputRetry
from fineweb_pipe.engine.local import LocalExecutor
from fineweb_pipe.engine.lock import RunLock
from fineweb_pipe.engine.runner import Runner
from fineweb_pipe.errors import EXIT_INPUT, EXIT_NO_SPACE, EXIT_USAGE, ConfigurationError, InputsFailed, IntegrityError
from fineweb_pipe.pipeline import Pipeline
from fineweb_pipe.stage import Transform
from fineweb_pipe.tokens.stage import Tokenize

RECIPE = Path(__file__).parents[2] / "pipelines" / "fineweb.py"
FAST_RETRY = InputRetry(attempts=2, backoff_s=0.01)


def run(inputs: list[str], output: Path, pipeline: Pipeline | None = None, **options: object) -> dict:
    with LocalExecutor() as executor:
        return Runner(pipeline or make_pipeline(), inputs, str(output), executor, show_progress=False,
                      input_retry=FAST_RETRY, **options).run()  # type: ignore[arg-type]


def documents(output: Path) -> pa.Table:
    """The output as a user reads it: the whole folder as one dataset."""
    return pq.read_table(output / "documents")


def kept(stats: dict) -> int:
    return stats["stages"][-1]["docs_out"]


def sorted_ids(table: pa.Table) -> list[str]:
    return sorted(table.column("id").to_pylist())


@pytest.fixture()
def inputs(crawl: Path, tmp_path: Path) -> Path:
    """A private copy of the crawl that a test may move, delete from or add to."""
    return Path(shutil.copytree(crawl, tmp_path / "in"))


# -- case 1: two runs into one output at once ---------------------------------------------------------

def test_case1_a_second_run_into_a_busy_output_is_refused(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "fineweb_pipe.cli", "run", str(RECIPE), "--engine", "local", "--input", str(inputs),
               "--output", str(out), "--no-report", "--quiet"]  # the recipe: slow enough to be caught running
    first = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / "run.lock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert second.returncode == EXIT_USAGE, second.stderr
        assert "being written by another run" in second.stderr and f"pid {first.pid}" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1  # one line, no traceback
    finally:
        _, errors = first.communicate(timeout=120)
    assert first.returncode == 0, errors
    stats = json.loads((out / "stats.json").read_text())
    assert documents(out).num_rows == kept(stats) > 0
    assert not (out / "run.lock").exists()


def test_case1_a_lock_left_by_a_dead_run_is_taken_over_and_a_live_one_is_not(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock_file = tmp_path / "run.lock"
    lock_file.write_text(json.dumps({"token": "a" * 32, "host": socket.gethostname(), "pid": dead.pid,
                                     "pid_started": 0, "heartbeat": time.time()}))
    with RunLock(str(tmp_path)) as lock:  # same host, process gone: taken over at once
        assert json.loads(lock_file.read_text())["token"] == lock.token
        with pytest.raises(ConfigurationError, match="being written by another run"):
            RunLock(str(tmp_path)).acquire()
    assert not lock_file.exists()
    other_host = {"token": "b" * 32, "host": "elsewhere", "pid": 1, "heartbeat": time.time()}
    lock_file.write_text(json.dumps(other_host))
    with pytest.raises(ConfigurationError, match="elsewhere"):  # another host, fresh heartbeat: alive
        RunLock(str(tmp_path)).acquire()
    lock_file.write_text(json.dumps({**other_host, "heartbeat": time.time() - 3600}))
    with RunLock(str(tmp_path)) as lock:  # another host, heartbeat an hour old: stale
        assert json.loads(lock_file.read_text())["token"] == lock.token


def test_case1_a_run_whose_lock_was_taken_over_commits_nothing_more(tmp_path: Path) -> None:
    lock = RunLock(str(tmp_path), heartbeat_s=0.05)
    lock.acquire()
    (tmp_path / "run.lock").write_text(json.dumps({"token": "c" * 32, "host": "elsewhere", "pid": 1,
                                                   "heartbeat": time.time()}))
    time.sleep(0.3)
    with pytest.raises(Exception, match="lost the lock"):
        lock.check()
    lock.release()
    assert json.loads((tmp_path / "run.lock").read_text())["token"] == "c" * 32  # not ours to remove


# -- case 2: an input that cannot be read while the run is on it --------------------------------------

class MoveAway(Transform):
    """Moves a file away once, when a marker file exists: an input vanishing while the run is on another."""

    def __init__(self, path: str, marker: str) -> None:
        self.path = path
        self.marker = marker

    def transform(self, batch: pa.Table) -> pa.Table:
        if os.path.exists(self.marker):
            os.remove(self.marker)
            os.rename(self.path, self.path + ".away")
        return batch


def test_case2_an_input_that_vanishes_mid_run_is_not_committed_and_the_rerun_reads_it(inputs: Path, tmp_path: Path) -> None:
    victim, marker = inputs / "part-2.warc.gz", tmp_path / "move-once"
    pipeline = make_pipeline(MoveAway(str(victim), str(marker)))
    marker.touch()
    with pytest.raises(InputsFailed, match="part-2.warc.gz") as failed:
        run([str(inputs)], tmp_path / "out", pipeline)
    assert failed.value.exit_code == EXIT_INPUT and "2 shards are committed" in str(failed.value)
    assert not (tmp_path / "out" / "stats.json").exists()
    assert len(os.listdir(tmp_path / "out" / "documents")) == 2
    os.rename(str(victim) + ".away", victim)  # the store is back
    rerun = run([str(inputs)], tmp_path / "out", pipeline)
    clean = run([str(inputs)], tmp_path / "clean", pipeline)
    assert sorted_ids(documents(tmp_path / "out")) == sorted_ids(documents(tmp_path / "clean"))
    assert kept(rerun) == kept(clean) == documents(tmp_path / "out").num_rows


def test_case2_every_input_unreadable_is_an_error_not_an_empty_success(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "empty.warc.gz").write_bytes(b"")
    (folder / "text.warc").write_text("this is not a WARC file\n")
    code = main(["run", str(RECIPE), "--input", str(folder),
                 "--output", str(tmp_path / "out"), "--engine", "local", "--no-report", "--quiet"])
    assert code == EXIT_INPUT
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert {e["type"] for e in stats["errors"]} == {"empty_file", "not_warc"}


# -- case 3: a changed pipeline or changed inputs never resume silently --------------------------------

def test_case3_a_changed_pipeline_is_refused_until_restarted(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run([str(inputs)], out)
    changed = Pipeline([*make_pipeline().steps[:2], DropShortHtml(min_chars=3000)], name="engine-test")
    with pytest.raises(ConfigurationError, match=r"drop_short_html: min_chars 2700 -> 3000.*--restart"):
        run([str(inputs)], out, changed)
    stats = run([str(inputs)], out, changed, restart=True)
    fresh = run([str(inputs)], tmp_path / "fresh", changed)
    assert sorted_ids(documents(out)) == sorted_ids(documents(tmp_path / "fresh"))
    assert kept(stats) == kept(fresh) == documents(out).num_rows


def test_case3_a_subset_of_the_inputs_is_refused(inputs: Path, tmp_path: Path) -> None:
    run([str(inputs)], tmp_path / "out")
    with pytest.raises(ConfigurationError, match=r"2 missing \(part-1.warc.gz, part-2.warc.gz\)"):
        run([str(inputs / "part-0.warc.gz")], tmp_path / "out")


def test_case3_an_input_changed_since_the_run_began_is_refused(inputs: Path, tmp_path: Path) -> None:
    run([str(inputs)], tmp_path / "out")
    shutil.copy(inputs / "part-0.warc.gz", inputs / "part-1.warc.gz")
    with pytest.raises(ConfigurationError, match=r"1 changed since the run began \(part-1.warc.gz\)"):
        run([str(inputs)], tmp_path / "out")


def test_case3_added_inputs_need_a_flag_and_redo_the_phases_that_need_every_input(inputs: Path, tmp_path: Path) -> None:
    dedup = lambda: Pipeline([*make_pipeline(HtmlAsText()).steps, MinHashDedup(), Tokenize(vocab_size=300, val=0.0,  # noqa: E731
                                                                                shard_tokens=50_000)], name="engine-test")
    first = tmp_path / "first"
    first.mkdir()
    shutil.move(str(inputs / "part-2.warc.gz"), first / "part-2.warc.gz")
    out = tmp_path / "out"
    run([str(inputs)], out, dedup())
    with pytest.raises(ConfigurationError, match=r"1 inputs are new.*--add-inputs.*01-minhash_dedup"):
        run([str(inputs), str(first)], out, dedup())
    stats = run([str(inputs), str(first)], out, dedup(), add_inputs=True)
    fresh = run([str(inputs), str(first)], tmp_path / "fresh", dedup())
    assert sorted_ids(documents(out)) == sorted_ids(documents(tmp_path / "fresh"))
    assert stats["reader"]["documents"] == fresh["reader"]["documents"] == 180
    assert kept(stats) == kept(fresh)
    for name in os.listdir(tmp_path / "fresh" / "tokens"):
        assert (out / "tokens" / name).read_bytes() == (tmp_path / "fresh" / "tokens" / name).read_bytes(), name


# -- case 4: the engine deletes only what it wrote ----------------------------------------------------

def test_case4_a_folder_that_is_not_an_output_is_refused_and_left_alone(inputs: Path, tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "thesis.tmp-final").write_text("two years of work")
    with pytest.raises(ConfigurationError, match="not a fineweb-pipe output.*thesis.tmp-final"):
        run([str(inputs)], notes)
    assert (notes / "thesis.tmp-final").read_text() == "two years of work"
    assert os.listdir(notes) == ["thesis.tmp-final"]


def test_case4_a_rerun_deletes_only_its_own_temporary_files(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run([str(inputs)], out)
    (out / "notes").mkdir()
    (out / "notes" / "thesis.tmp-final").write_text("mine")
    (out / "_work" / "left.parquet.tmp-0123456789ab").write_text("a killed run's")
    run([str(inputs)], out)
    assert (out / "notes" / "thesis.tmp-final").read_text() == "mine"
    assert not (out / "_work" / "left.parquet.tmp-0123456789ab").exists()
    with pytest.raises(ConfigurationError, match="is a file"):
        run([str(inputs)], out / "notes" / "thesis.tmp-final")


# -- case 5: every output file has the full schema ----------------------------------------------------

def write_non_html_warc(path: Path) -> None:
    """A WARC file with one record that is not an HTML response: a shard with no document."""
    body = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
    header = (b"WARC/1.0\r\nWARC-Type: request\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000001>\r\n"
              b"WARC-Target-URI: http://example.com/\r\nContent-Type: application/http; msgtype=request\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    path.write_bytes(header + body + b"\r\n\r\n")


def test_case5_a_shard_with_no_document_has_every_column(inputs: Path, tmp_path: Path) -> None:
    write_non_html_warc(inputs / "a-first.warc")  # sorts first: the file a folder reader looks at
    pipeline = Pipeline([*make_pipeline(HtmlAsText()).steps, MinHashDedup(), Tokenize(vocab_size=300, val=0.0, shard_tokens=50_000)],
                        name="engine-test")
    stats = run([str(inputs)], tmp_path / "out", pipeline)
    files = sorted((tmp_path / "out" / "documents").glob("*.parquet"))
    schemas = {f.name: pq.read_schema(f).remove_metadata() for f in files}
    assert pq.read_metadata(files[0]).num_rows == 0 and len(set(map(str, schemas.values()))) == 1
    table = documents(tmp_path / "out")
    assert {"text", "url", "html_chars"} <= set(table.column_names)
    assert table.num_rows == kept(stats) > 0 and stats["sections"]["tokens"]


# -- case 6: one file under several spellings is one shard --------------------------------------------

def test_case6_the_same_file_named_twice_is_read_once(inputs: Path, tmp_path: Path) -> None:
    (inputs / "link.warc.gz").symlink_to(inputs / "part-0.warc.gz")
    spellings = [str(inputs / "part-0.warc.gz"), f"{inputs}//part-0.warc.gz", str(inputs / "link.warc.gz"),
                 os.path.relpath(inputs / "part-0.warc.gz")]
    stats = run(spellings, tmp_path / "out")
    once = run([str(inputs / "part-0.warc.gz")], tmp_path / "once")
    assert stats["reader"]["files"] == 1 and len(os.listdir(tmp_path / "out" / "documents")) == 1
    assert documents(tmp_path / "out").num_rows == documents(tmp_path / "once").num_rows == kept(once)
    assert any("read once" in note for note in stats["run"]["notes"])


def test_case6_a_moved_input_folder_resumes_the_same_shards(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = run([str(inputs)], out)
    moved = Path(shutil.move(str(inputs), tmp_path / "moved"))
    after = run([str(moved)], out)
    assert sorted(os.listdir(out / "documents")) == sorted(os.listdir(tmp_path / "out" / "documents"))
    assert len(os.listdir(out / "documents")) == 3
    assert documents(out).num_rows == kept(before) == kept(after)
    assert any("new place" in note for note in after["run"]["notes"])


# -- case 7: the output inside the input folder -------------------------------------------------------

def test_case7_an_output_inside_the_input_folder_is_never_read_as_input(inputs: Path, tmp_path: Path) -> None:
    pipeline = Pipeline([], name="copy")  # reads every Parquet or WARC below the folder
    first = run([str(inputs)], inputs / "out", pipeline)
    second = run([str(inputs)], inputs / "out", pipeline)
    assert first["reader"]["files"] == second["reader"]["files"] == 3
    assert documents(inputs / "out").num_rows == first["reader"]["documents"] == second["reader"]["documents"]


# -- case 8: errors reach the user --------------------------------------------------------------------

def test_case8_parquet_input_without_text_stops_the_run_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"id": ["a", "b"], "body": ["some words", "more words"]}), folder / "docs.parquet")
    code = main(["run", str(RECIPE), "--input", str(folder), "--output", str(tmp_path / "out"), "--engine", "local",
                 "--no-report", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_USAGE, err
    assert len(err) == 1 and "docs.parquet" in err[0] and "text" in err[0]
    assert not (tmp_path / "out" / "stats.json").exists()


def test_case8_a_phase_that_would_take_in_other_rows_than_the_phase_before_wrote_stops(
        inputs: Path, tmp_path: Path) -> None:
    marker = tmp_path / "crash"
    marker.touch()
    pipeline = lambda: Pipeline([*make_pipeline(HtmlAsText(), CrashAfter(str(marker), after=2)).steps, MinHashDedup()],  # noqa: E731
                                name="engine-test")
    out = tmp_path / "out"
    with pytest.raises(Exception, match="simulated crash"):
        run([str(inputs)], out, pipeline())
    committed = sorted((out / "_work" / "00-stream" / "documents").glob("*.parquet"))
    assert committed
    table = pq.read_table(committed[0])
    pq.write_table(table.slice(1), committed[0])  # a row lost between phases (a disk, a stray script)
    marker.unlink()
    with pytest.raises(IntegrityError, match=f"shard {committed[0].stem}: .* holds {table.num_rows - 1} documents, "
                                             f"the phase before wrote {table.num_rows}"):
        run([str(inputs)], out, pipeline())
    assert not (out / "stats.json").exists() and not (out / "documents").exists()


def test_case8_a_shard_whose_documents_were_deleted_is_redone(tmp_path: Path, inputs: Path) -> None:
    run([str(inputs)], tmp_path / "out", make_pipeline())
    files = sorted((tmp_path / "out" / "documents").glob("*.parquet"))
    files[0].unlink()  # e.g. a user cleaning up by hand; its completion record is still there
    (tmp_path / "out" / "stats.json").unlink()
    run([str(inputs)], tmp_path / "out", make_pipeline())
    run([str(inputs)], tmp_path / "clean", make_pipeline())
    assert output_digest(str(tmp_path / "out")) == output_digest(str(tmp_path / "clean"))


def test_process_shard_reads_an_input_again_after_a_transient_failure(inputs: Path, tmp_path: Path) -> None:
    from fineweb_pipe.engine.shard import ChunkDone, ShardDone, ShardOutputs, ShardRestarted, ShardTask, process_shard
    from fineweb_pipe.readers import WarcReader

    class FlakyReader(WarcReader):
        failures = 1

        def iter_batches(self, path, counts):  # type: ignore[no-untyped-def]
            for n, batch in enumerate(super().iter_batches(path, counts)):
                if n == 1 and FlakyReader.failures:
                    FlakyReader.failures -= 1
                    raise ConnectionResetError("connection reset by peer")
                yield batch

    stages = list(make_pipeline().steps)
    outputs = ShardOutputs(str(tmp_path / "s.parquet"), (), str(tmp_path / "s.json"))
    events = list(process_shard(ShardTask("s", str(inputs / "part-0.warc.gz"), FlakyReader(batch_docs=16), outputs,
                                          FAST_RETRY), stages))
    restarts = [e for e in events if isinstance(e, ShardRestarted)]
    assert len(restarts) == 1 and "connection reset" in restarts[0].error
    after = events[events.index(restarts[0]) + 1:]
    assert all(isinstance(e, ChunkDone) for e in after[:-1])  # progress, then the completion
    assert isinstance(after[-1], ShardDone) and after[-1].record.stats.reader.documents == 60
    assert pq.read_metadata(tmp_path / "s.parquet").num_rows == after[-1].record.rows


def test_a_full_disk_is_one_line_and_the_rerun_after_freeing_space_is_identical(
        inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import fineweb_pipe.writers.atomic as atomic

    real_open, writes = atomic.open_atomic, []

    @contextmanager
    def fill_up(path: str) -> Iterator[IO[bytes]]:
        writes.append(path)
        if len(writes) > 2:  # the disk fills up a few files into the run
            raise OSError(errno.ENOSPC, "No space left on device")
        with real_open(path) as f:
            yield f

    def run_cli(output: Path) -> int:
        return main_for_pipeline(make_pipeline(), ["--engine", "local", "--input", str(inputs), "--output",
                                                   str(output), "--no-report", "--quiet"])

    monkeypatch.setattr(atomic, "open_atomic", fill_up)
    assert run_cli(tmp_path / "out") == EXIT_NO_SPACE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no space left" in err[0] and "rerun" in err[0]
    assert not list((tmp_path / "out").rglob("*.tmp-*"))  # nothing half-written is left
    monkeypatch.setattr(atomic, "open_atomic", real_open)  # space freed
    assert run_cli(tmp_path / "out") == 0 and run_cli(tmp_path / "clean") == 0
    assert output_digest(str(tmp_path / "out")) == output_digest(str(tmp_path / "clean"))
