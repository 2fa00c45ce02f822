"""Opening input files (local paths or object-store URIs) as streams, decompressed."""

from __future__ import annotations

import gzip
import io
import zlib
from typing import Any, BinaryIO

import fsspec
import zstandard
from isal import isal_zlib

from fineweb_pipe.errors import InputUnavailable


class ForwardStream(io.RawIOBase):
    """A read-only stream that knows its position and cannot seek: what FastWARC needs from a stream
    (it asks where it is through ``seek``/``tell``). Subclasses implement ``read`` (FastWARC reads through
    it: the bytes go on without a copy) and advance ``_position``."""

    def __init__(self) -> None:
        super().__init__()
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        raise NotImplementedError

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        # Only the no-op seeks make sense on a stream.
        target = offset + (self._position if whence == io.SEEK_CUR else 0)
        if whence == io.SEEK_END or target != self._position:
            raise io.UnsupportedOperation(f"{type(self).__name__} cannot seek")
        return self._position


class TrappedStream(ForwardStream):
    """A read-only stream that turns a decompression failure into end-of-file and remembers it.

    A truncated or corrupt compressed file must not lose the records read before the damage: the reader
    stops there, keeps what it has, and reports ``error`` (e.g. ``truncated_gzip``). A damaged gzip
    member is skipped instead, and listed in ``skipped``.
    """

    def __init__(self, inner: BinaryIO, path: str) -> None:
        super().__init__()
        self._inner = inner
        self.path = path
        # Not getattr(inner, "read1", inner.read): that evaluates inner.read, and GzipMembers has only read1.
        self._read = getattr(inner, "read1", None) or inner.read
        self.error: tuple[str, str] | None = None

    def read(self, size: int = -1) -> bytes:
        """At most ``size`` bytes, as the decompressor handed them out (no copy: the WARC reader keeps
        them for a replay); ``b""`` at the end or after a decompression failure."""
        if self.error:
            return b""
        try:
            # read1: one step of the decompressor. A buffered read() that fails part-way loses what it
            # had decompressed in that call (all of a small file cut at its end).
            data = self._read(size)
        except EOFError as exc:
            self.error = ("truncated_gzip", str(exc))
            return b""
        except (gzip.BadGzipFile, zlib.error, isal_zlib.error, zstandard.ZstdError) as exc:  # type: ignore[misc]  # isal's stub makes `error` an instance
            self.error = ("corrupt_compression", str(exc))
            return b""
        except OSError as exc:  # the transport, not the bytes: the shard is retried, not cut short
            raise InputUnavailable(self.path, exc) from exc
        self._position += len(data)
        return data

    @property
    def verified_through(self) -> int:
        """The stream position up to which a checksum of the file checked every byte (gzip's CRC-32,
        member by member); 0 for files that carry none."""
        return self._inner.verified_through if isinstance(self._inner, GzipMembers) else 0

    @property
    def skipped(self) -> list[tuple[str, int]]:
        """Damaged stretches the decompressor skipped: (what was wrong, stream position of the gap)."""
        return self._inner.skipped if isinstance(self._inner, GzipMembers) else []

    def close(self) -> None:
        self._inner.close()
        super().close()


