"""JSON Lines documents (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``): one object per line with a text field."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from fineweb_pipe import schema
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.readers.base import DEFAULT_MAX_RECORD_BYTES, Batcher, Reader, fallback_id
from fineweb_pipe.readers.files import open_binary
from fineweb_pipe.stats import ReaderCounts

#: The longest line read (its bytes, newline included); longer ones are skipped as ``line_too_large``.
DEFAULT_MAX_LINE_BYTES = DEFAULT_MAX_RECORD_BYTES
# Read buffer: readline on the unbuffered decompression stream would read one byte per call.
_READ_BUFFER_BYTES = 1 << 20
_WHITESPACE = b" \t\r\n"


class JsonlReader(Reader):
    """Reads ``text_key`` (default ``text``) and, where present, ``id``/``url``/``date`` of each line;
    every other field goes into ``metadata`` as one JSON object (Dolma's ``metadata``, RedPajama's
    ``meta``, ...), so every shard has the same columns whatever fields its lines carry.

    The first JSON object of a file is checked: without ``text_key``, or with it not a string, the file
    does not hold documents as configured (:class:`ConfigurationError`). After that, a line that is not
    JSON, not an object or has no string text is counted and skipped with its line number (the
    ``source_offset`` of a document, counted from 1); a line over ``max_line_bytes`` is skipped without
    being held in memory whole (``line_too_large``); invalid UTF-8 becomes U+FFFD (``invalid_bytes``).
    A missing ``id`` is made from the file and line number.
    """

    patterns = ("*.jsonl", "*.jsonl.gz", "*.jsonl.zst", "*.json.gz")
    document_schema = schema.TEXT_SCHEMA

    def __init__(self, batch_docs: int = 1024, batch_bytes: int = 32 << 20, text_key: str = "text",
                 id_key: str = "id", url_key: str = "url", date_key: str = "date",
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> None:
        super().__init__(batch_docs, batch_bytes)
        self.text_key = text_key
        self.id_key = id_key
        self.url_key = url_key
        self.date_key = date_key
        self.max_line_bytes = max_line_bytes

    def iter_batches(self, path: str, counts: ReaderCounts) -> Iterator[pa.Table]:
        batcher = Batcher(schema.TEXT_SCHEMA, self.batch_docs, self.batch_bytes, path, counts)
        text_key, id_key, url_key, date_key = self.text_key, self.id_key, self.url_key, self.date_key
        known = {text_key, id_key, url_key, date_key}
        loads, dumps = json.loads, json.dumps
        limit = self.max_line_bytes
        records = counts.records
        checked = False
        line_number = 0
        stream = open_binary(path)
        lines = io.BufferedReader(stream, _READ_BUFFER_BYTES)
        try:
            while line := lines.readline(limit + 1):
                line_number += 1
                records["line"] += 1
                if len(line) > limit:
                    skipped = len(line) + _skip_rest_of_line(lines, line)
                    counts.error("line_too_large", path, line_number,
                                 f"line of {skipped} bytes is over max_line_bytes={limit}; skipped "
                                 "(raise max_line_bytes to keep such documents)")
                    continue
                if line[0] in _WHITESPACE and not line.strip():
                    counts.skipped["blank_line"] += 1
                    continue
                try:
                    try:
                        obj = loads(line)
                    except UnicodeDecodeError:
                        obj = loads(line.decode("utf-8", "replace"))
                        counts.error("invalid_bytes", path, line_number, "undecodable bytes replaced by U+FFFD")
                except ValueError as exc:
                    counts.error("invalid_json", path, line_number, f"{exc}; line skipped")
                    continue
                if not checked:
                    self._check_first(obj, path, line_number)
                    checked = True
                text = obj.get(text_key) if type(obj) is dict else None
                if type(text) is not str:
                    counts.skipped["no_text"] += 1
                    continue
                doc_id, url, date = obj.get(id_key), obj.get(url_key), obj.get(date_key)
                extra = {k: v for k, v in obj.items() if k not in known}
                row = {
                    schema.ID: fallback_id(path, line_number) if doc_id is None else str(doc_id),
                    schema.URL: url if type(url) is str else None,
                    schema.DATE: None if date is None else str(date),
                    schema.TEXT: text,
                    schema.SOURCE_FILE: path,
                    schema.SOURCE_OFFSET: line_number,
                    schema.METADATA: dumps(extra, ensure_ascii=False) if extra else None,
                }
                table = batcher.add(row, len(line))  # the line's length bounds the text's UTF-8 bytes
                if table is not None:
                    yield table
        finally:
            if stream.error:
                counts.error(stream.error[0], path, line_number, f"{stream.error[1]}; kept the lines before it")
            lines.close()
        table = batcher.flush()
        if table is not None:
            yield table

    def _check_first(self, obj: Any, path: str, line_number: int) -> None:
        """Raise :class:`ConfigurationError` when the file's first object lacks a string text field or
        has a non-string URL: every document of the file would be lost or fail a stage later."""
        if type(obj) is not dict:
            return
        text_key, url_key = self.text_key, self.url_key
        if text_key not in obj:
            raise ConfigurationError(
                f"{path}: line {line_number} has no field '{text_key}' (expected a string; fields: "
                f"{sorted(obj)[:20]}); set JsonlReader(text_key=...) to the field that holds the text")
        if type(obj[text_key]) is not str:
            raise ConfigurationError(
                f"{path}: line {line_number}: field '{text_key}' is {_json_type(obj[text_key])}, expected a "
                f"string; set JsonlReader(text_key=...) to the field that holds the text")
        if obj.get(url_key) is not None and type(obj[url_key]) is not str:
            raise ConfigurationError(
                f"{path}: line {line_number}: field '{url_key}' is {_json_type(obj[url_key])}, expected a "
                f"string; set JsonlReader(url_key=...) to the field that holds the URL")


def _skip_rest_of_line(lines: io.BufferedReader[Any], start: bytes) -> int:
    """Read past the rest of a line whose first bytes were ``start``; the bytes skipped."""
    skipped = 0
    part = start
    while part and not part.endswith(b"\n"):
        part = lines.readline(_READ_BUFFER_BYTES)
        skipped += len(part)
    return skipped


def _json_type(value: Any) -> str:
    return {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object",
            type(None): "null"}.get(type(value), type(value).__name__)
