"""Fuzzed WARC and WET files: every intact record comes out with its exact page text, and damage is counted.

Each file mixes untouched ("intact") records with one kind of damage: lying Content-Lengths (by a few
bytes to 40 GB, one over more than replay keeps), files cut short (with more appended), garbage between
or inside records, LF separators, pages that show a WARC record, flipped bytes with and without a
WARC-Block-Digest, damaged or cut gzip members. They are written as .warc, .warc.gz (one gzip member per
record, as Common Crawl does, or one member in all), .warc.zst (one frame in all, or one per record) and
WET files, about 125 files read with two option sets in a few seconds. Everything is generated from
fixed seeds, so a failure names a file that is built the same way on every run.

Where the damage cannot hide a whole record, every intact record must come out whatever was counted;
damage that leaves a well-formed file (a flipped byte in a header value, a block flipped where only its
digest could tell and a gzip CRC vouches for the bytes) need not be counted.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import random
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass, replace
from itertools import accumulate
from pathlib import Path
from typing import Any

import pytest
import zstandard

from fineweb_pipe import schema
from fineweb_pipe.readers import WarcReader, WetReader
from fineweb_pipe.stats import ReaderCounts

SEPARATOR = b"\r\n\r\n"
WORDS = ["garden", "river", "morning", "bread", "window", "harvest", "letter", "station", "summer", "market",
         "lantern", "orchard", "café", "naïve", "über", "Möwen", "日本語", "текст"]


@dataclass(frozen=True)
class Page:
    """A record's block and the text its document must carry."""

    block: bytes
    text: str
    payload_bytes: int  # the decoded body (a gzip Content-Encoding inflates)

    def fits(self, max_record_bytes: int) -> bool:
        """Whether a reader with this limit gives a document (a larger one is skipped as record_too_large)."""
        return len(self.block) <= max_record_bytes and self.payload_bytes <= max_record_bytes


@dataclass(frozen=True)
class Record:
    """One WARC record as parts, so that damage can be done before it is written."""

    block: bytes
    record_id: str
    warc_type: str
    digest: str | None  # "b32" (as Common Crawl writes it), "hex" or None
    length_delta: int = 0  # Content-Length = len(block) + length_delta
    written_block: bytes | None = None  # written instead of `block`, whose length and digest the header gives
    lf: bool = False  # header lines and separator ended by a bare LF

    def to_bytes(self) -> bytes:
        sha1 = hashlib.sha1(self.block).digest()
        lines = ["WARC/1.0", f"WARC-Type: {self.warc_type}", f"WARC-Target-URI: http://example.org/{self.record_id[:8]}",
                 "WARC-Date: 2024-03-01T12:00:00Z", f"WARC-Record-ID: <urn:uuid:{self.record_id}>"]
        if self.digest == "b32":
            lines.append(f"WARC-Block-Digest: sha1:{base64.b32encode(sha1).decode()}")
        elif self.digest == "hex":
            lines.append(f"WARC-Block-Digest: sha1:{sha1.hex()}")
        content_type = {"response": "application/http; msgtype=response", "conversion": "text/plain",
                        "warcinfo": "application/warc-fields"}[self.warc_type]
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(self.block) + self.length_delta}"]
        newline = "\n" if self.lf else "\r\n"
        block = self.block if self.written_block is None else self.written_block
        return (newline.join(lines) + newline * 2).encode() + block + newline.encode() * 2


def http_response(html: str, rng: random.Random) -> Page:
    """An HTTP response holding ``html`` as UTF-8, stored as is, chunked, or gzip-encoded (as crawled)."""
    body = html.encode()
    headers = "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
    coding = rng.choice(["identity", "identity", "identity", "gzip", "chunked"])
    if coding == "gzip":
        stored = gzip.compress(body, mtime=0)
        headers += f"Content-Encoding: gzip\r\nContent-Length: {len(stored)}\r\n"
    elif coding == "chunked":
        step = rng.randint(100, 4000)
        pieces = [body[i : i + step] for i in range(0, len(body), step)]
        stored = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces) + b"0\r\n\r\n"
        headers += "Transfer-Encoding: chunked\r\n"
    else:
        stored = body
        headers += f"Content-Length: {len(stored)}\r\n"
    return Page(headers.encode() + b"\r\n" + stored, html, len(body))


