"""WARC and WET readers: HTML responses (WARC) or extracted text (WET) as document batches.

Parsing uses FastWARC over a Python decompression stream (``files.open_binary``): FastWARC's own gzip
layer rejects some real files (the ClueWeb09 sample) that zlib reads, and the Python layer lets a
truncated gzip end the file cleanly with what was read so far. Offsets are positions in the
decompressed stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pyarrow as pa
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType

from fineweb_pipe import schema
from fineweb_pipe.readers.base import Reader
from fineweb_pipe.readers.files import open_binary
from fineweb_pipe.readers.http import decode_html, decode_transfer, is_html, looks_binary, parse_response
from fineweb_pipe.stats import ReaderCounts

DEFAULT_MAX_RECORD_BYTES = 32 << 20


def record_id(record: WarcRecord) -> str | None:
    value = record.headers.get("WARC-Record-ID")
    return value.strip("<>").removeprefix("urn:uuid:") if value else None


def fallback_id(path: str, offset: int) -> str:
    return hashlib.sha1(f"{path}:{offset}".encode()).hexdigest()


class _Batcher:
    """Collects rows column-wise and cuts a table when the batch is full by count or bytes."""

    def __init__(self, table_schema: pa.Schema, max_docs: int, max_bytes: int) -> None:
        self.schema = table_schema
        self.max_docs = max_docs
        self.max_bytes = max_bytes
        self._reset()

    def _reset(self) -> None:
        self.columns: dict[str, list] = {name: [] for name in self.schema.names}
        self.bytes = 0

    def add(self, row: dict, size: int) -> pa.Table | None:
        for name, values in self.columns.items():
            values.append(row.get(name))
        self.bytes += size
        full = len(self.columns[schema.ID]) >= self.max_docs or self.bytes >= self.max_bytes
        return self.flush() if full else None

    def flush(self) -> pa.Table | None:
        if not self.columns[schema.ID]:
            return None
        table = pa.table(self.columns, schema=self.schema)
        self._reset()
        return table


class WarcReader(Reader):
    """HTTP ``response`` records whose payload is HTML, decoded to text with the right charset.

    Skipped and counted in ``counts.skipped``: non-response records (by type), responses that are not
    HTTP, not HTML, binary, empty, or larger than ``max_record_bytes``. Errors (truncated or corrupt
    input, a record cut short) are counted in ``counts.errors`` and listed with file and offset.
    """

    patterns = ("*.warc", "*.warc.gz", "*.arc.gz", "*.warc.zst")

    def __init__(self, batch_docs: int = 256, batch_bytes: int = 32 << 20,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        super().__init__(batch_docs, batch_bytes)
        self.max_record_bytes = max_record_bytes

    def iter_batches(self, path: str, counts: ReaderCounts) -> Iterator[pa.Table]:
        batcher = _Batcher(schema.WARC_SCHEMA, self.batch_docs, self.batch_bytes)
        for record, offset in self._records(path, counts):
            row = self._document(record, offset, path, counts)
            if row is not None:
                counts.documents += 1
                counts.bytes += len(row[schema.HTML])
                table = batcher.add(row, len(row[schema.HTML]))
                if table is not None:
                    yield table
        table = batcher.flush()
        if table is not None:
            yield table

    def _records(self, path: str, counts: ReaderCounts) -> Iterator[tuple[WarcRecord, int]]:
        stream = open_binary(path)
        offset = 0
        try:
            for record in ArchiveIterator(stream, parse_http=False, quirks_mode=True, strict_mode=False,
                                          stream_detect=False):
                offset = record.stream_pos
                kind = str(record.record_type)
                counts.records[kind] += 1
                yield record, offset
        except Exception as exc:  # FastWARC raises plain exceptions on unparsable input
            counts.error("unparsable_warc", path, offset, f"{type(exc).__name__}: {exc}; stopped reading this file")
        finally:
            if stream.error:
                kind, message = stream.error
                counts.error(kind, path, offset, f"{message}; kept the records before it")
            stream.close()
        if sum(counts.records.values()) == 0 and not counts.errors:
            counts.error("not_warc", path, 0, "no WARC record found; is this a WARC file?")

    def _document(self, record: WarcRecord, offset: int, path: str, counts: ReaderCounts) -> dict | None:
        if record.record_type != WarcRecordType.response:
            counts.skipped[f"record_{record.record_type}"] += 1
            return None
        if record.content_length > self.max_record_bytes:
            counts.skipped["record_too_large"] += 1
            return None
        block = record.reader.read()
        if len(block) < record.content_length:
            counts.error("truncated_record", path, offset,
                         f"record has {len(block)} of {record.content_length} bytes; kept what is there")
        response = parse_response(block)
        if response is None:
            counts.skipped["not_http"] += 1
            return None
        body, decode_error = decode_transfer(response)
        if decode_error:
            counts.error("content_encoding", path, offset, decode_error)
        if not is_html(response.mime_type, body):
            # An HTML response with an empty body (a redirect, say) is still a document: extraction
            # drops it with a reason, so it shows in the funnel instead of vanishing here.
            counts.skipped["empty_payload" if not body.strip() else "not_html"] += 1
            return None
        if looks_binary(body):
            counts.skipped["binary_payload"] += 1
            return None
        html, charset = decode_html(body, response.charset)
        return {
            schema.ID: record_id(record) or fallback_id(path, offset),
            schema.URL: (record.headers.get("WARC-Target-URI") or "").strip("<>"),
            schema.DATE: record.headers.get("WARC-Date"),
            schema.HTML: html,
            schema.CHARSET: charset,
            schema.CONTENT_TYPE: response.headers.get("content-type", ""),
            schema.SOURCE_FILE: path,
            schema.SOURCE_OFFSET: offset,
            schema.WARC_RECORD_ID: record.headers.get("WARC-Record-ID"),
        }


class WetReader(WarcReader):
    """Common Crawl WET files: ``conversion`` records holding extracted plain text."""

    patterns = ("*.wet", "*.wet.gz", "*.warc.wet.gz")

    def iter_batches(self, path: str, counts: ReaderCounts) -> Iterator[pa.Table]:
        batcher = _Batcher(schema.TEXT_SCHEMA, self.batch_docs, self.batch_bytes)
        for record, offset in self._records(path, counts):
            if record.record_type != WarcRecordType.conversion:
                counts.skipped[f"record_{record.record_type}"] += 1
                continue
            text = record.reader.read().decode("utf-8", errors="replace")
            if not text.strip():
                counts.skipped["empty_payload"] += 1
                continue
            counts.documents += 1
            counts.bytes += len(text)
            row = {
                schema.ID: record_id(record) or fallback_id(path, offset),
                schema.URL: (record.headers.get("WARC-Target-URI") or "").strip("<>"),
                schema.DATE: record.headers.get("WARC-Date"),
                schema.TEXT: text,
                schema.SOURCE_FILE: path,
                schema.SOURCE_OFFSET: offset,
            }
            table = batcher.add(row, len(text))
            if table is not None:
                yield table
        table = batcher.flush()
        if table is not None:
            yield table
