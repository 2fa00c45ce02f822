"""JSONL and Parquet readers: bad lines, schema checks at the start of a file, metadata, batching, memory."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from fineweb_pipe import schema
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.readers import JsonlReader, ParquetReader, jsonl
from fineweb_pipe.stats import ReaderCounts
from readers.memory import peak_allocated


def read_rows(reader: JsonlReader | ParquetReader, path: Path) -> tuple[list[dict], ReaderCounts, list[pa.Table]]:
    counts = ReaderCounts()
    tables = list(reader.iter_batches(str(path), counts))
    return [r for t in tables for r in t.to_pylist()], counts, tables


def test_jsonl_counts_bad_lines_and_keeps_good_ones(tmp_path: Path) -> None:
    lines = [json.dumps({"id": "a", "text": "first doc", "url": "http://a"}), "{not json", "",
             json.dumps({"text": 5}), json.dumps({"text": "lone \ud800 surrogate"}), json.dumps(["x"])]
    path = tmp_path / "docs.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode() + b"\n" + b'{"text": "caf\xe9 ok"}'))
    rows, counts, _ = read_rows(JsonlReader(batch_docs=1), path)
    assert [r[schema.TEXT] for r in rows] == ["first doc", "lone \ufffd surrogate", "caf\ufffd ok"]
    assert rows[0][schema.ID] == "a" and rows[1][schema.SOURCE_OFFSET] == 5
    assert counts.errors["invalid_json"] == 1 and counts.skipped["no_text"] == 2 and counts.skipped["blank_line"] == 1
    assert counts.errors["invalid_bytes"] == 2  # the lone surrogate and the byte \xe9
    assert counts.documents == 3 and counts.bytes == sum(len(r[schema.TEXT].encode()) for r in rows)


def test_a_damaged_gzip_member_of_a_jsonl_file_costs_only_its_lines(tmp_path: Path) -> None:
    """A .jsonl.gz written in members (as sharded writers append them): a member whose bytes are damaged
    is counted and skipped, and the lines of the members after it are read."""
    members = [gzip.compress("".join(json.dumps({"id": f"{m}-{n}", "text": f"doc {m} {n}"}) + "\n"
                                     for n in range(50)).encode()) for m in range(3)]
    damaged = bytearray(members[1])
    damaged[len(damaged) // 2] ^= 0xFF
    path = tmp_path / "docs.jsonl.gz"
    path.write_bytes(members[0] + bytes(damaged) + members[2])
    rows, counts, _ = read_rows(JsonlReader(), path)
    ids = [r[schema.ID] for r in rows]
    assert ids[:50] == [f"0-{n}" for n in range(50)] and ids[-50:] == [f"2-{n}" for n in range(50)]
    assert counts.errors["corrupt_compression"] == 1
    assert "skipped to the next gzip member" in counts.error_list[-1]["message"]


def test_jsonl_keeps_other_fields_as_one_metadata_column_and_makes_missing_ids(tmp_path: Path) -> None:
    docs = [{"text": "dolma", "id": 7, "source": "cc", "metadata": {"lang": "en", "score": 0.5}},
            {"text": "redpajama", "meta": {"url": "x"}, "date": "2024-01-01"},
            {"text": "plain"}]
    path = tmp_path / "docs.jsonl.zst"
    path.write_bytes(zstandard.compress("\n".join(json.dumps(d) for d in docs).encode()))
    rows, _, tables = read_rows(JsonlReader(), path)
    assert tables[0].schema == schema.TEXT_SCHEMA
    assert [json.loads(r[schema.METADATA]) if r[schema.METADATA] else None for r in rows] == [
        {"source": "cc", "metadata": {"lang": "en", "score": 0.5}}, {"meta": {"url": "x"}}, None]
    assert rows[0][schema.ID] == "7" and rows[1][schema.DATE] == "2024-01-01"
    assert len(rows[1][schema.ID]) == 40 and rows[1][schema.ID] != rows[2][schema.ID]  # from file and line


@pytest.mark.parametrize(
    ("first", "message"),
    [({"content": "x"}, r"no field 'text' \(expected a string"),
     ({"text": 12}, "field 'text' is a number, expected a string"),
     ({"text": "x", "url": 3}, "field 'url' is a number, expected a string")],
)
def test_jsonl_schema_is_checked_on_the_first_object(tmp_path: Path, first: dict, message: str) -> None:
    path = tmp_path / "wrong.jsonl"
    path.write_text("not json\n" + json.dumps(first) + "\n" + json.dumps({"text": "ok"}) + "\n")
    with pytest.raises(ConfigurationError, match=rf"wrong\.jsonl: line 2.*{message}"):
        read_rows(JsonlReader(), path)
    # a later line without text is corrupt content, counted and skipped
    path.write_text(json.dumps({"text": "ok"}) + "\n" + json.dumps(first) + "\n")
    rows, counts, _ = read_rows(JsonlReader(), path)
    assert len(rows) + counts.skipped["no_text"] == 2


def test_jsonl_batches_by_utf8_bytes(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": "é" * 500}, ensure_ascii=False) + "\n" for _ in range(100)))
    _, counts, tables = read_rows(JsonlReader(batch_bytes=10_000), path)
    assert counts.bytes == 100 * 1000 == sum(sum(len(t.encode()) for t in tb.column(schema.TEXT).to_pylist()) for tb in tables)
    assert all(tb.num_rows <= 10 for tb in tables) and len(tables) >= 10  # ~1 kB per line: 10 per batch


def test_a_huge_jsonl_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    """A 200 MB line under a 16 MB cap: counted as line_too_large, the lines around it read, and the
    memory allocated at the peak far below the line's size."""
    path = tmp_path / "huge.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(json.dumps({"text": "before"}).encode() + b"\n")
        out.write(b'{"text": "' + b"x" * (200 << 20) + b'"}\n')
        out.write(json.dumps({"text": "after"}).encode() + b"\n")
    counts = ReaderCounts()
    with peak_allocated() as peak:
        tables = list(JsonlReader(max_line_bytes=16 << 20).iter_batches(str(path), counts))
    assert [t for b in tables for t in b.column(schema.TEXT).to_pylist()] == ["before", "after"]
    assert counts.errors["line_too_large"] == 1 and counts.error_list[0]["offset"] == 2
    assert peak() < 64 << 20, f"reading a 200 MB line allocated {peak() >> 20} MB at the peak"


