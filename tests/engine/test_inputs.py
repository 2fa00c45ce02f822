"""Finding a run's inputs: folders, globs, files; keys and shard ids that do not depend on spelling."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fineweb_pipe.engine.inputs import find_inputs
from fineweb_pipe.errors import ConfigurationError

PATTERNS = ["*.warc.gz"]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    for name in ("b.warc.gz", "a.warc.gz", "skip.txt"):
        (tmp_path / name).write_bytes(name.encode())
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.warc.gz").write_bytes(b"another a")
    return tmp_path


def test_folders_globs_and_keys(folder: Path, tmp_path: Path) -> None:
    found = find_inputs([str(folder)], PATTERNS, str(tmp_path / "out"))
    assert [f.key for f in found.files] == ["a.warc.gz", "b.warc.gz", "sub/a.warc.gz"]
    assert [f.path for f in find_inputs([str(folder / "*.warc.gz")], PATTERNS, "/nowhere").files] == \
        [f.path for f in found.files[:2]]
    shards = [f.shard for f in found.files]
    assert len(set(shards)) == 3 and all(s.startswith(("a-", "b-")) for s in shards)
    with pytest.raises(ConfigurationError, match="nothing-here"):
        find_inputs([str(folder / "nothing-here.warc.gz")], PATTERNS, "/nowhere")


def test_files_in_a_folder_that_no_reader_takes_are_said_not_passed_over(folder: Path, tmp_path: Path) -> None:
    (folder / "UPPER.WARC.GZ").write_bytes(b"x")
    found = find_inputs([str(folder)], PATTERNS, str(tmp_path / "out"))
    assert [f.key for f in found.files] == ["a.warc.gz", "b.warc.gz", "sub/a.warc.gz"]
    assert found.notes == [f"2 files in {str(folder)!r} match no reader's names and are not read: UPPER.WARC.GZ, skip.txt"]


def test_a_key_is_the_same_however_the_path_is_spelled(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder.parent)
    spellings = [str(folder / "a.warc.gz"), f"{folder}//a.warc.gz", os.path.relpath(folder / "a.warc.gz"),
                 str(folder / "sub" / ".." / "a.warc.gz")]
    found = find_inputs(spellings, PATTERNS, str(tmp_path / "out"))
    assert [f.key for f in found.files] == ["a.warc.gz"] and len(found.notes) == 3


def test_naming_more_inputs_after_the_first_never_renames_them(folder: Path, tmp_path: Path) -> None:
    first = find_inputs([str(folder / "a.warc.gz")], PATTERNS, "/nowhere").files
    more = find_inputs([str(folder / "a.warc.gz"), str(folder / "sub" / "a.warc.gz")], PATTERNS, "/nowhere").files
    assert more[0] == first[0] and more[1].key == "sub/a.warc.gz"


def test_a_changed_file_gets_another_version(folder: Path) -> None:
    before = find_inputs([str(folder)], PATTERNS, "/nowhere").files[0]
    (folder / "a.warc.gz").write_bytes(b"a.warc.gz, then more")
    after = find_inputs([str(folder)], PATTERNS, "/nowhere").files[0]
    assert before.key == after.key and before.version != after.version
