"""Opening inputs: the ISA-L gzip stream reads what Python's gzip reads, and keeps every byte before a cut."""

from __future__ import annotations

import gzip
import io
import random

import pytest

from fineweb_pipe.readers.files import GzipMembers


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


def test_garbage_after_a_member_is_an_error() -> None:
    stream = GzipMembers(io.BytesIO(gzip.compress(b"record") + b"not gzip"))
    assert stream.read1(100) == b"record"
    with pytest.raises(gzip.BadGzipFile, match="not a gzip member"):
        stream.read1(100)
