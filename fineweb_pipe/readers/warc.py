"""WARC and WET readers: HTML responses (WARC) or extracted text (WET) as document batches.

Parsing uses FastWARC over a Python decompression stream (``files.open_binary``): FastWARC's own gzip
layer rejects some real files (the ClueWeb09 sample) that zlib reads, and the Python layer lets a
truncated gzip end the file cleanly with what was read so far. Offsets are positions in the
decompressed stream.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import deque
from collections.abc import Iterator
from typing import AnyStr

import pyarrow as pa
from fastwarc.warc import ArchiveIterator, WarcHeader, WarcRecord, WarcRecordType

from fineweb_pipe import schema
from fineweb_pipe.errors import InputUnavailable
from fineweb_pipe.readers.base import DEFAULT_MAX_RECORD_BYTES, Batcher, Reader, fallback_id
from fineweb_pipe.readers.files import ForwardStream, TrappedStream, open_binary
from fineweb_pipe.readers.http import decode_html, decode_transfer, is_html, looks_binary, parse_response
from fineweb_pipe.stats import ReaderCounts

def record_id(header: str | None) -> str | None:
    """The document id in a ``WARC-Record-ID`` header: the UUID without its ``<urn:uuid:...>``."""
    return header.strip("<>").removeprefix("urn:uuid:") if header else None


class WarcReader(Reader):
    """HTTP ``response`` records whose payload is HTML, decoded to text with the right charset.

    Skipped and counted in ``counts.skipped``: non-response records (by type), responses that are not
    HTTP, not HTML, binary, empty, or larger than ``max_record_bytes``. Errors (truncated or corrupt
    input, a record cut short) are counted in ``counts.errors`` and listed with file and offset.
    """

    patterns = ("*.warc", "*.warc.gz", "*.warc.zst")
    document_schema = schema.WARC_SCHEMA

    def __init__(self, batch_docs: int = 256, batch_bytes: int = 32 << 20,
                 max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> None:
        super().__init__(batch_docs, batch_bytes)
        self.max_record_bytes = max_record_bytes

    def iter_batches(self, path: str, counts: ReaderCounts) -> Iterator[pa.Table]:
        batcher = Batcher(schema.WARC_SCHEMA, self.batch_docs, self.batch_bytes, path, counts)
        for record, offset, block in self._records(path, counts):
            row = self._document(record, offset, block, path, counts)
            if row is not None:
                table = batcher.add(row, len(row[schema.HTML]))
                if table is not None:
                    yield table
        table = batcher.flush()
        if table is not None:
            yield table

    def _records(self, path: str, counts: ReaderCounts) -> Iterator[tuple[WarcRecord, int, bytes | None]]:
        """Every record with its offset and block (``None`` when over ``max_record_bytes``)."""
        stream = open_binary(path)
        last = [0]  # offset of the record being read, for errors raised by the parser
        try:
            yield from self._parse(stream, 0, path, counts, last)
        except InputUnavailable:
            raise  # the transport failed, not the bytes: the engine retries the shard
        except Exception as exc:  # FastWARC raises plain exceptions on unparsable input
            counts.error("unparsable_warc", path, last[0], f"{type(exc).__name__}: {exc}; stopped reading this file")
        finally:
            for problem, position in stream.skipped:
                counts.error("corrupt_compression", path, position,
                             f"{problem}; skipped to the next gzip member and read on from there")
            if stream.error:
                kind, message = stream.error
                counts.error(kind, path, last[0], f"{message}; kept the records before it")
            empty = stream.tell() == 0
            stream.close()
        if sum(counts.records.values()) == 0 and not counts.errors:
            if empty:
                counts.error("empty_file", path, 0, "the file holds no bytes; re-fetch it if it should not be empty")
            else:
                counts.error("not_warc", path, 0, "no WARC record found; is this a WARC file?")

    def _parse(self, stream: TrappedStream, base: int, path: str, counts: ReaderCounts,
               last: list[int]) -> Iterator[tuple[WarcRecord, int, bytes | None]]:
        replay: _Replay | None = _Replay(stream, b"", self.max_record_bytes + _READ_AHEAD_BYTES)
        budget = _ReplayBudget()
        while replay is not None:
            source, replay = replay, None
            for record, offset, data, next_start in self._blocks(source, base, counts, last):
                framed = self._framed(source, stream, base, record, offset, data, next_start, budget, path, counts)
                if framed is None:
                    continue
                block, restart = framed
                yield record, offset, block
                if restart is not None:  # parse again from the record found, with the bytes kept since this one
                    base, replay = offset + restart[0], restart[1]
                    break

    def _framed(self, source: _Replay, stream: TrappedStream, base: int, record: WarcRecord, offset: int,
                data: bytes, next_start: int | None, budget: _ReplayBudget, path: str,
                counts: ReaderCounts) -> tuple[bytes | None, _Restart | None] | None:
        """The block to hand on (``None``: none), counting what is wrong with its framing, and where to parse
        again from when a record hides in it or after it; ``None`` for no record at all (a header cut short).
        ``base``: the file position of ``source``'s start."""
        block_end = source.block_end(record.stream_pos, record.content_length)
        if block_end is None and record.headers.get(WarcHeader.CONTENT_LENGTH) is None:
            counts.error("bad_record_header", path, offset, "a WARC record header without Content-Length "
                         "(cut short at the end of the file, or garbage that looks like one); skipped")
            return None
        # What lies between this block and the next record FastWARC found (or the end of the file): a
        # record separator when the Content-Length is right. FastWARC skips anything else silently, records
        # it could not find included.
        gap = None if block_end is None or next_start is None else source.kept(block_end, next_start)
        whole = gap is not None and not gap.strip(b"\r\n") and len(data) == record.content_length
        # A whole block is not searched for a record (searching every block cost 0.2x FastWARC's time on
        # the bench WARC), nor hashed where gzip's CRC-32 has checked its bytes (hashing every block cost
        # 0.4x FastWARC's time on a real 143 MB WARC).
        verified = whole and block_end is not None and base + block_end <= stream.verified_through
        digest_ok = None if verified else _digest_matches(record, data)
        if whole and digest_ok is not False:
            return self._checked(record, offset, data, digest_ok, path, counts), None
        # A record inside the block (a Content-Length that runs past it), or inside the bytes after it
        # (garbage before a record, a length too short by less than a header): search what was read from
        # the block's start, or from its end where the digest says the block is genuine.
        skip = record.content_length if digest_ok else 0
        searched = None
        if block_end is not None:  # to the next record, or (not parsed yet) to the block's end
            search_end = min(block_end, source.kept_end) if next_start is None else next_start
            searched = source.kept(block_end - record.content_length + skip, search_end)
        if searched is None:  # (not kept)
            searched, skip = (b"" if digest_ok else data), 0
        cut = _embedded_record(searched)
        restart = source.restart_at(record.stream_pos, skip + cut[1]) if cut else None
        if restart is not None and not budget.allows(restart[1], stream.tell(), path, offset, counts):
            restart = None
        if cut is None or restart is None:
            if gap and gap.strip(b"\r\n") and digest_ok is not False:  # (a mismatch is counted as such)
                counts.error("garbage_between_records", path, offset, f"{len(gap)} bytes after this record's "
                             "block are not a WARC record (a Content-Length too short, or damaged bytes); skipped")
            return self._checked(record, offset, data, digest_ok, path, counts), None
        end, position = skip + cut[0], skip + cut[1]  # of this block, of the record found
        if position >= record.content_length:
            counts.error("garbage_between_records", path, offset,
                         f"{position - record.content_length} bytes after this record's block are not a WARC "
                         "record and hid the record after them; read on from that record")
            return self._checked(record, offset, data, digest_ok, path, counts), restart
        # The Content-Length runs past this record into the next ones (a lying length, or a record cut short
        # by a crashed writer with more appended): the block ends where the next record starts.
        counts.error("content_length_mismatch", path, offset, f"Content-Length {record.content_length} runs into "
                     f"the WARC record at block byte {position}; cut the record there and read on from that record")
        return self._checked(record, offset, data[:end], None, path, counts, end), restart

    def _blocks(self, source: _Replay, base: int, counts: ReaderCounts,
                last: list[int]) -> Iterator[tuple[WarcRecord, int, bytes, int | None]]:
        """Every record with its offset, its block (up to ``max_record_bytes + 1`` bytes), and where the next
        record starts (at the end: where reading stopped; ``None`` for a block over the limit, handed on
        before the next record is parsed). A record is handed on once the next one is parsed (its start is
        then read), the last one at the end of the file or on an error, which is raised after it.
        A record is counted, and bytes before it dropped, only after the one before was handed on: that
        one may be cut, and the file parsed again from inside it."""
        records = ArchiveIterator(source, parse_http=False, quirks_mode=True, stream_detect=False)
        held: tuple[WarcRecord, int, bytes] | None = None
        while True:
            try:
                record = next(records, None)
            except Exception:
                if held is not None:
                    yield *held, source.tell()
                raise
            if held is not None:
                yield *held, source.tell() if record is None else record.stream_pos
            if record is None:
                return
            offset = base + record.stream_pos
            last[0] = offset
            source.forget_before(record.stream_pos)
            counts.records[str(record.record_type)] += 1
            held = record, offset, _read_block(record, self.max_record_bytes + 1)
            if len(held[2]) > self.max_record_bytes and source.holds_record(record.stream_pos, record.content_length):
                # Asked for the next record, FastWARC would skip the rest of this block: as far as its
                # Content-Length says, which may lie by gigabytes, past what replay keeps. Handed on
                # first, so that the record found in what was read is parsed from there instead.
                yield *held, None
                held = None

    def _checked(self, record: WarcRecord, offset: int, data: bytes, digest_ok: bool | None, path: str,
                 counts: ReaderCounts, length: int | None = None) -> bytes | None:
        """The block, counting what is wrong with it; ``None`` when it is over ``max_record_bytes``.
        ``length``: the block's length where it is not the Content-Length (a block cut short)."""
        what = f"Content-Length {record.content_length}" if length is None else f"the block, cut at byte {length},"
        length = record.content_length if length is None else length
        if len(data) > self.max_record_bytes:
            counts.error("record_too_large", path, offset, f"{what} is over max_record_bytes={self.max_record_bytes}; "
                         "skipped (raise the limit to keep such pages)")
            return None
        if len(data) < length:
            counts.error("truncated_record", path, offset,
                         f"record has {len(data)} of {record.content_length} bytes; kept what is there")
        elif digest_ok is False:
            counts.error("block_digest_mismatch", path, offset,
                         "WARC-Block-Digest does not match the block (a Content-Length shorter than the record, "
                         "or damaged bytes); kept what is there")
        return data

    def _document(self, record: WarcRecord, offset: int, block: bytes | None, path: str,
                  counts: ReaderCounts) -> dict | None:
        if record.record_type != WarcRecordType.response:
            counts.skipped[f"record_{record.record_type}"] += 1
            return None
        if block is None:
            return None  # over the size limit, counted where it was read
        response = parse_response(block)
        if response is None:
            counts.skipped["not_http"] += 1
            return None
        payload = decode_transfer(response, self.max_record_bytes)
        if payload.problem:
            counts.error(payload.problem, path, offset, payload.message or "")
        if payload.body is None:
            return None  # inflates past the record limit
        body = payload.body
        if not is_html(response.mime_type, body):
            # An HTML response with an empty body (a redirect, say) is still a document: extraction
            # drops it with a reason, so it shows in the funnel instead of vanishing here.
            counts.skipped["empty_payload" if not body.strip() else "not_html"] += 1
            return None
        if looks_binary(body):
            counts.error("binary_payload", path, offset,
                         f"payload labelled {response.mime_type or 'as nothing'} is binary; skipped")
            return None
        decoded = decode_html(body, response.charset)
        if decoded.problem:
            counts.error(decoded.problem, path, offset, _DECODE_MESSAGES[decoded.problem].format(
                declared=response.charset, used=decoded.charset))
        header = record.headers.get(WarcHeader.WARC_RECORD_ID)
        return {
            schema.ID: record_id(header) or fallback_id(path, offset),
            schema.URL: (record.headers.get(WarcHeader.WARC_TARGET_URI) or "").strip("<>"),
            schema.DATE: record.headers.get(WarcHeader.WARC_DATE),
            schema.HTML: _without_nul(decoded.html, path, offset, counts),
            schema.CHARSET: decoded.charset,
            schema.CONTENT_TYPE: response.headers.get("content-type", ""),
            schema.SOURCE_FILE: path,
            schema.SOURCE_OFFSET: offset,
            schema.WARC_RECORD_ID: header,
        }


