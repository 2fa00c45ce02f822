"""The HTTP side of a WARC response record: headers, body decoding, HTML sniffing and charsets."""

from __future__ import annotations

import codecs
import re
import zlib
from dataclasses import dataclass
from typing import NamedTuple

from resiliparse.parse.encoding import bytes_to_str, detect_encoding, map_encoding_to_html5

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


def decode_transfer(response: HttpResponse) -> tuple[bytes, str | None]:
    """The body with chunked transfer and gzip/deflate content encodings undone.

    Crawlers often store bodies already decoded while keeping the headers, so each step runs only when
    the bytes look encoded, and a failure keeps the raw body (returned with the error's name).
    """
    body = response.body
    try:
        if "chunked" in response.headers.get("transfer-encoding", "").lower() and re.match(rb"[0-9a-fA-F]+\r?\n", body):
            body = _dechunk(body)
        encoding = response.headers.get("content-encoding", "").lower()
        if "gzip" in encoding and body[:2] == b"\x1f\x8b":
            body = zlib.decompressobj(47).decompress(body)
        elif "deflate" in encoding and body[:1] in (b"\x78", b"\x58"):
            body = zlib.decompress(body)
    except (zlib.error, ValueError) as exc:
        return response.body, f"{type(exc).__name__}: {exc}"
    return body, None


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
    head = body[:1024]
    return head.startswith(_BINARY_MAGIC) or b"\x00" in head


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
_SINGLE_BYTE = frozenset({"cp1252", "iso8859-1", "iso8859-15", "latin-1"})
# A page labelled with a charset, but with more than this share of its non-ASCII bytes undecodable in
# it, is in another charset; below it, the label is right and a few bytes are damaged.
_DAMAGED_SHARE = 0.05


def decode_html(body: bytes, declared: str | None) -> Decoded:
    """Decode HTML bytes to UTF-8: the HTTP charset if it fits the bytes, else ``<meta charset>``, else detection.

    Servers lie about charsets, and pages hold damaged bytes; both are told apart and reported in
    ``problem`` so the reader can count them:
    - a declared charset under which most non-ASCII bytes fail to decode (a Shift_JIS page sent as
      UTF-8), or a single-byte charset on bytes that are valid UTF-8 with non-ASCII characters (UTF-8
      sent as ISO-8859-1, which would decode to mojibake), is replaced by the right one:
      ``charset_mismatch``;
    - a few undecodable sequences in a page that is otherwise in its declared charset (invalid UTF-8,
      an encoded lone surrogate) become U+FFFD: ``invalid_bytes``.
    The result is valid UTF-8 (Arrow and Parquet need it). A UTF-8 page comes back as its own bytes:
    decoding a non-ASCII page to a Python ``str`` and encoding it again for Arrow cost ~1 ms per 150 kB.
    """
    name = _codec(map_encoding_to_html5(declared)) if declared else None
    if name:
        try:
            text = body.decode(name)
        except UnicodeDecodeError:
            damaged = body.decode(name, "replace").count("\ufffd") - body.count(b"\xef\xbf\xbd")
            non_ascii = len(body) - len(body.decode("ascii", "ignore"))
            if damaged <= _DAMAGED_SHARE * non_ascii:
                return Decoded(_utf8(body.decode(name, "replace")), name, "invalid_bytes")
        else:
            if name == "utf-8":
                return Decoded(body.removeprefix(_UTF8_BOM), name, None)
            if name in _SINGLE_BYTE and not body.isascii() and _is_utf8(body):
                return Decoded(body.removeprefix(_UTF8_BOM), "utf-8", "charset_mismatch")
            return Decoded(_utf8(text), name, None)
    detected = _codec(detect_encoding(body, from_html_meta=True)) or "utf-8"
    problem = "charset_mismatch" if name and detected != name else None
    try:
        body.decode(detected)
    except UnicodeDecodeError:
        problem = problem or "invalid_bytes"
    return Decoded(_utf8(bytes_to_str(body, detected, errors="replace")), detected, problem)


def _utf8(text: str) -> bytes:
    return text.removeprefix("\ufeff").encode("utf-8")


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _codec(label: str | None) -> str | None:
    try:
        return codecs.lookup(label).name if label else None
    except LookupError:
        return None