class GzipMembers:
    """A gzip stream (members one after another, zero padding after the last, as ``gzip`` reads it)
    inflated by ISA-L: 2.5x zlib's speed (0.26 against 0.66 CPU-s for 282 MB of WARC).

    ``read1`` hands out what each step inflated, so a cut file gives every byte before the cut and
    then raises ``EOFError`` like ``gzip``; ``isal.igzip`` drops the last block inflated before the cut.
    A damaged member (bad deflate data, a failed CRC-32, bytes that are no gzip member) is skipped to
    the next member's header and listed in ``skipped``: Common Crawl writes one member per record, so
    one damaged record does not cost the thousands after it.
    """

    def __init__(self, raw: BinaryIO, chunk_bytes: int = 1 << 17, max_output_bytes: int = 8 << 20,
                 gap_marker: bytes = b"") -> None:
        self._raw = raw
        self._chunk_bytes = chunk_bytes
        self._max_output_bytes = max_output_bytes  # bounds memory on highly compressed input
        self._inflater: Any = None  # the member being read; None between members
        self._input = b""  # compressed bytes read and not yet inflated
        self._output = b""
        self._output_pos = 0
        self._handed_out = 0  # bytes inflated and handed out
        #: stream position up to which every byte was checked by its member's CRC-32
        self.verified_through = 0
        #: (what was wrong, bytes handed out before the gap) for each damaged stretch skipped
        self.skipped: list[tuple[str, int]] = []
        self._skipping = False  # in a damaged stretch: members that fail here are part of it
        # Handed out where a damaged stretch was skipped, unless what came before ends with it (a line
        # reader's b"\n": the line the damage cut ends there, instead of swallowing the next member's first).
        self._gap_marker = gap_marker
        self._marker_due = False
        self._ends_with = b""  # the last byte handed out

    def read1(self, size: int = -1) -> bytes:
        while self._output_pos >= len(self._output):
            if not self._inflate_more():
                return b""
        end = len(self._output) if size < 0 else self._output_pos + size
        out = self._output[self._output_pos:end]
        self._output_pos += len(out)
        self._handed_out += len(out)
        self._ends_with = out[-1:] or self._ends_with
        return out

    def _inflate_more(self) -> bool:
        """Inflate the next piece of input into ``_output``; False after the last member."""
        if self._inflater is None and not self._next_member():
            return False
        if self._marker_due:
            self._output, self._output_pos, self._marker_due = self._gap_marker, 0, False
            return True
        if not self._input:
            self._input = self._raw.read(self._chunk_bytes)
            if not self._input:
                raise EOFError("compressed file ended before the end-of-stream marker was reached")
        try:
            self._output, self._output_pos = self._inflater.decompress(self._input, self._max_output_bytes), 0
        except isal_zlib.error as exc:  # type: ignore[misc]  # isal's stub makes `error` an instance
            self._skip_damage(f"damaged gzip member ({exc})")
            return True
        if self._inflater.eof:  # the member's CRC-32 and length matched
            self._input, self._inflater = self._inflater.unused_data, None
            self._skipping = False
            self.verified_through = self._handed_out + len(self._output)
        else:
            self._input = self._inflater.unconsumed_tail
        return True

    def _next_member(self) -> bool:
        while True:
            while len(self._input.lstrip(b"\x00")) < 3:
                more = self._raw.read(self._chunk_bytes)
                if not more:
                    break
                self._input += more
            self._input = self._input.lstrip(b"\x00")
            if not self._input:
                return False
            if self._input.startswith(_GZIP_MEMBER_START):
                self._inflater = isal_zlib.decompressobj(16 + isal_zlib.MAX_WBITS)  # gzip header and trailer
                return True
            if not self._handed_out and not self.skipped:  # not gzip at all: no search through the whole file
                raise gzip.BadGzipFile(f"not a gzip file: starts with {self._input[:4]!r} "
                                       "(rename it if it is not compressed)")
            self._skip_damage(f"not a gzip member: starts with {self._input[:4]!r}")

    def _skip_damage(self, problem: str) -> None:
        """Drop input up to the next gzip member header after the one that failed (its first byte)."""
        if not self._skipping:
            self.skipped.append((problem, self._handed_out))
            self._skipping = True
            self._marker_due = bool(self._gap_marker) and self._ends_with not in (b"", self._gap_marker[-1:])
        self._inflater = None
        data = self._input[1:]
        while (found := data.find(_GZIP_MEMBER_START)) < 0:
            more = self._raw.read(self._chunk_bytes)
            if not more:
                data, found = b"", 0
                break
            data = data[-(len(_GZIP_MEMBER_START) - 1) :] + more
        self._input = data[found:]

    def close(self) -> None:
        self._raw.close()