_DECODE_MESSAGES = {
    "charset_mismatch": "declared charset {declared} does not fit the bytes; decoded as {used}",
    "invalid_bytes": "undecodable bytes in {used} replaced by U+FFFD",
}


def _without_nul(text: AnyStr, path: str, offset: int, counts: ReaderCounts) -> AnyStr:
    """NUL characters removed (HTML parsers drop them; C tools downstream stop at them), and counted.
    ``text`` is a ``str`` or UTF-8 ``bytes``, where a NUL byte is a NUL character."""
    nul = "\x00" if isinstance(text, str) else b"\x00"
    if nul not in text:
        return text
    counts.error("nul_characters", path, offset, f"{text.count(nul)} NUL characters removed")
    return text.replace(nul, nul[:0])


def _embedded_record(data: bytes) -> tuple[int, int] | None:
    """(end of this block, start of the next record) when a WARC record header starts inside ``data``."""
    for match in _WARC_VERSION_LINE.finditer(data):
        pos = match.start()
        header_end = data.find(b"\r\n\r\n", pos, pos + _MAX_HEADER_BYTES)
        if header_end > 0 and b"\r\nWARC-Type:" in data[pos:header_end]:
            end = pos - 4 if data[pos - 4 : pos] == b"\r\n\r\n" else pos  # the record separator
            return end, pos
    return None


