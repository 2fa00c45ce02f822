"""A crawl of bad input, generated (seeded, no download): each file holds one kind of damage among good pages.

``write_bad_crawl(folder)`` writes ``folder/bad/*.warc[.gz]`` and ``folder/clean/good.warc.gz``: the
clean file holds exactly the good pages of the bad files, as the same records, so a run over the bad
files must give the same documents for them as a run over the clean one. The returned
:class:`BadCrawl` says which counts each case must produce (``reader.errors`` in ``stats.json`` for
reader cases, the extraction stage's drops for the pages that break the extractor).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field

from fineweb_pipe.sample.crawl import build_pages

HUGE_PAGE_BYTES = 50 << 20
NESTING_DEPTH = 100_000
# Distinct paragraphs: trafilatura needs seconds of CPU on this many, well past FineWeb's 1 s limit.
SLOW_PAGE_PARAGRAPHS = 40_000


@dataclass
class BadCrawl:
    """What was written and what a run over ``bad`` must report."""

    bad: str  # folder of damaged files
    clean: str  # folder with one file of the good records only
    good_ids: list[str] = field(default_factory=list)  # record ids (as the reader gives them) of good pages
    reader_errors: Counter = field(default_factory=Counter)  # expected reader.errors
    extraction_drops: Counter = field(default_factory=Counter)  # expected drops of the extraction stage
    damaged_ids: dict[str, str] = field(default_factory=dict)  # id -> case, for kept-but-repaired pages


class _Writer:
    """Builds records with the headers a Common Crawl WARC has (ids, dates, block digests)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.pages = iter(build_pages(400, seed))

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128)))

    def record(self, url: str, block: bytes, *, record_id: str | None = None, warc_type: str = "response",
               content_length: int | None = None) -> bytes:
        digest = base64.b32encode(hashlib.sha1(block).digest()).decode()
        length = len(block) if content_length is None else content_length
        content_type = "application/http; msgtype=response" if warc_type == "response" else "application/warc-fields"
        header = (f"WARC/1.0\r\nWARC-Type: {warc_type}\r\nWARC-Target-URI: {url}\r\n"
                  f"WARC-Date: 2024-03-01T12:00:00Z\r\nWARC-Record-ID: <urn:uuid:{record_id or self.new_id()}>\r\n"
                  f"WARC-Block-Digest: sha1:{digest}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n")
        return header.encode() + block + b"\r\n\r\n"

    def good(self) -> tuple[str, bytes]:
        """The next sample page as a response record, with its id."""
        page = next(self.pages)
        record_id = self.new_id()
        return record_id, self.record(page.url, http(page.content_type, page.body), record_id=record_id)

    def page(self, url: str, body: bytes, content_type: str = "text/html") -> tuple[str, bytes]:
        record_id = self.new_id()
        return record_id, self.record(url, http(content_type, body), record_id=record_id)


def http(content_type: str, body: bytes, length: int | None = None) -> bytes:
    """An HTTP response block; ``length`` is the Content-Length header it claims (default: the truth)."""
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body) if length is None else length}\r\n\r\n").encode() + body


def _members(records: list[bytes]) -> bytes:
    """Per-record gzip, as Common Crawl writes it."""
    return b"".join(gzip.compress(r, compresslevel=1, mtime=0) for r in records)


def _article(rng: random.Random, paragraphs: int, extra: str = "") -> str:
    words = "garden river morning bread window harvest letter station summer market lantern orchard".split()
    body = "".join(f"<p>Paragraph {i}: the {rng.choice(words)} and the {rng.choice(words)} were quiet, "
                   f"so we wrote about them at length for readers of this page.</p>\n" for i in range(paragraphs))
    return f"<!DOCTYPE html><html><head><title>Page</title></head><body><article>{body}{extra}</article></body></html>"


