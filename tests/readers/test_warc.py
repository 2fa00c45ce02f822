"""The WARC reader on real crawl files and on the project's own sample crawl."""

from __future__ import annotations

import base64
import codecs
import fnmatch
import gzip
import hashlib
import zlib
from pathlib import Path

import brotli
import pytest
import zstandard

from fineweb_pipe import schema
from fineweb_pipe.errors import ConfigurationError
from fineweb_pipe.readers import WarcReader, WetReader, reader_for
from fineweb_pipe.readers.http import decode_html, is_html, parse_response
from fineweb_pipe.sample import write_sample_warc
from fineweb_pipe.stats import ReaderCounts
from readers.memory import peak_allocated


def read_all(path: Path, reader: WarcReader | None = None) -> tuple[list[dict], ReaderCounts]:
    counts = ReaderCounts()
    reader = reader or reader_for(str(path))
    rows = [row for table in reader.iter_batches(str(path), counts) for row in table.to_pylist()]
    return rows, counts


@pytest.mark.shared_data
@pytest.mark.parametrize(
    ("name", "html_records"),
    [
        ("aut-example.warc.gz", 140),
        ("resiliparse-warcfile.warc.gz", 16),
        ("resiliparse-clueweb-quirk.warc.gz", 29),
        ("bench-scrapinghub_aeb.warc.gz", 181),
        ("bench-trafilatura_eval.warc.gz", 990),
        ("dolma-sample-0000.warc.gz", 22),
        ("dolma-sample-0001.warc.gz", 15),
        ("warcio-example.warc.gz", 1),
        ("ukwa-wikipedia-post-blackout.warc.gz", 1),
        ("ukwa-IAH-blackbook-truncated.warc.gz", 2),
        ("whirlwind.warc.gz", 1),
        ("jwarc-cc.warc.gz", 1),
    ],
)
def test_reads_exactly_the_html_responses(shared_data: Path, name: str, html_records: int) -> None:
    rows, counts = read_all(shared_data / "warc" / name)
    assert len(rows) == html_records == counts.documents
    assert all(row[schema.URL] and row[schema.ID] for row in rows)
    assert len({row[schema.ID] for row in rows}) == len(rows)


@pytest.mark.shared_data
def test_skips_are_counted_by_reason(shared_data: Path) -> None:
    _, counts = read_all(shared_data / "warc" / "aut-example.warc.gz")
    assert counts.records["response"] == 299
    assert counts.skipped["record_request"] == 261 and counts.skipped["record_metadata"] == 261
    skipped_responses = counts.skipped["not_html"] + counts.skipped["not_http"] + counts.skipped["empty_payload"]
    assert skipped_responses + counts.documents == 299


@pytest.mark.shared_data
def test_legacy_japanese_charsets_decode(shared_data: Path) -> None:
    rows, _ = read_all(shared_data / "warc" / "resiliparse-clueweb-quirk.warc.gz")
    charsets = {row[schema.CHARSET] for row in rows}
    assert charsets & {"euc_jp", "shift_jis", "cp932"}
    for row in rows:
        text = row[schema.HTML]
        assert "\ufffd" not in text[:5000], row[schema.URL]
        assert any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in text), row[schema.URL]


@pytest.mark.shared_data
def test_wet_reader_gives_text(shared_data: Path) -> None:
    rows, _ = read_all(shared_data / "warc" / "whirlwind.warc.wet.gz")
    assert isinstance(reader_for("x/whirlwind.warc.wet.gz"), WetReader)
    assert len(rows) == 1 and len(rows[0][schema.TEXT]) > 500
    _, counts = read_all(shared_data / "warc" / "whirlwind.warc.wet.gz")
    assert counts.bytes == len(rows[0][schema.TEXT].encode())  # UTF-8 bytes, as for every reader


def test_sample_crawl_and_truncated_gzip(tmp_path: Path) -> None:
    path = Path(write_sample_warc(str(tmp_path / "sample.warc.gz"), pages=80, seed=1))
    rows, counts = read_all(path)
    assert len(rows) == 80 and not counts.errors
    assert counts.skipped["record_request"] == 80 and counts.skipped["not_html"] >= 3  # images, robots.txt
    # Cut the file in the middle of a gzip member: the records before the cut survive, the cut is reported.
    data = path.read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    cut_rows, cut_counts = read_all(cut)
    assert 0 < len(cut_rows) < 80
    assert [r[schema.ID] for r in cut_rows] == [r[schema.ID] for r in rows[: len(cut_rows)]]
    assert cut_counts.errors["truncated_gzip"] == 1
    assert cut_counts.error_list[0]["file"] == str(cut)