# Every block is searched for it: a regex does that in 6.1 ms where a bytes.find loop takes 7.0 (the
# bench_readers WARC, 28 MB).
_WARC_VERSION_LINE = re.compile(rb"WARC/1\.[01]\r\n")


_MAX_HEADER_BYTES = 64 << 10
_REPLAY_BUDGET = 8  # (see _ReplayBudget)
_PARSER_BUFFER = 128 << 10  # FastWARC's read-ahead, and some: a replay of no more is free
_HEADER_PROBE_BYTES = 4 << 10
# Bytes a parser may have read beyond the record it returned (its buffer); replay keeps them too.
_READ_AHEAD_BYTES = 4 << 20


def _read_block(record: WarcRecord, limit: int) -> bytes:
    """At most ``limit`` bytes of the record's block: a record over the limit (or a Content-Length that
    lies by gigabytes) costs that much memory at most. FastWARC allocates what ``read`` is asked for,
    so it is asked for the Content-Length first (32 MB asked for per record took half the time of
    FastWARC's whole iteration), then for the rest of the limit if the block goes on past it."""
    first = min(limit, max(record.content_length, 0) + 1)
    data = record.reader.read(first)
    if len(data) == first < limit:
        data += record.reader.read(limit - first)
    return data


def _digest_matches(record: WarcRecord, data: bytes) -> bool | None:
    """Whether ``data`` is the block its ``WARC-Block-Digest`` (sha1) names; ``None`` without one."""
    digest = record.headers.get(WarcHeader.WARC_BLOCK_DIGEST)
    if not digest:
        return None
    algorithm, _, value = digest.partition(":")
    if algorithm.strip().lower() != "sha1" or not value:
        return None
    actual = hashlib.sha1(data).digest()
    value = value.strip()
    return value.upper() == base64.b32encode(actual).decode() or value.lower() == actual.hex()