@pytest.mark.parametrize("options", [{}, {"batch_docs": 7, "batch_bytes": 3000}, {"max_line_bytes": 500}])
def test_jsonl_blocks_read_by_arrow_give_what_reading_line_by_line_gives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict) -> None:
    """Blocks of lines parsed by Arrow at once, and line by line in Python where a block holds anything
    Arrow would read differently: the same rows, batches, counts and errors as every line in Python."""
    good = [json.dumps({"id": n, "url": f"http://x/{n}", "text": "café " * (n % 150 + 1), "date": "2024-01-01"},
                       ensure_ascii=False).encode() for n in range(400)]
    odd = [b"", b"  \r", b'{"text": "a"} {"text": "b"}', b'{"text": "\\ud800"}', b'{"text": "caf\xe9"}', b'{"text": 5}',
           b'{"text": "x", "text": "y"}', b'\xef\xbb\xbf{"text": "bom"}', b"{}", b'{"text": "no id", "id": null}',
           b'{"text": "x", "id": 1.5}', b'{"text": "2024-01-01T00:00:00Z"}',
           b'{"text": "m", "extra": [1]}']  # last: other fields send the rest of the file line by line
    lines = good[:100] + [line for n, line in enumerate(odd) for line in (line, *good[100 + 20 * n : 120 + 20 * n])]
    path = tmp_path / "docs.jsonl"
    path.write_bytes(b"\n".join(lines))  # the last line without a newline
    monkeypatch.setattr(jsonl, "_BLOCK_BYTES", 4000)  # lines across blocks; a few lines over the block size
    blocks = read_rows(JsonlReader(**options), path)
    monkeypatch.setattr(jsonl._Shard, "_parsed", lambda *_: None)
    by_line = read_rows(JsonlReader(**options), path)
    assert [t.to_pydict() for t in blocks[2]] == [t.to_pydict() for t in by_line[2]]
    assert blocks[1] == by_line[1] and blocks[1].documents == (211 if "max_line_bytes" in options else 368)


def test_parquet_reader_streams_honours_batch_bytes_and_makes_ids(tmp_path: Path) -> None:
    path = tmp_path / "docs.parquet"
    pq.write_table(pa.table({"text": ["é" * 1000] * 100, "score": list(range(100))}), path, row_group_size=50)
    rows, counts, tables = read_rows(ParquetReader(batch_bytes=10_000), path)
    assert len(rows) == 100 == counts.documents and counts.bytes == 100 * 2000
    assert max(t.num_rows for t in tables) == 5  # 2 kB rows, 10 kB batches, from 50-row groups
    assert tables[0].column(schema.SOURCE_OFFSET).to_pylist()[:2] == [0, 1]
    assert len({r[schema.ID] for r in rows}) == 100 and rows[0]["score"] == 0  # extra columns kept typed
    packed, _, _ = read_rows(ParquetReader(metadata=True), path)
    assert "score" not in packed[3] and json.loads(packed[3][schema.METADATA]) == {"score": 3}


