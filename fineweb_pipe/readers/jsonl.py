"""JSON Lines documents (``.jsonl``, ``.jsonl.gz``, ``.jsonl.zst``): one object per line with a text field."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from fineweb_pipe import schema
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.readers.base import DEFAULT_MAX_RECORD_BYTES, Batcher, Reader, fallback_id
from fineweb_pipe.readers.files import open_binary
from fineweb_pipe.stats import ReaderCounts

#: The longest line read (its bytes, newline included); longer ones are skipped as ``line_too_large``.
DEFAULT_MAX_LINE_BYTES = DEFAULT_MAX_RECORD_BYTES
# Read buffer: readline on the unbuffered decompression stream would read one byte per call.
_READ_BUFFER_BYTES = 1 << 20
# Lines parsed by Arrow at once: 4 MB holds hundreds of typical documents.
_BLOCK_BYTES = 4 << 20
_WHITESPACE = b" \t\r\n"
_NEWLINE = ord("\n")
# Lines are short when the first _SHORT_LINES of a block average under _SHORT_LINE_BYTES.
_SHORT_LINES, _SHORT_LINE_BYTES = 64, 1024
_UTF8_BOM = b"\xef\xbb\xbf"
_IS_WHITESPACE = np.isin(np.arange(256), list(_WHITESPACE))
# id types Arrow may find that give the string Python's str() gives
_ID_TYPES = (pa.string(), pa.int64(), pa.null())


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
        stream = open_binary(path, gap_marker=b"\n")  # a line cut by a damaged gzip member ends there
        shard = _Shard(self, path, counts)
        try:
            yield from shard.read(io.BufferedReader(stream, _READ_BUFFER_BYTES))
        finally:
            for problem, position in stream.skipped:  # (where in the lines is not known: the byte is said)
                counts.error("corrupt_compression", path, shard.line_number,
                             f"{problem} at inflated byte {position}; skipped to the next gzip member and "
                             "read on from there")
            if stream.error:
                counts.error(stream.error[0], path, shard.line_number,
                             f"{stream.error[1]}; kept the lines before it")
            stream.close()
        table = shard.batcher.flush()
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


class _Shard:
    """One file being read: blocks of whole lines parsed by Arrow at once, and line by line in Python
    where a block does not fit that path (a bad line, other fields, a line across two blocks, ...)."""

    def __init__(self, reader: JsonlReader, path: str, counts: ReaderCounts) -> None:
        self.reader = reader
        self.path = path
        self.counts = counts
        self.batcher = Batcher(schema.TEXT_SCHEMA, reader.batch_docs, reader.batch_bytes, path, counts)
        self.known = {reader.text_key, reader.id_key, reader.url_key, reader.date_key}
        # url and date given as strings: Arrow would make ISO dates timestamps, and a number there fails
        # the block, as a number is not a string in Python; the id's type is found (strings or integers).
        self.parse_options = pa_json.ParseOptions(
            explicit_schema=pa.schema({key: pa.string() for key in (reader.text_key, reader.url_key, reader.date_key)}),
            newlines_in_values=False)
        self.line_number = 0  # lines read
        self.checked = False  # whether the first JSON object was checked
        self.arrow = True  # False once lines had other fields (Dolma's, ...): the rest is read line by line

    def read(self, lines: io.BufferedReader[Any]) -> Iterator[pa.Table]:
        limit = self.reader.max_line_bytes
        while data := lines.read(_BLOCK_BYTES):
            whole = data.rfind(b"\n") + 1
            if whole:
                yield from self._block(data[:whole] if whole < len(data) else data)
            if whole == len(data):
                continue
            # the line that goes on past this block: read to its end, or past it when over the limit
            start = data[whole:]
            rest = lines.readline(limit + 1 - len(start)) if len(start) <= limit else b""
            if len(start) + len(rest) > limit:
                size = len(start) + len(rest) + _skip_rest_of_line(lines, rest or start)
                table = self._line(b"", size)
            else:
                table = self._line(start + rest, len(start) + len(rest))
            if table is not None:
                yield table

    def _block(self, block: bytes) -> Iterator[pa.Table]:
        """Lines ending in a newline each."""
        parsed = self._parsed(block) if self.arrow else None
        if parsed is not None:
            table, sizes = parsed
            self.line_number += len(sizes)
            self.counts.records["line"] += len(sizes)
            self.checked = True  # every object has a string text and a string or no URL
            yield from self.batcher.add_table(table, sizes)
            return
        start = 0
        while start < len(block):
            end = block.index(b"\n", start) + 1
            table = self._line(block[start:end], end - start)
            if table is not None:
                yield table
            start = end

    def _parsed(self, block: bytes) -> tuple[pa.Table, np.ndarray] | None:
        """The documents of ``block`` parsed by Arrow and the sizes of its lines, or ``None`` where that
        could differ from parsing each line in Python: lines that are not one JSON object with a string
        text and no other fields, blank lines (which Arrow skips, losing line numbers), a byte order
        mark (which Arrow skips too), invalid UTF-8 (which Arrow keeps), lines over the limit, ..."""
        if block.startswith(_UTF8_BOM) or not self._known_fields(block[: block.index(b"\n")]):
            return None
        data = np.frombuffer(block, np.uint8)
        ends = _line_ends(block)
        sizes = np.diff(ends, prepend=0)
        starts = ends - sizes
        maybe_blank = _IS_WHITESPACE[data[starts]]
        if sizes.max() > self.reader.max_line_bytes or any(
                not block[start:end].strip(_WHITESPACE)
                for start, end in zip(starts[maybe_blank].tolist(), ends[maybe_blank].tolist())):
            return None
        lines = len(sizes)
        reader = self.reader
        try:
            table = pa_json.read_json(
                pa.BufferReader(block), parse_options=self.parse_options,
                read_options=pa_json.ReadOptions(use_threads=False, block_size=len(block) + 1))
        except pa.ArrowInvalid:
            return None
        if not set(table.column_names) <= self.known:
            self.arrow = False
            return None
        if table.num_rows != lines:
            return None
        text = table.column(reader.text_key)
        ids = table.column(reader.id_key) if reader.id_key in table.column_names else pa.nulls(lines, pa.string())
        if text.null_count or ids.type not in _ID_TYPES:
            return None
        columns = {schema.TEXT: text, schema.URL: table.column(reader.url_key),
                   schema.DATE: table.column(reader.date_key), schema.ID: ids.cast(pa.string())}
        try:
            for column in columns.values():
                column.validate(full=True)  # UTF-8
        except pa.ArrowInvalid:
            return None
        first = self.line_number + 1
        columns[schema.ID] = _filled_ids(columns[schema.ID], self.path, first)
        columns[schema.SOURCE_FILE] = pa.repeat(pa.scalar(self.path, pa.string()), lines)
        columns[schema.SOURCE_OFFSET] = pa.array(np.arange(first, first + lines))
        columns[schema.METADATA] = pa.nulls(lines, pa.string())
        table = pa.Table.from_arrays([columns[f.name].cast(f.type) for f in schema.TEXT_SCHEMA],
                                     schema=schema.TEXT_SCHEMA)
        return table, sizes

    def _known_fields(self, line: bytes) -> bool:
        """Whether ``line`` (a block's first) has only the fields Arrow reads, or is not a JSON object:
        a file with other fields does not go through Arrow to be read again line by line."""
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            return True  # a bad line: the blocks after it may still be read by Arrow
        if type(obj) is dict and not obj.keys() <= self.known:
            self.arrow = False
        return self.arrow

    def _line(self, line: bytes, size: int) -> pa.Table | None:
        """One line of ``size`` bytes (``line`` holds them unless over the limit); the batch it fills."""
        self.line_number += 1
        line_number, path, counts, reader = self.line_number, self.path, self.counts, self.reader
        counts.records["line"] += 1
        if size > reader.max_line_bytes:
            counts.error("line_too_large", path, line_number,
                         f"line of {size} bytes is over max_line_bytes={reader.max_line_bytes}; skipped "
                         "(raise max_line_bytes to keep such documents)")
            return None
        if line[0] in _WHITESPACE and not line.strip():
            counts.skipped["blank_line"] += 1
            return None
        try:
            try:
                obj = json.loads(line)
            except UnicodeDecodeError:
                obj = json.loads(line.decode("utf-8", "replace"))
                counts.error("invalid_bytes", path, line_number, "undecodable bytes replaced by U+FFFD")
        except ValueError as exc:
            counts.error("invalid_json", path, line_number, f"{exc}; line skipped")
            return None
        if not self.checked:
            reader._check_first(obj, path, line_number)
            self.checked = True
        text = obj.get(reader.text_key) if type(obj) is dict else None
        if type(text) is not str:
            counts.skipped["no_text"] += 1
            return None
        doc_id, url, date = obj.get(reader.id_key), obj.get(reader.url_key), obj.get(reader.date_key)
        if url is not None and type(url) is not str:
            counts.error("invalid_url", path, line_number, f"field '{reader.url_key}' is {_json_type(url)}, "
                         "expected a string; the document is kept without a URL")
            url = None
        extra = {k: v for k, v in obj.items() if k not in self.known}
        row = {
            schema.ID: fallback_id(path, line_number) if doc_id is None else str(doc_id),
            schema.URL: url,
            schema.DATE: None if date is None else str(date),
            schema.TEXT: text,
            schema.SOURCE_FILE: path,
            schema.SOURCE_OFFSET: line_number,
            schema.METADATA: json.dumps(extra, ensure_ascii=False) if extra else None,
        }
        return self.batcher.add(row, size)  # the line's length bounds the text's UTF-8 bytes


def _line_ends(block: bytes) -> np.ndarray:
    """The offset past each newline of ``block``: found one by one while lines are long (documents of a
    few kB: 4x faster than numpy's scan), by numpy's scan of the whole block where they are short."""
    ends = []
    end = block.find(b"\n") + 1
    while end:
        ends.append(end)
        if len(ends) == _SHORT_LINES and end < _SHORT_LINES * _SHORT_LINE_BYTES:
            return np.flatnonzero(np.frombuffer(block, np.uint8) == _NEWLINE) + 1
        end = block.find(b"\n", end) + 1
    return np.array(ends, np.int64)


def _filled_ids(ids: pa.ChunkedArray, path: str, first: int) -> pa.ChunkedArray:
    """``ids`` with each null made from the file and line number (lines from ``first`` on)."""
    if not ids.null_count:
        return ids
    missing = ids.is_null().to_numpy(zero_copy_only=False)
    made = pa.array([fallback_id(path, first + i) if m else None for i, m in enumerate(missing)], pa.string())
    return pc.coalesce(ids, made)


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