class _ReplayBudget:
    """Bytes parsed again after lying lengths, beyond the parser's read-ahead: at most ``_REPLAY_BUDGET``
    times the bytes read. A damaged file has a few lies, each parsing again what was read past it (every
    record may lie by a little: a writer's bug); many lies that each run to the end of the file would take
    time quadratic in its size."""

    def __init__(self) -> None:
        self._replayed = 0
        self._spent = False

    def allows(self, replay: _Replay, read: int, path: str, offset: int, counts: ReaderCounts) -> bool:
        """Whether ``replay`` may be parsed, ``read`` bytes into the file; the first refusal is counted."""
        if self._spent:
            return False
        self._replayed += max(0, replay.replay_bytes - _PARSER_BUFFER)
        if self._replayed <= _REPLAY_BUDGET * max(read, _READ_AHEAD_BYTES):
            return True
        self._spent = True
        counts.error("too_many_lying_lengths", path, offset, f"lying Content-Lengths made the reader parse "
                     f"{self._replayed} bytes again; the records they hide in the rest of this file are not recovered")
        return False


class _Replay(ForwardStream):
    """A stream that keeps the bytes read since the current record began (up to ``keep_limit``), so that
    parsing can start again inside a record whose Content-Length lied. The bytes a replay starts with
    count as kept from the start: a second lie within them replays what was not handed out yet too.

    FastWARC reads through ``read``, which hands on the decompressor's own ``bytes``: the kept bytes are
    those objects, not a copy (three copies of every byte less than ``readinto`` into a kept buffer)."""

    def __init__(self, stream: TrappedStream, prefix: bytes, keep_limit: int) -> None:
        super().__init__()
        self._stream = stream
        self._pending = memoryview(prefix)  # kept, not yet handed out
        self._keep_limit = keep_limit
        self._kept: deque[bytes] = deque([prefix] if prefix else [])  # since _kept_from: handed out, then pending
        self._kept_from = 0  # stream position of the first kept byte
        self._kept_end = len(prefix)  # stream position after the last kept byte
        self._complete = True  # whether every byte since _kept_from is kept

    def read(self, size: int = -1) -> bytes:
        if self._pending:
            data = bytes(self._pending if size < 0 else self._pending[:size])
            self._pending = self._pending[len(data) :]
        else:
            data = self._stream.read(size)
            self._keep(data)
        self._position += len(data)
        return data

    @property
    def kept_end(self) -> int:
        """The stream position after the last byte kept (a replay's bytes not handed out yet, too)."""
        return self._kept_end

    @property
    def replay_bytes(self) -> int:
        """Bytes this stream hands out again (read before, kept)."""
        return len(self._pending)

    def _keep(self, data: bytes) -> None:
        if self._complete and data:
            self._kept.append(data)
            self._kept_end += len(data)
            if self._kept_end - self._kept_from > self._keep_limit:  # a huge record: give up replaying inside it
                self._kept.clear()
                self._complete = False

    def forget_before(self, position: int) -> None:
        """A record starts at ``position``: earlier bytes are no longer needed."""
        if not self._complete:  # keep again from here: replay works from the next record on
            self._kept = deque([bytes(self._pending)] if self._pending else [])
            self._kept_from, self._complete = self._position, True
            self._kept_end = self._position + len(self._pending)
            return
        while self._kept and self._kept_from + len(self._kept[0]) <= position:
            self._kept_from += len(self._kept.popleft())

    def _window(self, start: int, end: int) -> bytes:
        """The kept bytes from stream position ``start`` to ``end`` (fewer where not read yet)."""
        parts, position = [], self._kept_from
        for chunk in self._kept:
            if position >= end:
                break
            if position + len(chunk) > start:
                parts.append(chunk[max(0, start - position) : end - position])
            position += len(chunk)
        return b"".join(parts)

    def block_end(self, record_start: int, content_length: int) -> int | None:
        """Where the block of the record at ``record_start`` ends: ``content_length`` bytes after its
        header's CRLF CRLF; ``None`` where those bytes were not kept or the header does not end so."""
        if not self._complete or self._kept_from > record_start:
            return None
        for probe in (_HEADER_PROBE_BYTES, _MAX_HEADER_BYTES):  # most headers are under 1 kB
            header = self._window(record_start, record_start + probe)
            header_end = header.find(b"\r\n\r\n")
            if header_end >= 0 or len(header) < probe:
                break
        if header_end < 0 or header.find(b"\n\n", 0, header_end) >= 0:  # (a bare-LF header)
            return None
        return record_start + header_end + 4 + content_length

    def holds_record(self, record_start: int, content_length: int) -> bool:
        """Whether a WARC record starts inside the bytes read so far of the block of the record at
        ``record_start``."""
        block_end = self.block_end(record_start, content_length)
        read = None if block_end is None else self.kept(block_end - content_length, min(block_end, self._kept_end))
        return read is not None and _embedded_record(read) is not None

    def kept(self, start: int, end: int) -> bytes | None:
        """The bytes from stream position ``start`` to ``end``; ``None`` where not all were kept."""
        if not self._complete or start < self._kept_from or end > self._kept_end or end < start:
            return None
        return self._window(start, end)

    def restart_at(self, record_start: int, block_offset: int) -> _Restart | None:
        """A stream from byte ``block_offset`` of the block of the record at ``record_start`` on, with its
        position relative to ``record_start``; ``None`` if those bytes were not kept."""
        if not self._complete or self._kept_from > record_start:
            return None
        kept = self._window(record_start, self._kept_end)
        header_end = kept.find(b"\r\n\r\n")
        if header_end < 0:
            return None
        start = header_end + 4 + block_offset
        return start, _Replay(self._stream, kept[start:], self._keep_limit)

    def close(self) -> None:
        """The underlying stream belongs to the caller."""