def test_not_a_warc_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "notes.warc.gz"
    path.write_bytes(gzip.compress(b"just some text, no WARC here\n" * 100))
    rows, counts = read_all(path)
    assert rows == [] and sum(counts.errors.values()) == 1


def test_html_sniffing_and_lying_charset() -> None:
    response = parse_response(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n<!DOCTYPE html><html><body>x</body></html>")
    assert response is not None and is_html(response.mime_type, response.body)
    assert not is_html("text/plain", b"User-agent: *\nDisallow: /")
    assert not is_html("image/png", b"<html>")
    shift_jis = "<html><body>日本語のページです。</body></html>".encode("shift_jis")
    html, charset, problem = decode_html(shift_jis, "utf-8")  # the server lies: not UTF-8
    assert "日本語".encode() in html and charset != "utf-8" and problem == "charset_mismatch"


def test_decoded_html_is_utf8_and_a_utf8_page_keeps_its_bytes() -> None:
    page = "<html><body>Crème brûlée — “quoted” 日本語</body></html>".encode()
    assert decode_html(codecs.BOM_UTF8 + page, "utf-8") == (page, "utf-8", None)
    latin = "<html><body>Crème brûlée</body></html>"
    assert decode_html(latin.encode("cp1252"), "windows-1252") == (latin.encode(), "cp1252", None)
    # UTF-8 sent as ISO-8859-1 would be mojibake: the bytes are kept as UTF-8
    assert decode_html(latin.encode(), "iso-8859-1") == (latin.encode(), "utf-8", "charset_mismatch")
    damaged, charset, problem = decode_html(page.replace("brûlée".encode(), b"br\xfbl\xe9e"), "utf-8")
    assert "br\ufffdl\ufffde".encode() in damaged and (charset, problem) == ("utf-8", "invalid_bytes")
    damaged.decode("utf-8")  # valid


def http_response(body: bytes, *headers: str, content_type: str = "text/html") -> bytes:
    head = "\r\n".join(["HTTP/1.1 200 OK", f"Content-Type: {content_type}", *headers, f"Content-Length: {len(body)}"])
    return head.encode() + b"\r\n\r\n" + body


def warc_record(n: int, block: bytes, content_length: int | None = None) -> bytes:
    """A response record (no digest) holding ``block``; ``content_length`` is what its header claims."""
    length = len(block) if content_length is None else content_length
    header = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://example.com/{n}\r\n"
              f"WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{n:012d}>\r\n"
              f"Content-Type: application/http; msgtype=response\r\nContent-Length: {length}\r\n\r\n")
    return header.encode() + block + b"\r\n\r\n"


def warc_gz(path: Path, *blocks: bytes) -> Path:
    """A .warc.gz of response records holding ``blocks`` (HTTP responses), one gzip member each."""
    path.write_bytes(b"".join(gzip.compress(warc_record(n, block), compresslevel=1) for n, block in enumerate(blocks)))
    return path


