from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fineweb_pipe.writers.atomic import ParquetSink

SCHEMA = pa.schema([("id", pa.string()), ("text", pa.large_string())])


def _docs(first: int, n: int) -> pa.Table:
    return pa.table({"id": [f"doc-{i}" for i in range(first, first + n)],
                     "text": pa.array([f"Paragraph {i} of a page about rivers. " * 20 for i in range(first, first + n)],
                                      pa.large_string())}, schema=SCHEMA)


def test_tables_become_row_groups_of_about_the_given_size(tmp_path: Path) -> None:
    path = str(tmp_path / "out.parquet")
    one = _docs(0, 10).nbytes
    with ParquetSink(path, SCHEMA, row_group_bytes=3 * one) as sink:
        for first in range(0, 100, 10):
            sink.write(_docs(first, 10))
    meta = pq.read_metadata(path)
    assert meta.num_rows == 100
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [30, 30, 30, 10]
    assert pq.read_table(path).equals(_docs(0, 100))


def test_an_empty_file_still_has_the_schema(tmp_path: Path) -> None:
    path = str(tmp_path / "empty.parquet")
    with ParquetSink(path, SCHEMA):
        pass
    assert pq.read_table(path).schema.equals(SCHEMA) and pq.read_metadata(path).num_rows == 0


def test_nothing_appears_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    with pytest.raises(ValueError, match="differs from the file's"):
        with ParquetSink(str(path), SCHEMA) as sink:
            sink.write(_docs(0, 5))
            sink.write(pa.table({"id": ["x"]}))
    assert list(tmp_path.iterdir()) == []


def test_nothing_appears_when_the_last_row_group_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        with ParquetSink(str(tmp_path / "out.parquet"), SCHEMA) as sink:
            sink.write(_docs(0, 5))
            monkeypatch.setattr(pq.ParquetWriter, "write_table", fail)
    assert list(tmp_path.iterdir()) == []
