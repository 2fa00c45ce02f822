"""JSONL and Parquet readers, and input expansion."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fineweb_pipe import schema
from fineweb_pipe.readers import JsonlReader, ParquetReader
from fineweb_pipe.readers.files import expand_inputs, shard_id
from fineweb_pipe.stats import ReaderCounts


def test_jsonl_counts_bad_lines_and_keeps_good_ones(tmp_path: Path) -> None:
    lines = [json.dumps({"id": "a", "text": "first doc", "url": "http://a"}), "{not json", "",
             json.dumps({"text": 5}), json.dumps({"text": "lone \ud800 surrogate"}), json.dumps(["x"])]
    path = tmp_path / "docs.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    counts = ReaderCounts()
    rows = [r for t in JsonlReader(batch_docs=1).iter_batches(str(path), counts) for r in t.to_pylist()]
    assert [r[schema.TEXT] for r in rows] == ["first doc", "lone ? surrogate"]
    assert rows[0][schema.ID] == "a" and rows[1][schema.SOURCE_OFFSET] == 5
    assert counts.errors["invalid_json"] == 1 and counts.skipped["no_text"] == 2 and counts.skipped["blank_line"] == 1


def test_parquet_reader_streams_and_requires_text(tmp_path: Path) -> None:
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(10)], "text": ["t"] * 10}), path, row_group_size=3)
    counts = ReaderCounts()
    tables = list(ParquetReader(batch_docs=4).iter_batches(str(path), counts))
    assert sum(t.num_rows for t in tables) == 10 == counts.documents
    assert tables[0].column(schema.SOURCE_OFFSET).to_pylist()[:2] == [0, 1]
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"x": [1]}), bad)
    with pytest.raises(ValueError, match="bad.parquet"):
        list(ParquetReader().iter_batches(str(bad), ReaderCounts()))


def test_expand_inputs_and_shard_ids(tmp_path: Path) -> None:
    for name in ("b.warc.gz", "a.warc.gz", "skip.txt"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.warc.gz").write_bytes(b"")
    files = expand_inputs([str(tmp_path)], ["*.warc.gz"])
    assert [Path(f).name for f in files] == ["a.warc.gz", "b.warc.gz", "a.warc.gz"]
    assert expand_inputs([str(tmp_path / "*.warc.gz")], ["*.warc.gz"]) == files[:2]
    ids = [shard_id(f) for f in files]
    assert len(set(ids)) == 3 and all(i.startswith(("a.", "a-", "b-")) for i in ids)
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        expand_inputs([str(tmp_path / "nothing-here.warc.gz")], ["*.warc.gz"])