# Magic and compression method (deflate) of a gzip member header.
_GZIP_MEMBER_START = b"\x1f\x8b\x08"


# A zstd skippable frame holding the dictionary the file's frames were compressed with: how IIPC's
# .warc.zst files carry it (https://iipc.github.io/warc-specifications/specifications/warc-zstd/).
_ZSTD_DICTIONARY_FRAME = (0x184D2A5D).to_bytes(4, "little")
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_MAX_DICTIONARY_BYTES = 64 << 20


class _ZstdFrames:
    """The frames of a ``.zst`` file, inflated; set up on the first read, so that a damaged dictionary
    frame is corrupt content and a failing read a transport error, as for the frames after it."""

    def __init__(self, raw: BinaryIO, path: str) -> None:
        self._raw = raw
        self._path = path
        self._reader: BinaryIO | None = None

    def read(self, size: int = -1) -> bytes:
        if self._reader is None:
            self._reader = _zstd_stream(self._raw, self._path)
        return self._reader.read(size)

    def close(self) -> None:
        self._raw.close()


def _zstd_stream(raw: BinaryIO, path: str) -> BinaryIO:
    """A stream inflating the zstd frames of ``raw``, with the dictionary of a leading dictionary frame."""

    head = _read_exactly(raw, 8)
    dictionary = None
    if head[:4] == _ZSTD_DICTIONARY_FRAME and len(head) == 8:
        size = int.from_bytes(head[4:], "little")
        if size > _MAX_DICTIONARY_BYTES:
            raise zstandard.ZstdError(f"{path}: dictionary frame of {size} bytes is over {_MAX_DICTIONARY_BYTES}")
        data = _read_exactly(raw, size)
        if data.startswith(_ZSTD_MAGIC):  # the dictionary may itself be compressed
            data = zstandard.ZstdDecompressor().decompress(data, max_output_size=_MAX_DICTIONARY_BYTES)
        dictionary, head = zstandard.ZstdCompressionDict(data), b""
    decompressor = zstandard.ZstdDecompressor(dict_data=dictionary)
    return decompressor.stream_reader(_Prefixed(head, raw), read_across_frames=True)  # type: ignore[arg-type]  # needs only read()


def _read_exactly(raw: BinaryIO, size: int) -> bytes:
    """``size`` bytes, fewer only at the end of the stream (a raw stream may return short reads)."""
    parts, left = [], size
    while left and (part := raw.read(left)):
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


class _Prefixed:
    """``raw`` with ``prefix`` (bytes already read from it) put back in front."""

    def __init__(self, prefix: bytes, raw: BinaryIO) -> None:
        self._prefix = prefix
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        if not self._prefix:
            return self._raw.read(size)
        out, self._prefix = (self._prefix, b"") if size < 0 or size >= len(self._prefix) else (
            self._prefix[:size], self._prefix[size:])
        return out

    def close(self) -> None:
        self._raw.close()


def open_binary(path: str, gap_marker: bytes = b"") -> TrappedStream:
    """Open ``path`` for streaming reads, decompressing ``.gz`` (multi-member too) and ``.zst`` (with
    the dictionary an IIPC ``.warc.zst`` carries in its first frame). ``gap_marker``: bytes handed out
    where a damaged gzip member was skipped.

    Raises :class:`InputUnavailable` when the file cannot be opened (gone, unreachable)."""
    try:
        raw = fsspec.open(path, "rb").open()
    except OSError as exc:
        raise InputUnavailable(path, exc) from exc
    if path.endswith(".gz"):
        return TrappedStream(GzipMembers(raw, gap_marker=gap_marker), path)  # type: ignore[arg-type]
    if path.endswith(".zst"):  # (a zstd frame's checksum is optional)
        return TrappedStream(_ZstdFrames(raw, path), path)  # type: ignore[arg-type]
    return TrappedStream(raw, path)
