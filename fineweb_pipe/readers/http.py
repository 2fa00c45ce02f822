"""The HTTP side of a WARC response record: headers, body decoding, HTML sniffing and charsets."""

from __future__ import annotations

import codecs
import functools
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import brotli
import zstandard
from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Types servers send for anything; a payload labelled so may still be HTML, so it is sniffed.
GENERIC_TYPES = frozenset({"", "text/plain", "application/octet-stream", "unknown/unknown", "application/unknown"})
_HTML_START = re.compile(rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body|meta|title)\b", re.I | re.S)
_BINARY_MAGIC = (b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"%PDF", b"PK\x03\x04", b"\x1f\x8b", b"RIFF", b"\x00\x00\x01\x00")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.I)


@dataclass
class HttpResponse:
    status: int | None
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    body: bytes

    @property
    def mime_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        match = _CHARSET.search(self.headers.get("content-type", ""))
        return match.group(1) if match else None


def parse_response(block: bytes) -> HttpResponse | None:
    """Split an HTTP response block into status, headers and body; ``None`` if it is not HTTP."""
    end = block.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end, sep = block.find(b"\n\n"), 2
    if end < 0 or not block.startswith(b"HTTP/"):
        return None
    lines = block[:end].decode("latin-1").splitlines()
    parts = lines[0].split(None, 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return HttpResponse(status=status, headers=headers, body=block[end + sep :])


class Payload(NamedTuple):
    body: bytes | None  # None when it would inflate past the limit
    problem: str | None  # "record_too_large" or "content_encoding"
    message: str | None


def decode_transfer(response: HttpResponse, max_bytes: int) -> Payload:
    """The body with chunked transfer and gzip, deflate, brotli and zstd content encodings undone,
    inflated to at most ``max_bytes`` (a decompression bomb costs that much memory, not what it
    inflates to: ``record_too_large``).

    Crawlers often store bodies already decoded while keeping the headers, so each step runs only when
    the bytes look encoded, and a failure keeps the raw body (``content_encoding``, with the error).
    """
    body = response.body
    if "content-encoding" not in response.headers and "transfer-encoding" not in response.headers:
        return Payload(body, None, None)  # (most responses: stored decoded)
    if "chunked" in response.headers.get("transfer-encoding", "").lower() and re.match(rb"[0-9a-fA-F]+\r?\n", body):
        try:
            body = _dechunk(body)
        except ValueError as exc:
            return Payload(response.body, "content_encoding", f"chunked transfer: {exc}; kept the raw body")
    codings = [c.strip() for c in response.headers.get("content-encoding", "").lower().split(",")]
    for coding in reversed([c for c in codings if c and c != "identity"]):  # applied in the order listed
        inflate = _INFLATERS.get(coding)
        if inflate is None or not _looks_encoded(coding, body):
            continue
        try:
            inflated = inflate(body, max_bytes)
        except _INFLATE_ERRORS as exc:
            return Payload(body, "content_encoding",
                           f"Content-Encoding {coding}: {type(exc).__name__}: {exc}; kept the raw body")
        if inflated is None:
            return Payload(None, "record_too_large",
                           f"payload with Content-Encoding {coding} inflates to over {max_bytes} bytes "
                           "(max_record_bytes); skipped (raise the limit to keep such pages)")
        body = inflated
    return Payload(body, None, None)


def _looks_encoded(coding: str, body: bytes) -> bool:
    if coding in ("gzip", "x-gzip"):
        return body[:2] == b"\x1f\x8b"
    if coding == "deflate":
        return body[:1] in (b"\x78", b"\x58")
    if coding == "zstd":
        return body[:4] == _ZSTD_MAGIC
    # brotli has no magic number: a body that already reads as HTML or text was stored decoded
    return bool(body) and not looks_like_html(body) and not _is_utf8_start(body[:4096])


def _inflate_zlib(wbits: int) -> Callable[[bytes, int], bytes | None]:
    def inflate(body: bytes, max_bytes: int) -> bytes | None:
        out = zlib.decompressobj(wbits).decompress(body, max_bytes + 1)
        return None if len(out) > max_bytes else out
    return inflate


def _inflate_brotli(body: bytes, max_bytes: int) -> bytes | None:
    decompressor = brotli.Decompressor()
    out = decompressor.process(body, output_buffer_limit=max_bytes + 1)
    if len(out) > max_bytes:
        return None
    if not decompressor.is_finished():
        raise brotli.error("brotli stream ends before its last block")
    return out


def _inflate_zstd(body: bytes, max_bytes: int) -> bytes | None:
    # A frame may declare its size; a stream reader inflates in steps whatever it declares.
    reader = zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True)
    parts, size = [], 0
    while size <= max_bytes and (part := reader.read(min(1 << 20, max_bytes + 1 - size))):
        parts.append(part)
        size += len(part)
    return None if size > max_bytes else b"".join(parts)


_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_INFLATERS = {
    "gzip": _inflate_zlib(47),  # 32 + 15: a gzip header, 15-bit window
    "x-gzip": _inflate_zlib(47),
    "deflate": _inflate_zlib(15),
    "br": _inflate_brotli,
    "zstd": _inflate_zstd,
}
_INFLATE_ERRORS = (zlib.error, brotli.error, zstandard.ZstdError)


