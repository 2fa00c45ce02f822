"""The HTTP side of a WARC response record: headers, body decoding, HTML sniffing and charsets."""

from __future__ import annotations

import codecs
import re
import zlib
from dataclasses import dataclass

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


def decode_html(body: bytes, declared: str | None) -> tuple[str, str]:
    """Decode HTML bytes: the HTTP charset if it decodes cleanly, else ``<meta charset>``, else detection.

    Returns the text and the Python codec name of the charset used. A declared charset that fails to decode
    (servers lie) falls through to the meta tag and detection instead of producing mojibake.
    """
    if declared:
        name = _codec(map_encoding_to_html5(declared))
        if name:
            try:
                return body.decode(name).removeprefix("\ufeff"), name
            except UnicodeDecodeError:
                pass
    name = _codec(detect_encoding(body, from_html_meta=True)) or "utf-8"
    return bytes_to_str(body, name, errors="replace"), name


def _codec(label: str | None) -> str | None:
    try:
        return codecs.lookup(label).name if label else None
    except LookupError:
        return None
