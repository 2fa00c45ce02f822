"""Opening inputs: the ISA-L gzip stream reads what Python's gzip reads, and keeps every byte before a cut;
.warc.zst files with their dictionary."""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path

import pytest
import zstandard

from fineweb_pipe import schema
from fineweb_pipe.readers import WarcReader
from fineweb_pipe.readers.files import GzipMembers, open_binary
from fineweb_pipe.stats import ReaderCounts


def members() -> tuple[bytes, bytes]:
    """Several gzip members (one empty, as WARC writers emit per record), zero padding after them."""
    rng = random.Random(7)
    payloads = [rng.randbytes(rng.randrange(1, 200_000)).hex().encode() for _ in range(5)] + [b""]
    return b"".join(gzip.compress(p) for p in payloads) + b"\x00" * 7, b"".join(payloads)


def read_until_end(stream: GzipMembers | gzip.GzipFile, size: int) -> tuple[bytes, bool]:
    """Everything ``read1`` hands out, and whether it ended with ``EOFError`` (a cut file)."""
    parts = []
    try:
        while part := stream.read1(size):
            parts.append(part)
    except EOFError:
        return b"".join(parts), True
    return b"".join(parts), False


@pytest.mark.parametrize("size", [100, 8192, 1 << 20])
def test_reads_every_member_like_gzip(size: int) -> None:
    data, payload = members()
    assert read_until_end(GzipMembers(io.BytesIO(data)), size) == (payload, False)
    # small input chunks and a small output bound: members and inflate steps split anywhere
    small = GzipMembers(io.BytesIO(data), chunk_bytes=1000, max_output_bytes=5000)
    assert read_until_end(small, size) == (payload, False)


def test_a_cut_file_gives_every_byte_before_the_cut() -> None:
    data, _ = members()
    for cut in (5, 100, len(data) // 3, len(data) - 400):
        expected = read_until_end(gzip.GzipFile(fileobj=io.BytesIO(data[:cut])), 8192)
        assert read_until_end(GzipMembers(io.BytesIO(data[:cut])), 8192) == expected
        assert expected[1]  # and it says the file was cut


def test_output_is_bounded_on_highly_compressed_input() -> None:
    stream = GzipMembers(io.BytesIO(gzip.compress(b"\x00" * (64 << 20))), max_output_bytes=1 << 20)
    sizes = []
    while part := stream.read1(-1):
        sizes.append(len(part))
    assert sum(sizes) == 64 << 20 and max(sizes) <= 1 << 20


def read_to_end(stream: GzipMembers) -> bytes:
    return b"".join(iter(lambda: stream.read1(100), b""))


def test_garbage_after_a_member_is_listed_as_skipped() -> None:
    stream = GzipMembers(io.BytesIO(gzip.compress(b"record") + b"not gzip"))
    assert read_to_end(stream) == b"record"
    assert stream.skipped == [("not a gzip member: starts with b'not '", 6)]


@pytest.mark.parametrize("damage", ["garbage between", "deflate data", "crc"])
def test_a_damaged_member_is_skipped_to_the_next(damage: str) -> None:
    """One damaged stretch, listed once, and every member after it read (a false member header inside
    the damage is part of the same stretch)."""
    members = [gzip.compress(f"record {n} ".encode() * 50) for n in range(4)]
    damaged = bytearray(members[1])
    if damage == "garbage between":
        damaged[:0] = b"junk \x1f\x8b\x08 more junk"
    elif damage == "deflate data":
        damaged[12:16] = b"\xff\xff\xff\xff"
    else:
        damaged[-8] ^= 0x01
    stream = GzipMembers(io.BytesIO(members[0] + bytes(damaged) + members[2] + members[3]), chunk_bytes=16)
    out = read_to_end(stream)
    expected = [f"record {n} ".encode() * 50 for n in range(4)]
    ((problem, gap),) = stream.skipped
    if damage == "garbage between":
        assert out == b"".join(expected) and gap == len(expected[0])
    else:  # what the damaged member gave before its check failed is handed out: the gap comes after it
        assert out.startswith(expected[0]) and out.endswith(expected[2] + expected[3])
        assert len(expected[0]) <= gap == len(out) - len(expected[2] + expected[3])


def dictionary_warc_zst(path: Path, records: list[bytes], compress_dictionary: bool) -> Path:
    """An IIPC-style .warc.zst: a skippable frame holding the dictionary, then one frame per record."""
    dictionary = zstandard.train_dictionary(4096, records * 4)
    compressor = zstandard.ZstdCompressor(dict_data=dictionary)
    data = dictionary.as_bytes()
    if compress_dictionary:
        data = zstandard.ZstdCompressor().compress(data)
    frame = (0x184D2A5D).to_bytes(4, "little") + len(data).to_bytes(4, "little") + data
    path.write_bytes(frame + b"".join(compressor.compress(r) for r in records))
    return path


@pytest.mark.parametrize("compress_dictionary", [False, True])
def test_warc_zst_with_an_embedded_dictionary(tmp_path: Path, compress_dictionary: bool) -> None:
    records = []
    for n in range(200):
        body = f"<html><body><p>page {n} about {'zstd ' * (n % 7)} dictionaries</p></body></html>".encode()
        block = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n" + body
        records.append((f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://example.com/{n}\r\n"
                        f"WARC-Date: 2024-01-01T00:00:00Z\r\nContent-Length: {len(block)}\r\n\r\n").encode()
                       + block + b"\r\n\r\n")
    path = dictionary_warc_zst(tmp_path / "dict.warc.zst", records, compress_dictionary)
    counts = ReaderCounts()
    rows = [r for t in WarcReader().iter_batches(str(path), counts) for r in t.to_pylist()]
    assert len(rows) == 200 and not counts.errors and rows[5][schema.URL] == "http://example.com/5"
    assert open_binary(str(path)).read() == b"".join(records)
    # without the dictionary frame the frames cannot be read: an error, not a silent empty file
    damaged = tmp_path / "nodict.warc.zst"
    damaged.write_bytes(path.read_bytes()[8 + int.from_bytes(path.read_bytes()[4:8], "little"):])
    counts = ReaderCounts()
    assert list(WarcReader().iter_batches(str(damaged), counts)) == []
    assert counts.errors["corrupt_compression"] == 1


def test_a_file_that_is_not_gzip_stops_at_once() -> None:
    """A plain file named .gz: one error at its start, not a search for a member through all of it."""
    raw = io.BytesIO(b"WARC/1.0\r\n" + b"x" * (4 << 20))
    stream = GzipMembers(raw)
    with pytest.raises(gzip.BadGzipFile, match="not a gzip file: starts with b'WARC'"):
        stream.read1(100)
    assert raw.tell() < 1 << 20