# Where to parse again from: the position relative to the record that hid it, and the stream from there.
_Restart = tuple[int, _Replay]


class WetReader(WarcReader):
    """Common Crawl WET files: ``conversion`` records holding extracted plain text."""

    patterns = ("*.wet", "*.wet.gz", "*.warc.wet.gz")
    document_schema = schema.TEXT_SCHEMA

    def iter_batches(self, path: str, counts: ReaderCounts) -> Iterator[pa.Table]:
        batcher = Batcher(schema.TEXT_SCHEMA, self.batch_docs, self.batch_bytes, path, counts)
        for record, offset, block in self._records(path, counts):
            if record.record_type != WarcRecordType.conversion:
                counts.skipped[f"record_{record.record_type}"] += 1
                continue
            if block is None:
                continue  # over the size limit, counted where it was read
            # The text goes to Arrow as UTF-8 bytes (the block itself when valid): a str would be encoded
            # again there. The str is kept for the emptiness check only.
            utf8 = block
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError:
                counts.error("invalid_bytes", path, offset, "undecodable bytes in utf-8 replaced by U+FFFD")
                text = block.decode("utf-8", errors="replace")
                utf8 = text.encode()
            without_nul = _without_nul(utf8, path, offset, counts)
            if len(without_nul) < len(utf8):
                text = text.replace("\x00", "")
            if not text or text.isspace():  # (as `not text.strip()`, without copying the text)
                counts.skipped["empty_payload"] += 1
                continue
            row = {
                schema.ID: record_id(record.headers.get(WarcHeader.WARC_RECORD_ID)) or fallback_id(path, offset),
                schema.URL: (record.headers.get(WarcHeader.WARC_TARGET_URI) or "").strip("<>"),
                schema.DATE: record.headers.get(WarcHeader.WARC_DATE),
                schema.TEXT: without_nul,
                schema.SOURCE_FILE: path,
                schema.SOURCE_OFFSET: offset,
            }
            table = batcher.add(row, len(block))
            if table is not None:
                yield table
        table = batcher.flush()
        if table is not None:
            yield table