def _dechunk(body: bytes) -> bytes:
    out, pos = bytearray(), 0
    while pos < len(body):
        eol = body.find(b"\n", pos)
        if eol < 0:
            break
        size = int(body[pos:eol].split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            break
        out += body[eol + 1 : eol + 1 + size]
        pos = eol + 1 + size + 2  # chunk data is followed by CRLF
    return bytes(out)


def looks_binary(body: bytes) -> bool:
    """A binary format's magic number at the start, or a NUL byte in the first kB (searched in place)."""
    return body.startswith(_BINARY_MAGIC) or body.find(b"\x00", 0, 1024) >= 0


def looks_like_html(body: bytes) -> bool:
    return bool(_HTML_START.match(body[:2048].lstrip(b"\xef\xbb\xbf")))


def is_html(mime_type: str, body: bytes) -> bool:
    """HTML by Content-Type, or by sniffing when the type is missing or generic."""
    if mime_type in HTML_TYPES:
        return True
    return mime_type in GENERIC_TYPES and looks_like_html(body)


class Decoded(NamedTuple):
    html: bytes  # UTF-8, without a byte order mark
    charset: str  # the Python codec name used
    problem: str | None  # "charset_mismatch" or "invalid_bytes" when the bytes did not match a charset


_UTF8_BOM = codecs.BOM_UTF8
_UTF8_REPLACEMENT = "\ufffd".encode()
_SINGLE_BYTE = frozenset({"cp1252", "iso8859-1", "iso8859-15", "latin-1"})
# A page labelled with a legacy charset, but with more than this share of its non-ASCII bytes
# undecodable in it, is in another charset; below it, the label is right and a few bytes are damaged.
_DAMAGED_SHARE = 0.05


def decode_html(body: bytes, declared: str | None) -> Decoded:
    """Decode HTML bytes to UTF-8: the HTTP charset if it fits the bytes, else UTF-8 if that fits, else
    ``<meta charset>`` or detection. ``charset`` always names the codec the bytes were decoded with.

    Servers lie about charsets, and pages hold damaged bytes; both are told apart and reported in
    ``problem`` so the reader can count them:
    - a declared charset under which most non-ASCII bytes fail to decode (a Shift_JIS page sent as
      UTF-8), or a single-byte charset on bytes that are UTF-8 with non-ASCII characters (UTF-8 sent as
      ISO-8859-1, which would decode to mojibake), is replaced by the right one: ``charset_mismatch``;
    - a few undecodable sequences in a page that is otherwise in its charset (invalid UTF-8, an encoded
      lone surrogate) become U+FFFD: ``invalid_bytes``. A page without a declared charset whose
      non-ASCII bytes are nearly all valid UTF-8 is UTF-8 with a few damaged bytes, not cp1252.
    The result is valid UTF-8 (Arrow and Parquet need it). A UTF-8 page comes back as its own bytes:
    decoding a non-ASCII page to a Python ``str`` and encoding it again for Arrow cost ~1 ms per 150 kB.
    """
    name = _declared_codec(declared) if declared else None
    valid = _is_utf8(body)  # UTF-8 checked once: the check is a third of the time of a UTF-8 page
    if name == "utf-8":
        if valid:
            return Decoded(body.removeprefix(_UTF8_BOM), name, None)
        # (invalid UTF-8 is judged below, by its own rule)
    elif name:
        try:
            text = body.decode(name)
        except UnicodeDecodeError:
            if _damaged(body, name) <= _DAMAGED_SHARE * _non_ascii_bytes(body):
                return Decoded(_utf8(body.decode(name, "replace")), name, "invalid_bytes")
        else:
            if name not in _SINGLE_BYTE or body.isascii() or not (valid or _fits_utf8(body)):
                return Decoded(_utf8(text), name, None)
    if valid or _fits_utf8(body):
        html = body.removeprefix(_UTF8_BOM) if valid else _utf8(body.decode("utf-8", "replace"))
        problem = "charset_mismatch" if name and name != "utf-8" else None if valid else "invalid_bytes"
        return Decoded(html, "utf-8", problem)
    detected = _codec(detect_encoding(body, from_html_meta=True)) or "cp1252"
    if detected == "utf-8":  # detection's guess, on bytes that are not UTF-8
        detected = "cp1252"
    problem = "charset_mismatch" if name and detected != name else None
    try:
        text = body.decode(detected)
    except UnicodeDecodeError:
        text = body.decode(detected, "replace")
        problem = problem or "invalid_bytes"
    return Decoded(_utf8(text), detected, problem)


def _utf8(text: str) -> bytes:
    return text.removeprefix("\ufeff").encode("utf-8")


def _is_utf8(body: bytes) -> bool:
    if body.isascii():  # 100x faster than decoding
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _is_utf8_start(head: bytes) -> bool:
    """Whether ``head``, the start of a body, is UTF-8 (a character cut at its end allowed)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _damaged(body: bytes, codec: str) -> int:
    """Undecodable sequences of ``body`` in a legacy ``codec``."""
    return body.decode(codec, "replace").count("\ufffd")


def _non_ascii_bytes(body: bytes) -> int:
    return len(body) - len(body.decode("ascii", "ignore"))


def _fits_utf8(body: bytes) -> bool:
    """UTF-8, or UTF-8 with a few damaged sequences: at most one per two valid non-ASCII characters.
    Text in a legacy charset has (nearly) no valid UTF-8 sequence among its non-ASCII bytes."""
    if _is_utf8(body):
        return True
    text = body.decode("utf-8", "replace")
    damaged = text.count("\ufffd") - body.count(_UTF8_REPLACEMENT)
    valid = len(text) - len(text.encode("ascii", "ignore")) - damaged
    return 2 * damaged <= valid


@functools.lru_cache(maxsize=1024)
def _declared_codec(label: str) -> str | None:
    """The codec a declared charset label names (HTML5's mapping): looked up once per label, as the
    lookups took a quarter of the time of checking a 20 kB UTF-8 page."""
    return _codec(map_encoding_to_html5(label))


def _codec(label: str | None) -> str | None:
    try:
        return codecs.lookup(label).name if label else None
    except LookupError:
        return None