def paragraphs(rng: random.Random, count: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))) + "." for _ in range(count)]


def embedded_record(rng: random.Random, separator_before: bool) -> str:
    """A whole WARC record (CRLF lines) as page text, as a page about the WARC format shows one."""
    inner = "<p>inner block</p>"
    shown = (f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://inner.example/\r\n"
             f"WARC-Record-ID: <urn:uuid:{uuid.UUID(int=rng.getrandbits(128))}>\r\n"
             f"Content-Length: {len(inner)}\r\n\r\n{inner}\r\n\r\n")
    return ("\r\n\r\n" if separator_before else "") + shown


def flip(rng: random.Random, data: bytes) -> bytes:
    """``data`` with one bit of one byte flipped."""
    pos = rng.randrange(len(data))
    return data[:pos] + bytes([data[pos] ^ (1 << rng.randrange(8))]) + data[pos + 1 :]


def garbage(rng: random.Random, kind: int) -> bytes:
    return [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))),  # random bytes
            b"\r\n" * rng.randint(1, 5),  # blank lines
            b"WARC/1.0\r\nWARC-Type: resp",  # a header cut short
            ("junk line " * rng.randint(1, 30)).encode()][kind]


# ---------------------------------------------------------------- damage kinds


class Fuzz:
    """Builds one file's records (a list of chunks: a record or a piece of garbage each) with one kind of
    damage. ``intact`` holds the untouched records' pages by record id; ``detection`` says whether the
    reader can see the damage: "none" (no damage), "always", "digest" (only the damaged record's
    WARC-Block-Digest tells, and a gzip file's CRC vouches for its bytes instead: the reader hashes
    blocks only where no CRC checked them), "never" (tolerated quirks, or damage that leaves a well-formed
    file); ``inherent_loss``: the damage may hide intact records."""

    def __init__(self, seed: int, wet: bool, digest: bool) -> None:
        self.rng = random.Random(seed)
        self.wet = wet
        self.digest: str | None = "b32" if digest else None
        self.intact: dict[str, Page] = {}
        self.detection = "always"
        self.inherent_loss = False

    def page(self, extra: str = "", paragraph_count: int | None = None) -> Page:
        """A page of a few hundred bytes to a few tens of kB (some over the 20 kB record limit tested)."""
        count = paragraph_count or int(2 ** self.rng.uniform(1, 7.5))
        if self.wet:
            text = "\n".join(paragraphs(self.rng, count)) + extra
            return Page(text.encode(), text, len(text.encode()))
        title = self.rng.randint(0, 999)
        html = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>T{title}</title></head><body><article>"
                + "".join(f"<p>{p}</p>\n" for p in paragraphs(self.rng, count))
                + f"{extra}</article></body></html>")
        return http_response(html, self.rng)

    def by_digest(self) -> str:
        """The detection of damage to a block that only the record's digest shows."""
        return "digest" if self.digest else "never"

    def record(self, page: Page | None = None, **damage: Any) -> Record:
        """A record of ``page`` (a new one by default) with ``damage``: any of Record's fields."""
        record = Record((page or self.page()).block, str(uuid.UUID(int=self.rng.getrandbits(128))),
                        "conversion" if self.wet else "response", self.digest)
        return replace(record, **damage)

    def good(self, count: int) -> list[bytes]:
        chunks = []
        for _ in range(count):
            page = self.page()
            record = self.record(page)
            self.intact[record.record_id] = page
            chunks.append(record.to_bytes())
        return chunks

    def head(self) -> list[bytes]:
        info = b"software: test_warc_fuzz\r\nformat: WARC File Format 1.0\r\n"
        return [Record(info, str(uuid.UUID(int=self.rng.getrandbits(128))), "warcinfo", None).to_bytes()]

    def around(self, damaged: list[bytes]) -> list[bytes]:
        return self.head() + self.good(self.rng.randint(1, 3)) + damaged + self.good(self.rng.randint(1, 3))

    # Each kind takes a variant number, which picks its parameters.

    def clean(self, variant: int) -> list[bytes]:
        self.detection = "none"
        return self.head() + self.good(self.rng.randint(2, 6))

    def cl_too_long(self, variant: int) -> list[bytes]:
        delta = (37, 2000, 300, 4)[variant]
        if delta == 4:  # the block swallows its separator, and the next record follows: a well-formed file
            self.detection = self.by_digest()
        return self.around([self.record(length_delta=delta).to_bytes()])

    def cl_too_short(self, variant: int) -> list[bytes]:
        page = self.page()
        return self.around([self.record(page, length_delta=-self.rng.randint(1, len(page.block) - 1)).to_bytes()])

    def cl_far_too_long(self, variant: int) -> list[bytes]:
        delta = (1 << 20, 6 << 20, 40 << 30)[variant]
        return self.around([self.record(length_delta=delta).to_bytes()])

    def cl_far_too_long_last(self, variant: int) -> list[bytes]:
        return self.head() + self.good(2) + [self.record(length_delta=(2 << 20, 5 << 20)[variant]).to_bytes()]

    def cl_lie_over_big_tail(self, variant: int) -> list[bytes]:
        """A lie followed by more than replay keeps with max_record_bytes=20000 (4 MB + the limit)."""
        lie = self.record(length_delta=(500, 8 << 20)[variant]).to_bytes()
        tail = [self.record(self.page(paragraph_count=3000)).to_bytes() for _ in range(16)]
        return self.head() + [lie] + tail + self.good(2)

    def cut_at_end(self, variant: int) -> list[bytes]:
        last = self.record().to_bytes()
        return self.head() + self.good(self.rng.randint(1, 4)) + [last[: self.rng.randint(1, len(last) - 5)]]

    def cut(self, data: bytes, at: int) -> bytes:
        """A record cut at byte ``at``, more written after it (a crashed writer). A header cut short runs
        into the next record's header, which no reader can tell from its own: that record may be lost."""
        self.inherent_loss |= at < data.index(SEPARATOR) + 4
        return data[:at]

    def cut_then_appended(self, variant: int) -> list[bytes]:
        data = self.record().to_bytes()
        return self.around([self.cut(data, self.rng.randint(len(data) // 5, len(data) - 5))]) + self.good(2)

    def cut_twice_appended(self, variant: int) -> list[bytes]:
        """Two cut records in a row, the second cut in its block or (variant 1) in its header."""
        first, second = self.record().to_bytes(), self.record().to_bytes()
        second_cut = len(second) // 3 if variant == 0 else self.rng.randint(20, second.index(SEPARATOR))
        return self.around([self.cut(first, len(first) // 2), self.cut(second, second_cut)]) + self.good(2)

    def garbage_between(self, variant: int) -> list[bytes]:
        """Garbage of kind ``variant`` between records (a header cut short swallows the next header)."""
        chunks = self.clean(variant)
        self.detection = "never" if variant == 1 else "always"  # (blank lines between records are tolerated)
        self.inherent_loss = variant == 2
        for _ in range(self.rng.randint(1, 2)):
            chunks.insert(self.rng.randint(1, len(chunks)), garbage(self.rng, variant))
        return chunks

    def garbage_inside(self, variant: int) -> list[bytes]:
        """Garbage inside a block (inside a header it may land in a value: see flipped_header)."""
        record = self.record().to_bytes()
        pos = self.rng.randrange(record.index(SEPARATOR) + 4, len(record) - 4)
        return self.around([record[:pos] + garbage(self.rng, (0, 2, 3)[variant]) + record[pos:]])

    def lf_separators(self, variant: int) -> list[bytes]:
        """Records ended by LF LF instead of CRLF CRLF, some with LF header lines too: read as they are."""
        self.detection = "never"
        chunks = self.head()
        for _ in range(self.rng.randint(2, 5)):
            page = self.page()
            record = self.record(page, lf=self.rng.random() < 0.5)
            self.intact[record.record_id] = page
            data = record.to_bytes()
            chunks.append(data[:-4] + b"\n\n" if data.endswith(SEPARATOR) else data)
        return chunks

    def embedded_warc_header(self, variant: int) -> list[bytes]:
        """A page showing a whole WARC record; its own length right (an intact record), too long, too short."""
        page = self.page(embedded_record(self.rng, separator_before=variant == 1))
        delta = (0, 0, 200, -10)[variant]
        record = self.record(page, length_delta=delta)
        if delta == 0:
            self.detection = "none"
            self.intact[record.record_id] = page
        return self.around([record.to_bytes()])

    def embedded_header_flipped(self, variant: int) -> list[bytes]:
        page = self.page(embedded_record(self.rng, separator_before=True))
        self.detection = self.by_digest()
        return self.around([self.record(page, written_block=flip(self.rng, page.block)).to_bytes()])

    def two_lies(self, variant: int) -> list[bytes]:
        first = self.record(length_delta=(300, 20)[variant]).to_bytes()
        second = self.record(length_delta=(5 << 20, -30)[variant]).to_bytes()
        return self.around([first, *self.good(variant), second])

    def flipped_block(self, variant: int) -> list[bytes]:
        page = self.page()
        self.detection = self.by_digest()
        return self.around([self.record(page, written_block=flip(self.rng, page.block)).to_bytes()])

    def flipped_header(self, variant: int) -> list[bytes]:
        """A bit flipped in a header's first 200 bytes: often a value (a URI, a date) no reader can check."""
        self.detection = "never"
        data = self.record().to_bytes()
        return self.around([flip(self.rng, data[:200]) + data[200:]])

    def bad_digest_hex(self, variant: int) -> list[bytes]:
        """Hex-encoded sha1 digests (as some tools write them), the second record's block damaged."""
        page = self.page()
        self.detection = "digest"
        return self.around([self.record(digest="hex").to_bytes(),
                            self.record(page, digest="hex", written_block=flip(self.rng, page.block)).to_bytes()])


# kind -> number of variants (WARC); the WET files take variant 0 of the kinds that make sense for text.
WARC_KINDS: dict[str, int] = {
    "clean": 2, "cl_too_long": 4, "cl_too_short": 2, "cl_far_too_long": 3, "cl_far_too_long_last": 2,
    "cut_at_end": 2, "cut_then_appended": 2, "cut_twice_appended": 2, "garbage_between": 4, "garbage_inside": 3,
    "lf_separators": 2, "embedded_warc_header": 4, "embedded_header_flipped": 2, "two_lies": 2,
    "flipped_block": 2, "flipped_header": 2, "bad_digest_hex": 2,
}
WET_KINDS = ["clean", "cl_too_long", "cl_too_short", "cl_far_too_long", "cut_at_end", "cut_then_appended",
             "garbage_between", "garbage_inside", "lf_separators", "two_lies", "flipped_block",
             "embedded_header_flipped"]


# ---------------------------------------------------------------- containers


def gzip_members(chunks: list[bytes]) -> list[bytes]:
    return [gzip.compress(chunk, compresslevel=6, mtime=0) for chunk in chunks]


def gzip_damage(chunks: list[bytes], rng: random.Random) -> dict[str, tuple[bytes, set[int]]]:
    """Per-record gzip members with a flipped deflate byte or CRC byte in one member, or cut; one member in
    all, cut. Each file's bytes with the chunks it loses (the member damaged, or those not whole before the
    cut)."""
    members = gzip_members(chunks)
    victim = rng.randrange(1, len(members))
    deflate, crc = bytearray(members[victim]), bytearray(members[victim])
    deflate[rng.randrange(10, len(deflate) - 8)] ^= 0x10  # (after the 10-byte gzip header)
    crc[len(crc) - 8 + rng.randrange(4)] ^= 0x01  # the CRC-32 in the trailer
    before, after = members[:victim], members[victim + 1 :]
    whole = b"".join(members)
    single = gzip.compress(b"".join(chunks), mtime=0)
    cut, single_cut = whole[: rng.randrange(len(whole) // 3, len(whole) - 1)], single[: -rng.randint(5, 200)]
    return {
        "gzflip-deflate.warc.gz": (b"".join([*before, bytes(deflate), *after]), {victim}),
        "gzflip-crc.warc.gz": (b"".join([*before, bytes(crc), *after]), {victim}),
        "gzcut.warc.gz": (cut, chunks_cut_off(chunks, len(inflatable(cut)))),
        "gzcut-single.warc.gz": (single_cut, chunks_cut_off(chunks, len(inflatable(single_cut)))),
    }


def inflatable(data: bytes) -> bytes:
    """What a gzip file cut short inflates to before the cut."""
    out = []
    while data:
        inflater = zlib.decompressobj(31)
        out.append(inflater.decompress(data))
        if not inflater.eof:
            break
        data = inflater.unused_data
    return b"".join(out)


def chunks_cut_off(chunks: list[bytes], kept: int) -> set[int]:
    """The chunks not whole in the first ``kept`` bytes."""
    return {i for i, end in enumerate(accumulate(len(chunk) for chunk in chunks)) if end > kept}


@dataclass(frozen=True)
class Case:
    """One generated file and what reading it must give."""

    path: Path
    kind: str
    wet: bool
    intact: dict[str, Page]
    must_count: bool | None  # True: damage the reader must count; False: a clean file; None: not asserted
    inherent_loss: bool


def write_case(path: Path, data: bytes, kind: str, fuzz: Fuzz) -> Case:
    path.write_bytes(data)
    must_count = {"none": False, "always": True, "never": None,
                  "digest": None if path.name.endswith(".gz") else True}[fuzz.detection]
    return Case(path, kind, fuzz.wet, fuzz.intact, must_count, fuzz.inherent_loss)


def build_cases(root: Path) -> list[Case]:
    cases: list[Case] = []
    spec = 0
    for kind, variants in WARC_KINDS.items():
        for variant in range(variants):
            fuzz = Fuzz(1000 * spec, wet=False, digest=variant % 2 == 0)
            chunks: list[bytes] = getattr(fuzz, kind)(variant)
            name = root / f"{spec:02d}-{kind}-{variant}"
            cases.append(write_case(name.with_suffix(".warc"), b"".join(chunks), kind, fuzz))
            cases.append(write_case(name.with_suffix(".warc.gz"), b"".join(gzip_members(chunks)), kind, fuzz))
            if spec % 6 == 1:
                single = gzip.compress(b"".join(chunks), mtime=0)
                cases.append(write_case(name.with_name(name.name + "-single.warc.gz"), single, kind, fuzz))
            if spec % 6 == 3:
                zst = zstandard.ZstdCompressor().compress(b"".join(chunks))
                cases.append(write_case(name.with_suffix(".warc.zst"), zst, kind, fuzz))
            if spec % 13 == 4:  # one zstd frame per record
                frames = b"".join(zstandard.ZstdCompressor().compress(chunk) for chunk in chunks)
                cases.append(write_case(name.with_name(name.name + "-frames.warc.zst"), frames, kind, fuzz))
            spec += 1
    for variant, suffix in enumerate([".warc", ".warc.gz"]):
        fuzz = Fuzz(90_000 + variant, wet=False, digest=variant == 0)
        chunks = fuzz.cl_lie_over_big_tail(variant)
        data = b"".join(gzip_members(chunks) if suffix == ".warc.gz" else chunks)
        cases.append(write_case(root / f"big-tail-{variant}{suffix}", data, "cl_lie_over_big_tail", fuzz))
    for variant, kind in enumerate(["cl_too_long", "garbage_between"]):
        fuzz = Fuzz(50_000 + variant, wet=False, digest=variant == 0)
        chunks = getattr(fuzz, kind)(0)
        for damage, (data, lost) in gzip_damage(chunks, fuzz.rng).items():
            damaged = b"".join(chunks[i] for i in lost)
            survivors = {rid: page for rid, page in fuzz.intact.items() if rid.encode() not in damaged}
            path = root / f"gzdamage-{kind}-{damage}"
            path.write_bytes(data)
            cases.append(Case(path, damage.split(".")[0], False, survivors, True, fuzz.inherent_loss))
    for i, kind in enumerate(WET_KINDS):
        fuzz = Fuzz(70_000 + i, wet=True, digest=i % 2 == 0)
        chunks = getattr(fuzz, kind)(0)
        cases.append(write_case(root / f"wet-{i:02d}-{kind}.wet", b"".join(chunks), kind, fuzz))
        if i % 4 == 0:
            gz = b"".join(gzip_members(chunks))
            cases.append(write_case(root / f"wet-{i:02d}-{kind}.warc.wet.gz", gz, kind, fuzz))
    return cases


# ---------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> list[Case]:
    return build_cases(tmp_path_factory.mktemp("fuzzed"))


OPTION_SETS: dict[str, dict[str, int]] = {"defaults": {}, "max_record_bytes=20000": {"max_record_bytes": 20_000}}


def problems(case: Case, options: dict[str, int]) -> list[str]:
    """What is wrong with reading ``case`` with ``options`` (empty when all is right)."""
    reader = (WetReader if case.wet else WarcReader)(**options)
    counts = ReaderCounts()
    column = schema.TEXT if case.wet else schema.HTML
    try:
        rows = [row for table in reader.iter_batches(str(case.path), counts) for row in table.to_pylist()]
    except Exception as exc:  # a reader must count what it cannot read, never raise on bad bytes
        return [f"raised {type(exc).__name__}: {exc}"]
    texts = {row[schema.ID]: row[column] for row in rows}
    found: list[str] = []
    if len(texts) < len(rows):
        found.append(f"{len(rows) - len(texts)} documents given twice")
    expected = {rid: page for rid, page in case.intact.items() if page.fits(reader.max_record_bytes)}
    oversize = len(case.intact) - len(expected)  # each counted as record_too_large
    unexplained = +(counts.errors - Counter({"record_too_large": oversize}))
    wrong = [rid for rid, page in expected.items() if rid in texts and texts[rid] != page.text]
    missing = [rid for rid in expected if rid not in texts]
    if wrong:
        found.append(f"intact records with a different text: {wrong}")
    if missing and (not case.inherent_loss or not unexplained):
        found.append(f"{len(missing)} of {len(expected)} intact records missing: {missing}"
                     + ("" if case.inherent_loss else " (this damage hides no whole record)"))
    if case.must_count is True and not unexplained:
        found.append("damage not counted")
    if case.must_count is False and unexplained:
        found.append("errors in a clean file")
    if found:
        found.append(f"errors {dict(counts.errors)}")
    return found


@pytest.mark.parametrize("options", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_intact_records_survive_damage_and_damage_is_counted(fuzzed: list[Case], options: dict[str, int]) -> None:
    """Every intact record gives its document with its exact text (one over ``max_record_bytes`` is
    counted as record_too_large instead), unless the damage can hide it (a header cut short, glued to the
    next record's header) and is counted; damage the reader can see is counted; a clean file counts
    nothing. A file's problems are listed together, all files in one failure."""
    failures = [f"{case.path.name} ({case.kind}): " + "; ".join(found)
                for case in fuzzed for found in [problems(case, options)] if found]
    assert not failures, f"{len(failures)} of {len(fuzzed)} files:\n" + "\n".join(failures)

