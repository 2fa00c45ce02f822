"""JSON Lines documents (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``): one object per line with a text field."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.readers.base import Reader
from fineweb_pipe.readers.files import open_binary
from fineweb_pipe.stats import ReaderCounts


class JsonlReader(Reader):
    """Reads ``text_key`` (default ``text``) and, where present, ``id``/``url``/``date`` of each line.

    A line that is not JSON, not an object, or has no string text is counted and skipped, with its
    line number. Other fields are not carried (their types vary between files).
    """

    patterns = ("*.jsonl", "*.jsonl.gz", "*.jsonl.zst", "*.json.gz")
    document_schema = schema.TEXT_SCHEMA

    def __init__(self, batch_docs: int = 1024, batch_bytes: int = 32 << 20, text_key: str = "text",
                 id_key: str = "id", url_key: str = "url") -> None:
        super().__init__(batch_docs, batch_bytes)
        self.text_key = text_key
        self.id_key = id_key
        self.url_key = url_key

    def iter_batches(self, path: str, counts: ReaderCounts) -> Iterator[pa.Table]:
        rows: list[dict] = []
        size = 0
        stream = open_binary(path)
        try:
            for line_number, line in enumerate(stream, start=1):
                row = self._row(line, line_number, path, counts)
                if row is None:
                    continue
                rows.append(row)
                size += len(row[schema.TEXT])
                counts.documents += 1
                counts.bytes += len(row[schema.TEXT])
                if len(rows) >= self.batch_docs or size >= self.batch_bytes:
                    yield pa.Table.from_pylist(rows, schema=schema.TEXT_SCHEMA)
                    rows, size = [], 0
        finally:
            if stream.error:
                counts.error(stream.error[0], path, None, f"{stream.error[1]}; kept the lines before it")
            stream.close()
        if rows:
            yield pa.Table.from_pylist(rows, schema=schema.TEXT_SCHEMA)

    def _row(self, line: bytes, line_number: int, path: str, counts: ReaderCounts) -> dict | None:
        counts.records["line"] += 1
        if not line.strip():
            counts.skipped["blank_line"] += 1
            return None
        try:
            obj = json.loads(line)
        except ValueError as exc:
            counts.error("invalid_json", path, line_number, str(exc))
            return None
        text = obj.get(self.text_key) if isinstance(obj, dict) else None
        if not isinstance(text, str):
            counts.skipped["no_text"] += 1
            return None
        doc_id = obj.get(self.id_key)
        return {
            schema.ID: str(doc_id) if doc_id is not None else hashlib.sha1(f"{path}:{line_number}".encode()).hexdigest(),
            schema.URL: obj.get(self.url_key) if isinstance(obj.get(self.url_key), str) else None,
            schema.DATE: str(obj["date"]) if obj.get("date") is not None else None,
            schema.TEXT: text.encode("utf-8", "replace").decode("utf-8"),  # lone surrogates from \\ud800 escapes
            schema.SOURCE_FILE: path,
            schema.SOURCE_OFFSET: line_number,
        }