def test_parquet_integer_ids_become_strings_and_nulls_are_filled(tmp_path: Path) -> None:
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"id": pa.array([5, None], pa.int64()), "text": ["a", "b"]}), path)
    rows, _, _ = read_rows(ParquetReader(), path)
    assert rows[0][schema.ID] == "5" and len(rows[1][schema.ID]) == 40


@pytest.mark.parametrize(
    ("table", "message"),
    [(pa.table({"x": [1]}), r"no 'text' column \(expected a string column"),
     (pa.table({"text": [1]}), "column 'text' is int64, expected string"),
     (pa.table({"text": [b"x"]}), "column 'text' is binary, expected string"),
     (pa.table({"text": ["x"], "url": [3]}), "column 'url' is int64, expected string")],
)
def test_parquet_schema_problems_are_configuration_errors(tmp_path: Path, table: pa.Table, message: str) -> None:
    path = tmp_path / "bad.parquet"
    pq.write_table(table, path)
    with pytest.raises(ConfigurationError, match=rf"bad\.parquet: {message}"):
        read_rows(ParquetReader(), path)


def test_a_file_that_is_not_parquet_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "fake.parquet"
    path.write_bytes(b"id,text\n1,hello\n")
    rows, counts, _ = read_rows(ParquetReader(), path)
    assert rows == [] and counts.errors["not_parquet"] == 1 and "fake.parquet" in counts.error_list[0]["file"]


def test_text_documents_pass_the_recipe_s_url_filter_and_extractor(tmp_path: Path) -> None:
    """JSONL without URLs through the FineWeb recipe's first two stages: kept, not extracted again."""
    from fineweb_pipe.stages.extraction import TrafilaturaExtractor
    from fineweb_pipe.stages.url import UrlFilter

    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": f"document {n}"}) + "\n" for n in range(3)))
    [batch] = list(JsonlReader().iter_batches(str(path), ReaderCounts()))
    kept = UrlFilter(cache_dir=tmp_path / "cache").process(batch).kept
    extractor = TrafilaturaExtractor()
    result = extractor.process(kept)
    assert result.kept.equals(kept) and result.counters == {"already_extracted": 3}
    assert extractor.process(kept.slice(0, 0)).kept.num_rows == 0  # the engine's zero-row batches
    assert "_extract" not in vars(extractor)  # no extraction child was started


@pytest.mark.shared_data
def test_real_dolma_jsonl_keeps_its_metadata(shared_data: Path) -> None:
    for path in sorted((shared_data / "text").glob("dolma_ccnet_cc_en_head-*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines()
        rows, counts, tables = read_rows(JsonlReader(), path)
        assert len(rows) == len(lines) == counts.documents and not counts.errors
        assert all(t.schema == schema.TEXT_SCHEMA for t in tables)
        first = json.loads(lines[0])
        meta = json.loads(rows[0][schema.METADATA])
        assert meta["metadata"] == first["metadata"] and meta["added"] == first["added"]
        assert rows[0][schema.ID] == first["id"] and rows[0][schema.TEXT] == first["text"]
        assert counts.bytes == sum(len(r[schema.TEXT].encode()) for r in rows)


def test_a_jsonl_url_that_is_not_a_string_is_counted_not_dropped_unseen(tmp_path: Path) -> None:
    """Past the first line (where it stops the run), a URL of another JSON type: the document is kept
    without a URL, and the dropped value counted, on the Arrow path and the line-by-line path alike."""
    lines = [json.dumps({"text": f"doc {n}", "url": f"http://x/{n}"}) for n in range(2000)]
    lines[1500] = json.dumps({"text": "doc 1500", "url": 5})
    lines[1700] = json.dumps({"text": "doc 1700", "url": {"href": "http://x"}, "lang": "en"})  # (Python path)
    path = tmp_path / "urls.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rows, counts, _ = read_rows(JsonlReader(), path)
    assert len(rows) == 2000 and rows[1500][schema.URL] is None and rows[1700][schema.URL] is None
    assert [(e["type"], e["offset"]) for e in counts.error_list] == [("invalid_url", 1501), ("invalid_url", 1701)]