def gzip_bomb(inflated_bytes: int) -> bytes:
    """A gzip stream of ``inflated_bytes`` of HTML, built without holding it."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    piece = b"<p>" + b"a" * ((1 << 20) - 7) + b"</p>"
    parts = [compressor.compress(b"<html><body>")]
    parts += [compressor.compress(piece) for _ in range(inflated_bytes // len(piece))]
    return b"".join(parts) + compressor.flush()


def test_an_inflated_payload_is_capped_at_the_record_limit(tmp_path: Path) -> None:
    """A small record whose gzip Content-Encoding inflates to 256 MB: skipped as record_too_large after
    inflating at most max_record_bytes, the pages around it read."""
    page = b"<html><body><p>a page</p></body></html>"
    bomb = gzip_bomb(1 << 28)
    path = warc_gz(tmp_path / "bomb.warc.gz", http_response(page),
                   http_response(bomb, "Content-Encoding: gzip"),
                   http_response(gzip.compress(page), "Content-Encoding: gzip"))
    assert path.stat().st_size < 2 << 20
    reader = WarcReader(max_record_bytes=8 << 20)
    counts = ReaderCounts()
    with peak_allocated() as peak:
        rows = [row for table in reader.iter_batches(str(path), counts) for row in table.to_pylist()]
    assert [row[schema.HTML] for row in rows] == [page.decode(), page.decode()]
    assert counts.errors["record_too_large"] == 1 and "Content-Encoding gzip" in counts.error_list[0]["message"]
    assert peak() < 40 << 20, f"a 256 MB gzip bomb allocated {peak() >> 20} MB at the peak"


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip", "deflate"])
def test_content_encodings_are_decoded_and_capped(tmp_path: Path, coding: str) -> None:
    page = "<html><body><p>Grüße aus Köln</p></body></html>".encode()
    compress = {"br": brotli.compress, "zstd": zstandard.compress, "gzip": gzip.compress, "deflate": zlib.compress}[coding]
    big = b"<html><body>" + b"x" * (2 << 20) + b"</body></html>"
    path = warc_gz(tmp_path / f"{coding}.warc.gz", http_response(compress(page), f"Content-Encoding: {coding}"),
                   http_response(compress(big), f"Content-Encoding: {coding}"),
                   http_response(page, f"Content-Encoding: {coding}"))  # stored decoded, header kept
    rows, counts = read_all(path, WarcReader(max_record_bytes=1 << 20))
    assert [row[schema.HTML] for row in rows] == [page.decode(), page.decode()]
    assert counts.errors == {"record_too_large": 1}


def test_a_utf8_page_with_a_few_invalid_bytes_stays_utf8(tmp_path: Path) -> None:
    text = "<html><body><p>ünïcödé – naïve café, 日本語</p>"
    body = text.encode() + b"<p>bad \xff byte and \xe9 there</p></body></html>"
    path = warc_gz(tmp_path / "damaged.warc.gz", http_response(body),
                   http_response(body, content_type="text/html; charset=UTF-8"))
    rows, counts = read_all(path)
    assert len(rows) == 2 and all(row[schema.CHARSET] == "utf-8" for row in rows)
    assert rows[0][schema.HTML].startswith(text) and "bad \ufffd byte and \ufffd there" in rows[0][schema.HTML]
    assert counts.errors == {"invalid_bytes": 2}
    # a page in cp1252 (no valid UTF-8 sequence) is still read as cp1252, and says so
    latin = "<html><body><p>café naïve crème brûlée</p></body></html>"
    assert decode_html(latin.encode("cp1252"), None) == (latin.encode(), "cp1252", None)


def test_arc_files_are_refused_with_what_to_do() -> None:
    with pytest.raises(ConfigurationError, match=r"crawl/a\.arc\.gz: ARC files are not read; convert them to WARC"):
        reader_for("crawl/a.arc.gz")
    assert not any(fnmatch.fnmatch("a.arc.gz", p) for p in WarcReader.patterns)


def page_block(n: int, extra: str = "") -> bytes:
    return http_response(f"<html><body><p>page {n} {'text ' * 200}</p>{extra}</body></html>".encode())


@pytest.mark.parametrize("members", [True, False], ids=["gzip-per-record", "plain"])
def test_a_lying_content_length_without_a_digest_is_cut_at_the_record_it_runs_into(tmp_path: Path,
                                                                                  members: bool) -> None:
    """No WARC-Block-Digest to check: a Content-Length running into the next record (too long, or a record
    cut short by a crashed writer with more appended) is still found, and the records after it read."""
    blocks = [page_block(n) for n in range(5)]
    records = [warc_record(0, blocks[0]), warc_record(1, blocks[1], len(blocks[1]) + 300),  # too long
               warc_record(2, blocks[2]), warc_record(3, blocks[3])[:250], warc_record(4, blocks[4])]  # 3 cut
    path = tmp_path / ("lying.warc.gz" if members else "lying.warc")
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if members else b"".join(records))
    rows, counts = read_all(path)
    assert [row[schema.URL] for row in rows] == [f"http://example.com/{n}" for n in (0, 1, 2, 4)]  # 3: no body
    assert rows[1][schema.HTML] == blocks[1].split(b"\r\n\r\n", 1)[1].decode()  # cut where record 2 starts
    assert [(e["type"], e["offset"]) for e in counts.error_list] == [  # offsets in the decompressed stream
        ("content_length_mismatch", len(records[0])), ("content_length_mismatch", sum(map(len, records[:3])))]


@pytest.mark.parametrize("members", [True, False], ids=["gzip-per-record", "plain"])
def test_two_lying_lengths_close_together_lose_no_record(tmp_path: Path, members: bool) -> None:
    """The second lie lies within the bytes read past the first (parsing from the first cut gets them
    back piece by piece): every record after both is still read."""
    blocks = [http_response(f"<html><body>{f'page {n} ' * 4000}</body></html>".encode()) for n in range(10)]
    records = [warc_record(n, block, len(block) + {1: 150_000, 3: 40_000}.get(n, 0)) for n, block in enumerate(blocks)]
    path = tmp_path / ("lies.warc.gz" if members else "lies.warc")
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if members else b"".join(records))
    rows, counts = read_all(path)
    assert [row[schema.URL] for row in rows] == [f"http://example.com/{n}" for n in range(10)]
    assert [(e["type"], e["offset"]) for e in counts.error_list] == [
        ("content_length_mismatch", sum(map(len, records[:1]))), ("content_length_mismatch", sum(map(len, records[:3])))]


@pytest.mark.parametrize("members", [True, False], ids=["gzip-per-record", "plain"])
def test_a_page_showing_a_warc_record_is_kept_whole(tmp_path: Path, members: bool) -> None:
    """A page whose text holds a WARC record (CRLF lines and all), with a right Content-Length and no
    digest: the next record starts right after its block, so it is one page, not a record cut short."""
    shown = "<pre>WARC/1.0\r\nWARC-Type: response\r\nContent-Length: 5\r\n\r\nhello</pre>"
    records = [warc_record(n, page_block(n, shown if n == 1 else "")) for n in range(3)]
    path = tmp_path / ("shown.warc.gz" if members else "shown.warc")
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if members else b"".join(records))
    rows, counts = read_all(path)
    assert len(rows) == 3 and shown in rows[1][schema.HTML] and rows[1][schema.HTML].endswith("</body></html>")
    assert not counts.errors


def digested_record(n: int, block: bytes) -> bytes:
    """A response record with the sha1 ``WARC-Block-Digest`` of ``block``, as Common Crawl writes them."""
    digest = base64.b32encode(hashlib.sha1(block).digest()).decode()
    header = f"\r\nWARC-Block-Digest: sha1:{digest}\r\nContent-Length:".encode()
    return warc_record(n, block).replace(b"\r\nContent-Length:", header, 1)


def test_damaged_bytes_are_reported_by_the_digest_in_a_plain_warc(tmp_path: Path) -> None:
    """A byte of a page changed after it was written (its length still fits): an uncompressed file has no
    checksum but the record's digest, which is checked. The page is kept as it is, and reported."""
    records = [digested_record(n, page_block(n)) for n in range(3)]
    records[1] = records[1].replace(b"page 1 text", b"page 1 tExt", 1)
    path = tmp_path / "damaged.warc"
    path.write_bytes(b"".join(records))
    rows, counts = read_all(path)
    assert [row[schema.URL] for row in rows] == [f"http://example.com/{n}" for n in range(3)]
    assert [(e["type"], e["offset"]) for e in counts.error_list] == [("block_digest_mismatch", len(records[0]))]