def write_bad_crawl(folder: str, seed: int = 0) -> BadCrawl:
    """Write the bad-input crawl under ``folder``; see the module docstring."""
    w = _Writer(seed)
    crawl = BadCrawl(bad=os.path.join(folder, "bad"), clean=os.path.join(folder, "clean"))
    os.makedirs(crawl.bad, exist_ok=True)
    os.makedirs(crawl.clean, exist_ok=True)
    clean: list[bytes] = []
    files: dict[str, bytes] = {}

    def goods(n: int) -> list[bytes]:
        out = []
        for _ in range(n):
            record_id, record = w.good()
            crawl.good_ids.append(record_id)
            clean.append(record)
            out.append(record)
        return out

    # A download cut off in the middle of a gzip member: the records before it are read.
    data = _members(goods(3) + [w.good()[1]])
    files["truncated-gzip.warc.gz"] = data[: len(data) - 400]
    crawl.reader_errors["truncated_gzip"] += 1
    crawl.reader_errors["truncated_record"] += 1  # the record in the cut member, kept as far as it goes

    # A writer that crashed in the middle of a record and was restarted: the rest of the file is read.
    _, cut = w.good()
    files["cut-then-appended.warc.gz"] = _members(goods(2) + [cut[: len(cut) // 3]] + goods(2))
    crawl.reader_errors["content_length_mismatch"] += 1
    # A file that ends in the middle of a record (uncompressed): what is there is kept.
    _, cut = w.good()
    files["cut-at-end.warc"] = b"".join(goods(2)) + cut[: len(cut) // 2]
    crawl.reader_errors["truncated_record"] += 1

    # Content-Length that lies: too long (swallowing the next records) and too short (caught by the digest).
    url, body = "https://lying-length.example.org/long", _article(w.rng, 12).encode()
    long_id = w.new_id()
    block = http("text/html; charset=utf-8", body)
    too_long = w.record(url, block, record_id=long_id, content_length=len(block) + 5000)
    crawl.good_ids.append(long_id)  # its own bytes are whole: only the length lies
    clean.append(w.record(url, block, record_id=long_id))
    too_short = _short_length(w, "https://lying-length.example.org/short", _article(w.rng, 12).encode())
    files["lying-content-length.warc.gz"] = _members(goods(1) + [too_long] + goods(3) + [too_short] + goods(2))
    crawl.reader_errors["content_length_mismatch"] += 1
    crawl.reader_errors["block_digest_mismatch"] += 1

    # A gzip member whose CRC-32 fails (damaged on disk): skipped, the members after it read.
    damaged = bytearray(gzip.compress(w.good()[1], mtime=0))
    damaged[-8] ^= 0x01
    files["damaged-member.warc.gz"] = _members(goods(2)) + bytes(damaged) + _members(goods(2))
    crawl.reader_errors["corrupt_compression"] += 1
    # Garbage glued to the next record's version line (no line break): FastWARC alone skips that record.
    files["garbage-between-records.warc"] = b"".join(goods(2)) + b"garbage, no line break" + b"".join(goods(2))
    crawl.reader_errors["garbage_between_records"] += 1

    files["not-a-warc.warc.gz"] = gzip.compress(b"<html><body>A page saved without its WARC headers</body></html>\n" * 50)
    crawl.reader_errors["not_warc"] += 1
    files["empty.warc.gz"] = b""
    crawl.reader_errors["empty_file"] += 1

    # Payloads that lie about what they are, or carry bytes text must not hold.
    png = b"\x89PNG\r\n\x1a\n" + bytes(w.rng.getrandbits(8) for _ in range(4096))
    payloads = goods(1) + [w.page("https://payloads.example.org/image", png, "text/html")[1]]
    crawl.reader_errors["binary_payload"] += 1
    invalid = ("<html><body><article>" + "<p>Un café très naïve, déjà vu à la crème brûlée.</p>" * 40).encode() \
        + b"<p>Broken: \xff\xfe \xc3\x28 and an encoded lone surrogate \xed\xa0\x80 here.</p></article></body></html>"
    payloads.append(_damaged(w, crawl, "invalid_utf8", "https://payloads.example.org/invalid-utf8", invalid,
                             "text/html; charset=utf-8", "invalid_bytes"))
    sjis = ("<html><body><article>" + "<p>これは日本語のページです。文字コードはシフトJISです。</p>" * 30
            + "</article></body></html>").encode("shift_jis")
    payloads.append(_damaged(w, crawl, "utf8_page_sent_as_shift_jis", "https://payloads.example.org/sjis", sjis,
                             "text/html; charset=utf-8", "charset_mismatch"))
    latin = ("<html><body><article>" + "<p>Ein schöner Tag am Fluss, über den Brücken grüßen die Möwen.</p>" * 30
             + "</article></body></html>").encode("utf-8")
    payloads.append(_damaged(w, crawl, "utf8_page_sent_as_latin1", "https://payloads.example.org/latin1", latin,
                             "text/html; charset=iso-8859-1", "charset_mismatch"))
    nul = _article(w.rng, 20, "<p>A NUL \x00 byte, and a lone surrogate reference &#xD800; in the text.</p>")
    payloads.append(_damaged(w, crawl, "nul_and_surrogate", "https://payloads.example.org/nul", nul.encode(),
                             "text/html; charset=utf-8", "nul_characters"))
    nested = "<html><body>" + "<div>" * NESTING_DEPTH + "Deep text. " * 50 + "</div>" * NESTING_DEPTH + "</body></html>"
    payloads.append(w.page("https://payloads.example.org/nested", nested.encode())[1])
    crawl.extraction_drops["extraction_empty"] += 1  # the parser gives up on the depth: no text, dropped
    payloads.append(w.page("https://payloads.example.org/slow", _article(w.rng, SLOW_PAGE_PARAGRAPHS).encode())[1])
    crawl.extraction_drops["extraction_timeout"] += 1
    files["payloads.warc.gz"] = _members(payloads + goods(2))

    # A 50 MB page: skipped by the size limit without holding it in memory, the pages around it read.
    huge = b"<html><body>" + b"<p>" + b"x" * (HUGE_PAGE_BYTES - 40) + b"</p></body></html>"
    files["huge-page.warc.gz"] = _members(goods(1) + [w.page("https://huge.example.org/", huge)[1]] + goods(1))
    crawl.reader_errors["record_too_large"] += 1

    for name, data in files.items():
        with open(os.path.join(crawl.bad, name), "wb") as f:
            f.write(data)
    with open(os.path.join(crawl.clean, "good.warc.gz"), "wb") as f:
        f.write(_members(clean))
    return crawl


def _short_length(w: _Writer, url: str, body: bytes) -> bytes:
    """A record whose Content-Length says half of its block (its digest names the whole block)."""
    block = http("text/html", body)
    return w.record(url, block, content_length=len(block) // 2)


def _damaged(w: _Writer, crawl: BadCrawl, case: str, url: str, body: bytes, content_type: str, error: str) -> bytes:
    """A page the reader repairs and keeps (counting ``error``)."""
    record_id, record = w.page(url, body, content_type)
    crawl.damaged_ids[record_id] = case
    crawl.reader_errors[error] += 1
    return record