def test_damaged_bytes_in_a_gzip_member_are_reported_by_its_crc(tmp_path: Path) -> None:
    """In a .warc.gz, gzip's CRC-32 checks every member's bytes (so the reader hashes a block only where
    its length is in doubt): a member that fails its check is reported and skipped, and the records
    after it are read (Common Crawl writes one member per record)."""
    members = [gzip.compress(digested_record(n, page_block(n))) for n in range(4)]
    damaged = bytearray(members[1])
    damaged[-8] ^= 0x01  # the CRC-32 in the member's trailer
    path = tmp_path / "damaged.warc.gz"
    path.write_bytes(members[0] + bytes(damaged) + members[2] + members[3])
    rows, counts = read_all(path)
    assert [row[schema.URL] for row in rows] == [f"http://example.com/{n}" for n in (0, 2, 3)]
    assert [(e["type"], e["offset"]) for e in counts.error_list] == [("corrupt_compression", len(gzip.decompress(members[0])))]
    assert "skipped to the next gzip member" in counts.error_list[0]["message"]


def framing_damage(kind: str, blocks: list[bytes]) -> tuple[list[bytes], set[int]]:
    """Records with ``kind`` of damage around record 1, 2 or 3; the numbers of the records whose pages are
    damaged (the others must come out whole)."""
    records = [warc_record(n, block) for n, block in enumerate(blocks)]
    if kind == "garbage glued to a record":  # no line break before the version line
        records[2] = b"junk junk junk " + records[2]
        return records, set()
    if kind == "length too short":
        records[1] = warc_record(1, blocks[1], len(blocks[1]) - 700)
        return records, {1}
    if kind == "length too long by part of the next header":
        records[1] = warc_record(1, blocks[1], len(blocks[1]) + 4 + 20)
        return records, {1}
    if kind == "the last record's header swallowed":
        records[3] = warc_record(3, blocks[3], len(blocks[3]) + 4 + 30)
        return records, {3}
    assert kind == "a lie by gigabytes"  # FastWARC would skip all that follows, more than replay keeps
    records[1] = warc_record(1, blocks[1], len(blocks[1]) + (40 << 30))
    return records, {1}


@pytest.mark.parametrize("members", [True, False], ids=["gzip-per-record", "plain"])
@pytest.mark.parametrize("kind", ["garbage glued to a record", "length too short",
                                  "length too long by part of the next header", "the last record's header swallowed",
                                  "a lie by gigabytes"])
def test_damaged_framing_loses_no_whole_record_and_is_counted(tmp_path: Path, kind: str, members: bool) -> None:
    """Bytes FastWARC skips without a word (garbage, the rest of a block whose length is too short, a
    record whose header a lying length swallowed) are found between the blocks: every intact record is
    read, and the damage is counted."""
    blocks = [page_block(n) for n in range(5 if kind != "a lie by gigabytes" else 5000)]  # (5 MB after the lie)
    records, damaged = framing_damage(kind, blocks)
    path = tmp_path / ("framing.warc.gz" if members else "framing.warc")
    path.write_bytes(b"".join(gzip.compress(r) for r in records) if members else b"".join(records))
    rows, counts = read_all(path, WarcReader(max_record_bytes=20_000))
    intact = {f"http://example.com/{n}" for n in range(len(blocks)) if n not in damaged}
    assert intact <= {row[schema.URL] for row in rows}
    for row in rows:
        n = int(row[schema.URL].rsplit("/", 1)[1])
        if n not in damaged:
            assert row[schema.HTML] == blocks[n].split(b"\r\n\r\n", 1)[1].decode()
    assert counts.errors, "the damage is counted"


@pytest.mark.parametrize("lie", [300, 3 << 20])
def test_a_file_of_lying_lengths_is_read_in_bounded_time(tmp_path: Path, lie: int) -> None:
    """Every record's Content-Length lies. By a little (a writer's bug): every record is recovered. By
    megabytes: each lie parses the rest of the file again, so after a budget of re-parsed bytes the reader
    stops recovering the hidden records, and says so (the time would grow with the square of the file)."""
    records = [warc_record(n, page_block(n), len(page_block(n)) + lie) for n in range(400)]
    path = tmp_path / "lies.warc"
    path.write_bytes(b"".join(records))
    rows, counts = read_all(path)
    if lie == 300:
        assert len(rows) == 400 and counts.errors["content_length_mismatch"] == 399
    else:
        assert 0 < len(rows) < 400 and counts.errors["too_many_lying_lengths"] == 1


def test_a_file_cut_inside_a_record_header_is_counted(tmp_path: Path) -> None:
    records = [warc_record(n, page_block(n)) for n in range(3)]
    path = tmp_path / "cut.warc"
    path.write_bytes(b"".join(records[:2]) + records[2][:120])  # in the WARC-Record-ID line
    rows, counts = read_all(path)
    assert len(rows) == 2
    assert [(e["type"], e["offset"]) for e in counts.error_list] == [("bad_record_header", len(records[0] + records[1]))]
